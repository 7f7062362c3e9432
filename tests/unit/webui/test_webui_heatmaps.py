"""Heat-map sets: every parameter drawn together, with the colour range recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.webui.colormap import NULL_COLOUR, hex_to_rgb
from nasaflow.webui.heatmaps import SCALE_FILE, Scale, heatmap_file, read_scales, write_heatmap_set


def test_a_set_holds_one_png_per_parameter_and_their_scales(tmp_path: Path) -> None:
    grids = {name: np.arange(12, dtype=float).reshape(3, 4) + k
             for k, name in enumerate(PARAMETER_NAMES)}
    write_heatmap_set(grids, np.ones((3, 4), dtype=bool), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{name}.png" for name in PARAMETER_NAMES] + [SCALE_FILE])
    for name in PARAMETER_NAMES:
        with Image.open(heatmap_file(tmp_path, name)) as image:
            assert image.width * 3 == image.height * 4
    scales = read_scales(tmp_path)
    assert scales["mean"].minimum == 1.0 and scales["mean"].maximum == 12.0
    assert scales["mean"].low == pytest.approx(np.percentile(np.arange(12) + 1.0, 1))
    assert scales["mean"].cells == 12 and scales["mean"].nulls == 0


def test_a_grid_without_values_is_drawn_transparent_with_an_empty_scale(tmp_path: Path) -> None:
    write_heatmap_set({"entropy": np.full((2, 2), np.nan)}, np.zeros((2, 2), dtype=bool),
                      tmp_path)
    assert read_scales(tmp_path) == {"entropy": Scale(None, None, None, None, 0, 0)}
    with Image.open(heatmap_file(tmp_path, "entropy")) as image:
        assert image.convert("RGBA").getchannel("A").getextrema() == (0, 0)


def test_null_cells_are_drawn_in_the_null_colour_and_counted(tmp_path: Path) -> None:
    skewness = np.array([[np.nan, 0.5], [np.nan, -0.5]])  # (0, 0) null, (1, 0) not landed
    landed = np.array([[True, True], [False, True]])
    write_heatmap_set({"skewness": skewness}, landed, tmp_path)
    scale = read_scales(tmp_path)["skewness"]
    assert (scale.cells, scale.nulls) == (2, 1)
    with Image.open(heatmap_file(tmp_path, "skewness")) as image:
        pixels = np.asarray(image.convert("RGBA"))
    block = pixels.shape[0] // 2
    assert tuple(pixels[0, 0]) == (*hex_to_rgb(NULL_COLOUR), 255)
    assert pixels[block, 0, 3] == 0
    assert tuple(pixels[0, block]) != (*hex_to_rgb(NULL_COLOUR), 255)


def test_scales_written_before_null_counts_were_kept_still_read(tmp_path: Path) -> None:
    (tmp_path / SCALE_FILE).write_text(
        '{"mean": {"low": 1.0, "high": 2.0, "minimum": 1.0, "maximum": 2.0, "cells": 4}}')
    assert read_scales(tmp_path)["mean"].nulls == 0
