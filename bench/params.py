"""Benchmark: the ten image parameters against the JPEG 2000 decode, and against a per-cell loop.

On a real 4096 x 4096 SDO image, for 64- and 4-pixel cells, times each parameter with
`nasaflow.parameters.compute_parameters` and prints the cost of all ten as a multiple of
the Pillow decode of the same file, measured in the same run (the target at 64-pixel
cells is at most 2). For the eight statistics it also times the upstream way (a Python
loop over cells calling numpy/scipy on each cell) and prints the speed-ups; fractal
dimension and directionality are the lab's Java algorithms compiled per cell, so there
is no Python loop to compare them with. At 4-pixel cells (a million cells) the loop runs
over an evenly spread sample of cells and is extrapolated, as the output says.

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
from scipy import stats

from nasaflow.images.decode import load_image
from nasaflow.parameters import PARAMETER_NAMES, compute_parameters

DEFAULT_IMAGE = (
    Path(__file__).resolve().parents[1] / "include/samples/2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"
)
#: Cells timed with the per-cell loop at 4-pixel cells (out of 1024 * 1024).
SAMPLED_CELLS = 20_000
STATISTICS = [name for name in PARAMETER_NAMES if name not in ("fractal_dimension", "tamura_directionality")]


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


PER_CELL: dict[str, Callable[[np.ndarray], float]] = {
    "entropy": entropy,
    "mean": lambda cell: float(np.mean(cell)),
    "std": lambda cell: float(np.std(cell)),
    "skewness": lambda cell: float(stats.skew(cell, axis=None)),
    "kurtosis": lambda cell: float(stats.kurtosis(cell, axis=None)),
    "uniformity": uniformity,
    "relative_smoothness": lambda cell: 1.0 - 1.0 / (1.0 + float(np.var(cell))),
    "tamura_contrast": tamura_contrast,
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

    image = load_image(args.image)  # also warms up the decoder
    compute_parameters(image[:128, :128], 64)  # loads the compiled kernels
    decode = best_of(3, lambda: load_image(args.image))
    print(f"image: {Path(args.image).name} ({image.shape[0]}x{image.shape[1]} {image.dtype})")
    print(f"JPEG 2000 decode (Pillow, load_image): {decode:.3f} s")
    print("CPU seconds, one thread, best of 3 (decode, all ten) / 2 (each parameter) / 1 (per-cell loop)\n")
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
            fast = best_of(2, partial(compute_parameters, image, p, [name]))
            if name in PER_CELL:
                loops[name] = per_cell_loop(image, p, name, sampled) * scale
                print(f"{p:>6}  {name:<22}{loops[name]:>12.2f} s{fast:>10.3f} s{loops[name] / fast:>9.0f}x")
            else:
                print(f"{p:>6}  {name:<22}{'(lab Java port)':>14}{fast:>10.3f} s")
        loop = sum(loops.values())
        fast = best_of(2, partial(compute_parameters, image, p, STATISTICS))
        print(f"{p:>6}  {'eight statistics':<22}{loop:>12.2f} s{fast:>10.3f} s{loop / fast:>9.0f}x")
        every_one = best_of(3, partial(compute_parameters, image, p))
        print(f"{p:>6}  {'all ten':<22}{'':>14}{every_one:>10.3f} s   = {every_one / decode:.2f} x decode\n")


if __name__ == "__main__":
    main()
