"""Small bar charts of the stream's recent micro-batches, as geometry for inline SVG.

Three series tell whether the stream keeps up: rows written per batch (throughput), how
long each batch took against the trigger interval (a batch longer than the interval
means the stream falls behind), and the lag of the oldest message in each batch. The
bars are computed here, so the template only loops over rectangles and the scaling can
be tested without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from nasaflow.webui.queries import Batch

#: Drawing area of one chart in SVG user units (the page stretches it to its column).
CHART_WIDTH = 360
CHART_HEIGHT = 80


@dataclass(frozen=True)
class Bar:
    """One rectangle, in SVG user units, with the tooltip that names its batch and value."""

    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class BarChart:
    """A titled series of bars over a zero-based axis topped at `top`.

    Attributes:
        reference_y: height (SVG units) of a dashed reference line, or None for none.
        latest: the newest value of the series, shown next to the title.
    """

    title: str
    unit: str
    top: float
    bars: tuple[Bar, ...]
    latest: float | None
    reference_y: float | None
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is >= value (1 for value <= 0)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0):
        if value <= step * power * (1 + 1e-12):
            return step * power
    return 10.0 * power


def bar_chart(title: str, unit: str, values: Sequence[float | None], labels: Sequence[str],
              reference: float | None = None) -> BarChart:
    """Bars for `values` (None: no bar, the slot stays empty), left to right.

    Args:
        title: the chart's heading; unit: the values' unit, for the axis and tooltips.
        values: one value per slot; labels: one tooltip prefix per slot (e.g. "batch 7").
        reference: a value to draw as a dashed line (and to include in the axis), or None.
    """
    if len(values) != len(labels):
        raise ValueError(f"expected one label per value, got {len(labels)} for {len(values)}")
    present = [v for v in values if v is not None]
    top = nice_ceiling(max([*present, reference or 0.0], default=0.0))
    slot = CHART_WIDTH / max(len(values), 1)
    bars = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        if value is None:
            continue
        height = CHART_HEIGHT * max(value, 0.0) / top
        bars.append(Bar(x=index * slot + slot * 0.1, y=CHART_HEIGHT - height,
                        width=max(slot * 0.8, 1.0), height=height,
                        label=f"{label}: {format_value(value)} {unit}".rstrip()))
    reference_y = None if reference is None else CHART_HEIGHT * (1 - reference / top)
    return BarChart(title, unit, top, tuple(bars), present[-1] if present else None, reference_y)


def stream_charts(batches: Sequence[Batch], trigger_seconds: float) -> list[BarChart]:
    """Rows, duration (against the trigger interval) and lag of `batches`, oldest first."""
    labels = [f"{b.query} batch {b.batch_id}" for b in batches]
    return [
        bar_chart("Rows per batch", "rows", [float(b.rows) for b in batches], labels),
        bar_chart("Batch duration", "s", [b.duration_seconds for b in batches], labels,
                  reference=trigger_seconds),
        bar_chart("Max lag", "s", [b.max_lag_seconds for b in batches], labels),
    ]


def format_value(value: float | None) -> str:
    """A number for people: grouped thousands, four significant digits below 1000,
    scientific notation only beyond a billion or below a thousandth; a dash for None."""
    if value is None or not math.isfinite(value):
        return "–"
    value += 0.0  # no "-0"
    size = abs(value)
    if size >= 1e9 or 0 < size < 1e-3:
        return f"{value:.3e}"
    if size >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"
