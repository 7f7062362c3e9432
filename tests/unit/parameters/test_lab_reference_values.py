"""Fractal dimension and directionality equal the values of the lab's own Java code.

The reference values in tests/data/lab_golden were produced by compiling and running the
lab's classes (see the README there); this file only reads them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nasaflow.images.decode import load_image
from nasaflow.parameters import compute_parameters
from nasaflow.parameters.canny import DERIVATIVE_KERNEL, SMOOTHING_KERNEL, lab_canny_edges
from nasaflow.parameters.fractal import fractal_dimension
from nasaflow.parameters.javamath import java_hypot
from nasaflow.parameters.tamura import find_peaks, tamura_directionality
from nasaflow.settings import SAMPLES_DIR

GOLDEN = np.load(Path(__file__).parents[2] / "data/lab_golden/lab_golden.npz")
SMALL = "2013_06_24__17_31_30_84__SDO_AIA_AIA_193"
#: The lab's own unit test input for PeakDetection (PeakDetectionTests).
LAB_PEAK_DATA = [
    31, 1, 2, 1, 4, 0, 0, 1, 0, 1, 0, 2, 0, 17, 0, 2, 0, 1, 1, 0, 0, 0, 73, 0, 0, 0, 0, 1, 2, 4,
    0, 22, 0, 2, 0, 5, 0, 1, 0, 6, 8, 6, 4, 0, 101, 0, 1, 3, 5, 10, 7, 0, 7, 0, 3, 0, 2, 1, 20, 0,
    5, 3, 2, 0, 0, 0, 0, 41, 0, 0, 0, 0, 0, 1, 5, 0, 19, 0, 4, 0, 1, 0, 4, 0, 1, 7, 0, 0, 1, 151,
]  # fmt: skip


def sample_images() -> list[str]:
    return sorted({key.split("/")[0] for key in GOLDEN.files if key.startswith("20")})


@pytest.mark.parametrize("stem", sample_images())
def test_sample_images_match_the_lab_code_at_64_and_256_pixels(stem: str) -> None:
    image = load_image(SAMPLES_DIR / f"{stem}.jp2")
    for p in (64, 256):
        expected_fd, expected_dir = GOLDEN[f"{stem}/p{p}/fd"], GOLDEN[f"{stem}/p{p}/dir"]
        side = expected_fd.shape[0] * p  # the lab's code needs a square multiple of p
        grid = compute_parameters(image[:side, :side], p, ["fractal_dimension", "tamura_directionality"])
        # Bit for bit where it can be; 1e-9 relative is the contract.
        np.testing.assert_allclose(grid.values["fractal_dimension"], expected_fd, rtol=1e-9, atol=0)
        np.testing.assert_allclose(grid.values["tamura_directionality"], expected_dir, rtol=1e-9, atol=0)
        assert (grid.values["fractal_dimension"] > 0).any() or stem == SMALL


def test_constructed_cells_match_the_lab_detector_and_calculators() -> None:
    # Flat, steps (gx > 0 with gy == 0 along a vertical one), a ramp, a disk, bright areas
    # beyond the detector's window and textures, each a 64 x 64 cell computed by the Java
    # as a whole image (patch size 0).
    cells = GOLDEN["cells/pixels"]
    names = GOLDEN["cells/names"].tolist()
    edges = lab_canny_edges(cells)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(edges[i], GOLDEN["cells/edges"][i], err_msg=name)
    np.testing.assert_array_equal(fractal_dimension(cells, whole_image=True), GOLDEN["cells/fd"])
    np.testing.assert_array_equal(tamura_directionality(cells), GOLDEN["cells/dir"])
    # The zeroed frame around the detector's window makes edges even on a flat cell.
    assert edges[names.index("flat")].any()


def test_detector_kernels_are_the_lab_ones() -> None:
    # Cut at 7 taps (Gaussian <= 0.005), not the 16 the constructor asks for.
    np.testing.assert_array_equal(SMOOTHING_KERNEL, GOLDEN["canny/smoothing"])
    np.testing.assert_array_equal(DERIVATIVE_KERNEL[1:], GOLDEN["canny/derivative"][1:])
    assert SMOOTHING_KERNEL.shape == (7,)


def test_hypot_is_javas_bit_for_bit() -> None:
    pairs, expected = GOLDEN["hypot/pairs"], GOLDEN["hypot/java"]
    ours = np.array([java_hypot(x, y) for x, y in pairs])
    np.testing.assert_array_equal(ours, expected)
    # The C library's hypot is not Java's: that is why the port exists.
    assert (np.hypot(pairs[:, 0], pairs[:, 1]) != expected).sum() > 100


@pytest.mark.parametrize(
    ("percentile", "expected"),
    [(90, [89, 44, 22, 67, 0, 31, 58, 76, 13]), (99, [89])],
)
def test_peak_detector_passes_the_lab_percentile_tests(percentile: int, expected: list[int]) -> None:
    # PeakDetectionTests.test3PeaksIdx1/2 (width 1, n 0, percentile threshold); the Java
    # lists peaks by height, this detector by position.
    peaks = find_peaks(np.array(LAB_PEAK_DATA, dtype=np.float64), percentile)
    assert peaks.tolist() == sorted(expected)
