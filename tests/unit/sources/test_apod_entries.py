"""APOD entries: which have an image, which URL to fetch, which dates are valid."""

from __future__ import annotations

from datetime import date

import pytest

from nasaflow.sources.apod import parse_entry, validate_date
from nasaflow.sources.errors import DateOutOfRangeError, SourceError


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
