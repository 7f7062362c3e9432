"""Real SDO JPEG 2000 samples: plausible values, and bounded memory on a full-size image."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import params_reference as ref
from nasaflow.images.decode import load_image
from nasaflow.parameters import PARAMETER_NAMES, compute_parameters
from nasaflow.settings import SAMPLES_DIR

SMALL = SAMPLES_DIR / "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"
LARGE = SAMPLES_DIR / "2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"


def assert_plausible(values: dict[str, np.ndarray]) -> None:
    for name in PARAMETER_NAMES:
        if name in ("skewness", "kurtosis"):
            # NaN only where a cell is constant (off-disk background can be).
            assert (np.isfinite(values[name]) | (values["std"] == 0)).all(), name
        else:
            assert np.isfinite(values[name]).all(), name
    fd = values["fractal_dimension"]
    assert ((fd >= 0) & (fd <= 2)).all()
    assert (fd > 0).any()
    assert (values["tamura_directionality"] >= 0).all()
    assert ((values["uniformity"] > 0) & (values["uniformity"] <= 1)).all()
    assert ((values["entropy"] >= 0) & (values["entropy"] <= 8)).all()


def test_small_sample_values_are_plausible_and_match_the_reference() -> None:
    image = load_image(SMALL)
    assert image.shape == (410, 410) and image.dtype == np.uint8
    grid = compute_parameters(image, 64)
    assert (grid.rows, grid.cols, grid.dropped) == (6, 6, (26, 26))
    assert_plausible(grid.values)
    # The eight statistics against the reference; fractal dimension and directionality
    # against the lab's own values in test_lab_reference_values.
    for r, c, cell in ref.cells_of(image, 64):
        for name, value in ref.statistics(cell, 256, 0, 255).items():
            assert grid.values[name][r, c] == pytest.approx(value, rel=1e-8, abs=1e-9, nan_ok=True), name


def test_full_size_sample_all_ten_parameters_in_bounded_memory() -> None:
    image = load_image(LARGE)
    assert image.shape == (4096, 4096)
    tracemalloc.start()
    try:
        grid = compute_parameters(image, 64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (grid.rows, grid.cols) == (64, 64)
    assert_plausible(grid.values)
    assert peak < 1 << 30
    # Spot-check a few cells on and off the disk against the reference.
    for r, c in [(32, 32), (10, 40), (0, 0), (63, 5)]:
        cell = image[r * 64 : (r + 1) * 64, c * 64 : (c + 1) * 64]
        expected = ref.statistics(cell, 256, 0, 255)
        expected["tamura_directionality"] = ref.directionality(cell)
        expected["fractal_dimension"] = ref.fractal_dimension(cell)
        for name, value in expected.items():
            expected_value = pytest.approx(value, rel=1e-8, abs=1e-9, nan_ok=True)
            assert grid.values[name][r, c] == expected_value, (name, r, c)
