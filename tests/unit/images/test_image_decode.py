"""load_image: raw greyscale arrays, and a clear error for anything incomplete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nasaflow.images.decode import ImageDecodeError, load_image
from nasaflow.settings import SAMPLES_DIR

SMALL = SAMPLES_DIR / "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"


def test_jpeg2000_sample_decodes_to_raw_uint8() -> None:
    pixels = load_image(SMALL)
    assert pixels.dtype == np.uint8 and pixels.shape == (410, 410)
    np.testing.assert_array_equal(pixels, np.asarray(Image.open(SMALL)))


@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.9, 0.999])
def test_truncated_jpeg2000_raises_naming_the_file(tmp_path: Path, fraction: float) -> None:
    data = SMALL.read_bytes()
    broken = tmp_path / "truncated.jp2"
    broken.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ImageDecodeError, match="truncated.jp2") as error:
        load_image(broken)
    assert "truncated" in error.value.reason


def test_codestream_without_end_marker_is_refused(tmp_path: Path) -> None:
    data = SMALL.read_bytes()
    start = data.index(b"jp2c") - 4
    length = int.from_bytes(data[start : start + 4], "big")
    codestream = data[start + 8 : start + length]
    broken = tmp_path / "no-eoc.j2k"
    broken.write_bytes(codestream[:-2])
    with pytest.raises(ImageDecodeError, match="no-eoc.j2k.*EOC"):
        load_image(broken)


def test_header_size_must_match_the_decoded_size(tmp_path: Path) -> None:
    data = bytearray(SMALL.read_bytes())
    siz = data.index(b"\xff\x51")
    # Claim a wider image in the SIZ marker (Xsiz) than the codestream holds.
    data[siz + 6 : siz + 10] = (411).to_bytes(4, "big")
    broken = tmp_path / "wrong-size.jp2"
    broken.write_bytes(bytes(data))
    with pytest.raises(ImageDecodeError, match="wrong-size.jp2"):
        load_image(broken)


def test_not_an_image_raises(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageDecodeError, match="notes.png"):
        load_image(text)


def test_empty_file_raises(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.touch()
    with pytest.raises(ImageDecodeError, match="empty.jpg: empty file"):
        load_image(empty)


def test_missing_file_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "absent.jp2")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_colour_images_become_pillow_luminance(tmp_path: Path, suffix: str) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    path = tmp_path / f"colour{suffix}"
    Image.fromarray(rgb).save(path)
    pixels = load_image(path)
    assert pixels.dtype == np.uint8 and pixels.shape == (40, 30)
    np.testing.assert_array_equal(pixels, np.asarray(Image.open(path).convert("L")))


def test_truncated_jpeg_raises(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="photo.jpg"):
        load_image(path)


def test_sixteen_bit_png_keeps_raw_values(tmp_path: Path) -> None:
    values = np.arange(0, 4000 * 12, 12, dtype=np.uint16).reshape(40, 100)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    pixels = load_image(path)
    assert pixels.dtype == np.uint16
    np.testing.assert_array_equal(pixels, values)
