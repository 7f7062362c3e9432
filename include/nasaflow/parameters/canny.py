"""The lab's Canny edge detector (Tom Gibara's implementation), compiled, one cell at a time.

The lab's fractal dimension runs its own `CannyEdgeDetector`, built as
`new CannyEdgeDetector(2.5f, 7.5f, 2f, 16, false)`, on every cell. It is not the textbook
detector, and every one of its quirks shapes the published values, so it is ported here
operation for operation (same arithmetic in the same order, Java's `Math.hypot`):

1. Kernels: g(x) = exp(-x**2 / (2 r**2)) with r = 2; tap k of the smoothing kernel is
   (g(k) + g(k - 0.5) + g(k + 0.5)) / 3 / (2 pi r**2) and of the derivative kernel
   g(k + 0.5) - g(k - 0.5), for k = 0, 1, ... until g(k) <= 0.005 (as a float): 7 taps,
   not the 16 the constructor asks for. The smoothing kernel sums to about 0.2.
2. Smoothing along columns and along rows, computed only for pixels at least 6 (taps - 1)
   from the cell border; elsewhere the smoothed values stay 0. That zeroed frame is what
   makes edges appear along the window border wherever the bright side touches it.
3. x gradient: derivative taps across the column-smoothed values, for the same window;
   y gradient: derivative taps down the row-smoothed values, for columns 7..w-8 only
   (one column narrower on each side than the x gradient: not symmetric).
4. Non-maximum suppression for pixels at least 7 from the border, comparing
   |g| * |gradient| with the magnitudes interpolated towards the two neighbours along the
   gradient (four cases by sign and dominant axis); a kept pixel gets
   (int)(100 * |gradient|) (100000 from |gradient| >= 1000), the others 0. Only the class
   of that number (below 250, from 250, from 750) matters to what follows, which is what
   `_suppress` reproduces exactly while computing most pixels without Java's hypot.
5. Hysteresis with thresholds 250 and 750 on that scale (2.5 and 7.5 times 100): scanning
   row by row, each pixel >= 750 not yet marked starts a chain that marks it, then steps
   into the first unmarked neighbour >= 250 (neighbours scanned column by column, top to
   bottom) and continues from there until no neighbour qualifies. One chain per strong
   pixel, not a flood fill: branches off a chain are not followed.

Cells whose pixels are all small in magnitude cannot reach the high threshold (see
`_edgeless_bound`) and are skipped. A cell is never read beyond its own pixels.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from nasaflow.parameters.javamath import HYPOT_MARGIN, java_hypot

#: The lab's detector settings: hysteresis thresholds, Gaussian radius, maximum kernel width.
LOW_THRESHOLD = 2.5
HIGH_THRESHOLD = 7.5
KERNEL_RADIUS = 2.0
MAX_KERNEL_WIDTH = 16
#: Magnitudes are compared as (int)(MAGNITUDE_SCALE * |gradient|), capped above MAGNITUDE_LIMIT.
MAGNITUDE_SCALE = 100.0
MAGNITUDE_LIMIT = 1000.0
#: The kernel stops at the first tap whose Gaussian is at most this (0.005 as a Java float).
GAUSSIAN_CUT_OFF = float(np.float32(0.005))


def _gaussian(x: float) -> float:
    return math.exp(-(x * x) / (2.0 * KERNEL_RADIUS * KERNEL_RADIUS))


def _kernels() -> tuple[np.ndarray, np.ndarray]:
    """The smoothing and derivative taps, computed as the Java constructor does."""
    smooth, derivative = [], []
    for k in range(MAX_KERNEL_WIDTH):
        g1 = _gaussian(k)
        if g1 <= GAUSSIAN_CUT_OFF and k >= 2:
            break
        g2, g3 = _gaussian(k - 0.5), _gaussian(k + 0.5)
        smooth.append((g1 + g2 + g3) / 3.0 / (2.0 * math.pi * KERNEL_RADIUS * KERNEL_RADIUS))
        derivative.append(g3 - g2)
    return np.array(smooth), np.array(derivative)


SMOOTHING_KERNEL, DERIVATIVE_KERNEL = _kernels()
LOW = int(round(LOW_THRESHOLD * MAGNITUDE_SCALE))
HIGH = int(round(HIGH_THRESHOLD * MAGNITUDE_SCALE))


def _edgeless_bound() -> float:
    """Pixel magnitude below which a cell has no edges.

    A smoothed value is a sum of kernel taps times pixels, so it lies in
    [-S*M, S*M] (S the kernel sum, M the largest |pixel|), and a gradient, a sum of
    derivative taps times differences of two smoothed values, is at most 2*D*S*M
    (D the sum of |derivative taps|); the magnitude is at most sqrt(2) times that. A strong
    pixel needs a magnitude of at least HIGH_THRESHOLD. The bound keeps a 1% margin for
    rounding.
    """
    s = SMOOTHING_KERNEL[0] + 2 * SMOOTHING_KERNEL[1:].sum()
    d = np.abs(DERIVATIVE_KERNEL[1:]).sum()
    return HIGH_THRESHOLD / (2 * math.sqrt(2) * d * s) / 1.01


#: Cells whose largest |pixel| is below this have no edges (about 13.8 grey levels).
EDGELESS_BELOW = _edgeless_bound()
#: Cells narrower or lower than this have no pixel in the suppression window: no edges.
SMALLEST_WITH_EDGES = 2 * SMOOTHING_KERNEL.shape[0] + 1


def lab_canny_edges(cells: np.ndarray) -> np.ndarray:
    """Edge maps of the lab's detector for each cell of a stack (n_cells, h, w), as booleans."""
    stack = as_kernel_input(cells)
    edges = np.zeros(stack.shape, dtype=np.bool_)
    _edges_of_cells(stack, edges)
    return edges


