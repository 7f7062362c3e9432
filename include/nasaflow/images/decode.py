"""Image files to 2-D greyscale arrays, refusing anything that did not decode completely.

Every parameter is computed from raw pixel values, so a partly decoded image would give
plausible but wrong numbers. `load_image` therefore fails loudly (`ImageDecodeError`,
naming the file and the reason) instead of returning what a lenient decoder made of a
corrupt or truncated download:

* Pillow runs with truncated-image loading off (`ImageFile.LOAD_TRUNCATED_IMAGES`);
* JPEG 2000 files (Helioviewer) are also checked structurally: the codestream must be
  complete (its box fits in the file, it ends with the EOC marker FF D9) and the
  decoded size must equal the size in the codestream header (SIZ marker).

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

#: JPEG 2000 signature box, and the raw codestream's first marker (SOC).
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_J2K_SOC = b"\xff\x4f"
_J2K_SIZ = b"\xff\x51"
_J2K_EOC = b"\xff\xd9"
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
        path: a JPEG 2000 (.jp2/.j2k), JPEG or PNG file, or anything else Pillow reads.

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
    data = Path(path).read_bytes()
    if not data:
        raise ImageDecodeError(path, "empty file")
    expected = _jpeg2000_size(path, data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            pixels = _greyscale(image)
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(path, "not an image format Pillow recognises") from exc
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


def _jpeg2000_size(path: str | Path, data: bytes) -> tuple[int, int] | None:
    """(height, width) from a JPEG 2000 file's codestream header after checking that the
    codestream is complete; None for other formats."""
    if data.startswith(_JP2_SIGNATURE):
        codestream = _jp2_codestream(path, data)
    elif data.startswith(_J2K_SOC + _J2K_SIZ):
        codestream = data
    else:
        return None
    if not codestream.startswith(_J2K_SOC + _J2K_SIZ) or len(codestream) < 24:
        raise ImageDecodeError(path, "JPEG 2000 codestream does not start with SOC and SIZ markers")
    if not codestream.endswith(_J2K_EOC):
        raise ImageDecodeError(path, "JPEG 2000 codestream is truncated (no EOC marker FF D9 at its end)")
    # SIZ: marker, Lsiz, Rsiz, then Xsiz, Ysiz, XOsiz, YOsiz as big-endian uint32.
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">4I", codestream[8:24])
    return ysiz - yosiz, xsiz - xosiz


def _jp2_codestream(path: str | Path, data: bytes) -> bytes:
    """The contents of the codestream box ("jp2c") of a JP2 file, after checking that
    every top-level box fits in the file."""
    codestream = None
    position = 0
    while position < len(data):
        if position + 8 > len(data):
            raise ImageDecodeError(path, f"file is truncated: partial JP2 box header at byte {position}")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        header = 8
        if length == 1:
            if position + 16 > len(data):
                raise ImageDecodeError(path, f"file is truncated: partial JP2 box header at byte {position}")
            length = struct.unpack(">Q", data[position + 8 : position + 16])[0]
            header = 16
        elif length == 0:
            length = len(data) - position
        if length < header:
            raise ImageDecodeError(path, f"invalid JP2 box length {length} at byte {position}")
        end = position + length
        if end > len(data):
            raise ImageDecodeError(
                path,
                f"file is truncated: JP2 box {kind.decode('latin-1')!r} at byte {position} "
                f"needs {length} bytes, {len(data) - position} left",
            )
        if kind == b"jp2c" and codestream is None:
            codestream = data[position + header : end]
        position = end
    if codestream is None:
        raise ImageDecodeError(path, "no JPEG 2000 codestream box (jp2c) in the file")
    return codestream
