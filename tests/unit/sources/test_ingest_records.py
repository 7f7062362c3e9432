"""Ingest records survive the JSON round trip Airflow's XCom puts them through."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from nasaflow.ingest.records import DownloadedImage, PlannedImage, QuarantinedImage

_times = st.datetimes(min_value=datetime(1995, 6, 16), max_value=datetime(2100, 1, 1),
                      timezones=st.just(UTC))


@given(requested=st.lists(_times, min_size=1, max_size=4), observed=_times)
def test_planned_image_round_trips_through_json(requested: list[datetime],
                                                observed: datetime) -> None:
    planned = PlannedImage("helioviewer", "download", "AIA", "193", tuple(requested),
                           id="2022_01_01__00_03_52_835__SDO_AIA_AIA_193",
                           observed_at=observed, url="http://127.0.0.1/v2/getJP2Image/?id=1",
                           filename="f.jp2", format="jp2",
                           width=4096, height=4096, source_ref={"image_id": "1"})
    assert PlannedImage.from_dict(json.loads(json.dumps(planned.to_dict()))) == planned


def test_downloaded_image_round_trips_and_accepts_its_dict_form() -> None:
    image = DownloadedImage("apod_2024-02-05", "apod", "APOD", "apod",
                            datetime(2024, 2, 5, tzinfo=UTC), 512, 512, "a" * 64,
                            "/data/images/apod/2024/02/apod_2024-02-05.jpg", 1234,
                            {"title": "x"})
    as_json = json.loads(json.dumps(image.to_dict()))
    assert DownloadedImage.coerce(as_json) == image
    assert DownloadedImage.coerce(image) is image


def test_from_dict_ignores_keys_it_does_not_know() -> None:
    record = QuarantinedImage.from_dict({"id": "x", "source": "apod", "reason": "r",
                                         "path": None, "request": {}, "extra": 1})
    assert record.id == "x"
