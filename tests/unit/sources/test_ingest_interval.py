"""Which interval a nasa_ingest run ingests: its date param's day, else its data interval."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nasaflow.ingest.plan import day_to_ingest

INTERVAL = (datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 1, 2, tzinfo=UTC))


def test_the_date_param_gives_its_whole_utc_day_over_the_data_interval() -> None:
    assert day_to_ingest("2022-03-04", *INTERVAL) == (datetime(2022, 3, 4, tzinfo=UTC),
                                                      datetime(2022, 3, 5, tzinfo=UTC))


@pytest.mark.parametrize("date_param", [None, ""])
def test_without_a_date_the_data_interval_is_ingested(date_param: str | None) -> None:
    assert day_to_ingest(date_param, *INTERVAL) == INTERVAL


def test_a_manual_run_without_a_date_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="give a date to ingest"):
        day_to_ingest(None, None, None)
