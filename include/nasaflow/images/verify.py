"""Structural checks of image bytes: is this really a complete JP2, JPEG, PNG or GIF?

A server under load sends HTML, JSON errors or cut-off bytes with status 200 (§1.2, F7,
F12), and a file that merely has the right name is worthless to the parameter job. These
checks look at magic bytes, box/chunk layout and trailers first (cheap, explain exactly
what is wrong), then let Pillow decode the image at reduced resolution to prove the data
is usable. No size is assumed: dimensions come from the file and may be compared with
what the API announced.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image

from nasaflow.sources.errors import CorruptImageError

JP2_SIGNATURE = bytes.fromhex("0000000C6A5020200D0A870A")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")

#: File extension -> format name used by `verify_image`.
EXTENSIONS = {".jp2": "jp2", ".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".gif": "gif"}
#: Format name -> Content-Type the servers send for it.
CONTENT_TYPES = {"jp2": "image/jp2", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}
#: Decode at most this many pixels per side when proving an image decodes.
_PROBE_SIDE = 512


@dataclass(frozen=True)
class ImageInfo:
    """What the checks learnt about a verified image."""

    format: str
    width: int
    height: int


@dataclass(frozen=True)
class Box:
    """One JP2 box: its type, where its payload starts and ends in the file."""

    type: bytes
    start: int
    end: int


def sniff_format(head: bytes) -> str | None:
    """The image format the first bytes announce, or None for anything else."""
    if head.startswith(JP2_SIGNATURE):
        return "jp2"
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(JPEG_SOI):
        return "jpeg"
    if head.startswith(GIF_SIGNATURES):
        return "gif"
    return None


def iter_boxes(data: bytes) -> Iterator[Box]:
    """Walk the top-level JP2 boxes; raise CorruptImageError if lengths don't add up."""
    pos = 0
    size = len(data)
    while pos < size:
        if size - pos < 8:
            raise CorruptImageError(f"JP2: expected a box header at byte {pos}, "
                                    f"found {size - pos} trailing byte(s)")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if length == 1:
            if size - pos < 16:
                raise CorruptImageError(f"JP2: box {kind!r} at {pos} has a cut extended length")
            length = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        elif length == 0:
            length = size - pos
        if length < header:
            raise CorruptImageError(f"JP2: box {kind!r} at byte {pos} declares length {length},"
                                    f" expected at least {header}")
        if pos + length > size:
            raise CorruptImageError(f"JP2: box {kind!r} at byte {pos} needs {length} bytes, "
                                    f"only {size - pos} present (truncated file)")
        yield Box(kind, pos + header, pos + length)
        pos += length


def jp2_xml(data: bytes) -> bytes | None:
    """The payload of the JP2 `xml ` box (Helioviewer's FITS/HV metadata), if present."""
    for box in iter_boxes(data):
        if box.type == b"xml ":
            return data[box.start:box.end]
    return None


def _jp2_structure(data: bytes) -> tuple[int, int, int]:
    """(width, height, decomposition levels) after checking the JP2 layout of §1.7."""
    if not data.startswith(JP2_SIGNATURE):
        raise CorruptImageError(f"JP2: expected signature {JP2_SIGNATURE.hex()}, "
                                f"got {data[:12].hex() or 'an empty file'}{_looks_like(data)}")
    boxes = {box.type: box for box in iter_boxes(data)}
    ftyp = boxes.get(b"ftyp")
    if ftyp is None or data[ftyp.start:ftyp.start + 4] != b"jp2 ":
        raise CorruptImageError("JP2: expected an ftyp box with brand 'jp2 '")
    jp2h = boxes.get(b"jp2h")
    ihdr_at = data.find(b"ihdr", jp2h.start, jp2h.end) if jp2h else -1
    if ihdr_at < 0:
        raise CorruptImageError("JP2: expected an ihdr box inside jp2h, found none")
    height, width = struct.unpack(">II", data[ihdr_at + 4:ihdr_at + 12])
    codestream = boxes.get(b"jp2c")
    if codestream is None:
        raise CorruptImageError("JP2: expected a jp2c codestream box, found none")
    stream = data[codestream.start:codestream.end]
    if stream[:4] != b"\xff\x4f\xff\x51":
        raise CorruptImageError(f"JP2: expected the codestream to start FF4FFF51, "
                                f"got {stream[:4].hex()}")
    if stream[-2:] != JPEG_EOI:
        raise CorruptImageError(f"JP2: expected the codestream to end FFD9, "
                                f"got {stream[-2:].hex()} (truncated or damaged)")
    siz_w, siz_h = _siz_size(stream)
    if (siz_w, siz_h) != (width, height):
        raise CorruptImageError(f"JP2: ihdr says {width}x{height}, codestream SIZ says "
                                f"{siz_w}x{siz_h}")
    return width, height, _cod_levels(stream)


