"""Charts as geometry for inline SVG: the stream's micro-batches, parameters over time.

No charting library and no script: the pages are served inside Airflow's UI, also
offline, and a chart is a few SVG elements the template writes out.

Three series tell whether the stream keeps up: rows written per batch (throughput), how
long each batch took against the trigger interval (a batch longer than the interval
means the stream falls behind), and the lag of the oldest message in each batch. The
bars are computed here, so the template only loops over rectangles and the scaling can
be tested without a browser.

A time chart draws one line per channel (the mean of each image) over a shaded band (the
p10-p90 of each image), on a time axis from the first to the last day asked for; a point
without a value (every value of the image null) breaks its line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from nasaflow.webui.queries import Batch
from nasaflow.webui.timeseries import Series

#: Drawing area of one chart in SVG user units (the page stretches it to its column).
CHART_WIDTH = 360
CHART_HEIGHT = 80
#: Drawing area of a time chart, and the colours of its channels, in order.
TIME_CHART_WIDTH = 960
TIME_CHART_HEIGHT = 320
#: Points drawn per unit of a time chart's width at most (the chart is 960 units wide,
#: drawn at about as many pixels): denser points are merged (_thinned).
POINTS_PER_UNIT = 2
LINE_COLOURS = ("#2f6fde", "#e08a00", "#2e8b57", "#c0392b", "#8e44ad", "#16a2b8",
                "#7f6000", "#d6336c", "#495057", "#6f9a00")


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


@dataclass(frozen=True)
class ChannelPath:
    """One channel in a time chart: its line (SVG polyline point lists, one per unbroken
    run of values), its band (polygon point lists), colour and what its legend says."""

    wavelength: str
    colour: str
    lines: tuple[str, ...]
    bands: tuple[str, ...]
    images: int
    values: int
    nulls: int


@dataclass(frozen=True)
class TimeChart:
    """Channels over a time axis from `start` to `stop`, values from `bottom` to `top`;
    `ticks` are (y, value) of the value axis' gridlines."""

    channels: tuple[ChannelPath, ...]
    start: datetime
    stop: datetime
    bottom: float
    top: float
    ticks: tuple[tuple[float, float], ...]
    width: int = TIME_CHART_WIDTH
    height: int = TIME_CHART_HEIGHT


def value_axis(low: float, high: float, steps: int = 4) -> tuple[float, float, float]:
    """(bottom, top, step): `steps` or so round steps that cover low..high."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return 0.0, 1.0, 0.25
    if high <= low:
        low, high = low - 0.5 * (abs(low) or 1.0), high + 0.5 * (abs(high) or 1.0)
    step = nice_ceiling((high - low) / steps)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def time_chart(series: Sequence[Series], start: datetime, stop: datetime) -> TimeChart:
    """The chart of `series` on a time axis from `start` to `stop` (stop > start)."""
    if stop <= start:
        raise ValueError(f"expected a time axis that ends after it starts, got {start}..{stop}")
    values = [v for one in series for point in one.points
              for v in (point.low, point.mean, point.high) if v is not None]
    bottom, top, step = value_axis(min(values, default=0.0), max(values, default=1.0))
    span = (stop - start).total_seconds()

    def x(moment: datetime) -> float:
        return TIME_CHART_WIDTH * (moment - start).total_seconds() / span

    def y(value: float) -> float:
        return TIME_CHART_HEIGHT * (top - value) / (top - bottom)

    channels = []
    for index, one in enumerate(series):
        lines: list[str] = []
        bands: list[str] = []
        for run in _runs(one):
            drawn = _thinned([(x(p.observed_at), p.mean or 0.0,
                               p.low if p.low is not None else p.mean or 0.0,
                               p.high if p.high is not None else p.mean or 0.0) for p in run])
            line = [(px, y(mean)) for px, mean, _, _ in drawn]
            if len(line) == 1:  # a lone point: a short dash, or nothing would show
                line = [(line[0][0] - 2, line[0][1]), (line[0][0] + 2, line[0][1])]
            lines.append(" ".join(f"{px:.1f},{py:.1f}" for px, py in line))
            upper = [f"{px:.1f},{y(high):.1f}" for px, _, _, high in drawn]
            lower = [f"{px:.1f},{y(low):.1f}" for px, _, low, _ in reversed(drawn)]
            bands.append(" ".join(upper + lower))
        channels.append(ChannelPath(one.wavelength, LINE_COLOURS[index % len(LINE_COLOURS)],
                                    tuple(lines), tuple(bands), len(one.points), one.values,
                                    one.nulls))
    count = round((top - bottom) / step)
    ticks = tuple((y(bottom + k * step), bottom + k * step) for k in range(count + 1))
    return TimeChart(tuple(channels), start, stop, bottom, top, ticks)


def _thinned(points: list[tuple[float, float, float, float]]
             ) -> list[tuple[float, float, float, float]]:
    """(x, mean, low, high) points with at most POINTS_PER_UNIT per unit of the time axis:
    those sharing one are drawn as one (mean x, mean of the means, lowest low, highest
    high), so a year at 6-minute cadence draws what the chart can show, band included."""
    buckets: dict[int, list[tuple[float, float, float, float]]] = {}
    for point in points:
        buckets.setdefault(round(point[0] * POINTS_PER_UNIT), []).append(point)
    return [(sum(p[0] for p in group) / len(group), sum(p[1] for p in group) / len(group),
             min(p[2] for p in group), max(p[3] for p in group))
            for _, group in sorted(buckets.items())]


def _runs(series: Series) -> list[list]:
    """The series' points cut where a point has no value (its line breaks there)."""
    runs: list[list] = [[]]
    for point in series.points:
        if point.mean is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(point)
    return [run for run in runs if run]


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
