"""A multi-channel day of the synthetic archive through the real nasa_ingest DAG: chunked
downloads (a few task instances per channel, not one per image) land every cell, and a
corrupt image in a chunk quarantines that image only.

The suite serves the archive from a replay server of its own (small images, hourly
cadence, a small pool) and points the test target at it with the Airflow connection
nasa_helioviewer_test, created through the REST API and deleted afterwards; the
platform's replay server and connections are left alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import requests

from nasaflow.ingest.landed_assets import landed_asset
from nasaflow.ingest.targets import PLATFORM, TEST
from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.replay.archive import ArchiveConfig
from nasaflow.replay.server import ReplayServer
from nasaflow.settings import SAMPLES_DIR, Settings
from nasaflow.sources.helioviewer import source_for

from tests.conftest import TEST_CONF

pytestmark = [pytest.mark.services, pytest.mark.slow]

CHANNELS = ["131", "171", "magnetogram"]
#: Hourly images, planned every 3 hours: 8 images per channel and day.
CADENCE_MINUTES = 180
PER_CHANNEL = 24 * 60 // CADENCE_MINUTES
CONNECTION = "nasa_helioviewer_test"


@pytest.fixture(scope="module")
def archive_replay(airflow_api: AirflowRestClient, settings: Settings) -> Iterator[str]:
    """The suite's archive server, reached by the test target's runs."""
    config = ArchiveConfig({source_for(w).source_id: 3600 for w in CHANNELS},
                           timedelta(minutes=25), pool_size=4, side=512,
                           cache_dir=Path(settings.data_dir) / "replay-archive")
    with ReplayServer("127.0.0.1", 0, samples_dir=SAMPLES_DIR, archive=config) as server:
        airflow_api.request("DELETE", f"/connections/{CONNECTION}")
        airflow_api.call("POST", "/connections", json={
            "connection_id": CONNECTION, "conn_type": "http", "host": server.url})
        try:
            yield server.url
        finally:
            airflow_api.request("DELETE", f"/connections/{CONNECTION}")


def closed_downloads(airflow_api: AirflowRestClient, dag: str, run_id: str) -> dict:
    """What close_downloads gathered: the images each chunk verified, with their cells."""
    return airflow_api.get(f"/dags/{dag}/dagRuns/{run_id}/taskInstances/close_downloads/"
                           "xcomEntries/return_value", deserialize="true",
                           stringify="false")["value"]


def landed_partitions(airflow_api: AirflowRestClient, asset_name: str,
                      run_id: str) -> list[str]:
    """Partition keys of the asset events the run emitted on asset `asset_name`."""
    assets = airflow_api.get("/assets", name_pattern=asset_name)["assets"]
    ids = [asset["id"] for asset in assets if asset["name"] == asset_name]
    if not ids:
        return []
    events = airflow_api.get("/assets/events", asset_id=ids[0], source_run_id=run_id,
                             limit=100)["asset_events"]
    return sorted(event["partition_key"] for event in events)


def landed_cells(conn: psycopg.Connection, image_ids: list[str]) -> int:
    row = conn.execute("SELECT count(*) FROM image_parameters WHERE image_id = ANY(%s)"
                       " AND patch_size = 64", (image_ids,)).fetchone()
    assert row is not None
    return int(row[0])


def run_day(airflow_api: AirflowRestClient, dag: str, day: str) -> tuple[str, str]:
    run_id = airflow_api.trigger(dag, {**TEST_CONF, "date": day, "wavelengths": CHANNELS,
                                       "cadence_minutes": CADENCE_MINUTES})
    return run_id, airflow_api.wait_for_run(dag, run_id, timeout=900)


def run_faulted_day(airflow_api: AirflowRestClient, dag: str, day: str, replay_url: str,
                    faults: list[dict]) -> tuple[str, str]:
    """`run_day` with `faults` armed on the suite's archive server, disarmed after."""
    for fault in faults:
        requests.post(f"{replay_url}/_replay/faults", json=fault, timeout=10).raise_for_status()
    try:
        return run_day(airflow_api, dag, day)
    finally:
        requests.delete(f"{replay_url}/_replay/faults", timeout=10).raise_for_status()


