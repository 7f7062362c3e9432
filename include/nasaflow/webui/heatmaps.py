"""The ten heat maps of one image at one patch size, drawn together.

The pages show the ten parameters side by side, so one pass over one query result draws
all of them into a directory: `<parameter>.png` each, and `scale.json` with the colour
range each picture was drawn with and how many landed cells are null (drawn in the null
colour), so that a legend states exactly what its colours mean.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nasaflow.webui.colormap import colour_range
from nasaflow.webui.render import heatmap_png

SCALE_FILE = "scale.json"


@dataclass(frozen=True)
class Scale:
    """How one heat map was coloured.

    Attributes:
        low, high: the values drawn with the first and last colour (None: no value).
        minimum, maximum: the extreme values of the grid (None: no value).
        cells: number of cells with a value.
        nulls: number of landed cells whose value is null (undefined).
    """

    low: float | None
    high: float | None
    minimum: float | None
    maximum: float | None
    cells: int
    nulls: int = 0


def heatmap_file(directory: Path, parameter: str) -> Path:
    """Where the PNG of `parameter` lives in a heat-map directory."""
    return directory / f"{parameter}.png"


def write_heatmap_set(grids: Mapping[str, np.ndarray], landed: np.ndarray,
                      directory: Path) -> None:
    """Draw every grid of `grids` (parameter -> 2-D values, NaN = no value) into `directory`;
    `landed` (boolean, the grids' shape) marks landed cells: those without a value are
    null, the others not landed yet."""
    scales: dict[str, dict[str, float | int | None]] = {}
    for parameter, values in grids.items():
        scale = _scale_of(values, landed)
        low = 0.0 if scale.low is None else scale.low
        high = low if scale.high is None else scale.high
        heatmap_file(directory, parameter).write_bytes(heatmap_png(values, low, high, landed))
        scales[parameter] = asdict(scale)
    (directory / SCALE_FILE).write_text(json.dumps(scales, indent=1), encoding="utf-8")


def read_scales(directory: Path) -> dict[str, Scale]:
    """The colour ranges recorded by `write_heatmap_set`."""
    raw = json.loads((directory / SCALE_FILE).read_text(encoding="utf-8"))
    return {parameter: Scale(**fields) for parameter, fields in raw.items()}


def _scale_of(values: np.ndarray, landed: np.ndarray) -> Scale:
    present = np.isfinite(values)
    finite = values[present]
    nulls = int(np.count_nonzero(landed & ~present))
    span = colour_range(values)
    if span is None:
        return Scale(None, None, None, None, 0, nulls)
    return Scale(span[0], span[1], float(finite.min()), float(finite.max()), int(finite.size),
                 nulls)
