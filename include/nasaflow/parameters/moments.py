"""Per-cell mean and central moments, the common ground of six parameters.

Mean, std, skewness, kurtosis, relative smoothness and Tamura contrast are all functions
of a cell's pixel count, mean and central moments mu_2..mu_4. Computing those once for
every cell, as reductions over a 4-D (rows, ch, cols, cw) view of the image, replaces
six per-cell calls into numpy/scipy by a handful of whole-array operations.

Three routes, chosen by dtype and cell size:
* small 8-bit cells (4-pixel cells: a million of them per image): exact integer power
  sums, from which every central moment follows with a single rounding;
* large 8-bit cells: from their grey-level counts, 256 weighted terms per cell instead
  of ch * cw pixels;
* any other dtype: two passes, the second over deviations from the cell mean, which is
  the numerically sound way; float cells are first shifted by their own top-left pixel
  so that a constant cell has deviations of exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CellMoments:
    """Pixel count, mean and population central moments of every cell.

    Attributes:
        n: pixels per cell.
        mean: cell means, shape (rows, cols).
        mu2, mu3, mu4: (1/n) * sum((x - mean)**k) for k = 2, 3, 4, shape (rows, cols).
    """

    n: int
    mean: np.ndarray
    mu2: np.ndarray
    mu3: np.ndarray
    mu4: np.ndarray


#: 8-bit cells up to this many pixels (11 x 11) get their moments from exact integer
#: power sums: every partial sum of the formulas below is at most 7 * (n * 255)**4 in
#: magnitude, which stays under 2**63.
INTEGER_MAX_PIXELS = 132


def moments_from_pixels(cells: np.ndarray) -> CellMoments:
    """Moments of each cell of a 4-D cell array (rows, ch, cols, cw) of any real dtype.

    Every cell's result depends only on its own pixels, never on how many cells are
    computed together (so a band of rows equals the same rows of the whole grid).
    """
    rows, ch, cols, cw = cells.shape
    n = ch * cw
    if cells.dtype == np.uint8 and n <= INTEGER_MAX_PIXELS:
        return _from_integer_power_sums(cells)
    # One cell per row, so every reduction runs along a contiguous row.
    values = cells.transpose(0, 2, 1, 3).reshape(rows * cols, n).astype(np.float64)
    if cells.dtype.kind in "biu" and cells.dtype.itemsize <= 4:
        # Integer sums are exact, so a constant cell's deviations vanish without a shift.
        shift = None
    else:
        shift = values[:, :1].copy()
        values -= shift
    centre = values.sum(axis=1) / n
    values -= centre[:, None]
    squares = values * values
    mu2 = squares.sum(axis=1) / n
    mu4 = (squares * squares).sum(axis=1) / n
    squares *= values
    mu3 = squares.sum(axis=1) / n
    mean = centre if shift is None else centre + shift[:, 0]
    shape = (rows, cols)
    return CellMoments(n, mean.reshape(shape), mu2.reshape(shape), mu3.reshape(shape), mu4.reshape(shape))


def _from_integer_power_sums(cells: np.ndarray) -> CellMoments:
    """Exact moments of small 8-bit cells: with S_k = sum(x**k) in int64,
    n**k * mu_k is an integer polynomial in n, S_1..S_k, so each moment is one rounding."""
    n = cells.shape[1] * cells.shape[3]
    x = cells.astype(np.int64)
    square = x * x
    s1, s2 = _cell_sums(x), _cell_sums(square)
    s3, s4 = _cell_sums(square * x), _cell_sums(square * square)
    a2 = n * s2 - s1 * s1
    a3 = n * n * s3 - 3 * n * s1 * s2 + 2 * s1**3
    a4 = n**3 * s4 - 4 * n * n * s1 * s3 + 6 * n * s1 * s1 * s2 - 3 * s1**4
    return CellMoments(n, s1 / n, a2 / n**2, a3 / n**3, a4 / n**4)


def _cell_sums(values: np.ndarray) -> np.ndarray:
    """Per-cell sums of a 4-D (rows, ch, cols, cw) array, by adding its pixel planes: a
    loop over the pixels of one cell, each step over all cells at once."""
    across = values[..., 0].copy()
    for j in range(1, values.shape[3]):
        across += values[..., j]
    total = across[:, 0].copy()
    for i in range(1, values.shape[1]):
        total += across[:, i]
    return total


def moments_from_grey_counts(counts: np.ndarray, n: int) -> CellMoments:
    """Moments of 8-bit cells from their grey-level counts, shape (rows, cols, 256)."""
    weights = counts.astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    mean = (weights * levels).sum(axis=-1) / n
    deviations = levels - mean[..., None]
    squares = deviations * deviations
    weighted = weights * squares
    mu2 = weighted.sum(axis=-1) / n
    mu4 = (weighted * squares).sum(axis=-1) / n
    weighted *= deviations
    mu3 = weighted.sum(axis=-1) / n
    return CellMoments(n, mean, mu2, mu3, mu4)
