"""Tamura contrast and directionality (Tamura, Mori & Yamawaki 1978).

Contrast is a function of the cell moments. Directionality is the lab's Java
`TDirectionalityParamCalculator` (with its `GradientCalculator("sobel")` and
`PeakDetection(1, 25, 0, true)`, 125 angle bins), which defines the published data,
ported operation for operation and compiled, one cell after the other:

1. Sobel gradients (correlation) of the cell's interior pixels, summed in Java's order;
   the cell's border pixels get gx = gy = 0, so a cell never reads its neighbours.
2. r = Java's Math.hypot(gx, gy). The angle is the lab's: pi where gy == 0 and gx > 0
   (plain atan2 would give 0), atan2(gy, gx) elsewhere. r below 0.15 * (the cell's
   largest r) becomes 0, and wherever r < 1e-4 the angle is 0.
3. Histogram with smile's breaks over [0, pi] (each break the previous plus pi / Q) and
   its binning: a value equal to a break falls in the bin it starts, pi in the last
   bin, values outside [0, pi] (negative angles) are dropped. Bin 0 (flat pixels) is
   divided by 100, rounded down.
4. Peaks: strict local maxima, each end compared with its own value minus 0.1, kept
   unless below Guava's 25th percentile of the histogram (which, for 125 bins, is the
   32nd smallest value); a peak equal to it is kept.
5. Segments: with peaks p_0 < ... < p_{k-1}, peak i owns the bins j with
   m_i <= j < m_{i+1}, where m_0 = 0, m_i = floor((p_{i-1} + p_i) / 2), m_k = Q.
6. F_dir = k * sum_i sum_{j of peak i} (e_j - e_{p_i})**2 * h_j / sum_j h_j, e_j the
   lower break of bin j, summed in Java's order; 0 without peaks. Larger means less
   directional.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np

from nasaflow.parameters.canny import as_kernel_input
from nasaflow.parameters.conventions import PUBLISHED, kurtosis, variance
from nasaflow.parameters.javamath import HYPOT_MARGIN, java_hypot
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
PEAK_PERCENTILE = 25
#: The histogram ends are compared with their own value minus this.
END_PAD = 0.1


def tamura_contrast(m: CellMoments, convention: str) -> np.ndarray:
    """mu2 / mu4**0.25 (toolkit; 0 when mu4 = 0) or s**2 / G2**0.25 (published; 0 when G2 <= 0)."""
    if convention == PUBLISHED:
        g2 = kurtosis(m, PUBLISHED)
        positive = g2 > 0  # False for NaN (constant cells) too
        return np.where(positive, variance(m, PUBLISHED) / np.where(positive, g2, 1.0) ** 0.25, 0.0)
    positive = m.mu4 > 0
    return np.where(positive, m.mu2 / np.where(positive, m.mu4, 1.0) ** 0.25, 0.0)


def tamura_directionality(cells: np.ndarray, quantization: int = QUANTIZATION) -> np.ndarray:
    """Tamura directionality of each cell of a cell stack (n_cells, ch, cw), shape (n_cells,).

    Constant cells (no gradient anywhere: a single peak at bin 0) are 0 and skipped.
    """
    # Up to 16-bit integers, gx**2 + gy**2 is exact in float64, which lets most pixels be
    # thresholded without the (slower) exact hypot; see `_angle_histogram`. 8-bit cells
    # have integer gradients within +-EIGHT_BIT_GRADIENT: their bins come from a table.
    exact_squares = cells.dtype.kind in "biu" and cells.dtype.itemsize <= 2
    eight_bit = cells.dtype.kind in "biu" and cells.dtype.itemsize == 1
    table = _eight_bit_bins(quantization) if eight_bit else np.zeros((0, 0), dtype=np.int16)
    stack = as_kernel_input(cells)
    result = np.zeros(stack.shape[0])
    _directionality_of_cells(stack, angle_breaks(quantization), exact_squares, table, result)
    return result


#: Largest |Sobel gradient| of 8-bit pixels: 4 * 255.
EIGHT_BIT_GRADIENT = 1020


@lru_cache(maxsize=4)
def _eight_bit_bins(quantization: int) -> np.ndarray:
    """Angle bin of every integer gradient (gy >= 0, any gx) 8-bit pixels can have:
    table[gy, gx + EIGHT_BIT_GRADIENT], computed once per process by `_angle_bin` itself
    (2 million atan2 calls, about 0.1 s) so that images need no atan2 at all."""
    table = np.empty((EIGHT_BIT_GRADIENT + 1, 2 * EIGHT_BIT_GRADIENT + 1), dtype=np.int16)
    _fill_bin_table(angle_breaks(quantization), table)
    table.setflags(write=False)
    return table


def angle_breaks(quantization: int) -> np.ndarray:
    """smile's `Histogram.breaks(0, pi, quantization)`: the first break 0 shifted left by
    half the width's overshoot, each next one the previous plus the width, the last pi
    shifted right by as much. Its length minus one is the number of bins (which, for
    some quantizations, rounding makes one more than asked)."""
    if quantization < 2:
        raise ValueError(f"quantization must be at least 2, got {quantization}")
    width = math.pi / quantization
    bins = math.ceil(math.pi / width)
    overshoot = (width * bins - math.pi) / 2
    breaks = np.empty(bins + 1)
    breaks[0] = 0.0 - overshoot
    breaks[bins] = math.pi + overshoot
    for i in range(1, bins):
        breaks[i] = breaks[i - 1] + width
    return breaks


def guava_percentile(values: np.ndarray, percentile: int) -> float:
    """Guava's `Quantiles.percentiles().index(percentile).compute(values)`."""
    return _guava_percentile(np.sort(np.asarray(values, dtype=np.float64)), percentile)


