"""Per-cell histograms: entropy and uniformity, and the grey-level counts of 8-bit cells.

Entropy and uniformity only depend on each cell's bin counts, so they are computed from
counts gathered for all cells at once instead of one `np.histogram` call per cell:

* when the cells have many pixels per bin (the usual 64-pixel cells), one `np.bincount`
  over the keys `cell * n_bins + bin` yields every cell's histogram;
* when cells have fewer pixels than bins (4-pixel cells: 16 pixels, 256 bins), a
  histogram per cell would be mostly zeros, so each cell's bin indices are sorted and
  the runs of equal indices are counted instead.

For 8-bit images the grey-level counts of each cell (256 bins, one per grey level) also
determine the mean and all central moments exactly; `grey_level_counts` provides them.

Binning follows `np.histogram` with a fixed range: equal-width bins whose edges are
`np.linspace(lo, hi, n_bins + 1)`, half-open [e_b, e_b+1) except the last, closed; values
outside [lo, hi] are not counted but still count in the cell's pixel total N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Integer dtypes this small get their bin index from a lookup table over every value.
_LOOKUP_MAX_VALUES = 1 << 16


@dataclass(frozen=True)
class HistogramSettings:
    """Equal-width bins over a fixed value range, shared by every cell.

    Attributes:
        n_bins: number of bins (>= 1).
        lo, hi: the closed value range covered by the bins (lo < hi).
    """

    n_bins: int
    lo: float
    hi: float

    def __post_init__(self) -> None:
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, (int, np.integer)):
            raise ValueError(f"n_bins must be an integer, got {self.n_bins!r}")
        if self.n_bins < 1:
            raise ValueError(f"n_bins must be at least 1, got {self.n_bins}")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi):
            raise ValueError(f"histogram range must be finite with lo < hi, got [{self.lo}, {self.hi}]")

    def edges(self) -> np.ndarray:
        """The n_bins + 1 bin edges."""
        return np.linspace(self.lo, self.hi, self.n_bins + 1)

    def bin_index(self, values: np.ndarray) -> np.ndarray:
        """Bin of every value (intp, same shape); -1 for values outside [lo, hi].

        Integer images with at most 2**16 possible values use a lookup table computed
        once over every possible value.
        """
        values = np.asarray(values)
        if values.dtype.kind in "ui" and values.dtype.itemsize <= 2:
            info = np.iinfo(values.dtype)
            if info.max - info.min + 1 <= _LOOKUP_MAX_VALUES:
                table = self._bins_of(np.arange(info.min, info.max + 1, dtype=np.float64))
                offset = values.astype(np.intp) - info.min if info.min else values
                return table[offset]
        return self._bins_of(values.astype(np.float64, copy=False))

    def _bins_of(self, values: np.ndarray) -> np.ndarray:
        """Exact bin of float64 values by comparison with the edges."""
        # The last bin is closed: no value moves up out of it.
        edges = np.append(self.edges()[:-1], np.inf)
        guess = ((values - self.lo) * (self.n_bins / (self.hi - self.lo))).astype(np.intp)
        np.clip(guess, 0, self.n_bins - 1, out=guess)
        # The guess can be one bin off through rounding; the edges decide.
        guess -= values < edges[guess]
        guess += values >= edges[guess + 1]
        guess[(values < self.lo) | (values > self.hi)] = -1
        return guess


#: Default for 8-bit images: every grey level its own bin.
EIGHT_BIT = HistogramSettings(256, 0.0, 255.0)


def default_settings(dtype: np.dtype) -> HistogramSettings | None:
    """The histogram settings used when none are given: 8-bit only, else None."""
    return EIGHT_BIT if np.dtype(dtype) == np.uint8 else None


def grey_level_counts(cells: np.ndarray) -> np.ndarray:
    """Counts of each grey level 0..255 in each cell of an 8-bit 4-D cell array.

    Args:
        cells: uint8 array of shape (rows, ch, cols, cw), as from `grid.cell_view`.

    Returns:
        int64 array of shape (rows, cols, 256).
    """
    rows, _, cols, _ = cells.shape
    keys = np.arange(rows * cols, dtype=np.intp).reshape(rows, 1, cols, 1) * 256 + cells
    counts = np.bincount(keys.ravel(), minlength=rows * cols * 256)
    return counts.reshape(rows, cols, 256)


def entropy_uniformity_from_grey_counts(
    counts: np.ndarray, n_pixels: int, settings: HistogramSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Entropy and uniformity of 8-bit cells from their grey-level counts.

    Grey levels falling in the same bin are summed; bins that no grey level reaches are
    empty and contribute nothing.
    """
    bins = settings.bin_index(np.arange(256, dtype=np.uint8))
    levels = np.flatnonzero(bins >= 0)
    if levels.size == 0:
        zeros = np.zeros(counts.shape[:-1])
        return zeros, zeros.copy()
    used = bins[levels]
    # Bin indices grow with the grey level, so each bin is a contiguous run of levels.
    starts = np.flatnonzero(np.r_[True, used[1:] != used[:-1]])
    binned = np.add.reduceat(counts[..., levels], starts, axis=-1)
    return entropy_uniformity_from_counts(binned, n_pixels)


def entropy_uniformity_from_counts(counts: np.ndarray, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Entropy (bits) and uniformity from bin counts along the last axis.

    P_b = count_b / n_pixels; entropy = -sum P log2 P over P > 0; uniformity = sum P^2.
    """
    p = counts / n_pixels
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    # Adding 0.0 turns the -0.0 of a single-bin cell into 0.0 (it printed as "-0").
    return -(p * logs).sum(axis=-1) + 0.0, (p * p).sum(axis=-1)


def entropy_uniformity(
    cells: np.ndarray, settings: HistogramSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Entropy and uniformity of every cell of a 4-D cell array of any numeric dtype.

    Returns:
        two float64 arrays of shape (rows, cols).
    """
    rows, ch, cols, cw = cells.shape
    n_pixels = ch * cw
    bins = settings.bin_index(cells)
    if rows * cols * settings.n_bins <= 4 * bins.size:
        return _by_bincount(bins, settings.n_bins, n_pixels)
    return _by_sorted_runs(bins, n_pixels)


def _by_bincount(bins: np.ndarray, n_bins: int, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    rows, _, cols, _ = bins.shape
    keys = np.arange(rows * cols, dtype=np.intp).reshape(rows, 1, cols, 1) * n_bins + bins
    counts = np.bincount(keys[bins >= 0], minlength=rows * cols * n_bins)
    return entropy_uniformity_from_counts(counts.reshape(rows, cols, n_bins), n_pixels)


def _by_sorted_runs(bins: np.ndarray, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    rows, _, cols, _ = bins.shape
    per_cell = np.sort(bins.transpose(0, 2, 1, 3).reshape(rows * cols, n_pixels), axis=1)
    flat = per_cell.ravel()
    run_start = np.empty(flat.size, dtype=bool)
    run_start[0] = True
    np.not_equal(flat[1:], flat[:-1], out=run_start[1:])
    run_start[::n_pixels] = True
    starts = np.flatnonzero(run_start)
    lengths = np.diff(starts, append=flat.size)
    counted = flat[starts] >= 0
    cell = starts[counted] // n_pixels
    p = lengths[counted] / n_pixels
    entropy = -np.bincount(cell, weights=p * np.log2(p), minlength=rows * cols) + 0.0
    uniformity = np.bincount(cell, weights=p * p, minlength=rows * cols)
    return entropy.reshape(rows, cols), uniformity.reshape(rows, cols)