def test_a_multi_channel_day_lands_completely_with_a_few_tasks_per_channel(
        airflow_api: AirflowRestClient, ingest_dag: str, archive_replay: str,
        db_conn: psycopg.Connection) -> None:
    run_id, state = run_day(airflow_api, ingest_dag, "2023-05-01")
    instances = airflow_api.task_instances(ingest_dag, run_id)
    assert state == "success", instances
    per_task = Counter(ti["task_id"] for ti in instances)
    assert per_task["download_chunk"] <= 2 * len(CHANNELS), per_task
    assert len(instances) <= 5 * len(CHANNELS) + 5, per_task
    expected = closed_downloads(airflow_api, ingest_dag, run_id)["expected"]
    rows = db_conn.execute(
        "SELECT wavelength, count(*) FROM images WHERE id = ANY(%s) GROUP BY 1",
        (list(expected),)).fetchall()
    assert dict(rows) == {w: PER_CHANNEL for w in CHANNELS}
    assert landed_cells(db_conn, list(expected)) == sum(expected.values()) > 0
    labels = {ti.get("rendered_map_index") for ti in instances
              if ti["task_id"] == "download_chunk"}
    assert any(label and "AIA 131 1/2" in label for label in labels), labels
    log = airflow_api.task_log(ingest_dag, run_id, "download_chunk", map_index=0)
    assert f"{PER_CHANNEL // 2}/{PER_CHANNEL // 2} images done" in log, log[-2000:]
    # One asset event per landed (channel, day), on the test target's asset only.
    assert landed_partitions(airflow_api, landed_asset(TEST).name, run_id) == \
        sorted(f"{channel}|2023-05-01" for channel in CHANNELS)
    assert landed_partitions(airflow_api, landed_asset(PLATFORM).name, run_id) == []


def test_a_bad_image_fails_alone_and_what_the_source_cannot_serve_is_recorded_missing(
        airflow_api: AirflowRestClient, ingest_dag: str, archive_replay: str,
        db_conn: psycopg.Connection) -> None:
    # One day, three faults (one run keeps the suite short):
    # - a corrupt 171 image: quarantined alone, the run ends failed naming it;
    # - a magnetogram image whose getJP2Image answers "File not found." as image/jp2 and
    # - a 131 slot whose getClosestImage answers errno 13 (an unreadable archive file):
    #   both recorded missing with the reason, nothing quarantined for them;
    # every other image of the day lands.
    day = "2023-05-02"

    def closest(hour: int, channel: str) -> str:
        query = {"date": f"{day}T{hour:02d}:00:00Z",
                 "sourceId": str(source_for(channel).source_id)}
        return str(requests.get(f"{archive_replay}/v2/getClosestImage/", params=query,
                                timeout=10).json()["id"])

    bad, gone = closest(6, "171"), closest(12, "magnetogram")
    run_id, state = run_faulted_day(airflow_api, ingest_dag, day, archive_replay, [
        {"route": "/v2/getJP2Image/", "fault": "corrupt", "count": -1,
         "match": rf"\?id={bad}$"},
        {"route": "/v2/getJP2Image/", "fault": "file-not-found", "count": -1,
         "match": rf"\?id={gone}$"},
        {"route": "/v2/getClosestImage/", "fault": "500;errno=13", "count": -1,
         "match": rf"date={day}T09.*sourceId={source_for('131').source_id}$"}])
    assert state == "failed"
    states = Counter((ti["task_id"], ti["state"])
                     for ti in airflow_api.task_instances(ingest_dag, run_id))
    assert states[("finish", "failed")] == 1 and states[("download_chunk", "failed")] == 0
    quarantined = db_conn.execute("SELECT id FROM quarantined_images WHERE id LIKE %s",
                                  (f"{day.replace('-', '_')}%",)).fetchall()
    assert len(quarantined) == 1, quarantined
    assert quarantined[0][0].endswith("AIA_AIA_171")
    assert quarantined[0][0] in airflow_api.task_log(ingest_dag, run_id, "finish")
    closed = closed_downloads(airflow_api, ingest_dag, run_id)
    [(missing_id, reason)] = closed["missing"].items()
    assert "File not found." in reason and missing_id.endswith("HMI_HMI_magnetogram")
    expected = closed["expected"]
    assert len(expected) == PER_CHANNEL * len(CHANNELS) - 3
    assert quarantined[0][0] not in expected
    assert landed_cells(db_conn, list(expected)) == sum(expected.values())
    plan_log = airflow_api.task_log(ingest_dag, run_id, "plan")
    assert f"missing: helioviewer 131 {day} 09:00 - " in plan_log, plan_log[-2000:]
    assert "Helioviewer error 13" in plan_log
