"""Image files to 2-D greyscale arrays, refusing anything that did not decode completely.

Every parameter is computed from raw pixel values, so a partly decoded image would give
plausible but wrong numbers. `load_image` therefore fails loudly (`ImageDecodeError`,
naming the file and the reason) instead of returning what a lenient decoder made of a
corrupt or truncated download:

* Pillow runs with truncated-image loading off (`ImageFile.LOAD_TRUNCATED_IMAGES`);
* JPEG 2000 files (Helioviewer; a JP2 file or a bare codestream) are also checked
  structurally by nasaflow.images.jp2, as downloads are: every box fits in the file,
  the codestream ends with the EOC marker FF D9, and the decoded size must equal the
  size in the codestream header (SIZ marker).

Greyscale images keep their raw values: 8-bit "L" (SDO JPEG 2000) as uint8, 16-bit and
32-bit single-channel images as uint16/int32/float32. Colour images (APOD JPEG, EPIC
PNG) are converted to 8-bit luminance exactly as Pillow's `convert("L")` does
(L = R * 299/1000 + G * 587/1000 + B * 114/1000).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from nasaflow.images.jp2 import check_jpeg2000, is_jpeg2000
from nasaflow.images.verify import looks_like
from nasaflow.objectstore import read_bytes
from nasaflow.sources.errors import CorruptImageError

#: Single-channel Pillow modes kept with their raw values.
_RAW_MODES = {
    "L": np.uint8,
    "I;16": np.uint16,
    "I;16B": np.uint16,
    "I;16L": np.uint16,
    "I": np.int32,
    "F": np.float32,
}


class ImageDecodeError(ValueError):
    """An image file is corrupt, truncated or not an image; the message names the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image file into a 2-D array of raw greyscale values.

    Args:
        path: a JPEG 2000 (.jp2/.j2k), JPEG or PNG file, or anything else Pillow reads;
            a local path or an object store URI (nasaflow.objectstore).

    Returns:
        2-D array (height, width): uint8 for 8-bit and colour images, uint16/int32/float32
        for deeper single-channel images.

    Raises:
        FileNotFoundError: the file does not exist.
        ImageDecodeError: the file is not a readable image, or is corrupt or truncated.
        RuntimeError: the process turned Pillow's LOAD_TRUNCATED_IMAGES on, which would
            let truncated files decode silently.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on in this process: truncated images "
            "would decode silently, so load_image refuses to run"
        )
    data = read_bytes(str(path))
    if not data:
        raise ImageDecodeError(path, "empty file")
    expected = _jpeg2000_shape(path, data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            pixels = _greyscale(image)
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(path, f"not an image format Pillow recognises{looks_like(data)}"
                               ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(path, f"cannot decode image ({type(exc).__name__}: {exc})") from exc
    if expected is not None and pixels.shape != expected:
        raise ImageDecodeError(
            path,
            f"decoded {pixels.shape[0]}x{pixels.shape[1]} pixels but the JPEG 2000 header "
            f"says {expected[0]}x{expected[1]}",
        )
    return pixels


def _greyscale(image: Image.Image) -> np.ndarray:
    if image.mode in _RAW_MODES:
        pixels = np.asarray(image, dtype=_RAW_MODES[image.mode])
    else:
        pixels = np.asarray(image.convert("L"))
    if pixels.ndim != 2:
        raise ValueError(f"expected a 2-D greyscale image, got shape {pixels.shape}")
    return pixels


def _jpeg2000_shape(path: str | Path, data: bytes) -> tuple[int, int] | None:
    """(height, width) that a complete JPEG 2000 file's codestream header announces; None
    for other formats."""
    if not is_jpeg2000(data):
        return None
    try:
        header = check_jpeg2000(data)
    except CorruptImageError as exc:
        raise ImageDecodeError(path, str(exc)) from exc
    return header.height, header.width