def _siz_size(stream: bytes) -> tuple[int, int]:
    # SIZ follows SOC: FF51 Lsiz(2) Rsiz(2) Xsiz(4) Ysiz(4) XOsiz(4) YOsiz(4)
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", stream[8:24])
    return xsiz - xosiz, ysiz - yosiz


def _cod_levels(stream: bytes) -> int:
    """Number of wavelet decomposition levels from the COD marker segment (0 if unseen)."""
    pos = 2
    while pos + 4 <= len(stream):
        marker, length = struct.unpack(">HH", stream[pos:pos + 4])
        if marker == 0xFF52:
            # COD: Lcod(2) Scod(1) SGcod(4) then SPcod starting with the level count.
            return stream[pos + 9]
        if marker == 0xFF90:
            return 0
        pos += 2 + length
    return 0


def _looks_like(data: bytes) -> str:
    head = data[:64].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return " (an HTML page)"
    if head.startswith((b"{", b"[")):
        return " (a JSON document)"
    found = sniff_format(data[:16])
    return f" (a {found.upper()} file)" if found else ""


def _check_jpeg(data: bytes) -> None:
    if not data.startswith(JPEG_SOI):
        raise CorruptImageError(f"JPEG: expected FFD8 at the start, got {data[:2].hex()}"
                                f"{_looks_like(data)}")
    if not data.rstrip(b"\x00").endswith(JPEG_EOI):
        raise CorruptImageError(f"JPEG: expected FFD9 at the end, got {data[-2:].hex()} "
                                "(truncated or damaged)")


def _check_png(data: bytes) -> None:
    if not data.startswith(PNG_SIGNATURE):
        raise CorruptImageError(f"PNG: expected the PNG signature, got {data[:8].hex()}"
                                f"{_looks_like(data)}")
    if not data.endswith(PNG_IEND):
        raise CorruptImageError("PNG: expected an IEND chunk at the end (truncated or damaged)")


def _check_gif(data: bytes) -> None:
    if not data.startswith(GIF_SIGNATURES):
        raise CorruptImageError(f"GIF: expected GIF87a/GIF89a, got {data[:6]!r}"
                                f"{_looks_like(data)}")
    if not data.endswith(b"\x3b"):
        raise CorruptImageError("GIF: expected the 0x3B trailer at the end (truncated)")


def verify_image(data: bytes, expected_format: str,
                 expected_size: tuple[int, int] | None = None) -> ImageInfo:
    """Check `data` is a complete image of `expected_format`; raise CorruptImageError if not.

    `expected_size` (width, height), when given, must match the header, e.g. the size
    getClosestImage announced.
    """
    levels = 0
    if expected_format == "jp2":
        width, height, levels = _jp2_structure(data)
    elif expected_format == "jpeg":
        _check_jpeg(data)
    elif expected_format == "png":
        _check_png(data)
    elif expected_format == "gif":
        _check_gif(data)
    else:
        raise ValueError(f"expected one of {sorted(CONTENT_TYPES)}, got format {expected_format!r}")
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
        raise CorruptImageError(f"{expected_format.upper()}: the image does not decode: "
                                f"{exc}") from exc
    if expected_size is not None and (width, height) != tuple(expected_size):
        raise CorruptImageError(f"{expected_format.upper()}: expected "
                                f"{expected_size[0]}x{expected_size[1]}, got {width}x{height}")
    return ImageInfo(expected_format, width, height)


def _reduce_for(width: int, height: int, levels: int) -> int:
    """Resolution levels to drop so the probe decodes about _PROBE_SIDE pixels per side."""
    reduce = 0
    side = max(width, height)
    while reduce < levels and side > _PROBE_SIDE:
        side = (side + 1) // 2
        reduce += 1
    return reduce
