"""The known values of docs/image-parameters.md, and invariants that must hold exactly."""

from __future__ import annotations

import numpy as np
import pytest

from nasaflow.parameters import PARAMETER_NAMES, HistogramSettings, compute_parameters
from nasaflow.parameters.fractal import box_counts, box_sizes, dimension_from_counts
from nasaflow.parameters.tamura import tamura_directionality

MOMENT_NAMES = ["mean", "std", "skewness", "kurtosis", "relative_smoothness", "tamura_contrast"]


def one_cell(image: np.ndarray, names: list[str], convention: str = "toolkit",
             histogram: HistogramSettings | None = None) -> dict[str, float]:
    grid = compute_parameters(image, image.shape[0], names, convention=convention,
                              histogram=histogram)
    return {name: float(values[0, 0]) for name, values in grid.values.items()}


def test_parameter_names_are_the_ten_columns_in_order() -> None:
    assert PARAMETER_NAMES == (
        "entropy",
        "mean",
        "std",
        "fractal_dimension",
        "skewness",
        "kurtosis",
        "uniformity",
        "relative_smoothness",
        "tamura_contrast",
        "tamura_directionality",
    )


def test_arange_cell_moments_match_the_doc() -> None:
    values = one_cell(np.arange(16).reshape(4, 4), MOMENT_NAMES)
    assert values["mean"] == pytest.approx(7.5, abs=1e-12)
    assert values["std"] == pytest.approx(4.6097722, abs=1e-7)
    assert values["skewness"] == pytest.approx(0.0, abs=1e-12)
    assert values["kurtosis"] == pytest.approx(-1.2094118, abs=1e-7)
    assert values["relative_smoothness"] == pytest.approx(0.9550562, abs=1e-7)
    assert values["tamura_contrast"] == pytest.approx(3.9850203, abs=1e-7)


def test_arange_cell_entropy_and_uniformity_with_four_bins() -> None:
    values = one_cell(
        np.arange(16).reshape(4, 4), ["entropy", "uniformity"], histogram=HistogramSettings(4, 0, 16)
    )
    assert values["entropy"] == pytest.approx(2.0, abs=1e-12)
    assert values["uniformity"] == pytest.approx(0.25, abs=1e-12)


def test_row_major_ramp_uniformity_is_one_over_1024() -> None:
    ramp = np.arange(4096, dtype=np.uint16).reshape(64, 64)
    values = one_cell(ramp, ["uniformity"], histogram=HistogramSettings(4096, 0, 16383))
    assert values["uniformity"] == pytest.approx(1 / 1024, rel=1e-12)


def test_ramp_from_one_entropy_is_about_ten_bits() -> None:
    ramp = np.arange(1, 4097, dtype=np.uint16).reshape(64, 64)
    values = one_cell(ramp, ["entropy"], histogram=HistogramSettings(4096, 0, 16383))
    assert values["entropy"] == pytest.approx(10.0008, abs=1e-4)


