"""The vectorised parameters equal a plain per-cell reference on random images."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

import params_reference as ref
from nasaflow.parameters import PARAMETER_NAMES, HistogramSettings, compute_parameters, make_grid
from nasaflow.parameters.canny import EDGELESS_BELOW, lab_canny_edges
from nasaflow.parameters.fractal import fractal_dimension
from nasaflow.parameters.tamura import find_peaks, guava_percentile, tamura_directionality

#: Histogram settings per dtype: (n_bins, lo, hi).
BINS = {np.uint8: (256, 0.0, 255.0), np.uint16: (4096, 0.0, 16383.0), np.float32: (64, -100.0, 100.0)}


def random_image(seed: int, shape: tuple[int, int], dtype: type, smooth: float) -> np.ndarray:
    """Noise, optionally smoothed into blobs, with a flat patch: images with both texture
    and edges. float32 values are multiples of 1/4, so every sum is exact."""
    rng = np.random.default_rng(seed)
    tops: dict[type, int] = {np.uint8: 255, np.uint16: 4095, np.float32: 400}
    top = tops[dtype]
    values = rng.uniform(0, top, shape)
    if smooth:
        values = ndi.gaussian_filter(values, smooth) * 3
    values[: shape[0] // 3, : shape[1] // 3] = rng.integers(0, 2)
    values = np.clip(np.round(values), 0, top)
    if dtype is np.float32:
        return ((values - 200) / 4).astype(np.float32)
    return values.astype(dtype)


images = st.builds(
    lambda seed, p, extra_rows, extra_cols, rows, cols, dtype, smooth: (
        random_image(seed, (p * rows + extra_rows, p * cols + extra_cols), dtype, smooth),
        p,
    ),
    seed=st.integers(0, 2**32 - 1),
    p=st.integers(2, 20),
    extra_rows=st.integers(0, 3),
    extra_cols=st.integers(0, 3),
    rows=st.integers(1, 3),
    cols=st.integers(1, 3),
    dtype=st.sampled_from([np.uint8, np.uint16, np.float32]),
    smooth=st.sampled_from([0.0, 1.5, 3.0]),
)


def assert_matches_reference(image: np.ndarray, p: int, convention: str) -> None:
    n_bins, lo, hi = BINS[image.dtype.type]
    grid = compute_parameters(
        image, p, histogram=HistogramSettings(n_bins, lo, hi), convention=convention
    )
    expected = ref.all_parameters(image, p, n_bins, lo, hi, convention)
    assert list(grid.values) == list(PARAMETER_NAMES)
    for name in PARAMETER_NAMES:
        np.testing.assert_allclose(grid.values[name], expected[name], rtol=1e-8, atol=1e-9, err_msg=name)


@settings(max_examples=80, deadline=None)
@given(images)
def test_all_parameters_match_the_per_cell_reference(case: tuple[np.ndarray, int]) -> None:
    image, p = case
    assert_matches_reference(image, p, "toolkit")


@settings(max_examples=25, deadline=None)
@given(images)
def test_published_convention_matches_the_per_cell_reference(case: tuple[np.ndarray, int]) -> None:
    image, p = case
    assert_matches_reference(image, p, "published")


@pytest.mark.parametrize("p", [4, 8, 16, 32])
def test_eight_bit_paths_match_the_reference_on_a_larger_image(p: int) -> None:
    # 8-bit cells of 256+ pixels go through per-cell grey-level counts, smaller ones
    # through pixel reductions and sorted runs: both must agree with the reference.
    image = random_image(p, (64, 64), np.uint8, 1.5)
    assert_matches_reference(image, p, "toolkit")


@settings(max_examples=25, deadline=None)
@given(images, st.data())
def test_row_range_equals_the_same_rows_of_the_full_grid(
    case: tuple[np.ndarray, int], data: st.DataObject
) -> None:
    image, p = case
    histogram = HistogramSettings(*BINS[image.dtype.type])
    full = compute_parameters(image, p, histogram=histogram)
    start = data.draw(st.integers(0, full.rows - 1))
    stop = data.draw(st.integers(start + 1, full.rows))
    band = compute_parameters(image, p, histogram=histogram, row_range=(start, stop))
    assert (band.rows, band.cols, band.row_offset) == (stop - start, full.cols, start)
    for name in PARAMETER_NAMES:
        np.testing.assert_array_equal(band.values[name], full.values[name][start:stop], err_msg=name)


def test_cells_do_not_read_their_neighbours() -> None:
    image = random_image(11, (48, 48), np.uint8, 1.5)
    changed = image.copy()
    changed[16:32, 16:32] = 255 - changed[16:32, 16:32]
    before = compute_parameters(image, 16)
    after = compute_parameters(changed, 16)
    others = np.ones((3, 3), dtype=bool)
    others[1, 1] = False
    for name in PARAMETER_NAMES:
        np.testing.assert_array_equal(before.values[name][others], after.values[name][others], err_msg=name)


def test_remainder_rows_and_columns_are_dropped_and_recorded() -> None:
    image = random_image(2, (70, 45), np.uint8, 1.5)
    grid = compute_parameters(image, 16)
    cropped = compute_parameters(image[:64, :32].copy(), 16)
    assert (grid.rows, grid.cols, grid.dropped) == (4, 2, (6, 13))
    for name in PARAMETER_NAMES:
        np.testing.assert_array_equal(grid.values[name], cropped.values[name], err_msg=name)


def test_strict_mode_refuses_an_indivisible_size() -> None:
    with pytest.raises(ValueError, match="not divisible by patch size 16"):
        compute_parameters(np.zeros((70, 45), np.uint8), 16, strict=True)


@pytest.mark.parametrize("patch_size", [None, 40])
def test_whole_image_is_one_cell(patch_size: int | None) -> None:
    image = random_image(4, (40, 40), np.uint8, 1.5)
    grid = compute_parameters(image, patch_size)
    assert (grid.rows, grid.cols) == (1, 1)
    stats = ref.statistics(image, 256, 0, 255)
    for name, value in stats.items():
        assert grid.values[name][0, 0] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert grid.values["tamura_directionality"][0, 0] == ref.directionality(image)
    # "full" is the lab's patch size 0 (boxes from 64); a patch size keeps its own boxes.
    expected_fd = ref.dimension(ref.canny(image), ref.box_sizes(40, whole_image=patch_size is None))
    assert grid.values["fractal_dimension"][0, 0] == expected_fd


def lab_cell(seed: int, side: int, kind: str) -> np.ndarray:
    """A uint8 cell of one of the kinds the lab's detector and gradient treat specially."""
    rng = np.random.default_rng(seed)
    cell = np.zeros((side, side))
    cut = int(rng.integers(1, side))
    low, high = sorted(rng.integers(0, 256, 2))
    if kind == "flat":
        cell[:] = high
    elif kind == "vertical edge":  # gx > 0 with gy == 0 along the edge
        cell[:, :cut] = low
        cell[:, cut:] = high
    elif kind == "horizontal edge":
        cell[:cut] = low
        cell[cut:] = high
    elif kind == "bright side at the window border":  # bright beyond the detector's window
        cell[:] = low
        cell[max(side - 8, 0) + int(rng.integers(0, 3)) :] = high
        cell[:, : int(rng.integers(0, 8))] = high
    else:
        cell = ndi.gaussian_filter(rng.uniform(0, 255, (side, side)), float(rng.uniform(0, 3))) * 2.5 - 100
        cell += rng.normal(0, float(rng.uniform(0, 4)), (side, side))
    return np.clip(np.round(cell), 0, 255).astype(np.uint8)