def as_kernel_input(cells: np.ndarray) -> np.ndarray:
    """uint8 or float64 C-contiguous cells: the two dtypes the kernels are compiled for;
    every value converts to float64 exactly as Java's double[][] holds it."""
    if cells.dtype != np.uint8:
        cells = cells.astype(np.float64, copy=False)
    return np.ascontiguousarray(cells)


@numba.njit(cache=True)
def _edges_of_cells(cells: np.ndarray, edges: np.ndarray) -> None:  # pragma: no cover - compiled
    work = scratch(cells.shape[1], cells.shape[2])
    for i in range(cells.shape[0]):
        if cell_may_have_edges(cells[i]):
            cell_edges(cells[i], work, edges[i])


@numba.njit(cache=True)
def scratch(height: int, width: int) -> tuple[np.ndarray, ...]:  # pragma: no cover - compiled
    """Work arrays for cells of one shape, reused from cell to cell: pixels (then marks),
    column- and row-smoothed values, x and y gradients, |gradient|, suppressed magnitudes.
    Only the windows the detector writes are ever written, so everything outside them
    stays 0, as in Java's freshly allocated arrays."""
    return (
        np.zeros((height, width)),
        np.zeros((height, width)),
        np.zeros((height, width)),
        np.zeros((height, width)),
        np.zeros((height, width)),
        np.zeros((height, width)),
        np.zeros((height, width)),
    )


@numba.njit(cache=True)
def cell_may_have_edges(cell: np.ndarray) -> bool:  # pragma: no cover - compiled
    """False when no edge is possible: the cell is smaller than SMALLEST_WITH_EDGES or
    every |pixel| is below EDGELESS_BELOW."""
    if min(cell.shape[0], cell.shape[1]) < SMALLEST_WITH_EDGES:
        return False
    for value in cell.ravel():  # noqa: SIM110 (numba compiles a loop, not any() of a generator)
        if abs(float(value)) >= EDGELESS_BELOW:
            return True
    return False


@numba.njit(cache=True)
def cell_edges(cell: np.ndarray, work: tuple[np.ndarray, ...], edges: np.ndarray) -> None:  # pragma: no cover
    """Write the lab detector's edge map of one (h, w) cell into `edges` (booleans),
    using `work` from `scratch(h, w)`."""
    data, x_conv, y_conv, x_gradient, y_gradient, radius, magnitude = work
    h, w = cell.shape
    for y in range(h):
        for x in range(w):
            data[y, x] = float(cell[y, x])
    _smooth(data, SMOOTHING_KERNEL, x_conv, y_conv)
    _gradients(x_conv, y_conv, DERIVATIVE_KERNEL, x_gradient, y_gradient)
    _suppress(x_gradient, y_gradient, SMOOTHING_KERNEL.shape[0], radius, magnitude)
    _hysteresis(magnitude, data)
    for y in range(h):
        for x in range(w):
            edges[y, x] = data[y, x] > 0


