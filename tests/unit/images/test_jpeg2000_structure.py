"""One JPEG 2000 rule for both callers: a download is verified (verify_image) and a stored
file is decoded (load_image) by the same structure checks, so each broken file below is
refused by both, for the same stated reason, and each complete one is accepted by both."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nasaflow.images.decode import ImageDecodeError, load_image
from nasaflow.images.jp2 import check_jpeg2000
from nasaflow.images.verify import verify_image
from nasaflow.settings import SAMPLES_DIR
from nasaflow.sources.errors import CorruptImageError

SMALL = SAMPLES_DIR / "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"


def box_at(data: bytes, kind: bytes) -> int:
    """Byte offset of the first box of type `kind` (its length field)."""
    return data.index(kind) - 4


def bare_codestream() -> bytes:
    """The codestream of the small sample without its JP2 wrapper (a .j2k file)."""
    data = SMALL.read_bytes()
    start = box_at(data, b"jp2c")
    return data[start + 8 : start + int.from_bytes(data[start : start + 4], "big")]


def with_siz_width(data: bytes, width: int) -> bytes:
    """The file with the codestream's SIZ marker claiming another width (Xsiz)."""
    changed = bytearray(data)
    siz = changed.index(b"\xff\x51")
    changed[siz + 6 : siz + 10] = width.to_bytes(4, "big")
    return bytes(changed)


def with_ihdr_overrunning_jp2h(data: bytes) -> bytes:
    """The file with the ihdr box declaring more bytes than its jp2h parent holds."""
    changed = bytearray(data)
    ihdr = box_at(data, b"ihdr")
    changed[ihdr : ihdr + 4] = (1000).to_bytes(4, "big")
    return bytes(changed)


def rejections(data: bytes, tmp_path: Path, name: str = "image.jp2") -> list[str]:
    """The error message of each caller, as its own error type carries it."""
    with pytest.raises(CorruptImageError) as verified:
        verify_image(data, "jp2")
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageDecodeError) as decoded:
        load_image(path)
    assert decoded.value.path == str(path)
    return [str(verified.value), decoded.value.reason]


BROKEN: dict[str, tuple[Callable[[], bytes], str]] = {
    "box cut in the codestream": (lambda: SMALL.read_bytes()[: box_at(SMALL.read_bytes(),
                                                                       b"jp2c") + 500],
                                  r"JP2: truncated: box b'jp2c' at byte \d+ needs \d+ bytes"),
    "box header cut after the last box": (lambda: SMALL.read_bytes() + b"\x00\x00\x01",
                                          r"JP2: truncated: a box header at byte \d+ is cut "
                                          r"after 3 byte\(s\)"),
    "child box overrunning its superbox": (lambda: with_ihdr_overrunning_jp2h(SMALL.read_bytes()),
                                           r"JP2: truncated: box b'ihdr' at byte \d+ needs 1000"),
    "bare codestream without EOC": (lambda: bare_codestream()[:-2],
                                    r"expected the codestream to end with the EOC marker FFD9"),
    "SIZ disagreeing with ihdr": (lambda: with_siz_width(SMALL.read_bytes(), 411),
                                  r"JP2: ihdr says 410x410, codestream SIZ says 411x410"),
    "HTML page named .jp2": (lambda: b"<!DOCTYPE html><html><body>Helioviewer</body></html>",
                             r"\(an HTML page\)"),
    "JSON error named .jp2": (lambda: b'{"error":"No image found with id 1.","errno":24}',
                              r"\(a JSON document\)"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_both_callers_refuse_a_broken_file_for_the_same_reason(case: str,
                                                               tmp_path: Path) -> None:
    build, reason = BROKEN[case]
    for message in rejections(build(), tmp_path):
        assert re.search(reason, message), message


def test_both_callers_accept_a_complete_bare_codestream(tmp_path: Path) -> None:
    stream = bare_codestream()
    info = verify_image(stream, "jp2")
    assert (info.width, info.height) == (410, 410)
    path = tmp_path / "image.j2k"
    path.write_bytes(stream)
    np.testing.assert_array_equal(load_image(path), np.asarray(Image.open(SMALL)))


def test_the_header_reports_size_levels_and_wrapping() -> None:
    wrapped, bare = check_jpeg2000(SMALL.read_bytes()), check_jpeg2000(bare_codestream())
    assert (wrapped.width, wrapped.height, wrapped.wrapped) == (410, 410, True)
    assert (bare.width, bare.height, bare.wrapped) == (410, 410, False)
    assert wrapped.levels == bare.levels > 0
