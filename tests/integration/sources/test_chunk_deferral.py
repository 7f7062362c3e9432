"""A chunk whose source asks for a pause pauses as a whole: the images fetched before it
are registered and handed over, the download that met the limiter's page and those not
started yet are postponed, and the chunk fails with the time to run again (which the DAG
turns into a reschedule). Real replay server and the suite's PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from nasaflow.ingest import plan_images
from nasaflow.ingest.chunks import ChunkDownloadError, chunk_plan, ingest_chunk
from nasaflow.ingest.pause import RunPause
from nasaflow.settings import Settings

JP2 = "/v2/getJP2Image/"


def test_a_rate_limited_chunk_pauses_its_other_downloads_and_names_when_to_resume(
        replay, clients, settings: Settings, tmp_path: Path) -> None:
    start = datetime(2022, 1, 1, tzinfo=UTC)
    plan = plan_images(start, start + timedelta(hours=1), ["helioviewer"], ["193", "304"],
                       60, clients=clients)
    for day in (datetime(2024, 4, 16, 11, tzinfo=UTC), datetime(2021, 1, 6, tzinfo=UTC)):
        plan += plan_images(day, day + timedelta(hours=1), ["helioviewer"], ["304"], 30,
                            clients=clients)
    downloads = [entry for entry in plan if entry.status == "download"]
    assert len(downloads) == 3  # the 193 sample of 2022-01-01, the 304s of 2024 and 2021
    chunks = chunk_plan(downloads, per_channel=1)
    chunk = {**chunks[0].to_dict(),
             "entries": [entry for part in chunks for entry in part.entries]}
    # One download at a time: the first lands, the second meets the limiter's page, the
    # third is never started.
    replay.arm(JP2, "ratelimit-html", count=1,
               match=rf"\?id={downloads[1].source_ref['image_id']}$")
    with pytest.raises(ChunkDownloadError) as caught:
        ingest_chunk(chunk, clients=lambda: clients, data_dir=tmp_path / "data",
                     patch_size=64, connect=lambda: psycopg.connect(settings.db_url),
                     manifest_dir=tmp_path / "manifest", threads=1,
                     pause=RunPause.of_run(tmp_path / "data", "manual__paused"), log=print)
    ahead = (caught.value.retry_at or start) - datetime.now(UTC)
    assert timedelta(seconds=60) <= ahead <= timedelta(seconds=76)
    with psycopg.connect(settings.db_url) as conn:
        registered = conn.execute("SELECT id FROM images WHERE id = ANY(%s)",
                                  ([d.id for d in downloads],)).fetchall()
    assert registered == [(downloads[0].id,)]
    # Nothing retried in the task's slot, the third image postponed, not requested.
    assert len(replay.downloads()) == 2
    assert "1 postponed" in str(caught.value)
