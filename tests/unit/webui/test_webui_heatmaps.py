"""Heat-map sets: every parameter drawn together, with the colour range recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.webui.heatmaps import SCALE_FILE, Scale, heatmap_file, read_scales, write_heatmap_set


def test_a_set_holds_one_png_per_parameter_and_their_scales(tmp_path: Path) -> None:
    grids = {name: np.arange(12, dtype=float).reshape(3, 4) + k
             for k, name in enumerate(PARAMETER_NAMES)}
    write_heatmap_set(grids, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{name}.png" for name in PARAMETER_NAMES] + [SCALE_FILE])
    for name in PARAMETER_NAMES:
        with Image.open(heatmap_file(tmp_path, name)) as image:
            assert image.width * 3 == image.height * 4
    scales = read_scales(tmp_path)
    assert scales["mean"].minimum == 1.0 and scales["mean"].maximum == 12.0
    assert scales["mean"].low == pytest.approx(np.percentile(np.arange(12) + 1.0, 1))
    assert scales["mean"].cells == 12


def test_a_grid_without_values_is_drawn_transparent_with_an_empty_scale(tmp_path: Path) -> None:
    write_heatmap_set({"entropy": np.full((2, 2), np.nan)}, tmp_path)
    assert read_scales(tmp_path) == {"entropy": Scale(None, None, None, None, 0)}
    with Image.open(heatmap_file(tmp_path, "entropy")) as image:
        assert image.convert("RGBA").getchannel("A").getextrema() == (0, 0)
