"""Late data is waited for, not lost: slots after the source's newest indexed image
(getDataSources' end, which trails the clock) are pending, not gaps, and the plan step
reschedules itself until the source catches up, up to the late-data deadline. Served by a
replay archive of its own whose index trails the clock by three hours."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from nasaflow.ingest import SourceClients, plan_images, steps
from nasaflow.ingest.chunks import ingest_chunk
from nasaflow.ingest.pause import RunPause
from nasaflow.ingest.plan import plan_slots
from nasaflow.ingest.records import PlannedImage
from nasaflow.ingest.slots import pending_slots, record_slots
from nasaflow.replay.archive import ArchiveConfig
from nasaflow.replay.server import ReplayServer
from nasaflow.settings import SAMPLES_DIR, Settings, get_settings
from nasaflow.sources.helioviewer import HelioviewerClient, source_for
from nasaflow.sources.http import HttpClient

DELAY = timedelta(hours=3)


@pytest.fixture(scope="module")
def late_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An hourly AIA 193 archive whose newest indexed image is three hours old."""
    config = ArchiveConfig({source_for("193").source_id: 3600}, DELAY, pool_size=2, side=256,
                           cache_dir=tmp_path_factory.mktemp("late-archive"))
    with ReplayServer("127.0.0.1", 0, samples_dir=SAMPLES_DIR, archive=config) as server:
        yield server.url


def test_slots_after_the_sources_newest_image_are_pending_not_gaps(
        late_archive: str, http: HttpClient) -> None:
    clients = SourceClients(http, HelioviewerClient(late_archive, http), late_archive, "")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    plan = plan_images(now - timedelta(hours=8), now, ["helioviewer"], ["193"], 60,
                       clients=clients)
    by_status = {status: [p.requested_at[0] for p in plan if p.status == status]
                 for status in ("download", "pending", "gap")}
    assert by_status["gap"] == []
    # The index ends 3 to 4 hours ago (hourly images): the last 2 to 4 request times are
    # not indexed yet, depending on the minute; everything before is planned.
    assert 2 <= len(by_status["pending"]) <= 4 and len(by_status["download"]) >= 4
    assert min(by_status["pending"]) > max(by_status["download"])
    pending = [p for p in plan if p.status == "pending"]
    assert all("not yet available" in (p.reason or "") for p in pending)


