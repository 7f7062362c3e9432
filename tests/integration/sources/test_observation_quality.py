"""Images keep their header's observation keywords, and an image whose QUALITY has a
bad-data bit is left out with the reason (recorded in unlanded_slots as skipped), not
quarantined, while the rest of the chunk lands. Real replay server (its `quality` fault
serves the real JP2 with a flagged QUALITY) and the suite's PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from nasaflow.ingest import plan_images
from nasaflow.ingest.chunks import chunk_plan, ingest_chunk
from nasaflow.ingest.pause import RunPause
from nasaflow.settings import Settings

pytestmark = pytest.mark.services

JP2 = "/v2/getJP2Image/"


def _plan(clients):
    plan = []
    for day, wavelength in ((datetime(2022, 1, 1, tzinfo=UTC), "193"),
                            (datetime(2010, 12, 6, 18, 30, tzinfo=UTC), "continuum"),
                            (datetime(2024, 4, 16, 11, tzinfo=UTC), "304")):
        plan += plan_images(day, day + timedelta(hours=1), ["helioviewer"], [wavelength], 60,
                            clients=clients)
    return [entry for entry in plan if entry.status == "download"]


def _forget(conn: psycopg.Connection, downloads) -> None:
    ids = [entry.id for entry in downloads]
    conn.execute("DELETE FROM images WHERE id = ANY(%s)", (ids,))
    conn.execute("DELETE FROM unlanded_slots WHERE image_id = ANY(%s)", (ids,))


def test_a_flagged_image_is_skipped_with_the_reason_and_the_others_keep_their_metadata(
        replay, clients, settings: Settings, tmp_path: Path) -> None:
    downloads = _plan(clients)
    assert [entry.wavelength for entry in downloads] == ["193", "continuum", "304"]
    flagged = downloads[2]
    chunk = {**chunk_plan(downloads, per_channel=1)[0].to_dict(),
             "entries": [entry.to_dict() for entry in downloads]}
    # The AIA 304 image's header says "image not available" (bit 31) besides the usual
    # near-real-time bit 30.
    replay.arm(JP2, f"quality;value={0x80000000 | 0x40000000}", count=1,
               match=rf"\?id={flagged.source_ref['image_id']}$")
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        _forget(conn, downloads)
        result = ingest_chunk(chunk, clients=lambda: clients, data_dir=tmp_path / "data",
                              patch_size=64, connect=lambda: psycopg.connect(settings.db_url),
                              manifest_dir=tmp_path / "manifest", threads=1,
                              pause=RunPause.of_run(tmp_path / "data", "manual__quality"),
                              log=print)
        assert sorted(result.expected) == sorted(entry.id for entry in downloads[:2])
        assert result.quarantined == [] and list(result.skipped) == [flagged.id]
        assert "QUALITY 0xC0000000" in result.skipped[flagged.id]
        assert "0x80000000 image not available" in result.skipped[flagged.id]
        rows = {row[0]: row[1:] for row in conn.execute(
            "SELECT id, exposure_s, t_obs, wavelength_a, quality FROM images"
            " WHERE id = ANY(%s)", ([entry.id for entry in downloads],))}
        skipped = conn.execute(
            "SELECT status, reason, slot_at FROM unlanded_slots WHERE image_id = %s",
            (flagged.id,)).fetchall()
        quarantined = conn.execute("SELECT count(*) FROM quarantined_images WHERE id = %s",
                                   (flagged.id,)).fetchall()
        _forget(conn, downloads)
    assert set(rows) == {downloads[0].id, downloads[1].id}
    # AIA 193: EXPTIME, T_OBS (UTC), WAVELNTH, and the near-real-time bit it carries.
    assert rows[downloads[0].id] == (
        pytest.approx(2.00004),
        datetime(2022, 1, 1, 0, 3, 53, 835_000, tzinfo=UTC), 193.0, 0x40000000)
    # HMI continuum: no EXPTIME; T_OBS converted from TAI; the cosmic-ray bit is kept.
    assert rows[downloads[1].id] == (
        None, datetime(2010, 12, 6, 18, 57, 4, tzinfo=UTC), 6173.0, 0x400)
    assert skipped == [("skipped", result.skipped[flagged.id], flagged.requested_at[0])]
    assert quarantined == [(0,)]
