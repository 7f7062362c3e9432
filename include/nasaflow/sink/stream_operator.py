"""The Airflow operator that runs the stream's Spark drivers (dags/stream_to_postgres.py).

Like nasaflow.ingest.steps, a module of the library that imports Airflow: the DAG file
only wires it. SparkSubmitOperator fails its task when its driver exits, which puts a
crashed stream behind Airflow's retry delay; this subclass keeps the drivers under a
DriverSupervisor instead (a warm standby; a crashed driver started again after a fixed
pause), so the stream is back within seconds.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from nasaflow.sink.supervision import DriverConfigurationError, DriverSupervisor


class SupervisedSparkSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator running the stream's drivers under a DriverSupervisor: a warm
    standby, and crashed drivers started again after `restart_seconds`, instead of one
    driver whose crash fails the task into Airflow's retry delay."""

    def __init__(self, *, restart_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.restart_seconds = restart_seconds
        self._supervisor: DriverSupervisor | None = None
        self._hooks: dict[int, SparkSubmitHook] = {}

    def execute(self, context: Any) -> None:
        self._supervisor = DriverSupervisor(self.restart_seconds)
        try:
            self._supervisor.run(self._submit, self._kill_drivers)
        except DriverConfigurationError as exc:
            raise AirflowFailException(str(exc)) from exc

    def _submit(self, slot: int) -> int:
        """One spark-submit in driver slot `slot`; its exit code."""
        hook = self._hooks.setdefault(slot, self._get_hook())
        try:
            hook.submit(self.application)
        except AirflowException:
            if hook._submit_sp is None or hook._submit_sp.returncode is None:
                raise
            return hook._submit_sp.returncode
        return 0

    def _kill_drivers(self) -> None:
        for hook in self._hooks.values():
            hook.on_kill()

    def on_kill(self) -> None:
        if self._supervisor is not None:
            self._supervisor.stop()
        self._kill_drivers()
