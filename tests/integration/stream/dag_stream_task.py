"""The stream_to_postgres DAG's `stream` task, run in a process of its own as Airflow's
task runner runs it (templates rendered from the DAG's params and the connections, then
`execute`; SIGTERM calls `on_kill`), but pointed at a test's own database, topic and
checkpoint folder through the environment: the fault tests exercise the DAG's code path
without touching the platform's stream.

    python -m tests.integration.stream.dag_stream_task   # what StreamTask starts

Exit codes: 0 the task succeeded, 3 it failed without retries (AirflowFailException),
1 it failed otherwise (Airflow would retry it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import psycopg

from nasaflow.operations.stream_status import lock_holder
from nasaflow.settings import PROJECT_ROOT

FAILED_FOR_GOOD = 3


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import AirflowFailException
    from airflow.sdk.execution_time.context import ConnectionAccessor

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "stream_to_postgres.py")).get_dag(
        "stream_to_postgres")
    task = dag.get_task("stream")
    context = {"params": dag.params, "conn": ConnectionAccessor()}
    task.render_template_fields(context)
    signal.signal(signal.SIGTERM, lambda *_: task.on_kill())
    try:
        task.execute(context)
    except AirflowFailException:
        traceback.print_exc()
        return FAILED_FOR_GOOD
    except Exception:
        traceback.print_exc()
        return 1
    return 0


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children first)."""
    found: list[int] = []
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                              text=True).stdout.split()
    for child in map(int, children):
        found.append(child)
        found.extend(descendants(child))
    return found


class StreamTask:
    """The DAG's stream task in a child process (its own session), on a test's database
    `db_url`, Kafka `topic` and checkpoint root `checkpoints`."""

    def __init__(self, db_url: str, bootstrap: str, topic: str, checkpoints: Path,
                 log_path: Path) -> None:
        from tests.integration.stream.scratch_postgres import environment_for

        self.log_path = log_path
        # Open for the task's lifetime: stop() closes it.
        self._log = open(log_path, "ab")  # noqa: SIM115 (outlives this method)
        kafka = {"conn_type": "generic", "host": bootstrap, "extra": {"topic": topic}}
        env = {**os.environ, **environment_for(db_url),
               "AIRFLOW_CONN_NASAFLOW_KAFKA": json.dumps(kafka),
               "NASAFLOW_CHECKPOINT_DIR": str(checkpoints), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", __name__], env=env,
                                        cwd=PROJECT_ROOT, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def driver_pids(self) -> list[int]:
        """spark-submit's JVM and everything it started (Python driver, workers)."""
        return descendants(self.process.pid)

    def kill_active_driver(self, db_url: str, query: str) -> list[int]:
        """SIGKILL the driver holding the query's lock, its JVM and everything the JVM
        started, at once, as a crash would; the task and its standby driver stay. Returns
        the pids killed."""
        # The standby keeps a session of the same name while it waits: the driver to kill
        # is the one whose session was granted the query's lock.
        with psycopg.connect(db_url, autocommit=True) as conn:
            holder = lock_holder(conn, query)
        assert holder is not None and holder.startswith(f"nasaflow-stream {query} "), (
            f"expected a driver holding the lock of {query}, found {holder}")
        python_driver = int(holder.rsplit(":", 1)[1])
        jvm = int(Path(f"/proc/{python_driver}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert jvm in descendants(self.process.pid), "the lock holder is not this task's"
        pids = [jvm, *descendants(jvm)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self, grace: float = 30) -> int | None:
        """SIGTERM the task (Airflow's way of killing it) and wait; anything left after
        `grace` seconds is SIGKILLed. Returns the task's exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        leftovers = self.driver_pids()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        code = self.process.wait(timeout=30)
        self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of `pids` is alive; returns those still alive after `timeout`."""
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists()
                 and "zombie" not in _state(pid)]
    return alive


def _state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"
    line = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return line.lower()


if __name__ == "__main__":
    sys.exit(main())
