"""Tamura contrast and directionality (Tamura, Mori & Yamawaki 1978), for all cells at once.

Contrast is a function of the cell moments. Directionality follows the lab's Java
implementation, which defines the published data, with every step expressed as an
operation over all cells of a band instead of a loop over cells:

1. Sobel gradients over the stack of cells (n_cells, ch, cw); only interior pixels keep
   theirs, so a cell never reads its neighbour's pixels, and each cell's own border
   pixels have gx = gy = 0. 8-bit images use exact integer sums.
2. r = sqrt(gx**2 + gy**2), t = atan2(gy, gx); r below 0.15 * (the cell's largest r) is
   0, and wherever r < 1e-4 the angle is 0.
3. Angle histogram of Q bins over [0, pi] per cell, kept sparse (only non-empty bins);
   negative angles are dropped; bin 0 (flat pixels) is divided by 100 (integer division).
4. Peaks: strict local maxima, the ends compared with their own value minus 0.1, kept if
   at least the histogram's 25th percentile (numpy's linear interpolation).
5. Segments: with peaks p_0 < ... < p_{k-1}, peak i owns the bins j with
   m_i <= j < m_{i+1}, where m_0 = 0, m_i = floor((p_{i-1} + p_i) / 2), m_k = Q (as the
   Java code does, the split bin goes to the right-hand peak).
6. F_dir = k * sum_j (e_j - e_peak(j))**2 * h_j / sum_j h_j, e_j the lower edge of bin j;
   0 without peaks. Larger means less directional.
"""

from __future__ import annotations

import numpy as np

from nasaflow.parameters.conventions import PUBLISHED, kurtosis, variance
from nasaflow.parameters.histogram import HistogramSettings
from nasaflow.parameters.moments import CellMoments

#: Number of angle bins over [0, pi].
QUANTIZATION = 125
#: Magnitudes below this fraction of the cell's largest magnitude count as flat.
RADIUS_THRESHOLD = 0.15
#: Below this magnitude the angle is meaningless and set to 0.
INSIGNIFICANT_RADIUS = 1e-4
#: Bin 0 (flat pixels) is divided by this so that it does not swamp the other bins.
FLAT_BIN_DIVISOR = 100
#: Peaks below this percentile of the histogram values are ignored.
PEAK_PERCENTILE = 25.0
#: The histogram ends are compared with their own value minus this.
END_PAD = 0.1


def tamura_contrast(m: CellMoments, convention: str) -> np.ndarray:
    """mu2 / mu4**0.25 (toolkit; 0 when mu4 = 0) or s**2 / G2**0.25 (published; 0 when G2 <= 0)."""
    if convention == PUBLISHED:
        g2 = kurtosis(m, PUBLISHED)
        positive = g2 > 0
        return np.where(positive, variance(m, PUBLISHED) / np.where(positive, g2, 1.0) ** 0.25, 0.0)
    positive = m.mu4 > 0
    return np.where(positive, m.mu2 / np.where(positive, m.mu4, 1.0) ** 0.25, 0.0)


