"""Structural image checks: complete images pass, everything a server may send instead fails
with a reason naming what was expected."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from nasaflow.images.jp2 import jp2_xml
from nasaflow.images.verify import sniff_format, verify_image
from nasaflow.settings import SAMPLES_DIR
from nasaflow.sources.errors import CorruptImageError

SMALL_JP2 = SAMPLES_DIR / "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"
LARGE_JP2 = SAMPLES_DIR / "2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((64, 48)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("path", sorted(SAMPLES_DIR.glob("*.jp2")), ids=lambda p: p.name)
def test_every_bundled_sample_verifies_with_its_header_size(path: Path) -> None:
    info = verify_image(path.read_bytes(), "jp2")
    assert info.format == "jp2"
    assert (info.width, info.height) in {(4096, 4096), (410, 410)}


def test_jp2_with_xml_box_after_the_codestream_verifies() -> None:
    # The 410 px sample stores its metadata after jp2c: the file does not end in FFD9.
    data = SMALL_JP2.read_bytes()
    assert not data.endswith(b"\xff\xd9")
    assert verify_image(data, "jp2").width == 410


def test_html_page_is_rejected_as_html() -> None:
    with pytest.raises(CorruptImageError, match=r"expected signature .* \(an HTML page\)"):
        verify_image(b"<!DOCTYPE html><html><body>Helioviewer</body></html>", "jp2")


def test_json_error_is_rejected_as_json() -> None:
    with pytest.raises(CorruptImageError, match=r"\(a JSON document\)"):
        verify_image(b'{"error":"No image found with id 1.","errno":24}', "jp2")


def test_truncated_large_jp2_is_rejected() -> None:
    data = LARGE_JP2.read_bytes()
    with pytest.raises(CorruptImageError, match="FFD9"):
        verify_image(data[: len(data) // 2], "jp2")


def test_a_jp2_scaled_from_the_announced_naxis_is_accepted() -> None:
    # Helioviewer announces NAXIS1/NAXIS2 (4096); this JP2 is 410 px and its own header
    # says NAXIS 4096: a uniform downscaling of the observation.
    info = verify_image(SMALL_JP2.read_bytes(), "jp2", expected_size=(4096, 4096))
    assert (info.width, info.height) == (410, 410)


@pytest.mark.parametrize("announced", [(2048, 2048), (4096, 2048)])
def test_a_jp2_is_refused_when_its_header_does_not_declare_the_announced_size(
        announced: tuple[int, int]) -> None:
    with pytest.raises(CorruptImageError, match=f"expected {announced[0]}x{announced[1]}, or "
                                                "a uniform scaling.*got 410x410"):
        verify_image(SMALL_JP2.read_bytes(), "jp2", expected_size=announced)


def test_a_jp2_of_the_announced_size_needs_no_header() -> None:
    data = LARGE_JP2.read_bytes()
    assert verify_image(data, "jp2", expected_size=(4096, 4096)).width == 4096
    with pytest.raises(CorruptImageError, match="expected 4000x4000"):
        verify_image(data, "jp2", expected_size=(4000, 4000))


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=SMALL_JP2.stat().st_size - 1))
def test_any_truncation_of_a_jp2_is_rejected(cut: int) -> None:
    with pytest.raises(CorruptImageError):
        verify_image(SMALL_JP2.read_bytes()[:cut], "jp2")


@pytest.mark.parametrize("fmt,name", [("JPEG", "jpeg"), ("PNG", "png"), ("GIF", "gif")])
def test_complete_raster_images_verify(fmt: str, name: str) -> None:
    info = verify_image(_encoded(fmt), name)
    assert (info.format, info.width, info.height) == (name, 64, 48)


@pytest.mark.parametrize("fmt,name,reason", [("JPEG", "jpeg", "FFD9"), ("PNG", "png", "IEND"),
                                             ("GIF", "gif", "trailer")])
def test_truncated_raster_images_are_rejected(fmt: str, name: str, reason: str) -> None:
    data = _encoded(fmt)
    with pytest.raises(CorruptImageError, match=reason):
        verify_image(data[:-20], name)


def test_sniff_format_recognises_magic_bytes() -> None:
    assert sniff_format(SMALL_JP2.read_bytes()[:16]) == "jp2"
    assert sniff_format(_encoded("PNG")[:16]) == "png"
    assert sniff_format(b"<html>") is None


def test_xml_box_holds_the_fits_metadata() -> None:
    xml = jp2_xml(LARGE_JP2.read_bytes())
    assert xml is not None
    assert xml.startswith(b"<?xml") and b"</meta>" in xml
    assert b"<WAVELNTH>193</WAVELNTH>" in xml
