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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


#: TAI - UTC since each date (IERS Bulletin C), from before SDO's launch (2010): the
#: offset HMI's T_OBS (a TAI time) needs to become UTC. A future leap second is added here.
_TAI_MINUS_UTC: tuple[tuple[datetime, int], ...] = (
    (datetime(2009, 1, 1, tzinfo=UTC), 34),
    (datetime(2012, 7, 1, tzinfo=UTC), 35),
    (datetime(2015, 7, 1, tzinfo=UTC), 36),
    (datetime(2017, 1, 1, tzinfo=UTC), 37),
)
_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y.%m.%d_%H:%M:%S.%f",
                 "%Y.%m.%d_%H:%M:%S")


def fits_time(text: str) -> datetime:
    """A FITS/JSOC time as an aware UTC datetime: ISO 8601 (`2013-06-24T17:31:31.84Z`,
    UTC with or without the Z) or JSOC's `2010.12.06_18:57:38_TAI` (converted from TAI).

    Raises:
        FitsHeaderError: any other form, or a TAI time before 2009.
    """
    value = text.strip()
    tai = value.endswith("_TAI")
    value = value.removesuffix("_TAI").removesuffix("_UTC").removesuffix("Z")
    for fmt in _TIME_FORMATS:
        try:
            moment = datetime.strptime(value, fmt).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    else:
        raise FitsHeaderError(f"not a FITS time: {text!r}")
    if not tai:
        return moment
    offsets = [seconds for since, seconds in _TAI_MINUS_UTC
               if moment - timedelta(seconds=seconds) >= since]
    if not offsets:
        raise FitsHeaderError(f"TAI time before the leap-second table: {text!r}")
    return moment - timedelta(seconds=offsets[-1])


@dataclass(frozen=True)
class Observation:
    """What the header says about the observation itself, as stored in `images`.

    Attributes:
        exposure_s: EXPTIME, seconds (AIA; HMI observables have none).
        t_obs: T_OBS, the observation's mid-exposure time in UTC.
        wavelength_a: WAVELNTH in angstrom (AIA's channel; 6173 for HMI).
        quality: the QUALITY word (see nasaflow.images.quality).
    """

    exposure_s: float | None
    t_obs: datetime | None
    wavelength_a: float | None
    quality: int | None


def observation(fits: dict[str, str]) -> Observation:
    """The observation keywords of a header, None where absent.

    Raises:
        FitsHeaderError: a present keyword holds something that is not its type.
    """
    quality = _first(fits, ("QUALITY",))
    return Observation(
        exposure_s=_first(fits, ("EXPTIME",)),
        t_obs=fits_time(fits["T_OBS"]) if fits.get("T_OBS") else None,
        wavelength_a=_first(fits, ("WAVELNTH",)),
        quality=None if quality is None else int(quality) & 0xFFFFFFFF)