def find_peaks(histogram: np.ndarray, percentile: int = PEAK_PERCENTILE) -> np.ndarray:
    """Indices, ascending, of the lab's PeakDetection(1, percentile, 0, true) peaks."""
    h = np.ascontiguousarray(histogram, dtype=np.float64)
    peaks = np.zeros(h.shape[0], dtype=np.int64)
    return peaks[: _find_peaks(h, percentile, peaks)].copy()


@numba.njit(cache=True)
def _guava_percentile(ordered: np.ndarray, percentile: int) -> float:  # pragma: no cover - compiled
    """The percentile of sorted values: the value at rank percentile * (n - 1) / 100,
    interpolated as lower + (upper - lower) * remainder / 100 when that is not whole."""
    numerator = percentile * (ordered.shape[0] - 1)
    quotient = numerator // 100
    remainder = numerator - quotient * 100
    if remainder == 0:
        return ordered[quotient]
    lower = ordered[quotient]
    upper = ordered[quotient + 1]
    return lower + (upper - lower) * remainder / 100


@numba.njit(cache=True)
def _percentile_of_counts(h: np.ndarray, percentile: int) -> float:  # pragma: no cover - compiled
    """Guava's percentile of `h`, without sorting when it is sure to be 0: no negative
    value, and more zeros than the rank it reads (small cells have few non-empty bins)."""
    zeros = 0
    for value in h:
        if value < 0.0:
            return _guava_percentile(np.sort(h), percentile)
        zeros += value == 0.0
    if zeros >= percentile * (h.shape[0] - 1) // 100 + 2:
        return 0.0
    return _guava_percentile(np.sort(h), percentile)


@numba.njit(cache=True)
def _find_peaks(h: np.ndarray, percentile: int, peaks: np.ndarray) -> int:  # pragma: no cover
    """Write the peak indices of `h` into `peaks`, ascending; return how many.

    The Java detector also drops peaks within 1 bin of a higher one, which never happens:
    two strict local maxima are never adjacent.
    """
    n = h.shape[0]
    floor = _percentile_of_counts(h, percentile)
    count = 0
    for j in range(n):
        left = h[j - 1] if j > 0 else h[0] - END_PAD
        right = h[j + 1] if j < n - 1 else h[n - 1] - END_PAD
        if left < h[j] and right < h[j] and not h[j] < floor:
            peaks[count] = j
            count += 1
    return count


@numba.njit(cache=True)
def _fill_bin_table(breaks: np.ndarray, table: np.ndarray) -> None:  # pragma: no cover - compiled
    for gy in range(table.shape[0]):
        for column in range(table.shape[1]):
            table[gy, column] = _angle_bin(float(gy), float(column - EIGHT_BIT_GRADIENT), breaks)


@numba.njit(cache=True, inline="always")
def _angle_bin(yg: float, xg: float, breaks: np.ndarray) -> int:  # pragma: no cover - compiled
    """The bin of the lab's angle of a significant gradient, -1 where it is dropped.

    The angle is pi where gy == 0 (the lab's rule for gx > 0, atan2's value for gx < 0),
    atan2(gy, gx) elsewhere; negative angles are outside [0, pi]. The bin is the one
    whose breaks enclose it (a break belongs to the bin it starts, the last break to the
    last bin), found from an estimate, as smile's binary search finds it.
    """
    if yg < 0.0:
        return -1
    t = math.pi if yg == 0.0 else math.atan2(yg, xg)
    bins = breaks.shape[0] - 1
    if t < breaks[0] or t > breaks[bins]:
        return -1
    j = min(max(int((t - breaks[0]) / (breaks[1] - breaks[0])), 0), bins - 1)
    while j > 0 and t < breaks[j]:
        j -= 1
    while j < bins - 1 and t >= breaks[j + 1]:
        j += 1
    return j