@numba.njit(cache=True)
def _smooth(
    data: np.ndarray, kernel: np.ndarray, x_conv: np.ndarray, y_conv: np.ndarray
) -> None:  # pragma: no cover - compiled
    # Every value is summed tap after tap in Java's order. The loops run along row slices
    # (index from 0) only so that they compile to vector instructions.
    kw = kernel.shape[0]
    h, w = data.shape
    lo, hi = kw - 1, w - (kw - 1)
    for y in range(kw - 1, h - (kw - 1)):
        along_y = y_conv[y, lo:hi]
        along_x = x_conv[y, lo:hi]
        centre = data[y, lo:hi]
        for x in range(centre.shape[0]):
            along_y[x] = centre[x] * kernel[0]
            along_x[x] = centre[x] * kernel[0]
        for i in range(1, kw):
            tap = kernel[i]
            up, down = data[y - i, lo:hi], data[y + i, lo:hi]
            for x in range(along_y.shape[0]):
                along_y[x] += tap * (up[x] + down[x])
            left, right = data[y, lo - i : hi - i], data[y, lo + i : hi + i]
            for x in range(along_x.shape[0]):
                along_x[x] += tap * (left[x] + right[x])


@numba.njit(cache=True)
def _gradients(
    x_conv: np.ndarray, y_conv: np.ndarray, diff: np.ndarray, x_gradient: np.ndarray, y_gradient: np.ndarray
) -> None:  # pragma: no cover - compiled
    kw = diff.shape[0]
    h, w = x_conv.shape
    lo, hi = kw - 1, w - (kw - 1)
    for y in range(kw - 1, h - (kw - 1)):
        gx = x_gradient[y, lo:hi]
        gy = y_gradient[y, lo + 1 : hi - 1]
        gx[:] = 0.0
        gy[:] = 0.0
        for i in range(1, kw):
            tap = diff[i]
            left, right = y_conv[y, lo - i : hi - i], y_conv[y, lo + i : hi + i]
            for x in range(gx.shape[0]):
                gx[x] += tap * (left[x] - right[x])
            up, down = x_conv[y - i, lo + 1 : hi - 1], x_conv[y + i, lo + 1 : hi - 1]
            for x in range(gy.shape[0]):
                gy[x] += tap * (up[x] - down[x])


