"""Structural checks of image bytes: is this really a complete JP2, JPEG, PNG or GIF?

A server under load sends HTML, JSON errors or cut-off bytes with status 200 (§1.2, F7,
F12), and a file that merely has the right name is worthless to the parameter job. These
checks look at magic bytes, box/chunk layout and trailers first (cheap, explain exactly
what is wrong), then let Pillow decode the image at reduced resolution to prove the data
is usable. No size is assumed: dimensions come from the file and may be compared with
what the API announced. JPEG 2000 structure is read by nasaflow.images.jp2.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from PIL import Image

from nasaflow.images.fits_header import fits_keys, is_scaled_from
from nasaflow.images.jp2 import JP2_SIGNATURE, check_jpeg2000, is_jpeg2000, jp2_xml
from nasaflow.sources.errors import CorruptImageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
GIF_TRAILER = b"\x3b"

#: File extension -> format name used by `verify_image`.
EXTENSIONS = {".jp2": "jp2", ".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".gif": "gif"}
#: Format name -> Content-Type the servers send for it.
CONTENT_TYPES = {"jp2": "image/jp2", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}
#: Format name -> the signature its files start with (as named in error messages).
_SIGNATURES = {"jp2": JP2_SIGNATURE, "jpeg": JPEG_SOI, "png": PNG_SIGNATURE,
               "gif": GIF_SIGNATURES[1]}
#: Decode at most this many pixels per side when proving an image decodes.
_PROBE_SIDE = 512


@dataclass(frozen=True)
class ImageInfo:
    """What the checks learnt about a verified image."""

    format: str
    width: int
    height: int


def sniff_format(head: bytes) -> str | None:
    """The image format the first bytes announce (a bare JPEG 2000 codestream counts as
    jp2), or None for anything else."""
    if is_jpeg2000(head):
        return "jp2"
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(JPEG_SOI):
        return "jpeg"
    if head.startswith(GIF_SIGNATURES):
        return "gif"
    return None


def verify_image(data: bytes, expected_format: str,
                 expected_size: tuple[int, int] | None = None) -> ImageInfo:
    """Check `data` is a complete image of `expected_format`; raise CorruptImageError if not.

    `expected_size` (width, height), when given, must match the header, e.g. the size
    getClosestImage announced; for a JP2 that is the observation's NAXIS1/NAXIS2, so a
    uniformly downscaled JP2 whose own header declares that NAXIS is accepted too.
    """
    if expected_format not in CONTENT_TYPES:
        raise ValueError(f"expected one of {sorted(CONTENT_TYPES)}, got format {expected_format!r}")
    name = expected_format.upper()
    if sniff_format(data[:16]) != expected_format:
        raise CorruptImageError(f"{name}: expected signature "
                                f"{_SIGNATURES[expected_format].hex().upper()}, got "
                                f"{data[:12].hex().upper() or 'an empty file'}{looks_like(data)}")
    levels = 0
    if expected_format == "jp2":
        header = check_jpeg2000(data)
        width, height, levels = header.width, header.height, header.levels
    else:
        _check_trailer(data, expected_format)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if expected_format == "jp2":
                if image.size != (width, height):
                    raise CorruptImageError(f"JP2: header says {width}x{height}, the decoder "
                                            f"sees {image.size[0]}x{image.size[1]}")
                # Pillow's JPEG 2000 plugin reads `reduce` as an int (decode at 1/2**n), an
                # attribute that shadows Image.reduce() in the type stubs.
                image.reduce = _reduce_for(width, height, levels)  # type: ignore[assignment, method-assign]
            else:
                width, height = image.size
                image.draft(image.mode, (_PROBE_SIDE, _PROBE_SIDE))
            image.load()
    except CorruptImageError:
        raise
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise CorruptImageError(f"{name}: the image does not decode: {exc}") from exc
    if expected_size is not None and (width, height) != tuple(expected_size) and not (
            expected_format == "jp2" and _declared_scaling(data, (width, height),
                                                           tuple(expected_size))):
        raise CorruptImageError(f"{name}: expected {expected_size[0]}x{expected_size[1]}, or "
                                f"a uniform scaling of it that the file's NAXIS declares, got "
                                f"{width}x{height}")
    return ImageInfo(expected_format, width, height)


def _declared_scaling(data: bytes, size: tuple[int, int], announced: tuple[int, ...]) -> bool:
    """Whether a JP2 of `size` pixels is a uniform scaling of the `announced` observation,
    as its own XML header says: NAXIS1/NAXIS2 there equal the announced size (Helioviewer
    announces NAXIS, not the pixel size) and the pixels are a uniform scaling of it."""
    xml = jp2_xml(data)
    if xml is None:
        return False
    fits = fits_keys(xml)
    try:
        naxis = (int(float(fits["NAXIS1"])), int(float(fits["NAXIS2"])))
    except (KeyError, ValueError):
        return False
    return naxis == announced and is_scaled_from(size, naxis)


def _check_trailer(data: bytes, image_format: str) -> None:
    """A JPEG, PNG or GIF file ends with its format's end marker, else it was cut."""
    if image_format == "jpeg" and not data.rstrip(b"\x00").endswith(JPEG_EOI):
        raise CorruptImageError(f"JPEG: expected FFD9 at the end, got {data[-2:].hex().upper()} "
                                "(truncated or damaged)")
    if image_format == "png" and not data.endswith(PNG_IEND):
        raise CorruptImageError("PNG: expected an IEND chunk at the end (truncated or damaged)")
    if image_format == "gif" and not data.endswith(GIF_TRAILER):
        raise CorruptImageError("GIF: expected the 0x3B trailer at the end (truncated)")


def looks_like(data: bytes) -> str:
    """What bytes that are not the expected image seem to be, as an error message's tail:
    " (an HTML page)", " (a JSON document)", " (a PNG file)", or "" when unknown."""
    head = data[:64].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return " (an HTML page)"
    if head.startswith((b"{", b"[")):
        return " (a JSON document)"
    found = sniff_format(data[:16])
    return f" (a {found.upper()} file)" if found else ""


def _reduce_for(width: int, height: int, levels: int) -> int:
    """Resolution levels to drop so the probe decodes about _PROBE_SIDE pixels per side."""
    reduce = 0
    side = max(width, height)
    while reduce < levels and side > _PROBE_SIDE:
        side = (side + 1) // 2
        reduce += 1
    return reduce
