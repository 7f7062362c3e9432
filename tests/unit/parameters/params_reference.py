"""Plain per-cell reference implementations of the ten parameters, for the tests.

The eight statistics are written as directly from docs/image-parameters.md as possible,
one cell at a time with numpy/scipy calls. Fractal dimension and directionality are plain
per-cell ports of the lab's Java (FractalDimParamCalculator with its CannyEdgeDetector,
TDirectionalityParamCalculator with GradientCalculator and PeakDetection), loops and
all, in pure Python, so that the compiled package can be checked against them.
"""

from __future__ import annotations

import bisect
import math
import struct
import warnings

import numpy as np
from scipy import stats


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
        out["skewness"] = math.nan if constant else float(stats.skew(x, bias=not published))
        out["kurtosis"] = math.nan if constant else float(stats.kurtosis(x, bias=not published))
        m4 = float(stats.moment(x, 4))
    if published:
        g2 = out["kurtosis"]
        out["tamura_contrast"] = var / g2**0.25 if g2 > 0 else 0.0
    else:
        out["tamura_contrast"] = 0.0 if m4 == 0 else var / m4**0.25
    return out


def java_hypot(x: float, y: float) -> float:
    """Java's Math.hypot (fdlibm), with the words of the doubles taken apart by struct."""

    def high(value: float) -> int:
        return struct.unpack(">q", struct.pack(">d", value))[0] >> 32

    def with_high(word: int) -> float:
        return struct.unpack(">d", struct.pack(">q", word << 32))[0]

    a, b = abs(x), abs(y)
    if math.isinf(a) or math.isinf(b):
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return a + b
    if b > a:
        a, b = b, a
    ha, hb = high(a), high(b)
    if ha - hb > 0x3C00000:
        return a + b
    k = 0
    if a > float.fromhex("0x1.00000ffffffffp500"):
        ha, hb, a, b, k = ha - 0x25800000, hb - 0x25800000, a * 2.0**-600, b * 2.0**-600, k + 600
    if b < 2.0**-500:
        if b < 2.0**-1022:
            if b == 0.0:
                return a
            a, b, k = a * 2.0**1022, b * 2.0**1022, k - 1022
        else:
            ha, hb, a, b, k = ha + 0x25800000, hb + 0x25800000, a * 2.0**600, b * 2.0**600, k - 600
    w = a - b
    if w > b:
        t1 = with_high(ha)
        t2 = a - t1
        w = math.sqrt(t1 * t1 - (b * (-b) - t2 * (a + t1)))
    else:
        a = a + a
        y1 = with_high(hb)
        y2 = b - y1
        t1 = with_high(ha + 0x00100000)
        t2 = a - t1
        w = math.sqrt(t1 * y1 - (w * (-w) - (t1 * y2 + t2 * b)))
    return math.ldexp(w, k) if k else w


def guava_percentile(values: list[float], index: int) -> float:
    """Guava's Quantiles.percentiles().index(index).compute(values)."""
    ordered = sorted(values)
    numerator = index * (len(ordered) - 1)
    quotient, remainder = divmod(numerator, 100)
    if remainder == 0:
        return ordered[quotient]
    lower, upper = ordered[quotient], ordered[quotient + 1]
    return lower + (upper - lower) * remainder / 100


def lab_peaks(data: list[float], width: int = 1, percentile: int = 25) -> list[int]:
    """The lab's PeakDetection(width, percentile, 0, true).findPeaks, sorted by index."""
    padded = [data[0] - 0.1, *data, data[-1] - 0.1]
    candidates = [m - 1 for m in range(1, len(data) + 1)
                  if padded[m - 1] < padded[m] and padded[m + 1] < padded[m]]
    by_height = sorted(candidates, key=lambda i: data[i], reverse=True)
    floor = guava_percentile(data, percentile)
    kept = [i for i in by_height if not data[i] < floor]
    removed: set[int] = set()
    for peak in list(kept):
        if peak in removed:
            continue
        for i in range(peak - width, peak + width + 1):
            if i != peak and i in kept:
                kept.remove(i)
                removed.add(i)
    return sorted(kept)


def smile_breaks(quantization: int) -> list[float]:
    width = math.pi / quantization
    k = math.ceil(math.pi / width)
    breaks = [0.0] * (k + 1)
    breaks[0] = 0 - (width * k - math.pi) / 2
    breaks[k] = math.pi + (width * k - math.pi) / 2
    for i in range(1, k):
        breaks[i] = breaks[i - 1] + width
    return breaks


def smile_bin(breaks: list[float], value: float) -> int | None:
    """smile's Histogram.histogram binning: Arrays.binarySearch, then its corrections."""
    k = len(breaks) - 1
    position = bisect.bisect_left(breaks, value)
    if position <= k and breaks[position] == value:
        return min(position, k - 1)
    if 1 <= position <= k:
        return position - 1
    return None


