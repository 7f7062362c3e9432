"""A day's plan becomes a few download chunks per channel, whatever the cadence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from nasaflow.ingest.chunks import Chunk, chunk_plan
from nasaflow.ingest.records import PlannedImage

DAY = datetime(2023, 5, 1, tzinfo=UTC)


def planned(wavelength: str, minute: int, status: str = "download") -> PlannedImage:
    moment = DAY + timedelta(minutes=minute)
    return PlannedImage("helioviewer", status, "HMI" if wavelength == "magnetogram" else "AIA",
                        wavelength, (moment,), id=f"{moment:%Y_%m_%d__%H_%M}_{wavelength}",
                        observed_at=moment, url="http://127.0.0.1/x", filename="f.jp2",
                        format="jp2")


def test_a_full_day_of_ten_channels_at_six_minutes_is_twenty_chunks() -> None:
    channels = ["94", "131", "171", "193", "211", "304", "335", "1600", "1700", "magnetogram"]
    plan = [planned(w, minute) for minute in range(0, 1440, 6) for w in channels]
    chunks = chunk_plan(plan, per_channel=2)
    assert len(chunks) == 20
    assert sorted(len(chunk.entries) for chunk in chunks) == [120] * 20
    assert sum(len(chunk.entries) for chunk in chunks) == 2400
    ids = [entry["id"] for chunk in chunks for entry in chunk.entries]
    assert len(set(ids)) == 2400, "an image in two chunks or none"
    assert {chunk.label for chunk in chunks} >= {"AIA 94 1/2", "AIA 94 2/2", "HMI magnetogram 2/2"}


@pytest.mark.parametrize(("images", "per_channel", "sizes"), [
    (7, 3, [2, 2, 3]), (2, 5, [1, 1]), (1, 2, [1]), (240, 4, [60] * 4)])
def test_chunks_differ_by_one_image_at_most_and_never_exceed_the_limit(
        images: int, per_channel: int, sizes: list[int]) -> None:
    chunks = chunk_plan([planned("304", minute) for minute in range(images)], per_channel)
    assert [len(chunk.entries) for chunk in chunks] == sizes


def test_gaps_and_skips_are_not_chunked_and_chunk_names_are_unique_and_file_safe() -> None:
    plan = [planned("304", 0), planned("304", 6, status="gap"),
            planned("magnetogram", 0), planned("magnetogram", 6)]
    chunks = chunk_plan(plan, per_channel=2)
    assert sum(len(chunk.entries) for chunk in chunks) == 3
    names = [chunk.name for chunk in chunks]
    assert len(set(names)) == len(names)
    assert all(name.replace("-", "").replace("_", "").isalnum() for name in names), names


def test_a_chunk_round_trips_through_xcom_json() -> None:
    [chunk] = chunk_plan([planned("193", 0)], per_channel=2)
    assert Chunk.coerce(json.loads(json.dumps(chunk.to_dict()))) == chunk


def test_zero_chunks_per_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        chunk_plan([planned("193", 0)], per_channel=0)
