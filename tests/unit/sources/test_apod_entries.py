"""APOD entries: which have an image, which URL to fetch, which dates are valid."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from nasaflow.sources.apod import DailyLedger, apod_today, parse_entry, validate_date
from nasaflow.sources.errors import DateOutOfRangeError, RetryLaterError, SourceError


def _entry(**fields: object):
    return parse_entry({"date": "2024-02-07", "title": "t", **fields}, date(2024, 2, 7))


def test_image_prefers_url_and_falls_back_from_hdurl() -> None:
    both = _entry(media_type="image", url="https://a/s.jpg", hdurl="https://a/h.jpg")
    assert both.image_url() == "https://a/s.jpg"
    assert both.image_url(hd=True) == "https://a/h.jpg"
    assert _entry(media_type="image", url="https://a/s.jpg").image_url(hd=True) == \
        "https://a/s.jpg"


@pytest.mark.parametrize("media_type,reason", [("video", "'video'"), ("other", "'other'")])
def test_non_images_have_a_skip_reason_and_no_url(media_type: str, reason: str) -> None:
    entry = _entry(media_type=media_type, url="https://www.youtube.com/embed/x")
    assert reason in (entry.skip_reason or "")
    with pytest.raises(SourceError, match="expected an image entry"):
        entry.image_url()


def test_copyright_padding_is_stripped() -> None:
    entry = _entry(media_type="image", url="u.jpg",
                   copyright="\nWioleta Gorecka;\nText: Natalia Lewandowska \n(SUNY Oswego)\n")
    assert entry.copyright == "Wioleta Gorecka; Text: Natalia Lewandowska (SUNY Oswego)"


def test_object_without_media_type_is_refused() -> None:
    with pytest.raises(SourceError, match="expected an object with date and media_type"):
        parse_entry({"date": "2024-02-07"}, date(2024, 2, 7))


@pytest.mark.parametrize("day,message", [(date(1995, 6, 15), "before the first APOD"),
                                         (date(2030, 1, 1), "in the future")])
def test_dates_outside_the_archive_are_refused(day: date, message: str) -> None:
    with pytest.raises(DateOutOfRangeError, match=message):
        validate_date(day, today=date(2026, 1, 1))


def test_first_apod_and_today_are_valid() -> None:
    validate_date(date(1995, 6, 16), today=date(2026, 1, 1))
    validate_date(date(2026, 1, 1), today=date(2026, 1, 1))


@pytest.mark.parametrize("moment,expected", [
    (datetime(2024, 2, 11, 4, 59, tzinfo=UTC), date(2024, 2, 10)),  # EST: UTC-5
    (datetime(2024, 2, 11, 5, 0, tzinfo=UTC), date(2024, 2, 11)),
    (datetime(2024, 7, 11, 3, 59, tzinfo=UTC), date(2024, 7, 10)),  # EDT: UTC-4
    (datetime(2024, 7, 11, 4, 0, tzinfo=UTC), date(2024, 7, 11)),
])
def test_apod_today_is_the_us_eastern_date(moment: datetime, expected: date) -> None:
    assert apod_today(moment) == expected


def test_future_date_message_names_the_eastern_calendar() -> None:
    with pytest.raises(DateOutOfRangeError, match="today is 2024-02-10 in US Eastern time"):
        validate_date(date(2024, 2, 11), today=date(2024, 2, 10))


def test_ledger_counts_every_request_of_concurrent_writers(tmp_path) -> None:
    path = tmp_path / "state" / "ledger.json"
    now = datetime(2024, 2, 11, tzinfo=UTC)
    ledgers = [DailyLedger(path, 50, 0.0, lambda: now) for _ in range(4)]

    def spend(ledger: DailyLedger) -> None:
        for _ in range(10):
            ledger.record()

    threads = [threading.Thread(target=spend, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(json.loads(path.read_text())["sent"]) == 40
    DailyLedger(path, 40, 0.0, lambda: now + timedelta(hours=23)).record()
    with pytest.raises(RetryLaterError, match="41 were sent in the last 24 hours"):
        DailyLedger(path, 40, 0.0, lambda: now + timedelta(hours=23)).check()


def test_damaged_ledger_starts_counting_again(tmp_path) -> None:
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    ledger = DailyLedger(path, 50, 0.0, lambda: datetime(2024, 2, 11, tzinfo=UTC))
    ledger.record()
    assert json.loads(path.read_text()) == {"sent": ["2024-02-11T00:00:00+00:00"]}
