"""Stream charts: axis tops, bar geometry from micro-batches, numbers for people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nasaflow.webui.charts import (
    CHART_HEIGHT,
    CHART_WIDTH,
    bar_chart,
    format_value,
    nice_ceiling,
    stream_charts,
)
from nasaflow.webui.queries import Batch


@pytest.mark.parametrize(("value", "top"), [
    (0, 1.0), (-3, 1.0), (0.7, 1.0), (1, 1.0), (1.2, 2.0), (2.2, 2.5), (3, 5.0), (7, 10.0),
    (200, 200.0), (201, 250.0), (9_999, 10_000.0), (0.013, 0.02),
])
def test_nice_ceiling(value: float, top: float) -> None:
    assert nice_ceiling(value) == pytest.approx(top)


def test_bars_scale_to_the_axis_and_skip_missing_values() -> None:
    chart = bar_chart("Rows", "rows", [100.0, None, 50.0, 0.0], ["b0", "b1", "b2", "b3"])
    assert chart.top == 100.0 and chart.latest == 0.0
    assert [bar.label for bar in chart.bars] == ["b0: 100 rows", "b2: 50 rows", "b3: 0 rows"]
    tallest, half = chart.bars[0], chart.bars[1]
    assert tallest.height == CHART_HEIGHT and tallest.y == 0
    assert half.height == CHART_HEIGHT / 2 and half.y == CHART_HEIGHT / 2
    slot = CHART_WIDTH / 4
    assert half.x == pytest.approx(2 * slot + 0.1 * slot)
    assert all(bar.x + bar.width <= CHART_WIDTH for bar in chart.bars)


def test_reference_line_is_inside_the_axis() -> None:
    chart = bar_chart("Duration", "s", [2.0, 3.0], ["a", "b"], reference=10.0)
    assert chart.top == 10.0 and chart.reference_y == 0.0
    assert bar_chart("Duration", "s", [2.0], ["a"]).reference_y is None


def test_bar_chart_needs_one_label_per_value() -> None:
    with pytest.raises(ValueError, match="one label per value"):
        bar_chart("Rows", "rows", [1.0, 2.0], ["only one"])


def test_stream_charts_show_rows_duration_and_lag_of_each_batch() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batches = [Batch("q", i, 100 * i, 0, None if i == 0 else 2.5 * i,
                     start + timedelta(seconds=10 * i), start + timedelta(seconds=10 * i + 4))
               for i in range(3)]
    rows, duration, lag = stream_charts(batches, trigger_seconds=10)
    assert [bar.label for bar in rows.bars] == ["q batch 0: 0 rows", "q batch 1: 100 rows",
                                                "q batch 2: 200 rows"]
    assert [bar.label for bar in duration.bars][-1] == "q batch 2: 4 s"
    assert duration.reference_y == 0.0  # the 10 s trigger tops the axis
    assert len(lag.bars) == 2 and lag.latest == 5.0


@pytest.mark.parametrize(("value", "text"), [
    (None, "–"), (float("nan"), "–"), (-0.0, "0"), (3.14159, "3.142"), (20_000, "20,000"),
    (4091.0002, "4,091"), (2.5e9, "2.500e+09"), (0.000123, "1.230e-04"), (0, "0"),
])
def test_format_value(value: float | None, text: str) -> None:
    assert format_value(value) == text
