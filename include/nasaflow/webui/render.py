"""Pictures for the pages: parameter grids as heat-map PNGs, images as thumbnails.

Pure functions from arrays or files to PNG bytes; the cache (cache.py) decides when they
run. A heat map keeps one square block of pixels per cell, so its aspect is exactly the
grid's and cells stay crisp at any zoom. A thumbnail of a 4096 x 4096 JPEG 2000 image is
decoded at a reduced resolution level, which costs a fraction of a full decode.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from nasaflow.webui.colormap import colourize

#: Heat maps are enlarged (whole pixels per cell) until their longer side reaches this.
HEATMAP_MIN_SIDE = 256
#: Longer side of a thumbnail in pixels.
THUMBNAIL_SIDE = 320


def cell_grid(shape: tuple[int, int], cell_rows: np.ndarray, cell_cols: np.ndarray,
              values: np.ndarray) -> np.ndarray:
    """A float64 grid of `shape` holding values[i] at (cell_rows[i], cell_cols[i]).

    Cells without a value, and values that are None, are NaN.
    """
    grid = np.full(shape, np.nan)
    inside = (cell_rows < shape[0]) & (cell_cols < shape[1])
    grid[cell_rows[inside], cell_cols[inside]] = np.asarray(values, dtype=np.float64)[inside]
    return grid


def heatmap_png(values: np.ndarray, low: float, high: float, landed: np.ndarray | None = None,
                min_side: int = HEATMAP_MIN_SIDE) -> bytes:
    """PNG of a 2-D grid coloured between `low` and `high`, one square block per cell;
    `landed` marks the landed cells, so that null ones are told from missing ones."""
    rgba = colourize(values, low, high, landed=landed)
    scale = max(1, math.ceil(min_side / max(values.shape)))
    blocks = rgba.repeat(scale, axis=0).repeat(scale, axis=1)
    return _png(Image.fromarray(blocks))


def thumbnail_png(path: Path, side: int = THUMBNAIL_SIDE) -> bytes:
    """PNG of the image at `path`, fitted into side x side pixels."""
    with decode_reduced(path, side) as image:
        picture = image if image.mode in ("L", "RGB") else image.convert("RGB")
        picture.thumbnail((side, side), Image.Resampling.LANCZOS)
        return _png(picture)


def decode_reduced(path: Path, side: int) -> Image.Image:
    """The image decoded at the smallest resolution that still covers `side` pixels.

    JPEG 2000 files hold resolution levels: dropping r levels halves each side r times.
    A file may hold fewer levels than its size suggests, which the decoder reports as an
    OSError: then one level less is tried, down to the full resolution.
    """
    reduce: int | None = None
    while True:
        image = Image.open(path)
        try:
            if image.format == "JPEG2000":
                if reduce is None:
                    reduce = _levels_to_drop(max(image.size), side)
                # Pillow's JPEG 2000 plugin reads `reduce` as an int (decode at 1/2**n), an
                # attribute that shadows Image.reduce() in the type stubs.
                image.reduce = reduce  # type: ignore[assignment, method-assign]
            else:
                image.draft(image.mode, (side, side))
            image.load()
            return image
        except OSError:
            image.close()
            if not reduce:
                raise
            reduce -= 1


def _levels_to_drop(longest: int, side: int) -> int:
    """Most halvings of `longest` that keep it at least `side`."""
    levels = 0
    while (longest >> (levels + 1)) >= side:
        levels += 1
    return levels


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
