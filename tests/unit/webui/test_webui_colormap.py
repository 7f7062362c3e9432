"""Colour map of the heat maps: lookup table, colour range and colouring of grids."""

from __future__ import annotations

import numpy as np
import pytest

from nasaflow.webui.colormap import (
    ANCHORS,
    LUT,
    NULL_COLOUR,
    build_lut,
    colour_range,
    colourize,
    css_gradient,
    hex_to_rgb,
)


def test_lookup_table_runs_from_first_to_last_anchor() -> None:
    assert LUT.shape == (256, 3) and LUT.dtype == np.uint8
    assert tuple(LUT[0]) == hex_to_rgb(ANCHORS[0])
    assert tuple(LUT[-1]) == hex_to_rgb(ANCHORS[-1])


def test_lookup_table_passes_through_every_anchor() -> None:
    lut = build_lut(ANCHORS, size=len(ANCHORS))
    assert [tuple(row) for row in lut] == [hex_to_rgb(anchor) for anchor in ANCHORS]


def test_lookup_table_never_gets_darker() -> None:
    luminance = LUT.astype(float) @ np.array([0.2126, 0.7152, 0.0722])
    assert np.all(np.diff(luminance) >= 0)
    assert np.all(np.diff(luminance[::16]) > 0)


def test_hex_to_rgb_reads_and_rejects() -> None:
    assert hex_to_rgb("#1f9e89") == (31, 158, 137)
    with pytest.raises(ValueError, match="expected a colour"):
        hex_to_rgb("#fff")


def test_build_lut_needs_two_anchors() -> None:
    with pytest.raises(ValueError, match="at least 2 anchors"):
        build_lut(["#000000"])


def test_colour_range_is_the_percentiles_of_finite_values() -> None:
    values = np.concatenate([np.arange(101, dtype=float), [np.nan, np.inf]])
    assert colour_range(values, (1.0, 99.0)) == pytest.approx((1.0, 99.0))


def test_colour_range_of_no_value_is_none() -> None:
    assert colour_range(np.full((3, 3), np.nan)) is None


def test_colourize_maps_ends_clips_beyond_and_leaves_missing_transparent() -> None:
    grid = np.array([[0.0, 10.0], [-5.0, 99.0], [np.nan, 5.0]])
    rgba = colourize(grid, 0.0, 10.0)
    assert rgba.shape == (3, 2, 4)
    assert tuple(rgba[0, 0, :3]) == tuple(LUT[0]) and tuple(rgba[0, 1, :3]) == tuple(LUT[-1])
    assert tuple(rgba[1, 0, :3]) == tuple(LUT[0]) and tuple(rgba[1, 1, :3]) == tuple(LUT[-1])
    assert tuple(rgba[2, 1, :3]) == tuple(LUT[128])
    assert rgba[2, 0, 3] == 0 and np.all(rgba[:2, :, 3] == 255) and rgba[2, 1, 3] == 255


def test_landed_null_cells_get_the_null_colour_and_missing_ones_stay_transparent() -> None:
    grid = np.array([[np.nan, np.nan], [1.0, 2.0]])
    landed = np.array([[True, False], [True, True]])
    rgba = colourize(grid, 1.0, 2.0, landed=landed)
    assert tuple(rgba[0, 0]) == (*hex_to_rgb(NULL_COLOUR), 255)
    assert rgba[0, 1, 3] == 0
    assert tuple(rgba[1, 0, :3]) == tuple(LUT[0]) and tuple(rgba[1, 1, :3]) == tuple(LUT[-1])


def test_the_null_colour_is_far_from_every_colour_of_the_scale() -> None:
    distance = np.abs(LUT.astype(int) - np.array(hex_to_rgb(NULL_COLOUR))).sum(axis=1)
    assert distance.min() > 150


def test_colourize_refuses_a_landed_mask_of_another_shape() -> None:
    with pytest.raises(ValueError, match="landed mask of shape"):
        colourize(np.zeros((2, 2)), 0.0, 1.0, landed=np.ones((2, 3), dtype=bool))


def test_colourize_constant_grid_gets_the_middle_colour() -> None:
    rgba = colourize(np.full((2, 2), 7.0), 7.0, 7.0)
    assert np.all(rgba[..., :3] == LUT[127])


def test_colourize_refuses_non_grid() -> None:
    with pytest.raises(ValueError, match="2-D grid"):
        colourize(np.zeros(4), 0.0, 1.0)


def test_css_gradient_lists_anchors_from_0_to_100_percent() -> None:
    gradient = css_gradient()
    assert gradient.startswith(f"linear-gradient(to right, {ANCHORS[0]} 0.0%")
    assert gradient.endswith(f"{ANCHORS[-1]} 100.0%)")
    assert all(anchor in gradient for anchor in ANCHORS)