LAB_KINDS = ["flat", "vertical edge", "horizontal edge", "bright side at the window border", "texture"]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), side=st.integers(3, 40), kind=st.sampled_from(LAB_KINDS))
def test_lab_edge_detector_matches_the_plain_java_port(seed: int, side: int, kind: str) -> None:
    cell = lab_cell(seed, side, kind)
    np.testing.assert_array_equal(lab_canny_edges(cell[None])[0], ref.canny(cell))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), side=st.integers(3, 40), kind=st.sampled_from(LAB_KINDS))
def test_fractal_dimension_and_directionality_match_the_plain_java_port(seed: int, side: int,
                                                                       kind: str) -> None:
    cell = lab_cell(seed, side, kind)
    assert fractal_dimension(cell[None])[0] == ref.fractal_dimension(cell)
    assert tamura_directionality(cell[None])[0] == ref.directionality(cell)


@pytest.mark.parametrize("kind", LAB_KINDS)
def test_full_size_cells_match_the_plain_java_port(kind: str) -> None:
    # 64-pixel cells: the detector's window (rows and columns 6..57) sits inside the cell.
    cell = lab_cell(7, 64, kind)
    np.testing.assert_array_equal(lab_canny_edges(cell[None])[0], ref.canny(cell))
    assert fractal_dimension(cell[None])[0] == ref.fractal_dimension(cell)
    assert tamura_directionality(cell[None])[0] == ref.directionality(cell)


def test_gradients_along_x_get_the_angle_pi_not_zero() -> None:
    # Where gx > 0 and gy == 0 the lab's angle is pi (last bin); atan2 would give 0 and
    # put those pixels in the flat bin, which is divided by 100.
    cell = lab_cell(0, 24, "texture")
    value = tamura_directionality(cell[None])[0]
    assert value == ref.directionality(cell)
    assert value != ref.directionality(cell, angle_along_x=0.0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 12), min_size=2, max_size=130).map(lambda h: np.array(h, dtype=np.float64))
)
def test_peak_detector_matches_the_plain_java_port(histogram: np.ndarray) -> None:
    assert find_peaks(histogram).tolist() == ref.lab_peaks(histogram.tolist())


def test_a_peak_equal_to_the_25th_percentile_is_kept() -> None:
    # 125 bins: 31 zeros, a lone 1 at bin 15, then 2s and 3s. Guava's 25th percentile is
    # the 32nd smallest value, 1: the peak at bin 15 equals it and the Java keeps it.
    histogram = np.zeros(125)
    histogram[15] = 1.0
    histogram[32:] = np.where(np.arange(32, 125) % 2, 3.0, 2.0)
    assert np.count_nonzero(histogram == 0) == 31
    assert guava_percentile(histogram, 25) == 1.0
    peaks = find_peaks(histogram).tolist()
    assert 15 in peaks
    assert peaks == ref.lab_peaks(histogram.tolist())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), side=st.integers(3, 64), top=st.floats(0, EDGELESS_BELOW))
def test_cells_below_the_edgeless_bound_have_no_edges(seed: int, side: int, top: float) -> None:
    # The detector is skipped on such cells: the lab's own detector must find nothing.
    cell = np.random.default_rng(seed).uniform(0, top, (side, side))
    cell[np.random.default_rng(seed).random((side, side)) < 0.5] = 0
    assert not ref.canny(cell).any()


def test_make_grid_reports_the_grid_before_computing() -> None:
    grid = make_grid((4096, 4096), 64)
    assert (grid.rows, grid.cols, grid.dropped) == (64, 64, (0, 0))