@pytest.fixture(scope="module")
def day_late_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An hourly AIA 193 archive whose index trails the clock by 30 hours: part of
    yesterday is always still to come, whatever the time of day."""
    config = ArchiveConfig({source_for("193").source_id: 3600}, timedelta(hours=30),
                           pool_size=2, side=256,
                           cache_dir=tmp_path_factory.mktemp("day-late-archive"))
    with ReplayServer("127.0.0.1", 0, samples_dir=SAMPLES_DIR, archive=config) as server:
        yield server.url


@pytest.fixture()
def slot_rows(settings: Settings) -> Iterator[psycopg.Connection]:
    """The test database's unlanded_slots; the rows these tests' runs record go after."""
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        forget = "DELETE FROM unlanded_slots WHERE run_id LIKE 'scheduled__late%%'"
        conn.execute(forget)
        yield conn
        conn.execute(forget)


@pytest.mark.services
def test_the_plan_waits_for_the_source_then_goes_on_at_the_deadline(
        day_late_archive: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], slot_rows) -> None:
    from airflow.sdk.exceptions import AirflowRescheduleException

    monkeypatch.setenv("AIRFLOW_CONN_NASA_HELIOVIEWER",
                       json.dumps({"conn_type": "http", "host": day_late_archive}))
    settings = replace(get_settings(), data_dir=str(tmp_path), late_data_poll_seconds=120)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    params = {"target": "platform", "date": f"{yesterday:%Y-%m-%d}",
              "sources": ["helioviewer"], "wavelengths": ["193"], "cadence_minutes": 60,
              "patch_size": 64}
    started = datetime.now(UTC)
    with pytest.raises(AirflowRescheduleException) as caught:
        steps.plan(settings, params, "scheduled__late", None, None, run_started=started)
    assert abs((caught.value.reschedule_date - started).total_seconds() - 120) < 10
    assert "not indexed by the source yet" in capsys.readouterr().out
    # Past the deadline: planned with what is there, the rest logged as pending.
    chunks = steps.plan(settings, params, "scheduled__late", None, None,
                        run_started=started - timedelta(hours=7))
    assert all(entry["status"] == "download" for chunk in chunks for entry in chunk["entries"])
    out = capsys.readouterr().out
    assert "planned without them" in out and "pending: helioviewer 193" in out
    assert "slot(s) have an image planned" in out and " pending" in out.split("completeness")[1]
    pending = slot_rows.execute("SELECT count(*) FROM unlanded_slots WHERE status = 'pending'"
                                " AND run_id = 'scheduled__late'").fetchone()[0]
    assert pending >= 1


@pytest.mark.services
def test_a_half_indexed_day_completes_in_a_later_run_without_losing_a_slot(
        day_late_archive: str, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Settings,
        slot_rows) -> None:
    run = replace(get_settings(), data_dir=str(tmp_path))
    yesterday = datetime.now(UTC) - timedelta(days=1)
    params = {"target": "platform", "date": f"{yesterday:%Y-%m-%d}",
              "sources": ["helioviewer"], "wavelengths": ["193"], "cadence_minutes": 60,
              "patch_size": 64}
    # Yesterday's run reaches its deadline with the source 30 hours behind: the slots
    # after its newest image are recorded as pending.
    monkeypatch.setenv("AIRFLOW_CONN_NASA_HELIOVIEWER",
                       json.dumps({"conn_type": "http", "host": day_late_archive}))
    started = datetime.now(UTC) - timedelta(hours=7)
    steps.plan(run, params, "scheduled__late_d1", None, None, run_started=started)
    pending = {row[0] for row in slot_rows.execute(
        "SELECT slot_at FROM unlanded_slots WHERE status = 'pending' AND wavelength = '193'"
        " AND run_id = 'scheduled__late_d1'")}
    assert pending
    # The source catches up (the same archive, indexed to the clock); today's run asks
    # for yesterday's pending slots again and plans their images with its own.
    config = ArchiveConfig({source_for("193").source_id: 3600}, timedelta(0), pool_size=2,
                           side=256, cache_dir=tmp_path_factory.mktemp("caught-up"))
    with ReplayServer("127.0.0.1", 0, samples_dir=SAMPLES_DIR, archive=config) as server:
        monkeypatch.setenv("AIRFLOW_CONN_NASA_HELIOVIEWER",
                           json.dumps({"conn_type": "http", "host": server.url}))
        today = {**params, "date": f"{datetime.now(UTC):%Y-%m-%d}"}
        chunks = steps.plan(run, today, "scheduled__late_d2", None, None,
                            run_started=started)
        caught_up = [entry for chunk in chunks for entry in chunk["entries"]
                     if any(datetime.fromisoformat(moment) in pending
                            for moment in entry["requested_at"])]
        assert {datetime.fromisoformat(moment) for entry in caught_up
                for moment in entry["requested_at"]} >= pending
        # Their pending rows stay until the images register, then go.
        assert slot_rows.execute("SELECT count(*) FROM unlanded_slots WHERE slot_at = ANY(%s)"
                                 " AND status = 'pending'", (list(pending),)).fetchone()[0] \
            == len(pending)
        clients = SourceClients.from_settings(run)
        result = ingest_chunk({"label": "AIA 193 caught up", "name": "caught-up",
                               "entries": caught_up},
                              clients=lambda: clients, data_dir=tmp_path / "data",
                              patch_size=64, connect=lambda: psycopg.connect(settings.db_url),
                              manifest_dir=tmp_path / "manifest", threads=2,
                              pause=RunPause.of_run(tmp_path / "data", "scheduled__caught_up"),
                              log=print)
    assert len(result.expected) == len(caught_up)
    assert slot_rows.execute("SELECT count(*) FROM unlanded_slots WHERE slot_at = ANY(%s)"
                             " AND wavelength = '193'", (list(pending),)).fetchone()[0] == 0
    landed = slot_rows.execute("SELECT count(*) FROM images WHERE id = ANY(%s)",
                               ([entry["id"] for entry in caught_up],)).fetchone()[0]
    slot_rows.execute("DELETE FROM images WHERE id = ANY(%s)",
                      ([entry["id"] for entry in caught_up],))
    assert landed == len(caught_up)


@pytest.mark.services
def test_a_pending_slot_the_source_long_passed_with_nothing_near_is_absent(
        late_archive: str, slot_rows, http: HttpClient) -> None:
    clients = SourceClients(http, HelioviewerClient(late_archive, http), late_archive, "")
    # 8 h 30 min before the source's newest image, i.e. half-way between two images of the
    # hourly archive, with a one-minute tolerance: nothing near. (Placed from the index's
    # end, not the clock: the images' minute past the hour is the archive's, not ours.)
    end = clients.helioviewer.data_sources()[source_for("193").source_id].end
    slot = (end - timedelta(hours=8, minutes=30)).replace(microsecond=0)
    entry = PlannedImage("helioviewer", "pending", "AIA", "193", (slot,), reason="late")
    record_slots(slot_rows, [entry], "pending", tolerance=timedelta(minutes=1),
                 run_id="scheduled__late_absent")
    earlier = pending_slots(slot_rows, ["193"], before=datetime.now(UTC))
    assert [(p.slot_at, p.tolerance) for p in earlier if p.slot_at == slot] == \
        [(slot, timedelta(minutes=1))]
    mine = [p for p in earlier if p.slot_at == slot]
    # The source's newest image is 8.5 h past the slot (9.5 h if the index moved on since):
    # absent after 8 h, still pending when absence takes 10 h.
    assert [e.status for e in plan_slots(mine, absent_after=timedelta(hours=10),
                                         clients=clients)] == ["pending"]
    absent = plan_slots(mine, absent_after=timedelta(hours=8), clients=clients)
    assert [e.status for e in absent] == ["absent"]
    assert "expected an image within 0:01:00" in (absent[0].reason or "")


def test_a_run_without_a_start_time_never_waits(late_archive: str, http: HttpClient) -> None:
    clients = SourceClients(http, HelioviewerClient(late_archive, http), late_archive, "")
    now = datetime.now(UTC)
    plan = plan_images(now - timedelta(hours=5), now, ["helioviewer"], ["193"], 60,
                       clients=clients)
    assert steps.wait_for_late_data(get_settings(), plan, None) is None




def test_after_a_source_that_stopped_days_ago_times_are_gaps_not_waited_for(clients) -> None:
    # The bundled samples' newest AIA 193 image is from 2022: that source is not lagging.
    now = datetime.now(UTC)
    plan = plan_images(now - timedelta(hours=6), now, ["helioviewer"], ["193"], 60,
                       clients=clients)
    assert {p.status for p in plan} == {"gap"}
    assert steps.wait_for_late_data(get_settings(), plan, now) is None