def sobel_gradients(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel gx, gy (correlation) of every pixel of a cell stack, 0 on each cell's border.

    Args:
        cells: cell stack (n_cells, ch, cw) with ch, cw >= 3, integer or float64.

    Returns:
        gx, gy of the stack's shape and dtype. The sums run over the flattened stack
        (long contiguous loops); border pixels, where they reach into the next cell,
        are then zeroed.
    """
    shape = cells.shape
    width = shape[2]
    flat = cells.ravel()
    vertical = np.zeros_like(flat)
    vertical[width:-width] = flat[: -2 * width] + 2 * flat[width:-width] + flat[2 * width :]
    horizontal = np.zeros_like(flat)
    horizontal[1:-1] = flat[:-2] + 2 * flat[1:-1] + flat[2:]
    gx = np.zeros_like(flat)
    gx[1:-1] = vertical[2:] - vertical[:-2]
    gy = np.zeros_like(flat)
    gy[width:-width] = horizontal[2 * width :] - horizontal[: -2 * width]
    gx, gy = gx.reshape(shape), gy.reshape(shape)
    for gradient in (gx, gy):
        gradient[:, 0] = gradient[:, -1] = 0
        gradient[:, :, 0] = gradient[:, :, -1] = 0
    return gx, gy


def tamura_directionality(cells: np.ndarray, quantization: int = QUANTIZATION) -> np.ndarray:
    """Tamura directionality of each cell of a cell stack (n_cells, ch, cw), shape (n_cells,).

    The angle histograms are kept sparse, as (cell, bin, count) triplets sorted by cell
    and bin: a 4-pixel cell has at most 5 non-empty bins out of 125. Constant cells
    (all gradients 0, a single peak at bin 0) are 0 and skipped.
    """
    n_cells = cells.shape[0]
    flat = cells.reshape(n_cells, -1)
    varied = np.flatnonzero(flat.max(axis=1) != flat.min(axis=1))
    result = np.zeros(n_cells)
    if varied.size:
        result[varied] = _directionality(cells[varied], quantization)
    return result


def _directionality(cells: np.ndarray, quantization: int) -> np.ndarray:
    """Steps 3-6 on the sparse histograms of non-constant cells."""
    n_cells = cells.shape[0]
    cell, bin_, count = _angle_histograms(cells, quantization)
    h = count.astype(np.float64)
    if h.size == 0:
        return np.zeros(n_cells)
    same_cell_before = np.r_[False, cell[1:] == cell[:-1]]
    adjacent_before = same_cell_before & np.r_[False, bin_[1:] == bin_[:-1] + 1]
    adjacent_after = np.r_[adjacent_before[1:], False]
    # Neighbour values: an absent neighbour bin is empty; the ends face their own value
    # minus END_PAD.
    left = np.where(adjacent_before, np.r_[0.0, h[:-1]], np.where(bin_ == 0, h - END_PAD, 0.0))
    right = np.where(
        adjacent_after, np.r_[h[1:], 0.0], np.where(bin_ == quantization - 1, h - END_PAD, 0.0)
    )
    floor = _percentile_of_sparse(cell, h, n_cells, quantization, PEAK_PERCENTILE)
    peak = (h > left) & (h > right) & (h >= floor[cell])

    peak_cell, peak_bin = cell[peak], bin_[peak]
    first_of_cell = np.r_[True, peak_cell[1:] != peak_cell[:-1]]
    previous_bin = np.r_[0, peak_bin[:-1]]
    segment_start = np.where(first_of_cell, 0, (previous_bin + peak_bin) // 2)
    # The owner of a bin is the peak of its cell with the last segment start <= bin.
    stride = quantization + 1
    owner = np.searchsorted(peak_cell * stride + segment_start, cell * stride + bin_, side="right") - 1
    owned = (owner >= 0) & (peak_cell[np.maximum(owner, 0)] == cell)
    edges = HistogramSettings(quantization, 0.0, np.pi).edges()
    spread = edges[bin_] - edges[peak_bin[np.maximum(owner, 0)]]
    weighted = np.bincount(cell[owned], weights=(spread * spread * h)[owned], minlength=n_cells)
    total = np.bincount(cell, weights=h, minlength=n_cells)
    n_peaks = np.bincount(peak_cell, minlength=n_cells)
    result = np.zeros(n_cells)
    np.divide(n_peaks * weighted, total, out=result, where=n_peaks > 0)
    return result


def _angle_histograms(
    cells: np.ndarray, quantization: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-empty bins of every cell's angle histogram (steps 1-3), bin 0 already divided.

    Returns:
        (cell, bin, count) int arrays, sorted by cell then bin, counts > 0.
    """
    n_cells, ch, cw = cells.shape
    if ch > 2 and cw > 2:
        gx, gy = sobel_gradients(_exact_gradient_dtype(cells))
        # r = sqrt(gx**2 + gy**2): for integer images the squares are summed exactly
        # and r is the correctly rounded magnitude.
        squares = gx * gx
        squares += gy * gy
        largest = np.sqrt(squares.reshape(n_cells, -1).max(axis=1).astype(np.float64))
        radius = np.sqrt(squares.astype(np.float64, copy=False))
        kept = radius >= (RADIUS_THRESHOLD * largest)[:, None, None]
        kept &= radius >= INSIGNIFICANT_RADIUS
        kept_per_cell = np.count_nonzero(kept.reshape(n_cells, -1), axis=1)
        # Negative angles are dropped: only gy >= 0 can give an angle in [0, pi].
        kept &= gy >= 0
        at = np.flatnonzero(kept)
        angles = np.arctan2(gy.ravel()[at], gx.ravel()[at], dtype=np.float64)
        angle_bin = HistogramSettings(quantization, 0.0, np.pi).bin_index(angles)
        counted = angle_bin >= 0
        kept_cell, angle_bin = at[counted] // (ch * cw), angle_bin[counted]
    else:
        kept_per_cell = np.zeros(n_cells, dtype=np.intp)
        kept_cell = angle_bin = np.zeros(0, dtype=np.intp)
    # Every pixel not kept (flat, below threshold, on the cell border) has angle 0.
    flat = ch * cw - kept_per_cell + np.bincount(kept_cell[angle_bin == 0], minlength=n_cells)
    flat //= FLAT_BIN_DIVISOR

    tilted = angle_bin > 0
    keys = kept_cell[tilted] * quantization + angle_bin[tilted]
    if n_cells * quantization <= 2 * cells.size:
        per_key = np.bincount(keys, minlength=n_cells * quantization)
        keys = np.flatnonzero(per_key)
        counts = per_key[keys]
    else:
        keys.sort()
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys
        counts = np.diff(np.r_[starts, keys.size])
        keys = keys[starts]
    cell, bin_ = np.divmod(keys, quantization)
    # Bin 0 comes first in its cell.
    with_flat = np.flatnonzero(flat)
    at = np.searchsorted(cell, with_flat, side="left")
    return (
        np.insert(cell, at, with_flat),
        np.insert(bin_, at, 0),
        np.insert(counts, at, flat[with_flat]),
    )


def _exact_gradient_dtype(cells: np.ndarray) -> np.ndarray:
    """The cells in a dtype whose Sobel sums and squared magnitudes are exact: int32 for
    8-bit images (cheaper than float64), float64 otherwise."""
    if cells.dtype.kind in "ui" and cells.dtype.itemsize == 1:
        return cells.astype(np.int32)
    return cells.astype(np.float64)


def _percentile_of_sparse(
    cell: np.ndarray, h: np.ndarray, n_cells: int, quantization: int, q: float
) -> np.ndarray:
    """np.percentile(histogram, q) (linear method) of each cell's full histogram of
    `quantization` bins, given only its non-empty bins (the others are 0)."""
    position = q / 100 * (quantization - 1)
    below = int(np.floor(position))
    fraction = position - below
    above = min(below + 1, quantization - 1)
    empty = quantization - np.bincount(cell, minlength=n_cells)
    lower = np.zeros(n_cells)
    upper = np.zeros(n_cells)
    # Only cells with fewer empty bins than the rank need their sorted non-empty values.
    busy = np.flatnonzero(empty <= above)
    if busy.size:
        mine = np.isin(cell, busy)
        order = np.lexsort((h[mine], cell[mine]))
        values, owners = h[mine][order], cell[mine][order]
        first = np.searchsorted(owners, busy)
        for rank, out in ((below, lower), (above, upper)):
            offset = rank - empty[busy]
            has = offset >= 0
            out[busy[has]] = values[first[has] + offset[has]]
    # numpy's linear interpolation, including its formula for the upper half.
    diff = upper - lower
    if fraction < 0.5:
        return lower + diff * fraction
    return upper - diff * (1 - fraction)