@numba.njit(cache=True)
def _directionality_of_cells(
    cells: np.ndarray, breaks: np.ndarray, exact_squares: bool, table: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    h, w = cells.shape[1], cells.shape[2]
    bins = breaks.shape[0] - 1
    gx = np.zeros((h, w))
    gy = np.zeros((h, w))
    histogram = np.zeros(bins)
    peaks = np.zeros(bins, dtype=np.int64)
    for i in range(cells.shape[0]):
        _sobel(cells[i], gx, gy)
        if _angle_histogram(gx, gy, breaks, exact_squares, table, histogram):
            out[i] = _spread_around_peaks(histogram, breaks, peaks)


@numba.njit(cache=True)
def _sobel(cell: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> None:  # pragma: no cover - compiled
    """The lab's Sobel gradients of the cell's interior into gx, gy (the border stays 0).

    Java adds all nine products row by row; the zero-weight ones change nothing, so the
    six others are added in its order. Row slices (index from 0) let the loops vectorise.
    """
    h, w = cell.shape
    for r in range(1, h - 1):
        x_out, y_out = gx[r, 1 : w - 1], gy[r, 1 : w - 1]
        a, b, d = cell[r - 1, 0 : w - 2], cell[r - 1, 1 : w - 1], cell[r - 1, 2:w]
        e, f = cell[r, 0 : w - 2], cell[r, 2:w]
        g, k, m = cell[r + 1, 0 : w - 2], cell[r + 1, 1 : w - 1], cell[r + 1, 2:w]
        for c in range(x_out.shape[0]):
            x = 0.0
            x += -float(a[c])
            x += float(d[c])
            x += -2.0 * float(e[c])
            x += 2.0 * float(f[c])
            x += -float(g[c])
            x += float(m[c])
            x_out[c] = x
            y = 0.0
            y += -float(a[c])
            y += -2.0 * float(b[c])
            y += -float(d[c])
            y += float(g[c])
            y += 2.0 * float(k[c])
            y += float(m[c])
            y_out[c] = y


@numba.njit(cache=True)
def _angle_histogram(
    gx: np.ndarray,
    gy: np.ndarray,
    breaks: np.ndarray,
    exact_squares: bool,
    table: np.ndarray,
    histogram: np.ndarray,
) -> bool:  # pragma: no cover - compiled
    """Steps 2-3: the angle histogram of one cell, bin 0 already divided; False (and no
    histogram) when every gradient is 0, which makes F_dir 0.

    r = Java's hypot(gx, gy) is only ever compared with 0.15 * max(r) and 1e-4. With
    exact squares (integer gradients), sqrt(gx**2 + gy**2) is the correctly rounded r
    and Java's is within one unit in the last place of it, so only pixels within a
    whisker of the threshold, and those holding the largest square, need Java's hypot.
    A non-empty `table` gives the bin of 8-bit gradients (see `_eight_bit_bins`).
    """
    h, w = gx.shape
    largest_square = -1.0
    largest = -np.inf
    for y in range(h):
        for x in range(w):
            if exact_squares:
                square = gx[y, x] * gx[y, x] + gy[y, x] * gy[y, x]
                if square < largest_square or square == 0.0:
                    continue
                if square > largest_square:
                    largest_square = square
                    largest = -np.inf
            largest = max(largest, java_hypot(gx[y, x], gy[y, x]))
    if not largest > 0.0:
        return False
    threshold = RADIUS_THRESHOLD * largest
    histogram[:] = 0.0
    for y in range(h):
        for x in range(w):
            xg = gx[y, x]
            yg = gy[y, x]
            if exact_squares:
                fast = math.sqrt(xg * xg + yg * yg)
                if fast < threshold * (1.0 - HYPOT_MARGIN):
                    r = 0.0
                elif fast > threshold * (1.0 + HYPOT_MARGIN):
                    r = fast
                else:
                    r = java_hypot(xg, yg)
            else:
                r = java_hypot(xg, yg)
            if r < threshold:
                r = 0.0
            if abs(r) < INSIGNIFICANT_RADIUS:
                j = 0  # the angle is 0
            elif table.shape[0] > 0:
                j = table[int(yg), int(xg) + EIGHT_BIT_GRADIENT] if yg >= 0.0 else -1
            else:
                j = _angle_bin(yg, xg, breaks)
            if j >= 0:
                histogram[j] += 1.0
    histogram[0] = float(int(histogram[0] / FLAT_BIN_DIVISOR))
    return True


@numba.njit(cache=True)
def _spread_around_peaks(histogram: np.ndarray, breaks: np.ndarray,
                         peaks: np.ndarray) -> float:  # pragma: no cover
    """Steps 4-6."""
    bins = histogram.shape[0]
    n_peaks = _find_peaks(histogram, PEAK_PERCENTILE, peaks)
    if n_peaks == 0:
        return 0.0
    outer = 0.0
    for i in range(n_peaks):
        start = 0 if i == 0 else (peaks[i - 1] + peaks[i]) // 2
        stop = bins if i == n_peaks - 1 else (peaks[i] + peaks[i + 1]) // 2
        inner = 0.0
        for j in range(start, stop):
            spread = breaks[j] - breaks[peaks[i]]
            inner += spread * spread * histogram[j]
        outer += inner
    total = 0.0
    for value in histogram:
        total += value
    return n_peaks * outer / total
