"""A rate limit met by one task of a nasa_ingest run pauses the whole run: the chunk that
met the limiter's page records the pause in the run's part of the image store, and every
other chunk of the run, a separate task instance, reads it and is rescheduled to its end
without sending the source a single request. Real replay server; the writer connection
points at a port that refuses, so a chunk that tried to use PostgreSQL would fail here."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nasaflow.ingest import plan_images, steps
from nasaflow.ingest.chunks import chunk_plan
from nasaflow.ingest.pause import RESUME_SPREAD, RunPause
from nasaflow.settings import get_settings

RUN = "scheduled__2022-01-01T00:00:00+00:00"
PARAMS = {"target": "platform", "patch_size": 64}


@pytest.fixture()
def no_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The writer connection on a bound 127.0.0.1 port that does not listen."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AIRFLOW_CONN_NASAFLOW_DB",
                           f"postgres://nobody:x@127.0.0.1:{sock.getsockname()[1]}/none")
        yield


def test_a_chunk_meeting_the_limiter_pauses_every_chunk_of_the_run(
        replay, clients, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        no_database: None) -> None:
    from airflow.sdk.exceptions import AirflowRescheduleException

    monkeypatch.setenv("AIRFLOW_CONN_NASA_HELIOVIEWER",
                       json.dumps({"conn_type": "http", "host": replay.url}))
    settings = replace(get_settings(), data_dir=str(tmp_path))
    day, later_day = datetime(2022, 1, 1, tzinfo=UTC), datetime(2024, 4, 16, 11, tzinfo=UTC)
    planned = (plan_images(day, day + timedelta(hours=1), ["helioviewer"], ["193"], 60,
                           clients=clients)
               + plan_images(later_day, later_day + timedelta(hours=1), ["helioviewer"],
                             ["304"], 60, clients=clients))
    first, second = chunk_plan([p for p in planned if p.status == "download"], 1)
    replay.arm("/v2/getJP2Image/", "ratelimit-html", count=-1)

    with pytest.raises(AirflowRescheduleException) as met:
        steps.download_chunk(settings, first.to_dict(), PARAMS, RUN)
    end = RunPause.of_run(tmp_path, RUN).until()
    assert end is not None and 60 <= (end - datetime.now(UTC)).total_seconds() <= 76
    assert end <= met.value.reschedule_date <= end + timedelta(seconds=RESUME_SPREAD)
    assert len(replay.downloads()) == 1

    with pytest.raises(AirflowRescheduleException) as paused:
        steps.download_chunk(settings, second.to_dict(), PARAMS, RUN)
    assert end <= paused.value.reschedule_date <= end + timedelta(seconds=RESUME_SPREAD)
    assert len(replay.downloads()) == 1, "the paused chunk asked the source"
    # The limiter's page is "retry later", never bad bytes: nothing quarantined.
    assert not (tmp_path / "quarantine").exists()


def test_a_rate_limited_plan_pauses_the_run(replay, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    from airflow.sdk.exceptions import AirflowRescheduleException

    replay.arm("/v2/getDataSources/", "429;retry-after=3600", count=-1)
    monkeypatch.setenv("AIRFLOW_CONN_NASA_HELIOVIEWER",
                       json.dumps({"conn_type": "http", "host": replay.url}))
    settings = replace(get_settings(), data_dir=str(tmp_path))
    params = {**PARAMS, "date": "2022-01-01", "sources": ["helioviewer"],
              "wavelengths": ["193"], "cadence_minutes": 360}
    with pytest.raises(AirflowRescheduleException) as caught:
        steps.plan(settings, params, RUN, None, None)
    assert RunPause.of_run(tmp_path, RUN).until() == caught.value.reschedule_date