@numba.njit(cache=True)
def _suppress(
    gx: np.ndarray, gy: np.ndarray, kw: int, radius: np.ndarray, magnitude: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Non-maximum suppression into `magnitude` (0 where suppressed).

    Hysteresis only ever asks whether a magnitude is >= LOW or >= HIGH, so what must
    equal Java is each pixel's class (below LOW, LOW, HIGH), not the stored number. The
    comparisons run on sqrt(gx**2 + gy**2) in floating point, which is within
    HYPOT_MARGIN of Java's hypot; a pixel is redone with Java's hypot (`_suppress_exact`)
    only when a comparison or a threshold is that close to a tie.
    """
    h, w = gx.shape
    for y in range(kw - 1, h - (kw - 1)):
        rgx, rgy, out = gx[y], gy[y], radius[y]
        for x in range(kw - 1, w - (kw - 1)):
            out[x] = math.sqrt(rgx[x] * rgx[x] + rgy[x] * rgy[x])
    floor = LOW_THRESHOLD * (1.0 - HYPOT_MARGIN)
    for y in range(kw, h - kw):
        for x in range(kw, w - kw):
            mag = radius[y, x]
            if mag < floor:
                magnitude[y, x] = 0.0
                continue
            keep, sure = _keeps(
                gx[y, x], gy[y, x], mag, radius[y - 1, x], radius[y + 1, x], radius[y, x - 1],
                radius[y, x + 1], radius[y - 1, x + 1], radius[y + 1, x + 1], radius[y + 1, x - 1],
                radius[y - 1, x - 1],
            )
            if sure and not _near_a_threshold(mag):
                magnitude[y, x] = _scaled(mag) if keep else 0.0
            else:
                magnitude[y, x] = _suppress_exact(gx, gy, y, x)


@numba.njit(cache=True)
def _suppress_exact(gx: np.ndarray, gy: np.ndarray, y: int, x: int) -> float:  # pragma: no cover
    """Java's suppression result at (y, x), with Java's hypot everywhere."""
    keep, _ = _keeps(
        gx[y, x], gy[y, x], java_hypot(gx[y, x], gy[y, x]),
        java_hypot(gx[y - 1, x], gy[y - 1, x]), java_hypot(gx[y + 1, x], gy[y + 1, x]),
        java_hypot(gx[y, x - 1], gy[y, x - 1]), java_hypot(gx[y, x + 1], gy[y, x + 1]),
        java_hypot(gx[y - 1, x + 1], gy[y - 1, x + 1]), java_hypot(gx[y + 1, x + 1], gy[y + 1, x + 1]),
        java_hypot(gx[y + 1, x - 1], gy[y + 1, x - 1]), java_hypot(gx[y - 1, x - 1], gy[y - 1, x - 1]),
    )
    return _scaled(java_hypot(gx[y, x], gy[y, x])) if keep else 0.0


@numba.njit(cache=True, inline="always")
def _near_a_threshold(mag: float) -> bool:  # pragma: no cover - compiled
    """mag so close to 2.5, 7.5 or 1000 that the last bit could change its class."""
    return (
        abs(mag - LOW_THRESHOLD) <= LOW_THRESHOLD * HYPOT_MARGIN
        or abs(mag - HIGH_THRESHOLD) <= HIGH_THRESHOLD * HYPOT_MARGIN
        or abs(mag - MAGNITUDE_LIMIT) <= MAGNITUDE_LIMIT * HYPOT_MARGIN
    )


@numba.njit(cache=True, inline="always")
def _scaled(mag: float) -> float:  # pragma: no cover - compiled
    """Java's stored magnitude: (int)(100 * mag), or 100000 from mag >= 1000."""
    if mag >= MAGNITUDE_LIMIT:
        return MAGNITUDE_SCALE * MAGNITUDE_LIMIT
    return float(int(MAGNITUDE_SCALE * mag))


@numba.njit(cache=True, inline="always")
def _keeps(
    xg: float, yg: float, mag: float, n: float, s: float, west: float, east: float,
    ne: float, se: float, sw: float, nw: float,
) -> tuple[bool, bool]:  # pragma: no cover - compiled
    """Java's non-maximum test (four cases by sign and dominant axis) and whether it is
    sure: both of its comparisons are further from a tie than the magnitudes' margin."""
    if xg * yg <= 0.0:
        if abs(xg) >= abs(yg):
            a, b1, c1, b2, c2 = xg * mag, yg * ne, (xg + yg) * east, yg * sw, (xg + yg) * west
        else:
            a, b1, c1, b2, c2 = yg * mag, xg * ne, (yg + xg) * n, xg * sw, (yg + xg) * s
        first, second = abs(b1 - c1), abs(b2 - c2)
    else:
        if abs(xg) >= abs(yg):
            a, b1, c1, b2, c2 = xg * mag, yg * se, (xg - yg) * east, yg * nw, (xg - yg) * west
        else:
            a, b1, c1, b2, c2 = yg * mag, xg * se, (yg - xg) * s, xg * nw, (yg - xg) * n
        first, second = abs(b1 + c1), abs(b2 + c2)
    tmp = abs(a)
    keep = tmp >= first and tmp > second
    slack = 8 * HYPOT_MARGIN
    sure = abs(tmp - first) > slack * (tmp + abs(b1) + abs(c1)) and abs(tmp - second) > slack * (
        tmp + abs(b2) + abs(c2)
    )
    return keep, sure


@numba.njit(cache=True)
def _hysteresis(magnitude: np.ndarray, marks: np.ndarray) -> None:  # pragma: no cover - compiled
    h, w = magnitude.shape
    marks[:, :] = 0.0
    for y in range(h):
        for x in range(w):
            if marks[y, x] != 0.0 or magnitude[y, x] < HIGH:
                continue
            cy, cx = y, x
            while True:
                marks[cy, cx] = magnitude[cy, cx]
                found = False
                for nx in range(max(cx - 1, 0), min(cx + 1, w - 1) + 1):
                    for ny in range(max(cy - 1, 0), min(cy + 1, h - 1) + 1):
                        if (ny != cy or nx != cx) and marks[ny, nx] == 0.0 and magnitude[ny, nx] >= LOW:
                            cy, cx = ny, nx
                            found = True
                            break
                    if found:
                        break
                if not found:
                    break
