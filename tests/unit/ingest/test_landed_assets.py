"""The landed-data assets: one per target, partition keys `<channel>|<day>`, and the
condition that runs each announcing task only for runs of its target."""

from __future__ import annotations

from datetime import date

import pytest

from nasaflow.ingest.landed_assets import landed_asset, landed_partitions
from nasaflow.ingest.targets import PLATFORM, TEST, run_is_for


def test_each_target_has_its_own_asset() -> None:
    assert landed_asset(PLATFORM).name == "nasaflow_image_parameters"
    assert landed_asset(TEST).name == "nasaflow_image_parameters_test"
    assert landed_asset(PLATFORM).uri != landed_asset(TEST).uri


def test_partitions_are_one_per_landed_channel_of_the_runs_day() -> None:
    assert landed_partitions(["304", "magnetogram", "304"], date(2022, 1, 1)) == \
        ["304|2022-01-01", "magnetogram|2022-01-01"]
    assert landed_partitions([], date(2022, 1, 1)) == []


def test_an_announcing_task_runs_only_for_its_target() -> None:
    assert run_is_for(TEST)({"params": {"target": TEST}})
    assert not run_is_for(PLATFORM)({"params": {"target": TEST}})
    with pytest.raises(ValueError, match="expected one of"):
        run_is_for("staging")
