"""The ten image parameters of an image's cell grid, computed band by band.

`compute_parameters` is the one entry point: it validates the request once, then walks
the requested cell rows in bands (bounded memory, see `grid.BAND_PIXELS`) and asks each
parameter family for the band's values. Families share their intermediate results:
the 8-bit grey-level counts or the cell moments serve eight statistics at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.parameters.conventions import (
    TOOLKIT,
    check_convention,
    kurtosis,
    relative_smoothness,
    skewness,
    std,
)
from nasaflow.parameters.fractal import fractal_dimension
from nasaflow.parameters.grid import CellGrid, band_ranges, cell_view, make_grid
from nasaflow.parameters.histogram import (
    HistogramSettings,
    default_settings,
    entropy_uniformity,
    entropy_uniformity_from_grey_counts,
    grey_level_counts,
)
from nasaflow.parameters.moments import (
    INTEGER_MAX_PIXELS,
    CellMoments,
    moments_from_grey_counts,
    moments_from_pixels,
)
from nasaflow.parameters.tamura import tamura_contrast, tamura_directionality

_HISTOGRAM_NAMES = frozenset({"entropy", "uniformity"})
_MOMENT_NAMES = frozenset(
    {"mean", "std", "skewness", "kurtosis", "relative_smoothness", "tamura_contrast"}
)


@dataclass(frozen=True)
class ParameterGrid:
    """Per-cell parameter values of one image (or of a band of its cell rows).

    Attributes:
        patch_size: cell side in pixels; None when the whole image was one cell.
        rows, cols: shape of every array in `values`.
        values: parameter name -> float64 array (rows, cols), in PARAMETER_NAMES order;
            NaN marks an undefined value (skewness and kurtosis of a constant cell), never
            a computed one.
        dropped: remainder pixel rows (bottom) and columns (right) left out of the grid.
        row_offset: grid row of values[...][0]; non-zero when a row range was asked for.
        convention: the statistical convention used ("toolkit" or "published").
    """

    patch_size: int | None
    rows: int
    cols: int
    values: dict[str, np.ndarray] = field(repr=False)
    dropped: tuple[int, int] = (0, 0)
    row_offset: int = 0
    convention: str = TOOLKIT

    def records(self) -> Iterator[dict[str, float | int]]:
        """One dict per cell, row-major: {"row", "col", then each parameter} (NaN where
        undefined)."""
        for r in range(self.rows):
            for c in range(self.cols):
                record: dict[str, float | int] = {"row": self.row_offset + r, "col": c}
                for name, array in self.values.items():
                    record[name] = float(array[r, c])
                yield record


def compute_parameters(
    image: np.ndarray,
    patch_size: int | None = 64,
    params: Sequence[str] | None = None,
    *,
    strict: bool = False,
    histogram: HistogramSettings | None = None,
    convention: str = TOOLKIT,
    row_range: tuple[int, int] | None = None,
) -> ParameterGrid:
    """Compute image parameters for every cell of a greyscale image.

    Args:
        image: 2-D array of raw pixel values (uint8 from JPEG 2000, any integer or float
            dtype otherwise); it is not modified.
        patch_size: cell side in pixels (default 64); None, or the side of a square
            image, makes the whole image one cell.
        params: parameter names to compute (any subset of PARAMETER_NAMES, any order);
            None for all ten. Results keep PARAMETER_NAMES order.
        strict: raise instead of dropping the remainder rows/columns when patch_size
            does not divide the image size.
        histogram: bins and range for entropy and uniformity; default 256 bins over
            [0, 255] for uint8, required for other dtypes when those are requested.
        convention: "toolkit" (default, numpy/scipy population statistics) or
            "published" (sample statistics of the published data set).
        row_range: (start, stop) to compute only cell rows start..stop-1; the values
            equal those rows of the full computation.

    Raises:
        ValueError: bad image shape or values, unknown parameter or convention, bad
            patch size or row range, strict mode on an indivisible size, or missing
            histogram settings for a non-8-bit image.
        TypeError: the image is not real-valued.
    """
    pixels = _validated_image(image)
    names = _selected(params)
    grid = make_grid(pixels.shape, patch_size, strict)
    check_convention(convention, grid.cell_pixels)
    start, stop = _validated_range(row_range, grid.rows)
    settings = histogram
    if settings is None and _HISTOGRAM_NAMES.intersection(names):
        settings = default_settings(pixels.dtype)
        if settings is None:
            raise ValueError(
                f"entropy and uniformity of {pixels.dtype} images need histogram settings "
                "(n_bins, lo, hi), e.g. HistogramSettings(4096, 0, 16383)"
            )
    values = {name: np.empty((stop - start, grid.cols)) for name in names}
    for band_start, band_stop in band_ranges(grid, start, stop):
        cells = cell_view(pixels, grid, band_start, band_stop)
        band = _band_values(cells, names, grid, settings, convention)
        for name in names:
            values[name][band_start - start : band_stop - start] = band[name]
    return ParameterGrid(
        patch_size=grid.patch_size,
        rows=stop - start,
        cols=grid.cols,
        values=values,
        dropped=grid.dropped,
        row_offset=start,
        convention=convention,
    )


def _validated_image(image: np.ndarray) -> np.ndarray:
    pixels = np.asarray(image)
    if pixels.ndim != 2:
        raise ValueError(f"image must be a 2-D greyscale array, got shape {pixels.shape}")
    if pixels.dtype.kind not in "biuf":
        raise TypeError(f"image must hold real numbers, got dtype {pixels.dtype}")
    if pixels.dtype.kind == "b":
        return pixels.astype(np.uint8)
    if pixels.dtype.kind == "f" and not np.isfinite(pixels).all():
        raise ValueError("image has NaN or infinite pixels")
    return pixels


def _selected(params: Sequence[str] | None) -> list[str]:
    if params is None:
        return list(PARAMETER_NAMES)
    if isinstance(params, str):
        params = [params]
    unknown = [name for name in params if name not in PARAMETER_NAMES]
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; "
            f"expected any of {', '.join(PARAMETER_NAMES)}"
        )
    if not params:
        raise ValueError("no parameter requested")
    return [name for name in PARAMETER_NAMES if name in params]


def _validated_range(row_range: tuple[int, int] | None, rows: int) -> tuple[int, int]:
    if row_range is None:
        return 0, rows
    start, stop = (int(bound) for bound in row_range)
    if not 0 <= start < stop <= rows:
        raise ValueError(f"row range {row_range} must satisfy 0 <= start < stop <= {rows}")
    return start, stop


def _band_values(
    cells: np.ndarray,
    names: list[str],
    grid: CellGrid,
    settings: HistogramSettings | None,
    convention: str,
) -> dict[str, np.ndarray]:
    """Values of the requested parameters for one band of cells (rows, ch, cols, cw)."""
    wanted = set(names)
    out: dict[str, np.ndarray] = {}
    moments: CellMoments | None = None
    # 8-bit cells too large for exact integer power sums go through grey-level counts.
    grey = cells.dtype == np.uint8 and grid.cell_pixels > INTEGER_MAX_PIXELS
    if grey and wanted & (_MOMENT_NAMES | _HISTOGRAM_NAMES):
        counts = grey_level_counts(cells)
        if wanted & _MOMENT_NAMES:
            moments = moments_from_grey_counts(counts, grid.cell_pixels)
        if wanted & _HISTOGRAM_NAMES:
            assert settings is not None
            out["entropy"], out["uniformity"] = entropy_uniformity_from_grey_counts(
                counts, grid.cell_pixels, settings
            )
    else:
        if wanted & _MOMENT_NAMES:
            moments = moments_from_pixels(cells)
        if wanted & _HISTOGRAM_NAMES:
            assert settings is not None
            out["entropy"], out["uniformity"] = entropy_uniformity(cells, settings)
    if moments is not None:
        out["mean"] = moments.mean
        out["std"] = std(moments, convention)
        out["skewness"] = skewness(moments, convention)
        out["kurtosis"] = kurtosis(moments, convention)
        out["relative_smoothness"] = relative_smoothness(moments, convention)
        out["tamura_contrast"] = tamura_contrast(moments, convention)
    if wanted & {"tamura_directionality", "fractal_dimension"}:
        rows, ch, cols, cw = cells.shape
        # One cell after the other: both families filter inside cells, which is fastest
        # (and simplest) when each cell's pixels are contiguous.
        stack = cells.transpose(0, 2, 1, 3).reshape(rows * cols, ch, cw)
        if "tamura_directionality" in wanted:
            out["tamura_directionality"] = tamura_directionality(stack).reshape(rows, cols)
        if "fractal_dimension" in wanted:
            out["fractal_dimension"] = fractal_dimension(stack, grid.whole_image).reshape(rows, cols)
    return out
