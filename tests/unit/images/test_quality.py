"""Which QUALITY words leave an SDO image out: JSOC's bad-data bits per instrument, not
"any bit set" (every served AIA image carries the near-real-time bit, HMI observables
often the cosmic-ray bit)."""

from __future__ import annotations

import pytest

from nasaflow.images.quality import DEFAULT_MASKS, QualityPolicy

DEFAULT = QualityPolicy.from_settings(True, "", "")


@pytest.mark.parametrize(("instrument", "quality"), [
    ("AIA", 0), ("AIA", 0x40000000), ("AIA", 0x40000000 | 0x100 | 0x1),
    ("HMI", 0x400), ("HMI", 0x400 | 0x20), ("APOD", 0x80000000), ("AIA", None)])
def test_served_images_with_harmless_bits_are_kept(instrument: str, quality: int | None) -> None:
    assert DEFAULT.rejection(instrument, quality) is None


@pytest.mark.parametrize(("instrument", "quality", "named"), [
    ("AIA", 0x80000000, "0x80000000 image not available"),
    ("AIA", 0x40000000 | 0x800 | 0x400, "0x800 more than 25% of pixels missing"),
    ("AIA", 0x40000000 | 0x4000, "0x4000 no Sun presence"),
    ("AIA", 0x40000 | 0x40000000, "0x40000 calibration image"),
    ("HMI", 0x80000000 | 0x400, "0x80000000 no observable produced"),
    ("HMI", 0x2000000, "0x2000000 not enough level-1d filtergrams"),
])
def test_bad_data_bits_leave_the_image_out_naming_every_bad_bit(
        instrument: str, quality: int, named: str) -> None:
    reason = DEFAULT.rejection(instrument, quality)
    assert reason is not None and named in reason
    assert f"QUALITY 0x{quality:08X}" in reason
    assert "0x40000000 near real time" not in reason  # a kept bit is not blamed


def test_the_policy_can_be_disabled_or_given_other_masks() -> None:
    assert QualityPolicy.from_settings(False, "", "").rejection("AIA", 0x80000000) is None
    strict = QualityPolicy.from_settings(True, "0xFFFFFFFF", "1024")
    assert "0x40000000" in (strict.rejection("AIA", 0x40000000) or "")
    assert "0x400" in (strict.rejection("HMI", 0x400) or "")
    assert strict.masks["HMI"] == 0x400 and DEFAULT.masks == DEFAULT_MASKS


@pytest.mark.parametrize("mask", ["0xZZ", "-1", "0x100000000", "bad"])
def test_a_bad_mask_is_refused_naming_it(mask: str) -> None:
    with pytest.raises(ValueError, match="QUALITY mask"):
        QualityPolicy.from_settings(True, mask, "")
