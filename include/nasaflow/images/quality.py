"""SDO's QUALITY keyword: which bits mean an observation is not fit for the data set.

Every SDO JP2 carries the FITS QUALITY word of its observation. A non-zero word is
normal: AIA images served by Helioviewer are near-real-time products and carry bit 30
(0x40000000, "near real time mode", formerly quicklook), and HMI observables routinely
carry 0x400 ("some cosmic-ray hit lists could not be read"). So skipping on any set bit
would drop most of the archive; an image is left out only when a bit of its instrument's
mask of bad-data bits is set.

The bit meanings are JSOC's own definitions: AIA (and HMI level 1) QUALITY from the
level-1 build (lev0/apps/quallev1.h in JSOC's `proj` tree), HMI level-1.5 observables'
QUALITY (magnetograms, continuum intensity) from the lev1.5 observables module. The
default masks keep the bits that say the pixels are missing, are not of the Sun, or come
from a mode that is not science; they leave out bits that say only that some ancillary
calibration was unavailable or that the product is near-real-time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: AIA level-1 QUALITY bits (JSOC quallev1.h).
AIA_BITS: Mapping[int, str] = {
    0x1: "flat field not available",
    0x2: "orbit data not available",
    0x4: "ancillary science data not available",
    0x8: "master pointing data not available",
    0x10: "limb fit error",
    0x100: "missing pixels",
    0x200: "more than 1% of pixels missing",
    0x400: "more than 5% of pixels missing",
    0x800: "more than 25% of pixels missing",
    0x1000: "spacecraft not in science mode (ACS_MODE)",
    0x2000: "eclipse (ACS_ECLP)",
    0x4000: "no Sun presence (ACS_SUNP)",
    0x8000: "spacecraft safe mode (ACS_SAFE)",
    0x10000: "dark image",
    0x20000: "image stabilisation loop open",
    0x40000: "calibration image",
    0x80000: "HMI calibration mode image",
    0x100000: "AIA focus out of range",
    0x200000: "AIA register flag",
    0x400000: "HMI thermal recovery",
    0x800000: "HMI lunar transit",
    0x40000000: "near real time mode (formerly quicklook)",
    0x80000000: "image not available",
}

#: HMI level-1.5 observables QUALITY bits (JSOC lev1.5 observables module).
HMI_BITS: Mapping[int, str] = {
    0x20: "poor quality (eclipse, lunar transit, thermal recovery, open ISS ...)",
    0x40: "large HFTSACID of the target filtergram (noise)",
    0x80: "no polynomial coefficient record",
    0x100: "a level-1 record taken during an eclipse",
    0x200: "no polynomial coefficient keywords",
    0x400: "some cosmic-ray hit lists could not be read",
    0x800: "level-1 records discarded for limb-fit jitter",
    0x1000: "filtergrams not all gap-filled",
    0x2000: "temperatures for polarisation calibration missing",
    0x4000: "image stabilisation loop open for some filtergrams",
    0x8000: "keywords extrapolated to the target time",
    0x10000: "fewer interpolation points than expected",
    0x20000: "not enough level-1p records",
    0x40000: "temporal interpolation failed",
    0x80000: "not enough interpolation points",
    0x100000: "look-up table keywords unreadable",
    0x200000: "no look-up table record",
    0x400000: "level-1p keywords unreadable",
    0x800000: "wrong number of wavelengths",
    0x1000000: "level-1d keywords unreadable",
    0x2000000: "not enough level-1d filtergrams",
    0x4000000: "target filtergram not in the framelist",
    0x8000000: "cadence does not match the framelist",
    0x10000000: "no observables framelist",
    0x20000000: "keywords not interpolated to the target time",
    0x40000000: "no target filtergram near the target time",
    0x80000000: "no observable produced",
}

#: Default bad-data masks: AIA: more than 5% of pixels missing, not science mode,
#: eclipse, no Sun, safe mode, dark, loop open, calibration, focus out of range, image
#: not available. HMI: every bit of the "no observable produced" group (0x80 and 0x200,
#: 0x20000 and above).
DEFAULT_MASKS: Mapping[str, int] = {
    "AIA": 0x80000000 | 0x100000 | 0x40000 | 0x20000 | 0x10000 | 0x8000 | 0x4000 | 0x2000
    | 0x1000 | 0x800 | 0x400,
    "HMI": 0xFFFE0000 | 0x200 | 0x80,
}

_BITS: Mapping[str, Mapping[int, str]] = {"AIA": AIA_BITS, "HMI": HMI_BITS}


@dataclass(frozen=True)
class QualityPolicy:
    """Which QUALITY bits make an image of each instrument left out; an instrument
    without a mask (APOD) is never checked."""

    masks: Mapping[str, int]

    @classmethod
    def from_settings(cls, enabled: bool, aia_mask: str, hmi_mask: str) -> QualityPolicy:
        """The policy of NASAFLOW_QUALITY_SKIP and NASAFLOW_QUALITY_MASK_AIA/_HMI (an
        integer, hex with 0x; empty for the default mask); disabled: nothing is left out.

        Raises:
            ValueError: a mask is not an unsigned 32-bit integer.
        """
        if not enabled:
            return cls({})
        masks = {}
        for instrument, text in (("AIA", aia_mask), ("HMI", hmi_mask)):
            masks[instrument] = _mask(instrument, text) if text.strip() \
                else DEFAULT_MASKS[instrument]
        return cls(masks)

    def rejection(self, instrument: str, quality: int | None) -> str | None:
        """Why an image of `instrument` with this QUALITY is left out, or None to keep it
        (also when the header has no QUALITY: nothing says it is bad)."""
        mask = self.masks.get(instrument)
        if not mask or quality is None:
            return None
        bad = quality & mask
        if not bad:
            return None
        names = _BITS.get(instrument, {})
        meanings = [f"0x{bit:X} {names.get(bit, 'undocumented bit')}"
                    for bit in (1 << n for n in range(32)) if bad & bit]
        return f"QUALITY 0x{quality:08X} has bad-data bits: {'; '.join(meanings)}"


def _mask(instrument: str, text: str) -> int:
    try:
        value = int(text.strip(), 0)
    except ValueError:
        raise ValueError(f"the {instrument} QUALITY mask must be an integer such as "
                         f"0x{DEFAULT_MASKS[instrument]:X}, got {text!r}") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"the {instrument} QUALITY mask must fit 32 bits, got {text!r}")
    return value
