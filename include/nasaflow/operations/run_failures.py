"""Why a run failed: its failing tasks and their reasons, read through Airflow's REST API.

A task's reason is in its log: Airflow's task runner ends a failed try with the structured
record "Task failed with exception", whose `error_detail` lists the exception and its
causes, outermost first. The demo prints these reasons when its run fails (and as soon as
a task fails a try); `make status` prints them for the latest failed ingest run. A user
reads "plan: source api.helioviewer.org is unreachable ..." instead of a bare "failed".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from nasaflow.ingest.targets import PLATFORM

INGEST_DAG_ID = "nasa_ingest"
#: The record Airflow's task runner logs for the exception a try ended with.
FAILURE_EVENT = "Task failed with exception"
#: Airflow's carrier of a deliberate "fail without retry" reason: its message says it all.
FAIL_EXCEPTIONS = frozenset({"AirflowFailException"})
#: Runs of the latest failures considered when the newest ones belong to the test suite.
_RECENT_RUNS = 25
_REASON_LIMIT = 600


class AirflowReader(Protocol):
    """What is read from Airflow (nasaflow.operations.airflow_rest.AirflowRestClient)."""

    def get(self, path: str, **params: Any) -> Any: ...

    def task_log_records(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1,
                         map_index: int = -1) -> list[Any]: ...


@dataclass(frozen=True)
class TaskFailure:
    """One failed try of a task instance and its reason."""

    task: str          # task id, with a mapped instance's label in brackets
    state: str         # failed, or up_for_retry (another try follows)
    try_number: int
    reason: str

    def __str__(self) -> str:
        retry = ", will retry" if self.state == "up_for_retry" else ""
        return f"{self.task} (try {self.try_number}{retry}): {self.reason}"


@dataclass(frozen=True)
class FailedRun:
    """A failed run of the ingest DAG, the day it was for and its failing tasks."""

    run_id: str
    day: str
    ended: str | None
    failures: tuple[TaskFailure, ...]

    def summary(self) -> str:
        """One line: which run, which day, when, and each failing task with its reason."""
        when = f" at {self.ended[:19].replace('T', ' ')} UTC" if self.ended else ""
        reasons = "; ".join(str(failure) for failure in self.failures) or (
            "no task failed (the run itself was failed or timed out)")
        return f"run {self.run_id} for {self.day} failed{when}: {reasons}"


def failure_reason(records: Iterable[Any]) -> str | None:
    """The exception a try ended with, from its structured log records; None if the log
    carries none. The runner's failure record wins over other records with an exception
    (e.g. a listener's); an AirflowFailException's message stands alone, other exceptions
    are named by type."""
    with_error = [record for record in records
                  if isinstance(record, dict) and record.get("error_detail")]
    failed = [record for record in with_error if record.get("event") == FAILURE_EVENT]
    for record in reversed(failed or with_error):
        details = [detail for detail in record["error_detail"] if isinstance(detail, dict)]
        if details:
            return _exception_text(details[0])
    return None


def task_label(instance: dict[str, Any]) -> str:
    """task_id, or task_id[label] for a mapped instance (its rendered label or index)."""
    index = instance.get("map_index", -1)
    if index is None or index < 0:
        return str(instance["task_id"])
    return f"{instance['task_id']}[{instance.get('rendered_map_index') or index}]"


def task_failure(airflow: AirflowReader, dag_id: str, run_id: str,
                 instance: dict[str, Any]) -> TaskFailure:
    """A failed task instance with the reason its latest try's log gives. A log that cannot
    be read is reported as such: the reason is information, never a new failure."""
    try_number = int(instance.get("try_number") or 1)
    try:
        records = airflow.task_log_records(dag_id, run_id, instance["task_id"], try_number,
                                           instance.get("map_index", -1))
        reason = failure_reason(records) or "its log names no exception (see the task log)"
    except Exception as error:  # the API or the log store: reported, never raised
        reason = f"its log could not be read ({type(error).__name__}: {error})"
    return TaskFailure(task_label(instance), str(instance.get("state")), try_number,
                       _shorten(reason))


def task_failures(airflow: AirflowReader, dag_id: str, run_id: str,
                  states: Iterable[str] = ("failed",)) -> list[TaskFailure]:
    """The run's task instances in `states` (default: failed for good), each with its
    reason; tasks that only failed because an upstream did (upstream_failed) are left
    out, so what remains is where the run broke."""
    instances = airflow.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                            state=list(states), limit=100)["task_instances"]
    ordered = sorted(instances, key=lambda ti: (ti.get("end_date") or "", task_label(ti)))
    return [task_failure(airflow, dag_id, run_id, ti) for ti in ordered]


def latest_failed_run(airflow: AirflowReader, dag_id: str = INGEST_DAG_ID,
                      target: str = PLATFORM) -> FailedRun | None:
    """The most recent failed run on `target`'s data (by default the platform's: the test
    suite's runs, target "test", are left out), with its failing tasks; None if none."""
    runs = airflow.get(f"/dags/{dag_id}/dagRuns", state=["failed"], order_by="-run_after",
                       limit=_RECENT_RUNS)["dag_runs"]
    for run in runs:
        conf = run.get("conf") or {}
        if conf.get("target", PLATFORM) != target:
            continue
        day = conf.get("date") or str(run.get("logical_date") or run.get("run_after") or "")[:10]
        return FailedRun(run["dag_run_id"], day or "an unknown day", run.get("end_date"),
                         tuple(task_failures(airflow, dag_id, run["dag_run_id"])))
    return None


def _exception_text(detail: dict[str, Any]) -> str:
    kind, message = str(detail.get("exc_type") or ""), str(detail.get("exc_value") or "")
    if kind in FAIL_EXCEPTIONS and message:
        return message
    return f"{kind}: {message}" if message else kind or "an exception without a message"


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_LIMIT else text[:_REASON_LIMIT - 3] + "..."
