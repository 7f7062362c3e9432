"""The landing check expects exactly the cells the parameter grid computes."""

from __future__ import annotations

import numpy as np
import pytest

from nasaflow.parameters import compute_parameters
from nasaflow.sink.landing import expected_cells


@pytest.mark.parametrize("width,height,patch_size", [
    (4096, 4096, 64), (410, 410, 64), (410, 300, 128), (64, 64, 64), (100, 70, 33), (8, 8, 8),
])
def test_expected_cells_equal_the_cells_the_parameters_get(width: int, height: int,
                                                           patch_size: int) -> None:
    image = np.zeros((height, width), dtype=np.uint8)
    grid = compute_parameters(image, patch_size, ["mean"])
    assert expected_cells(width, height, patch_size) == grid.values["mean"].size


@pytest.mark.parametrize("width,height", [(410, 410), (1024, 300), (300, 1024)])
def test_a_cell_larger_than_the_image_gives_no_cells(width: int, height: int) -> None:
    assert expected_cells(width, height, 512) == 0
