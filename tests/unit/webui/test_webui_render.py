"""Pictures of the pages: cell grids, heat-map PNGs and thumbnails of real samples."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nasaflow.settings import SAMPLES_DIR
from nasaflow.webui.colormap import LUT
from nasaflow.webui.render import (
    HEATMAP_MIN_SIDE,
    cell_grid,
    decode_reduced,
    heatmap_png,
    thumbnail_png,
)

#: A 4096 x 4096 JPEG 2000 sample and a 410 x 410 one with only 3 resolution levels.
LARGE_SAMPLE = SAMPLES_DIR / "2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"
SMALL_SAMPLE = SAMPLES_DIR / "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"


def _decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image


def test_cell_grid_places_values_and_leaves_other_cells_nan() -> None:
    grid = cell_grid((2, 3), np.array([0, 1, 5]), np.array([2, 0, 0]), np.array([1.5, None, 9]))
    assert grid[0, 2] == 1.5
    assert np.isnan(grid[1, 0])  # a None value
    assert np.isnan(grid).sum() == 5  # the cell outside the grid is left out


@pytest.mark.parametrize("shape", [(3, 5), (64, 64), (1, 1), (7, 2)])
def test_heatmap_keeps_the_grid_aspect_with_whole_pixels_per_cell(shape: tuple[int, int]) -> None:
    image = _decode(heatmap_png(np.zeros(shape), 0.0, 1.0))
    scale = image.width // shape[1]
    assert (image.height, image.width) == (shape[0] * scale, shape[1] * scale)
    assert max(image.size) >= HEATMAP_MIN_SIDE


def test_heatmap_of_a_large_grid_is_not_enlarged() -> None:
    image = _decode(heatmap_png(np.zeros((300, 512)), 0.0, 1.0))
    assert image.size == (512, 300)


def test_heatmap_colours_each_cell_block() -> None:
    values = np.array([[0.0, 1.0], [np.nan, 0.5]])
    image = np.asarray(_decode(heatmap_png(values, 0.0, 1.0, min_side=4)).convert("RGBA"))
    assert image.shape == (4, 4, 4)
    assert np.all(image[:2, :2, :3] == LUT[0]) and np.all(image[:2, 2:, :3] == LUT[-1])
    assert np.all(image[2:, :2, 3] == 0)  # no value: transparent
    assert np.all(image[2:, 2:, :3] == LUT[128])


@pytest.mark.parametrize("sample", [LARGE_SAMPLE, SMALL_SAMPLE], ids=["4096px", "410px"])
def test_thumbnail_of_a_jpeg2000_sample_fits_the_side(sample: Path) -> None:
    image = _decode(thumbnail_png(sample, side=200))
    assert image.size == (200, 200)
    assert image.mode == "L"
    assert np.asarray(image).std() > 10  # a picture of the Sun, not a blank


def test_thumbnail_of_a_non_jpeg2000_image_keeps_its_aspect(tmp_path: Path) -> None:
    source = tmp_path / "wide.png"
    Image.new("RGB", (800, 400), (200, 30, 30)).save(source)
    image = _decode(thumbnail_png(source, side=100))
    assert image.size == (100, 50)
    assert image.getpixel((10, 10)) == (200, 30, 30)


def test_large_jpeg2000_is_decoded_at_a_reduced_resolution() -> None:
    with decode_reduced(LARGE_SAMPLE, 320) as image:
        assert image.size == (512, 512)  # 4096 halved three times, still >= 320


def test_decoding_falls_back_when_the_file_has_fewer_resolution_levels() -> None:
    # 410 px halved three times is 51 px >= 50, but this file holds only 3 levels (2 drops).
    with decode_reduced(SMALL_SAMPLE, 50) as image:
        assert image.size == (103, 103)
