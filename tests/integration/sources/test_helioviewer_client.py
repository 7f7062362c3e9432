"""Helioviewer client behaviour against the replay server: tolerance, ids, metadata."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nasaflow.sources.errors import OutOfToleranceError
from nasaflow.sources.helioviewer import archive_path, source_for

AIA_193 = source_for("193")


def test_wrong_date_image_is_rejected_by_the_tolerance_check(helioviewer) -> None:
    # Noon on the sample day: the server happily returns the 00:03 image, 12 h away.
    noon = datetime(2022, 1, 1, 12, 0, tzinfo=UTC)
    assert helioviewer.closest_image(noon, AIA_193).date.hour == 0
    with pytest.raises(OutOfToleranceError) as caught:
        helioviewer.closest_image_within(noon, AIA_193, timedelta(minutes=6))
    error = caught.value
    assert error.returned == datetime(2022, 1, 1, 0, 3, 53, tzinfo=UTC)
    assert "expected an image within 0:06:00" in str(error)


def test_image_within_tolerance_is_accepted(helioviewer) -> None:
    near = datetime(2022, 1, 1, 0, 0, tzinfo=UTC)
    image = helioviewer.closest_image_within(near, AIA_193, timedelta(minutes=4))
    assert image.id.isdigit() and (image.width, image.height) == (4096, 4096)


def test_tolerance_allows_for_the_rounded_response_second(helioviewer) -> None:
    # The file is 00:03:52.835, the answer says 00:03:53: 0.165 s of rounding.
    exact = datetime(2022, 1, 1, 0, 3, 52, 835_000, tzinfo=UTC)
    assert helioviewer.closest_image_within(exact, AIA_193, timedelta(0)).name == "AIA 193"


def test_data_sources_give_each_sources_range(helioviewer) -> None:
    sources = helioviewer.data_sources()
    assert sources[11].start == datetime(2013, 6, 24, 17, 31, 31, tzinfo=UTC)
    assert sources[19].nickname == "HMI Mag"
    assert 10 not in sources  # no AIA 171 sample


def test_jpip_uri_fixes_the_file_identity(helioviewer) -> None:
    image = helioviewer.closest_image(datetime(2024, 4, 16, 11, tzinfo=UTC),
                                      source_for("304"))
    path = archive_path(helioviewer.jp2_uri(image.id))
    assert path == "AIA/2024/04/16/304/2024_04_16__11_15_41_129__SDO_AIA_AIA_304.jp2"


def test_jp2_header_returns_the_metadata_xml(helioviewer) -> None:
    image = helioviewer.closest_image(datetime(2022, 8, 2, 11, tzinfo=UTC),
                                      source_for("magnetogram"))
    assert "<TELESCOP>SDO</TELESCOP>" in helioviewer.jp2_header(image.id)
