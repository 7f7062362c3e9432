"""The vectorised parameters equal a plain per-cell reference on random images."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

import params_reference as ref
from nasaflow.parameters import PARAMETER_NAMES, HistogramSettings, compute_parameters, make_grid
from nasaflow.parameters.fractal import FLAT_RANGE, canny_edges

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
    assert grid.values["tamura_directionality"][0, 0] == pytest.approx(ref.directionality(image), rel=1e-9)
    expected_fd = ref.dimension(ref.edges(image), ref.box_sizes(40, whole_image=True))
    assert grid.values["fractal_dimension"][0, 0] == pytest.approx(expected_fd, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 6),
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    smooth=st.sampled_from([0.0, 1.0, 2.5]),
    scale=st.sampled_from([1.0, 0.37, 13.0]),
)
def test_batched_canny_equals_scikit_image_per_cell(
    seed: int, n: int, height: int, width: int, smooth: float, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    stack = rng.integers(0, 256, (n, height, width)).astype(np.float64)
    if smooth:
        stack = ndi.gaussian_filter(stack, (0, smooth, smooth))
    stack *= scale
    expected = np.stack([ref.edges(cell) for cell in stack])
    np.testing.assert_array_equal(canny_edges(stack), expected)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), side=st.integers(3, 40), base=st.integers(0, 250))
def test_cells_within_the_flat_range_have_no_edges(seed: int, side: int, base: int) -> None:
    # fractal_dimension skips Canny on such cells: scikit-image must find nothing there.
    rng = np.random.default_rng(seed)
    cell = base + rng.uniform(0, FLAT_RANGE, (side, side))
    assert not ref.edges(cell).any()
    assert not ref.edges(np.round(cell)).any()


def test_make_grid_reports_the_grid_before_computing() -> None:
    grid = make_grid((4096, 4096), 64)
    assert (grid.rows, grid.cols, grid.dropped) == (64, 64, (0, 0))
