"""JPEG 2000 structure: JP2 boxes, the codestream's markers, its size and its XML header.

Helioviewer serves SDO images as JP2 files: a signature box, a file-type box, a header
box (jp2h, holding ihdr with the image size), the codestream box (jp2c) and an XML box
with the FITS metadata, before or after the codestream. A bare codestream (.j2k) is the
codestream alone. Both the downloader's verification and the parameter job's decoding
read a file through `check_jpeg2000`, so a rule about what makes a JPEG 2000 file
complete is written once.

Every problem raises CorruptImageError with what was expected and what was found, and
says "truncated" whenever the bytes stop before the structure does.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from nasaflow.sources.errors import CorruptImageError

#: The JP2 signature box: always the first 12 bytes of a JP2 file.
JP2_SIGNATURE = bytes.fromhex("0000000C6A5020200D0A870A")
#: Codestream markers: start of codestream, image and tile size, coding style, start of
#: tile-part, end of codestream.
SOC = b"\xff\x4f"
SIZ = b"\xff\x51"
COD = b"\xff\x52"
SOT = b"\xff\x90"
EOC = b"\xff\xd9"
#: SOC, then the SIZ marker segment up to YOsiz: the least a codestream's header holds.
_SIZ_END = 24


@dataclass(frozen=True)
class Box:
    """One JP2 box: its type, where its payload starts and ends in the file."""

    type: bytes
    start: int
    end: int


@dataclass(frozen=True)
class Jpeg2000Header:
    """What the structure of a complete JPEG 2000 file says about its image.

    Attributes:
        width: columns, from the codestream's SIZ marker.
        height: rows, from the same.
        levels: wavelet decomposition levels (COD marker); 0 when not found.
        wrapped: True for a JP2 file, False for a bare codestream.
    """

    width: int
    height: int
    levels: int
    wrapped: bool


def is_jpeg2000(head: bytes) -> bool:
    """True when the first bytes start a JP2 file or a bare codestream."""
    return head.startswith(JP2_SIGNATURE) or head.startswith(SOC + SIZ)


def iter_boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """Walk the boxes between `start` and `end` (the whole file by default; a superbox's
    payload to walk its children), checking that every box fits."""
    stop = len(data) if end is None else end
    pos = start
    while pos < stop:
        if stop - pos < 8:
            raise CorruptImageError(f"JP2: truncated: a box header at byte {pos} is cut "
                                    f"after {stop - pos} byte(s), expected 8")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if length == 1:
            if stop - pos < 16:
                raise CorruptImageError(f"JP2: truncated: box {kind!r} at byte {pos} has a "
                                        "cut extended length")
            length = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        elif length == 0:
            length = stop - pos
        if length < header:
            raise CorruptImageError(f"JP2: box {kind!r} at byte {pos} declares length {length},"
                                    f" expected at least {header}")
        if pos + length > stop:
            raise CorruptImageError(f"JP2: truncated: box {kind!r} at byte {pos} needs {length} "
                                    f"bytes, only {stop - pos} present")
        yield Box(kind, pos + header, pos + length)
        pos += length


def jp2_xml(data: bytes) -> bytes | None:
    """The payload of the JP2 `xml ` box (Helioviewer's FITS/HV metadata), if present."""
    for box in iter_boxes(data):
        if box.type == b"xml ":
            return data[box.start:box.end]
    return None


def check_jpeg2000(data: bytes) -> Jpeg2000Header:
    """Check a JP2 file or bare codestream is complete; return what its headers say.

    Complete means: every box fits in the file, a JP2 file has the 'jp2 ' file type, an
    ihdr box and one codestream box, the codestream starts with SOC and SIZ and ends with
    EOC, and the ihdr size equals the SIZ size.

    Raises:
        CorruptImageError: any of those fails; the message names what was expected.
    """
    if data.startswith(SOC + SIZ):
        stream, ihdr_size = data, None
    elif data.startswith(JP2_SIGNATURE):
        stream, ihdr_size = _jp2_codestream(data)
    else:
        raise CorruptImageError(f"JP2: expected signature {JP2_SIGNATURE.hex().upper()} or a "
                                f"bare codestream ({(SOC + SIZ).hex().upper()}), got "
                                f"{data[:12].hex().upper() or 'an empty file'}")
    width, height = _codestream_size(stream)
    if ihdr_size is not None and ihdr_size != (width, height):
        raise CorruptImageError(f"JP2: ihdr says {ihdr_size[0]}x{ihdr_size[1]}, codestream "
                                f"SIZ says {width}x{height}")
    return Jpeg2000Header(width, height, _cod_levels(stream), wrapped=ihdr_size is not None)


def _jp2_codestream(data: bytes) -> tuple[bytes, tuple[int, int]]:
    """The codestream of a JP2 file and its (width, height) from ihdr."""
    boxes: dict[bytes, Box] = {}
    for box in iter_boxes(data):
        boxes.setdefault(box.type, box)
    ftyp = boxes.get(b"ftyp")
    if ftyp is None or data[ftyp.start:ftyp.start + 4] != b"jp2 ":
        raise CorruptImageError("JP2: expected an ftyp box with brand 'jp2 '")
    jp2h = boxes.get(b"jp2h")
    ihdr = next((box for box in iter_boxes(data, jp2h.start, jp2h.end)
                 if box.type == b"ihdr"), None) if jp2h else None
    if ihdr is None or ihdr.end - ihdr.start < 8:
        raise CorruptImageError("JP2: expected an ihdr box inside jp2h, found none")
    height, width = struct.unpack(">II", data[ihdr.start:ihdr.start + 8])
    codestream = boxes.get(b"jp2c")
    if codestream is None:
        raise CorruptImageError("JP2: expected a jp2c codestream box, found none")
    return data[codestream.start:codestream.end], (width, height)


def _codestream_size(stream: bytes) -> tuple[int, int]:
    """(width, height) from the SIZ marker after checking the codestream's ends."""
    if not stream.startswith(SOC + SIZ) or len(stream) < _SIZ_END:
        raise CorruptImageError(f"JP2: expected the codestream to start with SOC and SIZ "
                                f"({(SOC + SIZ).hex().upper()}), got "
                                f"{stream[:4].hex().upper() or 'nothing'}")
    if not stream.endswith(EOC):
        raise CorruptImageError(f"JP2: truncated or damaged: expected the codestream to end "
                                f"with the EOC marker {EOC.hex().upper()}, got "
                                f"{stream[-2:].hex().upper()}")
    # SIZ follows SOC: FF51 Lsiz(2) Rsiz(2) Xsiz(4) Ysiz(4) XOsiz(4) YOsiz(4)
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", stream[8:_SIZ_END])
    return xsiz - xosiz, ysiz - yosiz


def _cod_levels(stream: bytes) -> int:
    """Wavelet decomposition levels from the COD marker segment (0 if unseen)."""
    pos = len(SOC)
    while pos + 4 <= len(stream):
        marker, length = stream[pos:pos + 2], struct.unpack(">H", stream[pos + 2:pos + 4])[0]
        if marker == COD and pos + 10 <= len(stream):
            # COD: Lcod(2) Scod(1) SGcod(4) then SPcod, starting with the level count.
            return stream[pos + 9]
        if marker == SOT:
            return 0
        pos += 2 + length
    return 0
