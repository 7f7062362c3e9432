"""The cell count of an image is the parameter grid's own rule, cell larger than the image
included: what the ingest expects to land is what the computation makes."""

from __future__ import annotations

import pytest

from nasaflow.parameters.grid import cell_count, make_grid


@pytest.mark.parametrize(("shape", "patch_size"), [
    ((4096, 4096), 64), ((540, 720), 64), ((600, 1000), 512), ((384, 384), 384),
    ((100, 300), 100),
])
def test_the_count_is_the_grids_rows_times_columns(shape: tuple[int, int],
                                                   patch_size: int) -> None:
    grid = make_grid(shape, patch_size)
    assert cell_count(shape, patch_size) == grid.rows * grid.cols
    assert cell_count(shape, patch_size) == (shape[0] // patch_size) * (shape[1] // patch_size)


def test_a_square_image_of_the_cell_size_is_one_cell() -> None:
    assert cell_count((1024, 1024), 1024) == 1


@pytest.mark.parametrize(("shape", "patch_size"), [
    ((384, 384), 512), ((540, 1200), 1024), ((1200, 540), 1024), ((720, 720), 1024),
])
def test_a_cell_larger_than_the_image_is_refused_with_the_sizes_not_counted_as_zero(
        shape: tuple[int, int], patch_size: int) -> None:
    with pytest.raises(ValueError, match=f"patch size {patch_size} is larger than the image "
                                         rf"\({shape[0]}x{shape[1]} pixels\)"):
        cell_count(shape, patch_size)
