"""The synthetic archive's XML headers, and the JP2 each image is served as.

An image's bytes are its variant's leading boxes, its own `xml ` box, then the variant's
codestream: the box order of a real Helioviewer file (nasa-apis.md §1.7). The XML is the
base sample's header rewritten once per source (channel, instrument, geometry at the
served side) with the per-image keys (DATE-OBS, DATE_OBS, T_OBS, FSN) left as slots, so
each image costs a string join, never an encode, and every image has distinct bytes.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime, timedelta

from nasaflow.images.jp2 import iter_boxes
from nasaflow.replay.archive_pool import Variant
from nasaflow.replay.fixtures import SampleImage
from nasaflow.sources.helioviewer import SdoSource

#: AIA camera of each channel (JSOC aia.lev1: 1: 335, 131; 2: 193, 211; 3: 171, 1600,
#: 1700, 4500; 4: 94, 304).
_AIA_CAMERA = {"335": 1, "131": 1, "193": 2, "211": 2, "171": 3, "1600": 3, "1700": 3,
               "4500": 3, "94": 4, "304": 4}
_SLOTS = ("DATE-OBS", "DATE_OBS", "T_OBS", "FSN")
_SLOT_MARK = "\x00"
_TAI_FORMAT = "%Y.%m.%d_%H:%M:%S.%f"


def _element(xml: str, key: str) -> str | None:
    match = re.search(f"<{re.escape(key)}>([^<]*)</{re.escape(key)}>", xml)
    return match.group(1).strip() if match else None


def _set(xml: str, key: str, value: str) -> str:
    """The XML with element `key`'s text replaced (unchanged when absent)."""
    return re.sub(f"<{re.escape(key)}>[^<]*</{re.escape(key)}>",
                  lambda _m: f"<{key}>{value}</{key}>", xml, count=1)


def _parse_obs(text: str | None) -> datetime | None:
    if not text:
        return None
    text = text.rstrip("Z")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", _TAI_FORMAT + "_TAI"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _scaled(xml: str, key: str, factor: float) -> str:
    """The XML with element `key`'s number multiplied by `factor` (unchanged if absent)."""
    value = _element(xml, key)
    if factor == 1 or value is None:
        return xml
    try:
        number = float(value)
    except ValueError:
        return xml
    return _set(xml, key, f"{number * factor:.8g}")


class HeaderTemplate:
    """The XML header of one source's archive images, with per-image slots."""

    def __init__(self, source: SdoSource, base: SampleImage, side: int) -> None:
        xml = base.xml.rstrip(b"\x00 \r\n\t").decode("utf-8", "replace")
        if not xml.startswith("<?xml"):
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<meta>\n<fits>\n'
                   '<DATE-OBS></DATE-OBS>\n<T_OBS></T_OBS>\n</fits>\n</meta>')
        observed = _parse_obs(_element(xml, "DATE-OBS"))
        exposed = _parse_obs(_element(xml, "T_OBS"))
        #: T_OBS minus DATE-OBS in the base (half the exposure; plus TAI-UTC for HMI).
        self.t_obs_offset = (exposed - observed) if observed and exposed else timedelta(0)
        self.t_obs_tai = (_element(xml, "T_OBS") or "").endswith("_TAI")
        ratio = side / float(_element(xml, "NAXIS1") or base.width or side)
        for key in ("NAXIS1", "NAXIS2"):
            xml = _set(xml, key, str(side))
        for key in ("CRPIX1", "CRPIX2", "R_SUN"):
            xml = _scaled(xml, key, ratio)
        for key in ("CDELT1", "CDELT2"):
            xml = _scaled(xml, key, 1 / ratio)
        if source.instrument == "AIA":
            wavelength = source.measurement
            xml = _set(xml, "WAVELNTH", wavelength)
            xml = _set(xml, "WAVEUNIT", "angstrom")
            xml = _set(xml, "WAVE_STR", f"{wavelength}_THIN" if int(wavelength) < 1000
                       else wavelength)
            xml = _set(xml, "INSTRUME", f"AIA_{_AIA_CAMERA[wavelength]}")
            xml = _set(xml, "TELESCOP", "SDO")
        for key in _SLOTS:
            xml = _set(xml, key, f"{_SLOT_MARK}{key}{_SLOT_MARK}")
        self._parts = xml.split(_SLOT_MARK)

    def render(self, observed_at: datetime, fsn: int) -> bytes:
        """The header of the image observed at `observed_at` with frame number `fsn`."""
        date_obs = observed_at.strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{observed_at.microsecond // 1000:03d}"
        exposed = (observed_at + self.t_obs_offset).replace(tzinfo=None)
        t_obs = (exposed.strftime(_TAI_FORMAT)[:-3] + "_TAI" if self.t_obs_tai else
                 exposed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{exposed.microsecond // 1000:03d}")
        values = {"DATE-OBS": date_obs, "DATE_OBS": date_obs, "T_OBS": t_obs,
                  "FSN": str(fsn)}
        parts = list(self._parts)
        for at in range(1, len(parts), 2):
            parts[at] = values[parts[at]]
        return "".join(parts).encode()


def xml_box(xml: bytes) -> bytes:
    """A JP2 `xml ` box holding `xml`."""
    return struct.pack(">I4s", 8 + len(xml), b"xml ") + xml


def assemble(variant: Variant, xml: bytes) -> bytes:
    """The served JP2: signature, ftyp, jp2h, this image's XML box, the codestream."""
    return b"".join((variant.head, xml_box(xml), variant.codestream))


def with_header_value(data: bytes, key: str, value: str) -> bytes:
    """The JP2 `data` with FITS keyword `key` of its XML box set to `value` (the box
    rebuilt at its place; unchanged when there is no such box or keyword)."""
    for box in iter_boxes(data):
        if box.type == b"xml ":
            xml = data[box.start:box.end].decode("utf-8", "replace")
            return (data[:box.start - 8] + xml_box(_set(xml, key, value).encode())
                    + data[box.end:])
    return data