def directionality(cell: np.ndarray, quantization: int = 125, angle_along_x: float = math.pi) -> float:
    """The lab's TDirectionalityParamCalculator on one cell, step by step as the Java does.

    `angle_along_x` is the angle given where gx > 0 and gy == 0: the lab's pi, or 0 to
    see what plain atan2 would give.
    """
    image = cell.astype(np.float64).tolist()
    h, w = len(image), len(image[0])
    sobel_x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    sobel_y = [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    t_flat, r_flat = [], []
    for r in range(h):
        for c in range(w):
            gx = gy = gd = 0.0
            if 0 < r < h - 1 and 0 < c < w - 1:
                for kr in (-1, 0, 1):
                    for kc in (-1, 0, 1):
                        gx += image[r + kr][c + kc] * sobel_x[kr + 1][kc + 1]
                        gy += image[r + kr][c + kc] * sobel_y[kr + 1][kc + 1]
                gd = abs(image[r + 1][c] - image[r][c + 1])
            r_flat.append(java_hypot(gx, gy))
            if gx == 0 and gy == 0:
                t_flat.append(-math.pi if gd == 0 else math.pi)
            elif gx > 0 and gy == 0:
                t_flat.append(angle_along_x)
            else:
                t_flat.append(math.atan2(gy, gx))
    threshold = 0.15 * max(r_flat)
    r_flat = [0.0 if r < threshold else r for r in r_flat]
    t_flat = [0.0 if abs(r) < 1e-4 else t for r, t in zip(r_flat, t_flat, strict=True)]
    breaks = smile_breaks(quantization)
    hist = [0.0] * (len(breaks) - 1)
    for t in t_flat:
        j = smile_bin(breaks, t)
        if j is not None:
            hist[j] += 1
    hist[0] = float(int(hist[0] / 100))
    peaks = lab_peaks(hist)
    if not peaks:
        return 0.0
    middle = [0, *[(a + b) // 2 for a, b in zip(peaks, peaks[1:], strict=False)], len(breaks) - 1]
    outer = 0.0
    for i, peak in enumerate(peaks):
        inner = 0.0
        for j in range(middle[i], middle[i + 1]):
            inner += (breaks[j] - breaks[peak]) ** 2 * hist[j]
        outer += inner
    return len(peaks) * outer / sum(hist)


def canny(cell: np.ndarray) -> np.ndarray:
    """The lab's CannyEdgeDetector(2.5f, 7.5f, 2f, 16, false) on one cell: edge booleans."""
    height, width = cell.shape
    data = cell.astype(np.float64).ravel().tolist()
    size = width * height
    x_conv, y_conv = [0.0] * size, [0.0] * size
    x_gradient, y_gradient, magnitude = [0.0] * size, [0.0] * size, [0.0] * size

    def gaussian(x: float) -> float:
        return math.exp(-(x * x) / (2.0 * 2.0 * 2.0))

    kernel, diff = [0.0] * 16, [0.0] * 16
    kwidth = 0
    while kwidth < 16:
        g1 = gaussian(kwidth)
        if g1 <= float(np.float32(0.005)) and kwidth >= 2:
            break
        g2, g3 = gaussian(kwidth - 0.5), gaussian(kwidth + 0.5)
        kernel[kwidth] = (g1 + g2 + g3) / 3.0 / (2.0 * math.pi * 2.0 * 2.0)
        diff[kwidth] = g3 - g2
        kwidth += 1
    for x in range(kwidth - 1, width - (kwidth - 1)):
        for y in range(width * (kwidth - 1), width * (height - (kwidth - 1)), width):
            index = x + y
            sum_x = data[index] * kernel[0]
            sum_y = sum_x
            for offset in range(1, kwidth):
                sum_y += kernel[offset] * (data[index - offset * width] + data[index + offset * width])
                sum_x += kernel[offset] * (data[index - offset] + data[index + offset])
            y_conv[index], x_conv[index] = sum_y, sum_x
    for x in range(kwidth - 1, width - (kwidth - 1)):
        for y in range(width * (kwidth - 1), width * (height - (kwidth - 1)), width):
            total = 0.0
            for i in range(1, kwidth):
                total += diff[i] * (y_conv[x + y - i] - y_conv[x + y + i])
            x_gradient[x + y] = total
    for x in range(kwidth, width - kwidth):
        for y in range(width * (kwidth - 1), width * (height - (kwidth - 1)), width):
            total = 0.0
            for i in range(1, kwidth):
                total += diff[i] * (x_conv[x + y - i * width] - x_conv[x + y + i * width])
            y_gradient[x + y] = total

    def mag(i: int) -> float:
        return java_hypot(x_gradient[i], y_gradient[i])

    for x in range(kwidth, width - kwidth):
        for y in range(width * kwidth, width * (height - kwidth), width):
            i = x + y
            n, s, west, east = i - width, i + width, i - 1, i + 1
            xg, yg, g = x_gradient[i], y_gradient[i], mag(i)
            if xg * yg <= 0:
                if abs(xg) >= abs(yg):
                    tmp = abs(xg * g)
                    keep = tmp >= abs(yg * mag(n + 1) - (xg + yg) * mag(east)) and tmp > abs(
                        yg * mag(s - 1) - (xg + yg) * mag(west)
                    )
                else:
                    tmp = abs(yg * g)
                    keep = tmp >= abs(xg * mag(n + 1) - (yg + xg) * mag(n)) and tmp > abs(
                        xg * mag(s - 1) - (yg + xg) * mag(s)
                    )
            elif abs(xg) >= abs(yg):
                tmp = abs(xg * g)
                keep = tmp >= abs(yg * mag(s + 1) + (xg - yg) * mag(east)) and tmp > abs(
                    yg * mag(n - 1) + (xg - yg) * mag(west)
                )
            else:
                tmp = abs(yg * g)
                keep = tmp >= abs(xg * mag(s + 1) + (yg - xg) * mag(s)) and tmp > abs(
                    xg * mag(n - 1) + (yg - xg) * mag(n)
                )
            magnitude[i] = (100000.0 if g >= 1000 else float(int(100 * g))) if keep else 0.0
    marks = [0.0] * size
    for y in range(height):
        for x in range(width):
            if marks[x + y * width] == 0 and magnitude[x + y * width] >= 750:
                cx, cy = x, y
                while True:  # Java's follow(): recursion that returns after its first step
                    marks[cx + cy * width] = magnitude[cx + cy * width]
                    step = next(
                        (
                            (nx, ny)
                            for nx in range(max(cx - 1, 0), min(cx + 1, width - 1) + 1)
                            for ny in range(max(cy - 1, 0), min(cy + 1, height - 1) + 1)
                            if (nx, ny) != (cx, cy)
                            and marks[nx + ny * width] == 0
                            and magnitude[nx + ny * width] >= 250
                        ),
                        None,
                    )
                    if step is None:
                        break
                    cx, cy = step
    return np.array(marks).reshape(height, width) > 0


def box_sizes(p: int, whole_image: bool = False) -> list[int]:
    """The lab's getAllSplits(findMaxBoxSize(p)), without the sizes larger than the cell."""
    size = 64 if whole_image else int(2 * math.floor(math.sqrt(p) + 0.5))
    sizes = [size]
    while (size := size // 2) > 1:
        sizes.append(size)
    return [s for s in sizes if s <= p]


def count_boxes(edges: np.ndarray, box: int) -> int:
    """The lab's countBoxes: boxes tiled from the top-left, the last ones shrunk."""
    height, width = edges.shape
    x = y = 0
    box_w = box_h = box
    count = 0
    while True:
        if edges[y : y + box_h, x : x + box_w].any():
            count += 1
        x += box
        if x + box > width:
            box_w = width % box
            if x >= width:
                box_w, x = box, 0
                y += box
                if y + box > height:
                    box_h = height % box
                    if y >= height:
                        return count


def dimension(edges: np.ndarray, sizes: list[int]) -> float:
    """|slope| of commons-math's SimpleRegression of ln(count) on ln(size); 0 if not finite."""
    n, x_bar, y_bar, sum_xx, sum_xy = 0, 0.0, 0.0, 0.0, 0.0
    for size in sizes:
        count = count_boxes(edges, size)
        x, y = math.log(size), math.log(count) if count else -math.inf
        if n == 0:
            x_bar, y_bar = x, y
        else:
            dx, dy = x - x_bar, y - y_bar
            sum_xx += dx * dx * (n / (1.0 + n))
            sum_xy += dx * dy * (n / (1.0 + n))
            x_bar += dx / (1.0 + n)
            y_bar += dy / (1.0 + n)
        n += 1
    if n < 2 or abs(sum_xx) < 10 * 5e-324:
        return 0.0
    with np.errstate(invalid="ignore"):
        slope = sum_xy / sum_xx
    return abs(slope) if math.isfinite(slope) else 0.0


def fractal_dimension(cell: np.ndarray, whole_image: bool = False) -> float:
    return dimension(canny(cell), box_sizes(min(cell.shape), whole_image))


def all_parameters(
    image: np.ndarray, p: int, n_bins: int, lo: float, hi: float, convention: str = "toolkit"
) -> dict[str, np.ndarray]:
    """Every parameter of every full cell, as (rows, cols) arrays."""
    rows, cols = image.shape[0] // p, image.shape[1] // p
    out: dict[str, np.ndarray] = {}
    for r, c, cell in cells_of(image, p):
        values = statistics(cell, n_bins, lo, hi, convention)
        values["tamura_directionality"] = directionality(cell)
        values["fractal_dimension"] = fractal_dimension(cell)
        for name, value in values.items():
            out.setdefault(name, np.zeros((rows, cols)))[r, c] = value
    return out
