"""plan_images: request times, tolerance, deduplication, gaps and input validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from nasaflow.ingest import PlannedImage, plan_images, store_path
from nasaflow.sources.errors import (
    BadRequestError,
    DateOutOfRangeError,
    NoImageError,
    UnknownWavelengthError,
)


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
         ) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_out_of_tolerance_requests_are_gaps_not_failures(clients) -> None:
    plan = plan_images(_utc(2022, 1, 1), _utc(2022, 1, 1, 1), ["helioviewer"], ["193"], 6,
                       clients=clients)
    downloads = [p for p in plan if p.status == "download"]
    gaps = [p for p in plan if p.status == "gap"]
    assert len(plan) == 10 and len(downloads) == 1 and len(gaps) == 9
    assert downloads[0].requested_at == (_utc(2022, 1, 1, 0, 6),)
    assert all("expected an image within 0:03:00" in (g.reason or "") for g in gaps)


def test_request_times_resolving_to_one_image_are_deduplicated(clients) -> None:
    # 23:59:53 and 00:07:53 are both exactly 4 min from the 00:03:53 image.
    start = _utc(2021, 12, 31, 23, 59, 53)
    plan = plan_images(start, start + timedelta(minutes=16), ["helioviewer"], ["193"], 8,
                       clients=clients)
    [image] = plan
    assert image.requested_at == (start, start + timedelta(minutes=8))
    assert image.id == "2022_01_01__00_03_52_835__SDO_AIA_AIA_193"
    assert image.observed_at == _utc(2022, 1, 1, 0, 3, 52) + timedelta(microseconds=835_000)


def test_planned_image_carries_what_the_download_needs(clients, tmp_path) -> None:
    [image] = [p for p in plan_images(_utc(2022, 8, 2, 10, 30), _utc(2022, 8, 2, 11, 30),
                                      ["helioviewer"], ["magnetogram"], 60, clients=clients)
               if p.status == "download"]
    assert (image.instrument, image.wavelength, image.format) == ("HMI", "magnetogram", "jp2")
    assert image.refused is None
    assert store_path(image, tmp_path) == (tmp_path / "images/helioviewer/HMI/2022/08/02/"
                                           "magnetogram" / image.filename)
    assert image.url == f"{clients.helioviewer.base_url}/v2/getJP2Image/?id=" \
                        f"{image.source_ref['image_id']}"


def test_plan_is_json_serialisable_for_xcom(clients) -> None:
    plan = plan_images(_utc(2022, 1, 1), _utc(2022, 1, 1, 0, 12), ["helioviewer"], ["193"], 6,
                       clients=clients)
    plan += plan_images(_utc(2024, 2, 6), _utc(2024, 2, 9), ["apod"], [], 6, clients=clients)
    wire = json.loads(json.dumps([p.to_dict() for p in plan]))
    assert [PlannedImage.from_dict(item) for item in wire] == plan


def test_unknown_wavelength_is_named_before_any_request(replay, clients) -> None:
    with pytest.raises(UnknownWavelengthError, match="'195'"):
        plan_images(_utc(2022, 1, 1), _utc(2022, 1, 2), ["helioviewer"], ["193", "195"], 6,
                    clients=clients)
    assert replay.requests() == []


def test_interval_in_the_future_is_refused(replay, clients) -> None:
    future = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(DateOutOfRangeError, match="interval_start .* is in the future"):
        plan_images(future, future + timedelta(days=1), ["helioviewer"], ["193"], 6,
                    clients=clients)
    assert replay.requests() == []


def test_interval_before_the_sources_first_image_is_refused(clients) -> None:
    with pytest.raises(DateOutOfRangeError,
                       match=r"wavelength 193: .* before AIA 193's first image at 2013-06-24"):
        plan_images(_utc(2012, 1, 1), _utc(2012, 1, 2), ["helioviewer"], ["193"], 60,
                    clients=clients)


def test_apod_date_before_the_first_apod_is_refused(clients) -> None:
    with pytest.raises(DateOutOfRangeError, match="1995-06-15 is before the first APOD"):
        plan_images(_utc(1995, 6, 15), _utc(1995, 6, 16), ["apod"], [], 60, clients=clients)


def test_wavelength_missing_from_the_server_is_named(clients) -> None:
    with pytest.raises(NoImageError, match=r"wavelength 171 \(AIA 171, sourceId 10\)"):
        plan_images(_utc(2022, 1, 1), _utc(2022, 1, 2), ["helioviewer"], ["171"], 60,
                    clients=clients)


@pytest.mark.parametrize("kwargs,message", [
    ({"sources": ["epic"]}, "sources: expected some of helioviewer, apod"),
    ({"wavelengths": []}, "wavelengths: expected at least one"),
    ({"cadence_minutes": 0}, "cadence_minutes: expected a positive number"),
    ({"interval_end": _utc(2021, 1, 1)}, "expected interval_start < interval_end"),
    ({"interval_start": datetime(2022, 1, 1)}, "interval_start: expected a timezone-aware"),
])
def test_bad_inputs_are_named(clients, kwargs: dict, message: str) -> None:
    arguments = {"interval_start": _utc(2022, 1, 1), "interval_end": _utc(2022, 1, 2),
                 "sources": ["helioviewer"], "wavelengths": ["193"], "cadence_minutes": 6,
                 **kwargs}
    with pytest.raises(BadRequestError, match=message):
        plan_images(clients=clients, **arguments)


def test_an_unreadable_archive_file_is_a_missing_slot_and_the_day_goes_on(replay,
                                                                          clients) -> None:
    # errno 13: Helioviewer indexes a 304 image but cannot read its JP2 (or swallowed a
    # database error, which is why it is retried first). The 193 image is still planned.
    replay.arm("/v2/getClosestImage/", "500;errno=13", count=-1, match="sourceId=13")
    plan = plan_images(_utc(2022, 1, 1), _utc(2022, 1, 1, 0, 12), ["helioviewer"],
                       ["193", "304"], 6, clients=clients)
    downloads = [p for p in plan if p.status == "download"]
    missing = [p for p in plan if p.status == "missing"]
    assert [p.id for p in downloads] == ["2022_01_01__00_03_52_835__SDO_AIA_AIA_193"]
    assert [p.requested_at for p in missing] == [(_utc(2022, 1, 1),),
                                                 (_utc(2022, 1, 1, 0, 6),)]
    assert all(p.wavelength == "304" and "Helioviewer error 13" in (p.reason or "")
               for p in missing)
    asked = [r for r in replay.requests("/v2/getClosestImage/") if "sourceId=13" in r["query"]]
    assert len(asked) > len(missing)  # retried before it was recorded missing
