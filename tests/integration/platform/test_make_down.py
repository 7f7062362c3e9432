"""`make down` while the stream runs: every process of the platform ends (the stream
task's Spark drivers included), every port is freed, and it says so with exit code 0.
Then `make up` brings the platform back for the tests that follow (this test runs last in
its layer)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.settings import LOCAL_DIR, PROJECT_ROOT

from tests.conftest import PLATFORM_ENVIRON
from tests.integration.stream.streamkit import wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.last_in_layer]

RUN_DIR = LOCAL_DIR / "run"
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"
#: Command lines of the platform's processes (ops/down.sh's own proof uses the same idea).
PLATFORM = re.compile(
    "|".join(re.escape(str(path)) for path in (
        PROJECT_ROOT / "spark_jobs", LOCAL_DIR / "jars" / "kafka", VENV_BIN / "airflow",
        VENV_BIN / "nasaflow", VENV_BIN / "supervisord", VENV_BIN / "httpok"))
    + "|" + re.escape(f"{VENV_BIN / 'python'} -m pyspark.daemon"))
STREAM_DRIVER = str(PROJECT_ROOT / "spark_jobs" / "stream_to_postgres.py")


def processes() -> dict[int, str]:
    """pid -> command line of every live (non-zombie) process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if line and state != "Z":
            found[int(entry.name)] = line
    return found


def descendants(root: int, table: dict[int, str]) -> set[int]:
    parents = {}
    for pid in table:
        try:
            parents[pid] = int(Path(f"/proc/{pid}/stat").read_text()
                                .rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def make(target: str, timeout: float) -> subprocess.CompletedProcess[str]:
    # The platform's own environment: `make up` must start it on the user's data, never on
    # the suite's test copies this process points at.
    return subprocess.run(["make", "-s", target], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False, env=PLATFORM_ENVIRON)


def test_make_down_ends_every_process_and_port_while_the_stream_runs(
        airflow_api: AirflowRestClient, stream_running: None) -> None:
    pidfile = RUN_DIR / "supervisord.pid"
    if not (pidfile.exists() and Path(f"/proc/{pidfile.read_text().strip()}").exists()):
        pytest.skip("the platform of this checkout is not running here (make up elsewhere)")
    supervisord = int(pidfile.read_text().strip())
    wait_until(lambda: any(STREAM_DRIVER in line for line in processes().values()), 600,
               "the stream task's Spark drivers")
    table = processes()
    before = descendants(supervisord, table) | {supervisord} | {
        pid for pid, line in table.items() if PLATFORM.search(line)}
    drivers = [pid for pid in before if STREAM_DRIVER in table.get(pid, "")]
    postgres_ours = (RUN_DIR / "postgres.started-by-nasaflow").exists()
    ports = [9092, 9093, 8080, 8974, int(os.environ.get("NASAFLOW_REPLAY_PORT", "8081"))]
    ports += [5432] if postgres_ours else []
    started = time.monotonic()
    down = make("down", timeout=600)
    took = time.monotonic() - started
    try:
        print(f"make down took {took:.0f} s with {len(drivers)} stream driver processes")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "platform down" in down.stdout
        after = processes()
        left = {pid: after[pid] for pid in before if pid in after}
        left |= {pid: line for pid, line in after.items() if PLATFORM.search(line)}
        assert left == {}, left
        assert [port for port in ports if port_open(port)] == []
    finally:
        up = make("up", timeout=900)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        airflow_api.wait_until_healthy()
