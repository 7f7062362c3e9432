"""Numbers to colours for the heat maps, with numpy only.

A heat map must let the eye compare cells: the colours run from dark blue through teal
and green to yellow (after matplotlib's viridis), getting lighter at every step, so order
survives colour-blindness and greyscale. The map is a 256-entry lookup table interpolated
between a few anchor colours, which makes colouring a whole grid one indexing operation.
Cells not landed yet stay transparent; landed cells whose value is null (undefined, e.g.
the skewness of a constant cell) get `NULL_COLOUR`, outside the scale, so an undefined
value never reads as a small or a large one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Anchor colours, evenly spaced from the lowest value (first) to the highest (last).
ANCHORS: tuple[str, ...] = (
    "#440154", "#472c7a", "#3b518b", "#2c718e", "#21908d",
    "#27ad81", "#5cc863", "#aadc32", "#fde725",
)
#: Colour of landed cells without a value: Okabe and Ito's vermillion, a hue the scale
#: never takes and one that colour-blind readers tell apart from it.
NULL_COLOUR = "#d55e00"
#: Percentiles of a grid's values mapped to the two ends of the colour scale: a handful
#: of extreme cells (the limb, a saturated flare pixel) must not flatten all the others.
CLIP_PERCENTILES: tuple[float, float] = (1.0, 99.0)


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """(r, g, b) of a "#rrggbb" colour."""
    digits = colour.removeprefix("#")
    if len(digits) != 6:
        raise ValueError(f"expected a colour like #1f9e89, got {colour!r}")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def build_lut(anchors: Sequence[str] = ANCHORS, size: int = 256) -> np.ndarray:
    """A (size, 3) uint8 table running linearly through `anchors` in RGB."""
    if len(anchors) < 2 or size < 2:
        raise ValueError(f"need at least 2 anchors and 2 entries, got {len(anchors)} and {size}")
    rgb = np.array([hex_to_rgb(anchor) for anchor in anchors], dtype=np.float64)
    stops = np.linspace(0.0, 1.0, len(anchors))
    positions = np.linspace(0.0, 1.0, size)
    channels = [np.interp(positions, stops, rgb[:, k]) for k in range(3)]
    return np.rint(np.stack(channels, axis=1)).astype(np.uint8)


LUT = build_lut()


def colour_range(values: np.ndarray,
                 percentiles: tuple[float, float] = CLIP_PERCENTILES) -> tuple[float, float] | None:
    """The values mapped to the first and last colour, or None when no value is finite."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    low, high = np.percentile(finite, percentiles)
    return float(low), float(high)


def colourize(values: np.ndarray, low: float, high: float, lut: np.ndarray = LUT,
              landed: np.ndarray | None = None) -> np.ndarray:
    """RGBA uint8 image (rows, cols, 4) of a 2-D grid.

    Values at or below `low` get the first colour, at or above `high` the last; when the
    range is empty every finite cell gets the middle colour. Non-finite cells are null
    cells (opaque NULL_COLOUR) where `landed` is True, and fully transparent elsewhere
    (not landed yet); without `landed`, every non-finite cell is taken as not landed.
    """
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D grid, got shape {values.shape}")
    if landed is not None and landed.shape != values.shape:
        raise ValueError(f"landed mask of shape {landed.shape} for a grid of {values.shape}")
    finite = np.isfinite(values)
    last = len(lut) - 1
    if high > low:
        scaled = (np.where(finite, values, low) - low) / (high - low)
        index = np.clip(np.rint(scaled * last), 0, last).astype(np.intp)
    else:
        index = np.full(values.shape, last // 2, dtype=np.intp)
    rgba = np.zeros((*values.shape, 4), dtype=np.uint8)
    rgba[..., :3] = lut[index]
    rgba[..., 3] = 255
    rgba[~finite] = 0
    if landed is not None:
        rgba[~finite & landed] = (*hex_to_rgb(NULL_COLOUR), 255)
    return rgba


def css_gradient(anchors: Sequence[str] = ANCHORS) -> str:
    """A CSS linear-gradient through the anchors, for the legend under each heat map."""
    last = len(anchors) - 1
    stops = ", ".join(f"{anchor} {100 * i / last:.1f}%" for i, anchor in enumerate(anchors))
    return f"linear-gradient(to right, {stops})"
