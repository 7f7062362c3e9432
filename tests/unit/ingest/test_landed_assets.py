"""The landed-data assets: one per target, partition keys `<channel>|<day>`, and the
condition that runs each announcing task only for runs of its target."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nasaflow.ingest.landed_assets import landed_asset, landed_partitions
from nasaflow.ingest.targets import PLATFORM, TEST, run_is_for


def test_each_target_has_its_own_asset() -> None:
    assert landed_asset(PLATFORM).name == "nasaflow_image_parameters"
    assert landed_asset(TEST).name == "nasaflow_image_parameters_test"
    assert landed_asset(PLATFORM).uri != landed_asset(TEST).uri


def test_partitions_are_one_per_channel_and_utc_day() -> None:
    images = [("304", datetime(2022, 1, 1, 0, 3, tzinfo=UTC)),
              ("304", datetime(2022, 1, 1, 23, 57, tzinfo=UTC)),
              ("magnetogram", datetime(2022, 1, 1, 12, tzinfo=UTC)),
              ("apod", datetime(2022, 1, 2, tzinfo=UTC))]
    assert landed_partitions(images) == ["304|2022-01-01", "apod|2022-01-02",
                                         "magnetogram|2022-01-01"]
    assert landed_partitions([]) == []


def test_an_announcing_task_runs_only_for_its_target() -> None:
    assert run_is_for(TEST)({"params": {"target": TEST}})
    assert not run_is_for(PLATFORM)({"params": {"target": TEST}})
    with pytest.raises(ValueError, match="expected one of"):
        run_is_for("staging")
