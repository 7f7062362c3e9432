"""nasa_ingest through Airflow's REST API with the scheduler running, against the replay
server: a sample date lands in PostgreSQL, re-runs change nothing, backfills make one
successful run per date, and bad input fails with a clear message.

Every run is triggered with TEST_CONF (target "test"): it downloads into the test image
store, publishes to the test topic and registers in the test database, where the suite's
own stream (the test_stream fixture) lands its cells; the user's data is never touched."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any, LiteralString

import psycopg
import pytest
import requests

from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.settings import Settings

from tests.conftest import TEST_CONF

pytestmark = [pytest.mark.services, pytest.mark.slow]

SAMPLE_DATE = "2022-01-01"
SAMPLE_IMAGE = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193"
REPLAY = f"http://127.0.0.1:{os.environ.get('NASAFLOW_REPLAY_PORT', '8081')}"


def image_row(conn: psycopg.Connection, image_id: str) -> tuple | None:
    return conn.execute("SELECT path, sha256, width, height, xmin::text, registered_at"
                        " FROM images WHERE id = %s", (image_id,)).fetchone()


def value(conn: psycopg.Connection, sql: LiteralString, params: tuple[object, ...]) -> Any:
    """The single value of a one-row query (an aggregate)."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None, sql
    return row[0]


def cells(conn: psycopg.Connection, image_id: str, patch_size: int = 64) -> int:
    return int(value(conn, "SELECT count(*) FROM image_parameters WHERE image_id = %s"
                     " AND patch_size = %s", (image_id, patch_size)))


def forget_image(settings: Settings, image_id: str) -> None:
    """Remove an image's rows and stored file from the test copies, so the next run must
    fetch it again."""
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        path = conn.execute("SELECT path FROM images WHERE id = %s", (image_id,)).fetchone()
        for statement in ("DELETE FROM image_parameters WHERE image_id = %s",
                          "DELETE FROM images WHERE id = %s",
                          "DELETE FROM quarantined_images WHERE id = %s"):
            conn.execute(statement, (image_id,))
    if path:
        Path(path[0]).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def sample_run(airflow_api: AirflowRestClient, ingest_dag: str, settings: Settings) -> str:
    """A run for the sample date that must download, compute, stream and land."""
    forget_image(settings, SAMPLE_IMAGE)
    run_id = airflow_api.trigger(ingest_dag, {**TEST_CONF, "date": SAMPLE_DATE,
                                              "wavelengths": ["193"]})
    state = airflow_api.wait_for_run(ingest_dag, run_id, timeout=900)
    assert state == "success", airflow_api.task_instances(ingest_dag, run_id)
    return run_id


