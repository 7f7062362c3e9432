"""The synthetic archive's series arithmetic: cadences, nearest image, sample slots, budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nasaflow.replay.archive_pool import VariantPool
from nasaflow.replay.archive_timeline import (
    REAL_CADENCES,
    build_series,
    from_ms,
    parse_cadences,
    to_ms,
)
from nasaflow.replay.fixtures import load_samples
from nasaflow.settings import SAMPLES_DIR
from nasaflow.sources.helioviewer import SOURCES_BY_ID, source_for

SAMPLE_193 = datetime(2022, 1, 1, 0, 3, 52, 835_000, tzinfo=UTC)


def test_every_sdo_source_has_its_instruments_real_cadence() -> None:
    assert set(REAL_CADENCES) == set(SOURCES_BY_ID)
    assert {REAL_CADENCES[source_for(wl).source_id] for wl in ("94", "171", "304", "335")} \
        == {12}
    assert REAL_CADENCES[source_for("1600").source_id] == 24
    assert REAL_CADENCES[source_for("4500").source_id] == 3600
    assert REAL_CADENCES[source_for("magnetogram").source_id] == 45


def test_cadence_overrides_are_parsed_and_bad_ones_named() -> None:
    assert parse_cadences(" 304=360, magnetogram=720 ,") == {13: 360, 19: 720}
    for bad in ("304", "999=10", "304=0", "304=soon"):
        with pytest.raises(ValueError, match="304|999"):
            parse_cadences(bad)


def test_images_fall_within_half_a_second_of_the_cadence_grid() -> None:
    series = build_series({13: 360}, [])[13]
    for k in range(0, 5000, 37):
        nominal = series.start_ms + k * 360_000
        assert nominal - 500 <= series.time_ms(k) < nominal + 500
    assert len({series.time_ms(k) % 1000 for k in range(200)}) > 100


def test_nearest_and_last_follow_the_clock() -> None:
    series = build_series({}, [])[13]
    moment = datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC)
    last = series.last_index(to_ms(datetime(2026, 1, 1, tzinfo=UTC)))
    k = series.nearest(to_ms(moment), last)
    assert k is not None
    assert abs(from_ms(series.time_ms(k)) - moment) <= timedelta(seconds=6.5)
    assert series.time_ms(last) <= to_ms(datetime(2026, 1, 1, tzinfo=UTC)) < \
        series.time_ms(last + 1)
    assert series.nearest(to_ms(datetime(2030, 1, 1, tzinfo=UTC)), last) == last
    assert series.nearest(0, last) == 0


def test_a_sample_takes_the_slot_of_the_series_image_beside_it() -> None:
    series = build_series({}, [(11, SAMPLE_193)])[11]
    last = series.last_index(to_ms(datetime(2026, 1, 1, tzinfo=UTC)))
    nearest = series.nearest(to_ms(SAMPLE_193), last)
    assert nearest is not None and abs(series.time_ms(nearest) - to_ms(SAMPLE_193)) >= 6000
    assert sum(series.shadowed(k) for k in range(nearest - 3, nearest + 4)) == 1


def test_a_pool_over_the_disk_budget_is_refused(tmp_path) -> None:
    samples = load_samples(SAMPLES_DIR)
    with pytest.raises(ValueError, match="over the 2.00 GB budget"):
        VariantPool(tmp_path, samples, side=4096, size=200)
    assert VariantPool(tmp_path, samples, side=4096, size=64).size == 64