@pytest.mark.parametrize("convention", ["toolkit", "published"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("side", [4, 64])
def test_constant_cell_moments_are_zero_or_undefined(dtype: type, side: int, convention: str) -> None:
    cell: np.ndarray = np.full((side, side), 7, dtype=dtype)
    values = one_cell(cell, [*MOMENT_NAMES, "tamura_directionality", "fractal_dimension"],
                      convention=convention)
    assert values["mean"] == 7
    # Skewness and kurtosis divide by a zero variance: undefined, NaN (the toolkit's value).
    assert np.isnan(values["skewness"]) and np.isnan(values["kurtosis"])
    # Both of the lab's libraries give contrast 0 there (their NaN is turned into 0).
    for name in ["std", "relative_smoothness", "tamura_contrast"]:
        assert values[name] == 0, name
    assert values["tamura_directionality"] == 0
    assert values["fractal_dimension"] == 0


def test_only_constant_cells_have_undefined_moments() -> None:
    image = np.zeros((8, 8), np.uint8)
    image[4:, 4:] = np.arange(16, dtype=np.uint8).reshape(4, 4)
    grid = compute_parameters(image, 4, ["skewness", "kurtosis"])
    for name in ["skewness", "kurtosis"]:
        assert np.isnan(grid.values[name]).tolist() == [[True, True], [True, False]], name


def test_published_convention_matches_the_java_test_vector() -> None:
    cell = np.array([0] * 500 + [100] * 500 + [30] * 3096, dtype=np.uint8)
    np.random.default_rng(0).shuffle(cell)
    names = ["skewness", "kurtosis", "tamura_contrast"]
    values = one_cell(cell.reshape(64, 64), names, convention="published")
    assert values["skewness"] == pytest.approx(1.589, abs=1e-3)
    assert values["kurtosis"] == pytest.approx(2.079936, abs=5e-7)
    assert values["tamura_contrast"] == pytest.approx(569.8427, abs=5e-5)


def test_published_convention_uses_sample_variance() -> None:
    cell = np.arange(16, dtype=np.uint8).reshape(4, 4)
    toolkit = one_cell(cell, ["std"])
    published = one_cell(cell, ["std"], convention="published")
    assert published["std"] == pytest.approx(toolkit["std"] * np.sqrt(16 / 15), rel=1e-12)


def test_published_convention_refuses_single_pixel_cells() -> None:
    with pytest.raises(ValueError, match="at least 4 pixels"):
        compute_parameters(np.zeros((4, 4), np.uint8), 1, ["std"], convention="published")


def test_box_sizes_follow_the_halving_rule() -> None:
    # The lab's getAllSplitsTest1/2 and getMaxBoxSizeTest1/2: patch size 64 and 0 (whole).
    assert box_sizes(64) == [16, 8, 4, 2]
    assert box_sizes(4096, whole_image=True) == [64, 32, 16, 8, 4, 2]
    assert box_sizes(4) == [4, 2]
    assert box_sizes(256) == [32, 16, 8, 4, 2]


def test_box_count_of_the_lab_unit_test_pattern() -> None:
    # The lab's fractalDimParamTestCountBoxesOutputValue: four 8-pixel boxes hold foreground.
    edges = np.zeros((1, 64, 64), dtype=bool)
    for row in [9, 10, 11, 17, 18, 26, 27, 28, 60, 61, 62]:
        edges[0, row, row] = True
    assert box_counts(edges, [8]).tolist() == [[4]]


def edge_map(pattern: str) -> np.ndarray:
    edges = np.zeros((1, 64, 64), dtype=bool)
    if pattern == "diagonal":
        edges[0, np.arange(64), np.arange(64)] = True
    elif pattern == "full":
        edges[:] = True
    elif pattern == "one pixel":
        edges[0, 10, 20] = True
    return edges


@pytest.mark.parametrize(
    ("pattern", "counts", "dimension"),
    [
        ("diagonal", [4, 8, 16, 32], 1.0),
        ("full", [16, 64, 256, 1024], 2.0),
        ("one pixel", [1, 1, 1, 1], 0.0),
        ("empty", [0, 0, 0, 0], 0.0),
    ],
)
def test_box_counting_is_exact_on_constructed_edge_maps(
    pattern: str, counts: list[int], dimension: float
) -> None:
    sizes = [16, 8, 4, 2]
    found = box_counts(edge_map(pattern), sizes)
    assert found.tolist() == [counts]
    assert dimension_from_counts(found, sizes)[0] == pytest.approx(dimension, abs=1e-12)


def test_box_counting_shrinks_the_last_boxes_to_the_remainder() -> None:
    edges = np.zeros((1, 10, 10), dtype=bool)
    edges[0, 9, 9] = True  # only in the shrunk bottom-right box of side 4 (rows 8-9)
    edges[0, 0, 0] = True
    assert box_counts(edges, [4, 3, 2]).tolist() == [[2, 2, 2]]


def stripes(side: int, horizontal: bool) -> np.ndarray:
    rows = (np.arange(side) // 2 % 2 * 200).astype(np.uint8)
    cell = np.repeat(rows[:, None], side, axis=1)
    return cell if horizontal else cell.T.copy()


@pytest.mark.parametrize("horizontal", [True, False])
def test_cell_with_one_gradient_direction_has_directionality_zero(horizontal: bool) -> None:
    cell = stripes(64, horizontal)
    assert tamura_directionality(cell[None])[0] == 0


def test_stripes_are_more_directional_than_noise() -> None:
    noise = np.random.default_rng(3).integers(0, 256, (64, 64), dtype=np.uint8)
    stripe_value = tamura_directionality(stripes(64, True)[None])[0]
    noise_value = tamura_directionality(noise[None])[0]
    assert stripe_value < noise_value


def test_directionality_ignores_brightness_offset_and_power_of_two_gain() -> None:
    cell = np.random.default_rng(5).integers(0, 60, (1, 32, 32)).astype(np.float64)
    base = tamura_directionality(cell)[0]
    assert tamura_directionality(cell + 100)[0] == base
    assert tamura_directionality(cell * 4)[0] == base


@pytest.mark.parametrize("patch_size", [4, 64])
def test_entropy_of_a_constant_cell_is_positive_zero(patch_size: int) -> None:
    grid = compute_parameters(np.full((64, 64), 7, np.uint8), patch_size, ["entropy"])
    assert not np.signbit(grid.values["entropy"]).any()
    assert (grid.values["entropy"] == 0).all()


def test_eight_bit_angle_table_equals_computing_each_angle() -> None:
    # 8-bit cells take their angle bins from a table, other dtypes compute atan2 per pixel.
    cells = np.random.default_rng(8).integers(0, 256, (6, 20, 20), dtype=np.uint8)
    cells[1] = np.arange(20, dtype=np.uint8) * 12  # columns only: gy == 0 everywhere
    np.testing.assert_array_equal(
        tamura_directionality(cells), tamura_directionality(cells.astype(np.float64))
    )
