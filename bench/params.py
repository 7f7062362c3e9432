"""Benchmark: the ten image parameters, per-cell loop against the vectorised package.

On a real 4096 x 4096 SDO image, for 64- and 4-pixel cells, times each parameter
computed the upstream way (a Python loop over cells calling numpy/scipy/scikit-image on
each cell) and with `nasaflow.parameters.compute_parameters`, prints the speed-ups, and
puts the JPEG 2000 decode time beside them. At 4-pixel cells (a million cells) the loop
runs over an evenly spread sample of cells and is extrapolated, as the output says.

Times are CPU seconds of this process, the best of a few runs: on a shared machine CPU
time is far steadier than wall time. Run it on one thread:

    OMP_NUM_THREADS=1 .venv/bin/python bench/params.py [IMAGE]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from scipy import stats
from skimage.feature import canny

from nasaflow.images.decode import load_image
from nasaflow.parameters import PARAMETER_NAMES, compute_parameters

DEFAULT_IMAGE = (
    Path(__file__).resolve().parents[1] / "include/samples/2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"
)
#: Cells timed with the per-cell loop at 4-pixel cells (out of 1024 * 1024).
SAMPLED_CELLS = 20_000
STATISTICS = [name for name in PARAMETER_NAMES if name not in ("fractal_dimension", "tamura_directionality")]
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)


# --- the per-cell loop: one numpy/scipy call chain per cell, as upstream does --------

def histogram_of(cell: np.ndarray) -> np.ndarray:
    return np.histogram(cell, 256, range=(0, 255))[0] / cell.size


def entropy(cell: np.ndarray) -> float:
    p = histogram_of(cell)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def uniformity(cell: np.ndarray) -> float:
    p = histogram_of(cell)
    return float((p * p).sum())


def tamura_contrast(cell: np.ndarray) -> float:
    m4 = stats.moment(cell, 4, axis=None)
    return 0.0 if m4 == 0 else float(np.var(cell) / m4**0.25)


def directionality(cell: np.ndarray) -> float:
    x = cell.astype(np.float64)
    gx, gy = ndi.correlate(x, SOBEL_X), ndi.correlate(x, SOBEL_X.T)
    for g in (gx, gy):
        g[[0, -1], :] = 0
        g[:, [0, -1]] = 0
    r = np.sqrt(gx * gx + gy * gy)
    r[r < 0.15 * r.max()] = 0
    t = np.where(r < 1e-4, 0.0, np.arctan2(gy, gx))
    hist, edges = np.histogram(t, 125, range=(0, np.pi))
    h = hist.astype(np.float64)
    h[0] = hist[0] // 100
    padded = np.r_[h[0] - 0.1, h, h[-1] - 0.1]
    peaks = np.flatnonzero((h > padded[:-2]) & (h > padded[2:]) & (h >= np.percentile(h, 25)))
    if peaks.size == 0:
        return 0.0
    bounds = np.r_[0, (peaks[:-1] + peaks[1:]) // 2, 125]
    total = sum(
        float(((edges[bounds[i] : bounds[i + 1]] - edges[peak]) ** 2 * h[bounds[i] : bounds[i + 1]]).sum())
        for i, peak in enumerate(peaks)
    )
    return peaks.size * total / h.sum()


def fractal_dimension(cell: np.ndarray) -> float:
    edges = canny(cell.astype(np.float64), sigma=2, low_threshold=2.5, high_threshold=7.5)
    p = cell.shape[0]
    sizes = [s for s in (16, 8, 4, 2) if s <= p] if p == 64 else [4, 2]
    counts = [edges.reshape(p // s, s, p // s, s).any(axis=(1, 3)).sum() for s in sizes]
    if min(counts) == 0:
        return 0.0
    return abs(float(np.polyfit(np.log(sizes), np.log(counts), 1)[0]))


PER_CELL: dict[str, Callable[[np.ndarray], float]] = {
    "entropy": entropy,
    "mean": lambda cell: float(np.mean(cell)),
    "std": lambda cell: float(np.std(cell)),
    "fractal_dimension": fractal_dimension,
    "skewness": lambda cell: float(stats.skew(cell, axis=None)),
    "kurtosis": lambda cell: float(stats.kurtosis(cell, axis=None)),
    "uniformity": uniformity,
    "relative_smoothness": lambda cell: 1.0 - 1.0 / (1.0 + float(np.var(cell))),
    "tamura_contrast": tamura_contrast,
    "tamura_directionality": directionality,
}


def per_cell_loop(image: np.ndarray, p: int, name: str, cells: list[tuple[int, int]]) -> float:
    """CPU seconds to compute `name` over `cells` with one call per cell."""
    function = PER_CELL[name]
    with warnings.catch_warnings():
        # scipy warns about nearly constant cells; the timing is what matters here.
        warnings.simplefilter("ignore", RuntimeWarning)
        start = time.process_time()
        for r, c in cells:
            function(image[r * p : (r + 1) * p, c * p : (c + 1) * p])
        return time.process_time() - start


def best_of(repeats: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default=str(DEFAULT_IMAGE))
    args = parser.parse_args()

    load_image(args.image)  # warm up the decoder
    decode = best_of(3, lambda: load_image(args.image))
    image = load_image(args.image)
    print(f"image: {Path(args.image).name} ({image.shape[0]}x{image.shape[1]} {image.dtype})")
    print(f"JPEG 2000 decode (Pillow, load_image): {decode:.3f} s")
    print("CPU seconds, one thread, best of 2 (vectorised) / 1 (per-cell loop)\n")
    header = f"{'cells':>6}  {'parameter':<22}{'per-cell loop':>14}{'vectorised':>12}{'speed-up':>10}"
    for p in (64, 4):
        rows, cols = image.shape[0] // p, image.shape[1] // p
        every = [(r, c) for r in range(rows) for c in range(cols)]
        sampled = every
        if len(every) > SAMPLED_CELLS:
            picks = np.linspace(0, len(every) - 1, SAMPLED_CELLS).astype(int)
            sampled = [every[i] for i in picks]
        scale = len(every) / len(sampled)
        note = "" if scale == 1 else f" (loop timed on {len(sampled)} of {len(every)} cells, extrapolated)"
        print(f"{p}-pixel cells: {rows}x{cols} grid{note}")
        print(header)
        loops: dict[str, float] = {}
        for name in PARAMETER_NAMES:
            loops[name] = per_cell_loop(image, p, name, sampled) * scale
            fast = best_of(2, partial(compute_parameters, image, p, [name]))
            print(f"{p:>6}  {name:<22}{loops[name]:>12.2f} s{fast:>10.3f} s{loops[name] / fast:>9.0f}x")
        for label, names in (("eight statistics", STATISTICS), ("all ten", list(PARAMETER_NAMES))):
            loop = sum(loops[name] for name in names)
            fast = best_of(2, partial(compute_parameters, image, p, names))
            extra = f"   ({fast / decode:.2f}x decode)" if label == "all ten" else ""
            print(f"{p:>6}  {label:<22}{loop:>12.2f} s{fast:>10.3f} s{loop / fast:>9.0f}x{extra}")
        print()


if __name__ == "__main__":
    main()
