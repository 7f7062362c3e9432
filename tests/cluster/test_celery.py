"""The cluster profile's Airflow: a nasa_ingest run triggered through the REST API of the
suite's cluster has its tasks run by the two Celery workers (on Redis), which name
themselves in the task instances; the api-server serves their logs; the secrets reach no
log of the cluster."""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

import pytest

from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.operations.cluster import airflow

from tests.cluster.clusterkit import Cluster
from tests.conftest import TEST_CONF

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_a_runs_tasks_run_on_the_two_celery_workers(cluster: Cluster) -> None:
    layout = cluster.layout
    api = AirflowRestClient(airflow.api_url(layout), os.environ["AIRFLOW_ADMIN_USER"],
                            os.environ["AIRFLOW_ADMIN_PASSWORD"])
    api.wait_for_dag("nasa_ingest", timeout=120)
    api.set_paused("nasa_ingest", False)
    assert api.get("/pools/nasa_api")["slots"] == \
        json.loads(airflow.POOLS_FILE.read_text())["nasa_api"]["slots"]
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
