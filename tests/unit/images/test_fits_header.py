"""Helioviewer's metadata from a JP2's FITS keywords, computed as its API computes it, and
the uniform-scaling rule for JP2s smaller than their NAXIS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nasaflow.images.fits_header import (
    AU_M,
    RSUN_ARCSEC_1AU,
    FitsHeaderError,
    Observation,
    fits_keys,
    fits_time,
    helioviewer_metadata,
    is_scaled_from,
    observation,
    sun_distance_m,
)
from nasaflow.images.jp2 import jp2_xml
from nasaflow.settings import SAMPLES_DIR

HMI_CONTINUUM = SAMPLES_DIR / "2010_12_06__18_56_41_105__SDO_HMI_HMI_continuum.jp2"
AIA_304 = SAMPLES_DIR / "2021_01_06__00_01_42_580__SDO_AIA_AIA_304.jp2"
AIA_193_SMALL = SAMPLES_DIR / "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"


def keys_of(path) -> dict[str, str]:
    xml = jp2_xml(path.read_bytes())
    assert xml is not None
    return fits_keys(xml)


def test_an_invalid_dsun_becomes_1_au_and_a_missing_r_sun_is_computed() -> None:
    # The HMI continuum sample says DSUN_OBS = 0.03 (metres) and has no R_SUN.
    fits = keys_of(HMI_CONTINUUM)
    assert float(fits["DSUN_OBS"]) == 0.03 and "R_SUN" not in fits
    meta = helioviewer_metadata(fits)
    assert meta["dsun"] == AU_M
    assert meta["rsun"] == pytest.approx(RSUN_ARCSEC_1AU / 0.6)
    assert meta["scale"] == pytest.approx(0.6) and meta["scaleCorrection"] == pytest.approx(1)


def test_r_sun_and_dsun_of_the_header_are_kept_when_valid() -> None:
    fits = keys_of(AIA_304)
    meta = helioviewer_metadata(fits)
    assert meta["dsun"] == float(fits["DSUN_OBS"]) and meta["rsun"] == float(fits["R_SUN"])
    assert meta["scale"] == pytest.approx(0.6 * float(fits["DSUN_OBS"]) / AU_M)


def test_width_and_height_are_naxis_not_the_pixel_size() -> None:
    meta = helioviewer_metadata(keys_of(AIA_193_SMALL))
    assert (meta["width"], meta["height"]) == (4096, 4096)


def test_the_reference_pixel_is_crpix_minus_crval_over_cdelt() -> None:
    fits = {"NAXIS1": "100", "NAXIS2": "80", "CDELT1": "2", "CDELT2": "4", "CRPIX1": "50",
            "CRPIX2": "40", "CRVAL1": "10", "CRVAL2": "-8", "DSUN_OBS": str(AU_M)}
    meta = helioviewer_metadata(fits)
    assert (meta["refPixelX"], meta["refPixelY"]) == (45.0, 42.0)
    del fits["CRVAL2"]  # one missing: Helioviewer takes both as 0
    assert (helioviewer_metadata(fits)["refPixelX"], helioviewer_metadata(fits)["refPixelY"]) \
        == (50.0, 40.0)


def test_rotation_comes_from_crota_only() -> None:
    fits = {"NAXIS1": "10", "NAXIS2": "10", "CDELT1": "1", "CDELT2": "1", "CRPIX1": "5",
            "CRPIX2": "5", "CROTA2": "12.5"}
    assert helioviewer_metadata(fits)["rotation"] == 0.0
    assert helioviewer_metadata({**fits, "CROTA": "-3"})["rotation"] == -3.0


def test_dsun_is_derived_from_the_solar_radius_when_absent() -> None:
    # The Sun 1.25 times smaller than at 1 au: 1.25 au away.
    fits = {"CDELT1": "1.0", "SOLAR_R": str(RSUN_ARCSEC_1AU / 1.25)}
    assert sun_distance_m(fits) == pytest.approx(1.25 * AU_M)
    with pytest.raises(FitsHeaderError, match="invalid DSUN"):
        sun_distance_m({"DSUN_OBS": "3e11"})


def test_a_header_without_its_scale_is_refused() -> None:
    with pytest.raises(FitsHeaderError, match="no CDELT1"):
        helioviewer_metadata({"NAXIS1": "10", "NAXIS2": "10"})


@pytest.mark.parametrize(("size", "naxis", "scaled"), [
    ((4096, 4096), (4096, 4096), True),
    ((410, 410), (4096, 4096), True),
    ((1024, 512), (4096, 2048), True),
    ((1024, 1024), (4096, 2048), False),
    ((8192, 8192), (4096, 4096), False),
    ((0, 0), (4096, 4096), False),
])
def test_uniform_downscaling(size: tuple[int, int], naxis: tuple[int, int],
                             scaled: bool) -> None:
    assert is_scaled_from(size, naxis) is scaled


@pytest.mark.parametrize(("text", "expected"), [
    ("2013-06-24T17:31:31.84Z", datetime(2013, 6, 24, 17, 31, 31, 840_000, tzinfo=UTC)),
    ("2022-01-01T00:03:53.835", datetime(2022, 1, 1, 0, 3, 53, 835_000, tzinfo=UTC)),
    # JSOC TAI times: TAI - UTC was 34 s in 2010, 37 s since 2017.
    ("2010.12.06_18:57:38_TAI", datetime(2010, 12, 6, 18, 57, 4, tzinfo=UTC)),
    ("2022.08.02_10:48:52.509_TAI", datetime(2022, 8, 2, 10, 48, 15, 509_000, tzinfo=UTC)),
    ("2016.06.01_00:00:36_TAI", datetime(2016, 6, 1, tzinfo=UTC)),
])
def test_fits_times_become_utc(text: str, expected: datetime) -> None:
    assert fits_time(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2022-13-01T00:00:00", "1990.01.01_00:00:00_TAI"])
def test_a_bad_fits_time_is_refused(text: str) -> None:
    with pytest.raises(FitsHeaderError):
        fits_time(text)


def test_the_observation_keywords_of_the_bundled_samples() -> None:
    headers = {path.name: fits_keys(jp2_xml(path.read_bytes()) or b"")
               for path in SAMPLES_DIR.glob("*.jp2")}
    hmi = observation(headers["2010_12_06__18_56_41_105__SDO_HMI_HMI_continuum.jp2"])
    assert hmi == Observation(None, datetime(2010, 12, 6, 18, 57, 4, tzinfo=UTC), 6173.0, 0x400)
    aia = observation(headers["2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"])
    assert aia == Observation(1.999637, datetime(2013, 6, 24, 17, 31, 31, 840_000, tzinfo=UTC),
                              193.0, 0x40000000)
    # FITS stores QUALITY signed: bit 31 comes back as the unsigned word.
    assert observation({"QUALITY": "-2147483648"}).quality == 0x80000000
