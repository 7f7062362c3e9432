"""Helioviewer naming rules: request time format, file names, sourceIds, JPIP paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasaflow.sources.errors import BadRequestError, UnknownWavelengthError, UnsafeNameError
from nasaflow.sources.helioviewer import (
    SDO_SOURCES,
    archive_file,
    archive_path,
    format_time,
    parse_filename,
    parse_response_time,
    source_for,
)


def test_request_time_has_upper_case_t_milliseconds_and_z() -> None:
    moment = datetime(2022, 1, 1, 0, 3, 52, 835_000, tzinfo=UTC)
    assert format_time(moment) == "2022-01-01T00:03:52.835Z"


def test_request_time_converts_other_zones_to_utc() -> None:
    moment = datetime(2022, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(moment) == "2022-01-01T00:00:00.000Z"


def test_naive_request_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2022, 1, 1))


@given(st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC)))
def test_formatted_time_matches_the_server_date_rule(moment: datetime) -> None:
    import re

    rule = r"^\d{4}[/-]\d{2}[/-]\d{2}T\d{2}:\d{2}:\d{2}\.?\d{0,6}?Z$"
    assert re.match(rule, format_time(moment))


@pytest.mark.parametrize("name,micro", [
    ("2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2", 835_000),
    ("2014_01_02__00_00_02_62__SDO_AIA_AIA_335.jp2", 620_000),
])
def test_file_name_fraction_is_a_decimal_fraction(name: str, micro: int) -> None:
    observed, instrument, measurement = parse_filename(name)
    assert observed.microsecond == micro
    assert instrument == "AIA"


def test_hmi_file_name_gives_instrument_and_product() -> None:
    observed, instrument, measurement = parse_filename(
        "2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2")
    assert (instrument, measurement) == ("HMI", "magnetogram")
    assert observed == datetime(2022, 8, 2, 10, 47, 53, tzinfo=UTC)


def test_bad_file_name_says_what_was_expected() -> None:
    with pytest.raises(ValueError, match="expected a Helioviewer JP2 name"):
        parse_filename("sun.jp2")


@pytest.mark.parametrize("wavelength,source_id", [
    ("94", 8), ("131", 9), ("171", 10), ("193", 11), ("211", 12), ("304", 13), ("335", 14),
    ("1600", 15), ("1700", 16), ("4500", 17), ("continuum", 18), ("magnetogram", 19)])
def test_catalog_matches_the_sdo_source_id_table(wavelength: str, source_id: int) -> None:
    assert source_for(wavelength).source_id == source_id


def test_unknown_wavelength_names_the_input_and_the_choices() -> None:
    with pytest.raises(UnknownWavelengthError, match=r"unknown wavelength '195'.*193"):
        source_for("195")
    assert issubclass(UnknownWavelengthError, BadRequestError)


def test_file_suffix_follows_the_archive_naming() -> None:
    assert SDO_SOURCES["193"].file_suffix == "SDO_AIA_AIA_193"
    assert SDO_SOURCES["continuum"].file_suffix == "SDO_HMI_HMI_continuum"


def test_jpip_uri_gives_the_archive_path() -> None:
    uri = ("jpips://helioviewer.org:8090/AIA/2026/09/06/193/"
           "2026_09_06__17_00_04_842__SDO_AIA_AIA_193.jp2")
    assert archive_path(uri) == "AIA/2026/09/06/193/2026_09_06__17_00_04_842__SDO_AIA_AIA_193.jp2"


def test_response_time_is_utc() -> None:
    assert parse_response_time("2026-09-06 17:00:05") == datetime(2026, 9, 6, 17, 0, 5,
                                                                  tzinfo=UTC)


AIA_193 = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"
HOST = "jpips://helioviewer.org:8090"


def test_a_uri_in_the_archive_layout_gives_its_file_and_time() -> None:
    located = archive_file(f"{HOST}/AIA/2022/01/01/193/{AIA_193}", SDO_SOURCES["193"])
    assert located.filename == AIA_193
    assert located.observed_at == datetime(2022, 1, 1, 0, 3, 52, 835_000, tzinfo=UTC)


@pytest.mark.parametrize(("path", "reason"), [
    (f"/etc/cron.d/{AIA_193}", "expected AIA/2022/01/01/193/"),
    (f"/AIA/2022/01/01/193/{AIA_193}", "expected AIA/2022/01/01/193/"),
    (f"AIA/2022/01/01/193/../../../../../../tmp/{AIA_193}", "expected AIA/2022/01/01/193/"),
    (f"AIA/2022/01/01/193/./{AIA_193}", "expected AIA/2022/01/01/193/"),
    (f"AIA/2022/01/02/193/{AIA_193}", "expected AIA/2022/01/01/193/"),
    (f"AIA/2022/01/01/193\x00/{AIA_193}", "expected AIA/2022/01/01/193/"),
    (f"AIA/2022/01/01/193/{AIA_193[:4]}\x00{AIA_193[4:]}", "expected a Helioviewer JP2 name"),
    (f"AIA/2022/01/01/193/2022_01_01__00_03_52_835__SDO{'X' * 300}_AIA_AIA_193.jp2",
     "at most 255 bytes"),
    (f"AIA/2022/01/01/304/{AIA_193.replace('193', '304')}", "expected a SDO_AIA_AIA_193 file"),
    (f"AIA/2022/01/01/193/{AIA_193}\n.jp2", "expected a Helioviewer JP2 name"),
])
def test_a_uri_naming_another_place_or_an_unsafe_name_is_refused_with_the_reason(
        path: str, reason: str) -> None:
    with pytest.raises(UnsafeNameError, match=reason) as refused:
        archive_file(f"{HOST}/{path}", SDO_SOURCES["193"])
    assert "\x00" not in str(refused.value) and "\n" not in str(refused.value)


def test_a_name_with_a_trailing_newline_is_not_a_helioviewer_name() -> None:
    with pytest.raises(ValueError, match="expected a Helioviewer JP2 name"):
        parse_filename(AIA_193 + "\n")
