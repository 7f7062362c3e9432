"""nasa_ingest end to end on the cluster profile, unchanged: the suite's cluster Airflow
hands its tasks to Celery workers, the download publishes the image to the object store,
the parameter job runs on the Spark standalone cluster reading it from there, and the
cells reach PostgreSQL through the three-broker topic and a stream whose checkpoint is in
the object store."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.settings import TEST_SUFFIX

from tests.cluster.clusterkit import Cluster, ensure_cluster_topic, landed_cells, stream
from tests.conftest import PLATFORM_SETTINGS, TEST_CONF

pytestmark = [pytest.mark.services, pytest.mark.slow]

DATE = "2021-01-06"
IMAGE = "2021_01_06__00_01_42_580__SDO_AIA_AIA_304"


def test_a_day_runs_on_celery_workers_spark_standalone_three_brokers_and_the_store(
        cluster: Cluster, tmp_path: Path) -> None:
    api = AirflowRestClient(f"http://127.0.0.1:{cluster.layout.port('airflow_api')}",
                            os.environ["AIRFLOW_ADMIN_USER"], os.environ["AIRFLOW_ADMIN_PASSWORD"])
    api.wait_until_healthy()
    api.wait_for_dag("nasa_ingest")
    api.set_paused("nasa_ingest", False)
    # What a target=test run publishes to, replicated on the three brokers.
    topic = ensure_cluster_topic(cluster, PLATFORM_SETTINGS.kafka_topic + TEST_SUFFIX)
    with stream(cluster, topic, "cluster_e2e" + TEST_SUFFIX, tmp_path / "stream.log"):
        started = time.monotonic()
        run_id = api.trigger("nasa_ingest", {**TEST_CONF, "date": DATE, "wavelengths": ["304"]})
        state = api.wait_for_run("nasa_ingest", run_id, timeout=900)
        run_s = time.monotonic() - started
    instances = api.task_instances("nasa_ingest", run_id)
    assert state == "success", [(ti["task_id"], ti["state"]) for ti in instances]
    ran = [ti for ti in instances if ti["state"] == "success"]
    assert {ti["queue"] for ti in ran} == {"default"}
    assert {ti["executor"] or "CeleryExecutor" for ti in ran} == {"CeleryExecutor"}
    with psycopg.connect(cluster.settings.db_url) as conn:
        row = conn.execute("SELECT path FROM images WHERE id = %s", (IMAGE,)).fetchone()
    assert row is not None and row[0].startswith(cluster.settings.image_store + "/"), row
    assert landed_cells(cluster.settings, [IMAGE]) == 64 * 64
    print(f"cluster e2e: nasa_ingest of {DATE} (AIA 304) in {run_s:.0f} s on "
          f"{len(ran)} task instances")
