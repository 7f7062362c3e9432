"""The FITS keywords of a Helioviewer JP2's XML box, and what Helioviewer derives from them.

Every Helioviewer JP2 carries the FITS header of its observation in an XML box
(`<meta><fits>...</fits></meta>`). Helioviewer answers getClosestImage from it: the width
and height it announces are NAXIS1/NAXIS2 of the observation, not the pixel size of the
JP2 (a downscaled JP2 keeps NAXIS 4096); the reference pixel, the plate scale, the Sun's
distance and radius are computed from the keywords with fallbacks for bad values (its
Image_JPEG2000_JP2ImageXMLBox and Database_ImgIndex::extractJP2MetaInfo). The replay
server computes its answers with `helioviewer_metadata`, and the download checks a JP2's
size against the announced NAXIS with `is_scaled_from`.
"""

from __future__ import annotations

import re
from typing import Any

#: 1 au in metres, and the solar radius in arcseconds at 1 au (Helioviewer's constants).
AU_M = 149_597_870_700.0
RSUN_ARCSEC_1AU = 959.644
#: A DSUN at or below this is invalid (no telescope is that close): Helioviewer uses 1 au.
MIN_VALID_DSUN_M = 0.04 * AU_M
#: Largest plausible DSUN (about 1.5 au); beyond it Helioviewer refuses the header.
MAX_DSUN_M = 2.25e11

_KEY = re.compile(r"<([A-Z0-9_-]+)>([^<]*)</\1>")


class FitsHeaderError(ValueError):
    """The header lacks a keyword Helioviewer needs, or holds an invalid value."""


def fits_keys(xml: bytes) -> dict[str, str]:
    """The FITS keywords of a Helioviewer XML box as text (those directly in `<fits>`)."""
    text = xml.decode("utf-8", "replace")
    fits = re.search(r"<fits>(.*?)</fits>", text, re.DOTALL)
    body = fits.group(1) if fits else text
    return {key: value.strip() for key, value in _KEY.findall(body)}


def _number(fits: dict[str, str], key: str) -> float:
    try:
        return float(fits[key])
    except KeyError:
        raise FitsHeaderError(f"the header has no {key}") from None
    except ValueError:
        raise FitsHeaderError(f"the header's {key} is not a number: {fits[key]!r}") from None


def _first(fits: dict[str, str], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        if key in fits:
            return _number(fits, key)
    return None


def sun_distance_m(fits: dict[str, str]) -> float:
    """DSUN as Helioviewer takes it: DSUN_OBS or DSUN; else from the solar radius in the
    image (SOLAR_R or RADIUS) and CDELT1; 1 au when missing, not positive or below 0.04 au
    (HMI continuum files carry DSUN_OBS = 0.03)."""
    dsun = _first(fits, ("DSUN_OBS", "DSUN"))
    if dsun is None:
        radius = _first(fits, ("SOLAR_R", "RADIUS"))
        if radius is not None:
            cdelt = _number(fits, "CDELT1")
            if cdelt == 0 or radius == 0:
                raise FitsHeaderError("CDELT1 and the solar radius must not be 0")
            dsun = RSUN_ARCSEC_1AU / (radius * cdelt) * AU_M
    if dsun is None or dsun <= MIN_VALID_DSUN_M:
        dsun = AU_M
    if dsun >= MAX_DSUN_M:
        raise FitsHeaderError(f"invalid DSUN {dsun:g} m")
    return dsun


def helioviewer_metadata(fits: dict[str, str]) -> dict[str, Any]:
    """The image fields of a getClosestImage answer, computed from the FITS keywords as
    Helioviewer computes them.

    Raises:
        FitsHeaderError: NAXIS, CDELT or CRPIX keywords are missing or invalid.
    """
    cdelt1 = _number(fits, "CDELT1")
    if cdelt1 <= 0:
        raise FitsHeaderError(f"invalid CDELT1 {cdelt1:g}")
    if "CRVAL1" in fits and "CRVAL2" in fits:
        crval1, crval2 = _number(fits, "CRVAL1"), _number(fits, "CRVAL2")
    else:
        crval1 = crval2 = 0.0
    dsun = sun_distance_m(fits)
    rsun = (_number(fits, "R_SUN") if "R_SUN" in fits
            else AU_M * RSUN_ARCSEC_1AU / (dsun * cdelt1))
    scale = cdelt1 * dsun / AU_M
    return {
        "scale": scale,
        "scaleCorrection": cdelt1 / scale,
        "width": int(_number(fits, "NAXIS1")),
        "height": int(_number(fits, "NAXIS2")),
        "refPixelX": _number(fits, "CRPIX1") - crval1 / cdelt1,
        "refPixelY": _number(fits, "CRPIX2") - crval2 / _number(fits, "CDELT2"),
        "rotation": _number(fits, "CROTA") if "CROTA" in fits else 0.0,
        "rsun": rsun,
        "dsun": dsun,
    }


def is_scaled_from(size: tuple[int, int], naxis: tuple[int, int]) -> bool:
    """Whether pixels of `size` (width, height) are the observation of `naxis`
    (NAXIS1, NAXIS2) itself or a uniform downscaling of it (each side within one pixel of
    the other side's ratio), as Helioviewer serves reduced JP2s with the full NAXIS."""
    (width, height), (naxis1, naxis2) = size, naxis
    if (width, height) == (naxis1, naxis2):
        return True
    if not 0 < width <= naxis1 or not 0 < height <= naxis2:
        return False
    return (abs(width - round(naxis1 * height / naxis2)) <= 1
            and abs(height - round(naxis2 * width / naxis1)) <= 1)