def test_sample_date_run_stores_verified_image_and_lands_every_cell(
        sample_run: str, db_conn: psycopg.Connection, settings: Settings) -> None:
    row = image_row(db_conn, SAMPLE_IMAGE)
    assert row is not None, "image not registered"
    path, sha256, width, height = row[:4]
    assert Path(path).is_relative_to(settings.data_dir), "stored outside the test store"
    assert Path(path).is_file()
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha256
    assert cells(db_conn, SAMPLE_IMAGE) == (width // 64) * (height // 64) == 4096


def test_rerun_of_a_complete_date_changes_nothing(
        airflow_api: AirflowRestClient, ingest_dag: str, sample_run: str,
        db_conn: psycopg.Connection) -> None:
    before = image_row(db_conn, SAMPLE_IMAGE)
    assert before is not None, f"{SAMPLE_IMAGE} is not registered"
    landed_before = value(db_conn, "SELECT max(landed_at) FROM image_parameters"
                          " WHERE image_id = %s", (SAMPLE_IMAGE,))
    mtime_before = Path(before[0]).stat().st_mtime_ns
    run_id = airflow_api.trigger(ingest_dag, {**TEST_CONF, "date": SAMPLE_DATE,
                                              "wavelengths": ["193"]})
    assert airflow_api.wait_for_run(ingest_dag, run_id, timeout=600) == "success"
    assert image_row(db_conn, SAMPLE_IMAGE) == before, "images row rewritten"
    assert Path(before[0]).stat().st_mtime_ns == mtime_before, "file downloaded again"
    closed = airflow_api.get(f"/dags/{ingest_dag}/dagRuns/{run_id}/taskInstances/"
                             "close_downloads/xcomEntries/return_value", deserialize="true",
                             stringify="false")["value"]
    assert closed["to_compute"] == 0, "a complete image was handed to the compute again"
    assert value(db_conn, "SELECT max(landed_at) FROM image_parameters WHERE image_id = %s",
                 (SAMPLE_IMAGE,)) == landed_before


def test_backfill_of_three_dates_creates_three_successful_runs(
        airflow_api: AirflowRestClient, ingest_dag: str, sample_run: str) -> None:
    backfill = airflow_api.call("POST", "/backfills", json={
        "dag_id": ingest_dag, "from_date": "2022-01-01T00:00:00Z",
        "to_date": "2022-01-03T00:00:00Z", "max_active_runs": 3,
        "reprocess_behavior": "completed",
        "dag_run_conf": {**TEST_CONF, "wavelengths": ["193"]}})
    deadline = time.monotonic() + 900
    while airflow_api.get(f"/backfills/{backfill['id']}")["completed_at"] is None:
        assert time.monotonic() < deadline, "backfill not completed in 900 s"
        time.sleep(5)
    runs = airflow_api.get(f"/dags/{ingest_dag}/dagRuns", run_type="backfill",
                           logical_date_gte="2022-01-01T00:00:00Z",
                           logical_date_lte="2022-01-03T00:00:00Z")["dag_runs"]
    assert sorted(run["logical_date"][:10] for run in runs) == [
        "2022-01-01", "2022-01-02", "2022-01-03"]
    assert {run["state"] for run in runs} == {"success"}


def test_a_future_date_fails_the_run_with_the_reason_in_the_log(
        airflow_api: AirflowRestClient, ingest_dag: str) -> None:
    run_id = airflow_api.trigger(ingest_dag, {**TEST_CONF, "date": "2099-01-01",
                                              "wavelengths": ["193"]})
    assert airflow_api.wait_for_run(ingest_dag, run_id, timeout=300) == "failed"
    plan = next(ti for ti in airflow_api.task_instances(ingest_dag, run_id)
                if ti["task_id"] == "plan")
    assert plan["state"] == "failed" and plan["try_number"] == 1, "bad input must not retry"
    log = airflow_api.task_log(ingest_dag, run_id, "plan")
    assert "bad input" in log and "2099-01-01" in log


def test_an_unknown_wavelength_is_refused_by_the_trigger_form(
        airflow_api: AirflowRestClient, ingest_dag: str) -> None:
    response = airflow_api.request("POST", f"/dags/{ingest_dag}/dagRuns", json={
        "logical_date": None,
        "conf": {**TEST_CONF, "date": SAMPLE_DATE, "wavelengths": ["999"]}})
    assert response.status_code == 400
    assert "999" in response.text


def test_an_image_that_stays_corrupt_is_quarantined_and_the_run_fails_naming_it(
        airflow_api: AirflowRestClient, ingest_dag: str, settings: Settings,
        db_conn: psycopg.Connection) -> None:
    image_id = "2024_04_16__11_15_41_129__SDO_AIA_AIA_304"
    forget_image(settings, image_id)
    # Only the image bytes (getJP2Image?id=N), not the JSON calls of the plan.
    fault = {"route": "/v2/getJP2Image/", "fault": "corrupt", "count": -1,
             "match": r"\?id=\d+$"}
    requests.post(f"{REPLAY}/_replay/faults", json=fault, timeout=10).raise_for_status()
    try:
        run_id = airflow_api.trigger(ingest_dag, {**TEST_CONF, "date": "2024-04-16",
                                                  "wavelengths": ["304"]})
        assert airflow_api.wait_for_run(ingest_dag, run_id, timeout=600) == "failed"
    finally:
        requests.delete(f"{REPLAY}/_replay/faults", timeout=10).raise_for_status()
    states = {ti["task_id"]: ti["state"] for ti in airflow_api.task_instances(ingest_dag, run_id)}
    assert states["finish"] == "failed" and states["close_downloads"] == "success"
    assert states["download_chunk"] == "success", "a quarantined image failed its chunk"
    assert image_id in airflow_api.task_log(ingest_dag, run_id, "finish")
    reason = db_conn.execute("SELECT reason FROM quarantined_images WHERE id = %s",
                             (image_id,)).fetchone()
    assert reason is not None and reason[0]
    assert image_row(db_conn, image_id) is None, "a corrupt image was registered"
    db_conn.execute("DELETE FROM quarantined_images WHERE id = %s", (image_id,))
