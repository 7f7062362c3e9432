"""Fractal dimension: box counting on the lab's Canny edge map of each cell, compiled.

As the lab's `FractalDimParamCalculator` computes it, per cell:

1. Edge map: the lab's Canny detector (`nasaflow.parameters.canny`), on the cell alone.
2. Box sizes: start at 2 * round(sqrt(p)) (64 when the whole image is one cell) and halve
   (integer division) while >= 2: [16, 8, 4, 2] for 64-pixel cells. Sizes larger than
   the cell are skipped (the Java code refuses them).
3. count(s): s x s boxes tiled from the cell's top-left corner, the last row and column
   of boxes shrunk to the remainder, that hold an edge pixel (counted from the list of
   edge pixels: box (y // s, x // s) of each).
4. FD = |slope| of the least-squares line of ln(count) against ln(s), computed with
   the updating formulas of commons-math's SimpleRegression (same rounding), 0 when the
   slope is not finite (no edges, a single box size).

The cells of a band run through one compiled loop; cells whose pixels are too small in
magnitude for any edge skip the detector.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from nasaflow.parameters.canny import as_kernel_input, cell_edges, cell_may_have_edges, scratch

#: First box size when the whole image is one cell.
WHOLE_IMAGE_MAX_BOX = 64
#: SimpleRegression's "no variation in x" limit: 10 * Double.MIN_VALUE.
_MIN_SUM_XX = 10 * 5e-324


def fractal_dimension(cells: np.ndarray, whole_image: bool = False) -> np.ndarray:
    """Box-counting dimension of the lab's Canny edge map of each cell of a stack.

    Args:
        cells: cell stack (n_cells, ch, cw), any real dtype.
        whole_image: the single cell is the whole image (box sizes start at 64).

    Returns:
        float64 array (n_cells,).
    """
    stack = as_kernel_input(cells)
    sizes = np.array(box_sizes(min(stack.shape[1], stack.shape[2]), whole_image), dtype=np.int64)
    result = np.zeros(stack.shape[0])
    _fractal_of_cells(stack, sizes, result)
    return result


def box_sizes(cell_side: int, whole_image: bool = False) -> list[int]:
    """Box sizes for cells of `cell_side` pixels: [16, 8, 4, 2] for 64-pixel cells."""
    size = WHOLE_IMAGE_MAX_BOX if whole_image else 2 * round(cell_side**0.5)
    sizes = []
    while size >= 2:
        if size <= cell_side:
            sizes.append(size)
        size //= 2
    return sizes


def box_counts(edges: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Occupied boxes of each size in each edge map of a boolean stack (n_cells, h, w),
    as an int64 array (n_cells, len(sizes))."""
    counts = np.zeros((edges.shape[0], len(sizes)), dtype=np.int64)
    size_array = np.array(sizes, dtype=np.int64)
    for i in range(edges.shape[0]):
        _count_boxes(np.ascontiguousarray(edges[i]), size_array, counts[i])
    return counts


def dimension_from_counts(counts: np.ndarray, sizes: list[int]) -> np.ndarray:
    """|regression slope| of ln(count) on ln(size) for each row of `counts`; 0 if not finite."""
    size_array = np.array(sizes, dtype=np.int64)
    return np.array([_dimension(size_array, row) for row in np.asarray(counts, dtype=np.int64)])


@numba.njit(cache=True)
def _fractal_of_cells(cells: np.ndarray, sizes: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    if sizes.shape[0] < 2:
        return
    work = scratch(cells.shape[1], cells.shape[2])
    edges = np.zeros((cells.shape[1], cells.shape[2]), dtype=np.bool_)
    counts = np.zeros(sizes.shape[0], dtype=np.int64)
    for i in range(cells.shape[0]):
        if cell_may_have_edges(cells[i]):
            cell_edges(cells[i], work, edges)
            _count_boxes(edges, sizes, counts)
            out[i] = _dimension(sizes, counts)


@numba.njit(cache=True)
def _count_boxes(edges: np.ndarray, sizes: np.ndarray, counts: np.ndarray) -> None:  # pragma: no cover
    """Occupied boxes per size, from the list of edge pixels (edges are sparse)."""
    h, w = edges.shape
    rows = np.empty(h * w, dtype=np.int64)
    cols = np.empty(h * w, dtype=np.int64)
    n = 0
    for y in range(h):
        for x in range(w):
            if edges[y, x]:
                rows[n] = y
                cols[n] = x
                n += 1
    for k in range(sizes.shape[0]):
        size = sizes[k]
        across = (w + size - 1) // size
        occupied = np.zeros(((h + size - 1) // size) * across, dtype=np.bool_)
        count = 0
        for e in range(n):
            box = (rows[e] // size) * across + cols[e] // size
            if not occupied[box]:
                occupied[box] = True
                count += 1
        counts[k] = count


@numba.njit(cache=True)
def _dimension(sizes: np.ndarray, counts: np.ndarray) -> float:  # pragma: no cover - compiled
    """SimpleRegression (with intercept) of ln(count) on ln(size): |slope|, 0 if not finite."""
    n = 0
    x_bar = y_bar = sum_xx = sum_xy = 0.0
    for k in range(sizes.shape[0]):
        x = math.log(sizes[k])
        y = math.log(counts[k]) if counts[k] > 0 else -np.inf
        if n == 0:
            x_bar = x
            y_bar = y
        else:
            fact1 = 1.0 + n
            fact2 = n / (1.0 + n)
            dx = x - x_bar
            dy = y - y_bar
            sum_xx += dx * dx * fact2
            sum_xy += dx * dy * fact2
            x_bar += dx / fact1
            y_bar += dy / fact1
        n += 1
    if n < 2 or abs(sum_xx) < _MIN_SUM_XX:
        return 0.0
    slope = sum_xy / sum_xx
    return abs(slope) if np.isfinite(slope) else 0.0
