"""The two statistical conventions of the lab's libraries, as named options.

* "toolkit" (default): the lab's Python toolkit, i.e. numpy/scipy defaults: population
  variance, biased skewness mu3 / mu2**1.5 and excess kurtosis mu4 / mu2**2 - 3 (as
  `scipy.stats.skew` / `scipy.stats.kurtosis`), Tamura contrast mu2 / mu4**0.25.
* "published": the Java library behind the published 2019 data set: sample variance
  s**2 = n * mu2 / (n - 1), bias-corrected skewness G1 and excess kurtosis G2, and Tamura
  contrast s**2 / G2**0.25. Offered so users can compare with the published numbers.

Skewness and kurtosis are undefined where the variance is 0 (a constant cell): both
conventions give NaN there, as the lab's toolkit does, so that no reader mistakes such a
cell for a Gaussian one. Tamura contrast is 0 there (and wherever mu4, or G2, is not
positive), as both of the lab's libraries give it.
"""

from __future__ import annotations

import numpy as np

from nasaflow.parameters.moments import CellMoments

TOOLKIT = "toolkit"
PUBLISHED = "published"
CONVENTIONS: tuple[str, ...] = (TOOLKIT, PUBLISHED)

#: The published convention divides by n - 1, n - 2 and n - 3.
PUBLISHED_MIN_PIXELS = 4


def check_convention(name: str, cell_pixels: int) -> str:
    """Validate a convention name for cells of `cell_pixels` pixels and return it.

    Raises:
        ValueError: unknown name, or "published" on cells of fewer than 4 pixels.
    """
    if name not in CONVENTIONS:
        raise ValueError(f"unknown convention {name!r}; expected one of {', '.join(CONVENTIONS)}")
    if name == PUBLISHED and cell_pixels < PUBLISHED_MIN_PIXELS:
        raise ValueError(
            f"the published convention needs cells of at least {PUBLISHED_MIN_PIXELS} pixels, "
            f"got {cell_pixels}"
        )
    return name


def variance(m: CellMoments, convention: str) -> np.ndarray:
    """Population variance mu2 (toolkit) or sample variance n * mu2 / (n - 1) (published)."""
    if convention == PUBLISHED:
        return m.mu2 * (m.n / (m.n - 1))
    return m.mu2


def std(m: CellMoments, convention: str) -> np.ndarray:
    """Square root of the convention's variance."""
    return np.sqrt(variance(m, convention))


def relative_smoothness(m: CellMoments, convention: str) -> np.ndarray:
    """1 - 1 / (1 + variance), with the convention's variance."""
    return 1.0 - 1.0 / (1.0 + variance(m, convention))


def skewness(m: CellMoments, convention: str) -> np.ndarray:
    """mu3 / mu2**1.5 (toolkit) or G1 = sqrt(n (n - 1)) / (n - 2) * that (published);
    NaN where mu2 = 0."""
    spread = m.mu2 > 0
    safe = np.where(spread, m.mu2, 1.0)
    biased = np.where(spread, m.mu3 / safe**1.5, np.nan)
    if convention == PUBLISHED:
        # G1 = n / ((n-1)(n-2)) * S3 / s**3 with S3 = n mu3, s**2 = n mu2 / (n-1).
        n = m.n
        return biased * (np.sqrt(n * (n - 1.0)) / (n - 2.0))
    return biased


def kurtosis(m: CellMoments, convention: str) -> np.ndarray:
    """Excess kurtosis: mu4 / mu2**2 - 3 (toolkit) or G2 (published); NaN where mu2 = 0."""
    spread = m.mu2 > 0
    safe = np.where(spread, m.mu2, 1.0)
    ratio = m.mu4 / (safe * safe)
    if convention == PUBLISHED:
        n = m.n
        # G2 = n(n+1)/((n-1)(n-2)(n-3)) * S4 / s**4 - 3 (n-1)**2 / ((n-2)(n-3)), with
        # S4 = n mu4 and s**4 = (n mu2 / (n-1))**2, so S4 / s**4 = (n-1)**2 / n * ratio.
        g2 = ((n + 1.0) * (n - 1.0) * ratio - 3.0 * (n - 1.0) ** 2) / ((n - 2.0) * (n - 3.0))
        return np.where(spread, g2, np.nan)
    return np.where(spread, ratio - 3.0, np.nan)
