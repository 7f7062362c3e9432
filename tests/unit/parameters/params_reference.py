"""Plain per-cell reference implementations of the ten parameters, for the tests.

Written as directly from docs/image-parameters.md as possible, one cell at a time with
numpy/scipy/scikit-image calls and no vectorisation, so that the vectorised package can
be checked against them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage as ndi
from scipy import stats
from skimage.feature import canny

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
SOBEL_Y = SOBEL_X.T.copy()


def cells_of(image: np.ndarray, p: int) -> list[tuple[int, int, np.ndarray]]:
    """(row, col, cell) for every full p x p cell, row-major from the top-left."""
    return [
        (r, c, image[r * p : (r + 1) * p, c * p : (c + 1) * p])
        for r in range(image.shape[0] // p)
        for c in range(image.shape[1] // p)
    ]


def statistics(
    cell: np.ndarray, n_bins: int, lo: float, hi: float, convention: str = "toolkit"
) -> dict[str, float]:
    """The eight statistics of one cell."""
    x = cell.astype(np.float64).ravel()
    n = x.size
    constant = x.max() == x.min()
    published = convention == "published"
    ddof = 1 if published else 0
    var = float(np.var(x, ddof=ddof))
    hist, _ = np.histogram(x, n_bins, range=(lo, hi))
    p = hist / n
    nonzero = p[p > 0]
    out = {
        "mean": float(np.mean(x)),
        "std": float(np.std(x, ddof=ddof)),
        "entropy": float(-(nonzero * np.log2(nonzero)).sum()),
        "uniformity": float((p * p).sum()),
        "relative_smoothness": 1.0 - 1.0 / (1.0 + var),
    }
    with warnings.catch_warnings():
        # scipy warns on nearly constant cells (e.g. one odd pixel); its values stand.
        warnings.simplefilter("ignore", RuntimeWarning)
        out["skewness"] = 0.0 if constant else float(stats.skew(x, bias=not published))
        out["kurtosis"] = 0.0 if constant else float(stats.kurtosis(x, bias=not published))
        m4 = float(stats.moment(x, 4))
    if published:
        g2 = out["kurtosis"]
        out["tamura_contrast"] = var / g2**0.25 if g2 > 0 else 0.0
    else:
        out["tamura_contrast"] = 0.0 if m4 == 0 else var / m4**0.25
    return out


def directionality(cell: np.ndarray, q: int = 125) -> float:
    """Tamura directionality of one cell, step by step as the doc describes it."""
    x = cell.astype(np.float64)
    gx = ndi.correlate(x, SOBEL_X)
    gy = ndi.correlate(x, SOBEL_Y)
    for g in (gx, gy):
        g[0, :] = g[-1, :] = 0
        g[:, 0] = g[:, -1] = 0
    r = np.sqrt(gx**2 + gy**2)
    r[r < 0.15 * r.max()] = 0
    t = np.arctan2(gy, gx)
    t[r < 1e-4] = 0
    hist, edges = np.histogram(t.ravel(), q, range=(0, np.pi))
    h = hist.astype(np.float64)
    h[0] = hist[0] // 100
    padded = np.concatenate([[h[0] - 0.1], h, [h[-1] - 0.1]])
    floor = np.percentile(h, 25)
    peaks = [
        j for j in range(q) if padded[j + 1] > padded[j] and padded[j + 1] > padded[j + 2] and h[j] >= floor
    ]
    if not peaks:
        return 0.0
    bounds = [0] + [(a + b) // 2 for a, b in zip(peaks, peaks[1:], strict=False)] + [q]
    total = 0.0
    for i, peak in enumerate(peaks):
        for j in range(bounds[i], bounds[i + 1]):
            total += (edges[j] - edges[peak]) ** 2 * h[j]
    return len(peaks) * total / h.sum()


def box_sizes(p: int, whole_image: bool = False) -> list[int]:
    size = 64 if whole_image else 2 * round(math.sqrt(p))
    sizes = []
    while size >= 2:
        if size <= p:
            sizes.append(size)
        size //= 2
    return sizes


def box_count(edges: np.ndarray, size: int) -> int:
    """Boxes of side `size` tiled from the top-left (last ones shrunk) holding an edge."""
    count = 0
    for top in range(0, edges.shape[0], size):
        for left in range(0, edges.shape[1], size):
            if edges[top : top + size, left : left + size].any():
                count += 1
    return count


def dimension(edges: np.ndarray, sizes: list[int]) -> float:
    counts = [box_count(edges, s) for s in sizes]
    if len(sizes) < 2 or min(counts) == 0:
        return 0.0
    slope = np.polyfit(np.log(sizes), np.log(counts), 1)[0]
    return abs(float(slope)) if math.isfinite(slope) else 0.0


def edges(cell: np.ndarray) -> np.ndarray:
    return canny(cell.astype(np.float64), sigma=2, low_threshold=2.5, high_threshold=7.5)


def fractal_dimension(cell: np.ndarray, whole_image: bool = False) -> float:
    return dimension(edges(cell), box_sizes(min(cell.shape), whole_image))


def all_parameters(
    image: np.ndarray, p: int, n_bins: int, lo: float, hi: float, convention: str = "toolkit"
) -> dict[str, np.ndarray]:
    """Every parameter of every full cell, as (rows, cols) arrays."""
    rows, cols = image.shape[0] // p, image.shape[1] // p
    whole_image = image.shape == (p, p)
    out: dict[str, np.ndarray] = {}
    for r, c, cell in cells_of(image, p):
        values = statistics(cell, n_bins, lo, hi, convention)
        values["tamura_directionality"] = directionality(cell)
        values["fractal_dimension"] = fractal_dimension(cell, whole_image)
        for name, value in values.items():
            out.setdefault(name, np.zeros((rows, cols)))[r, c] = value
    return out
