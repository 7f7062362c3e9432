"""Keeping the stream's driver up from inside its Airflow task: a warm standby, and
restarts after a fixed pause.

A driver that crashes (killed, out of memory, a Kafka or Spark failure) is replaced on its
checkpoint, which replays what it had not committed; nothing is lost either way, so the
only question is how soon. Airflow's own retries answer "after the retry delay", and with
exponential backoff that delay grew to ten minutes after a few crashes. A cold restart is
no cure on a busy machine either: JVM, Spark session and Python workers took 25-50 s to
start here before the first batch. So the task runs two drivers: the one holding the
query's lock streams, the other has started Spark and waits for that lock, taking over
within seconds when the first dies; the dead one is started again, after a short pause
that never grows, as the new standby. Airflow's retries remain for when the task itself
dies (a scheduler restart, a lost worker).

A driver's exit code says what to do: 0 means it finished (a drain caught up); the task
then ends. CONFIG_ERROR_EXIT_CODE means restarting cannot help (e.g. the table lacks a
column a migration adds), so the task must fail for good. Anything else is a crash, and
that driver is started again. Nothing here imports Airflow (the stream DAG's operator
wires it to spark-submit) nor Spark at module level.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import psycopg

from nasaflow.sink.contract import SCHEMA_DRIFT_EXIT_CODE

if TYPE_CHECKING:
    from pyspark import SparkContext

    from nasaflow.sink.lock import StreamLock

log = logging.getLogger(__name__)

#: Exit code of a driver that found its configuration unusable (sysexits' EX_CONFIG):
#: fix the configuration (run the migrations, correct a setting), then start it again.
CONFIG_ERROR_EXIT_CODE = SCHEMA_DRIFT_EXIT_CODE
#: Drivers a stream task keeps running: one streams, one waits for its lock.
DRIVERS = 2


class DriverConfigurationError(RuntimeError):
    """A driver exited with CONFIG_ERROR_EXIT_CODE: restarting it cannot help."""


class DriverStopped(RuntimeError):
    """The drivers were stopped from outside (the task was killed)."""


class DriverSupervisor:
    """Keeps `drivers` drivers running until one finishes, one fails for good, or `stop`.

    Args:
        restart_seconds: pause between a driver's crash and its next start; the same at
            every crash, so recovery time does not grow with the number of crashes.
        drivers: how many run at once (the lock lets one of them stream).
    """

    def __init__(self, restart_seconds: float, drivers: int = DRIVERS) -> None:
        self.restart_seconds = restart_seconds
        self.drivers = drivers
        self._stopping = threading.Event()
        self._outcome: BaseException | None = None
        self._finished = threading.Event()
        self._restarts = 0

    def stop(self) -> None:
        """Start no new driver (call before killing the running ones)."""
        self._stopping.set()

    def run(self, launch: Callable[[int], int], kill_all: Callable[[], None]) -> int:
        """Run driver slots 0..drivers-1, each `launch(slot)` (start a driver, wait for it,
        return its exit code) again after every crash, until one driver exits 0; then
        `kill_all` ends the others. Returns the number of restarts.

        Raises:
            DriverConfigurationError: a driver exited with CONFIG_ERROR_EXIT_CODE.
            DriverStopped: `stop` was called.
        """
        slots = [threading.Thread(target=self._keep_running, args=(slot, launch),
                                  name=f"stream-driver-{slot}", daemon=True)
                 for slot in range(self.drivers)]
        for thread in slots:
            thread.start()
        try:
            # Short waits: signal handlers (Airflow's SIGTERM -> on_kill) run in between.
            while not (self._finished.is_set() or self._stopping.is_set()):
                self._finished.wait(1.0)
        finally:
            self._stopping.set()
            kill_all()
            for thread in slots:
                thread.join(timeout=60)
        if self._outcome is not None:
            raise self._outcome
        if not self._finished.is_set():
            raise DriverStopped("the stream drivers were stopped (the task was killed)")
        log.info("a stream driver finished after %d restarts", self._restarts)
        return self._restarts

    def _keep_running(self, slot: int, launch: Callable[[int], int]) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                code = launch(slot)
            except BaseException as exc:  # reported by run(), in the task's thread
                self._end(exc)
                return
            if self._stopping.is_set():
                return
            if code == 0:
                self._end(None)
                return
            if code == CONFIG_ERROR_EXIT_CODE:
                self._end(DriverConfigurationError(
                    f"a stream driver exited with code {code} (configuration error, see its "
                    "log above): restarting cannot help; fix the cause, then start the "
                    "stream again"))
                return
            self._restarts += 1
            log.warning("stream driver %d exited with code %d after %.0f s; restart %d in "
                        "%g s on the same checkpoint", slot, code, time.monotonic() - started,
                        self._restarts, self.restart_seconds)
            self._stopping.wait(self.restart_seconds)

    def _end(self, outcome: BaseException | None) -> None:
        if not self._finished.is_set():
            self._outcome = outcome
            self._finished.set()


def take_lock(lock: StreamLock, wait_seconds: float, poll_seconds: float = 1.0) -> StreamLock:
    """`lock.acquire(wait_seconds)`, riding out PostgreSQL being unreachable meanwhile: a
    standby driver waits for the lock through a database outage instead of crashing into
    a restart (a JVM start) every few seconds.

    Raises:
        LockBusyError: still held by another driver after `wait_seconds`.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return lock.acquire(max(0.0, deadline - time.monotonic()))
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("PostgreSQL unreachable while waiting for the lock, trying again in "
                        "%g s: %s", poll_seconds, str(exc).strip().splitlines()[0][:200])
            time.sleep(poll_seconds)


def exit_with_parent(poll_seconds: float = 0.5) -> None:
    """End this process as soon as its parent is gone.

    The Python side of a Spark driver is a child of spark-submit's JVM; when the JVM is
    killed (the task stopped it, or it crashed), a Python driver waiting for the lock or
    sitting between batches would otherwise live on, and keep the lock.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        log.warning("spark-submit (pid %d) is gone: driver %d exits", parent, os.getpid())
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def warm_python_workers(context: SparkContext) -> None:
    """Start the executors' Python workers with the sink's modules imported, so that the
    first batch of a driver taking over does not wait for them."""
    slots = context.defaultParallelism
    context.parallelize(range(slots), slots).foreachPartition(_import_sink)


def _import_sink(_: object) -> None:
    import nasaflow.sink.staging  # noqa: F401 (loaded once per reused worker)
