"""The cluster profile's Airflow on its own: Redis and the CeleryExecutor's Airflow
started at ports, a folder and a metadata database of this test's own; a nasa_ingest run
triggered through the REST API has its tasks run by the two Celery workers, which name
themselves in the task instances; the secrets reach no log. Everything is stopped and
the database dropped afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.operations.cluster import airflow
from nasaflow.operations.cluster.layout import TEST_PORT_OFFSET, ClusterLayout
from nasaflow.operations.cluster.programs import render_supervisord
from nasaflow.settings import with_database

from tests.conftest import TEST_CONF

pytestmark = [pytest.mark.services, pytest.mark.slow]

#: Clear of the suite's cluster (TEST_PORT_OFFSET), which may run at the same time.
PORT_OFFSET = TEST_PORT_OFFSET + 3000
READY_TIMEOUT_S = 240
VENV_BIN = Path(sys.executable).parent


def supervisord_pid(layout: ClusterLayout) -> int | None:
    try:
        pid = int((layout.run / "supervisord.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def drop_database(name: str) -> None:
    """Drop the test's metadata database as its owner (Airflow's role)."""
    assert name.startswith("airflow_cluster_"), name
    owner = with_database(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], "postgres")
    with psycopg.connect(owner.replace("+psycopg2", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def cluster_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterLayout]:
    """The component prepared, its programs running under a supervisord of the test's
    own and usable (`check`), provisioned; all stopped and its database dropped after."""
    layout = ClusterLayout(tmp_path_factory.mktemp("celery"), PORT_OFFSET)
    database = airflow.metadata_database(layout)
    conf = layout.run / "supervisord.conf"
    # nasa_ingest starts today: unpausing it makes no catch-up runs beside the test's.
    environ = {**os.environ, **airflow.client_env(layout),
               "NASAFLOW_INGEST_START_DATE": datetime.now(UTC).strftime("%Y-%m-%d")}
    try:
        airflow.prepare(layout)
        descriptor = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:  # the environments hold secrets
            handle.write(render_supervisord(layout, airflow.programs(layout)))
        subprocess.run([str(VENV_BIN / "supervisord"), "-c", str(conf)], env=environ,
                       check=True)
        started = time.monotonic()
        while (problem := airflow.check(layout)) is not None:
            assert time.monotonic() - started < READY_TIMEOUT_S, (
                f"not usable after {READY_TIMEOUT_S} s: {problem} (logs in {layout.logs})")
            time.sleep(2)
        print(f"cluster Airflow usable {time.monotonic() - started:.0f} s after start")
        airflow.provision(layout)
        yield layout
    finally:
        pid = supervisord_pid(layout)
        if pid is not None:
            subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(conf), "shutdown"],
                           capture_output=True, check=False)
            deadline = time.monotonic() + 120
            while supervisord_pid(layout) == pid and time.monotonic() < deadline:
                time.sleep(0.5)
        drop_database(database)


def test_a_runs_tasks_run_on_the_two_celery_workers(cluster_airflow: ClusterLayout) -> None:
    layout = cluster_airflow
    api = AirflowRestClient(airflow.api_url(layout), os.environ["AIRFLOW_ADMIN_USER"],
                            os.environ["AIRFLOW_ADMIN_PASSWORD"])
    api.wait_for_dag("nasa_ingest", timeout=120)
    api.set_paused("nasa_ingest", False)
    assert api.get("/pools/nasa_api")["slots"] == airflow.POOLS["nasa_api"][0]
    # A day in the future: plan runs (on a worker) and fails the run with the reason,
    # fetching nothing.
    run_id = api.trigger("nasa_ingest", {**TEST_CONF, "date": "2999-01-01"})
    state = api.wait_for_run("nasa_ingest", run_id, timeout=150, poll=2)
    instances = {ti["task_id"]: ti for ti in api.task_instances("nasa_ingest", run_id)}
    plan = instances["plan"]
    assert state == "failed" and plan["state"] == "failed", plan
    assert plan["hostname"] in airflow.WORKERS, plan
    assert plan["queue"] == airflow.QUEUE
    ran = [ti for ti in instances.values() if ti["hostname"]]
    assert {ti["hostname"] for ti in ran} <= set(airflow.WORKERS), ran
    # The api-server reads the worker's log of the task: the reason is there.
    response = api.session.get(
        f"{api.base_url}/api/v2/dags/nasa_ingest/dagRuns/{run_id}/taskInstances/plan/logs/1",
        headers={"Accept": "application/json"}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    assert "bad input: interval_start 2999-01-01" in json.dumps(response.json())
    # The broker's and the database's passwords reach no log of the cluster.
    secrets = [os.environ["NASAFLOW_REDIS_PASSWORD"],
               urlsplit(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).password]
    for path in layout.logs.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not [secret for secret in secrets if secret and secret in text], path
