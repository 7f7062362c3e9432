"""Time charts: positions on the time and value axes, breaks at images without a value,
bands, and the page that shows them with the null counts and the download link."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.templating import Jinja2Templates

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.webui.app import PARAMETER_LABELS, TEMPLATES_DIR
from nasaflow.webui.charts import (
    LINE_COLOURS,
    POINTS_PER_UNIT,
    TIME_CHART_HEIGHT,
    TIME_CHART_WIDTH,
    format_value,
    time_chart,
    value_axis,
)
from nasaflow.webui.links import Links
from nasaflow.webui.timeseries import BAND, Point, Series, SeriesRequest

START = datetime(2022, 1, 1, tzinfo=UTC)
STOP = START + timedelta(days=1)


def point(hours: float, mean: float | None, spread: float = 1.0, nulls: int = 0) -> Point:
    low, high = (None, None) if mean is None else (mean - spread, mean + spread)
    return Point(START + timedelta(hours=hours), mean, low, high, 0 if mean is None else 10,
                 nulls)


def coordinates(points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in points.split())]


@pytest.mark.parametrize(("low", "high", "axis"), [
    (0.0, 10.0, (0.0, 10.0, 2.5)), (3.2, 7.9, (2.0, 8.0, 2.0)), (-1.0, 1.0, (-1.0, 1.0, 0.5)),
    (5.0, 5.0, (2.0, 8.0, 2.0)),
])
def test_value_axes_end_on_round_steps_around_the_values(
        low: float, high: float, axis: tuple[float, float, float]) -> None:
    assert value_axis(low, high) == pytest.approx(axis)


def test_points_sit_at_their_time_and_value() -> None:
    chart = time_chart([Series("193", (point(0, 2.0), point(12, 6.0), point(24, 4.0)))],
                       START, STOP)
    assert (chart.bottom, chart.top) == (0.0, 8.0)
    (line,) = chart.channels[0].lines
    # x: 0 h, 12 h, 24 h of a 24 h axis; y: top of the axis (8) at 0, values down from it.
    assert [c for xy in coordinates(line) for c in xy] == pytest.approx([
        0.0, TIME_CHART_HEIGHT * 6 / 8, TIME_CHART_WIDTH / 2, TIME_CHART_HEIGHT * 2 / 8,
        TIME_CHART_WIDTH, TIME_CHART_HEIGHT * 4 / 8], abs=0.05)
    (band,) = chart.channels[0].bands
    corners = coordinates(band)
    # Along the p90s left to right, back along the p10s right to left.
    assert [x for x, _ in corners] == pytest.approx(
        [0, TIME_CHART_WIDTH / 2, TIME_CHART_WIDTH, TIME_CHART_WIDTH, TIME_CHART_WIDTH / 2, 0],
        abs=0.05)
    assert corners[0][1] == pytest.approx(TIME_CHART_HEIGHT * 5 / 8, abs=0.05)  # 3.0
    assert corners[-1][1] == pytest.approx(TIME_CHART_HEIGHT * 7 / 8, abs=0.05)  # 1.0
    assert [value for _, value in chart.ticks] == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_an_image_without_a_value_breaks_the_line_and_a_lone_point_shows() -> None:
    series = Series("304", (point(1, 1.0), point(2, 2.0), point(3, None, nulls=40),
                            point(4, 3.0)))
    chart = time_chart([series], START, STOP)
    channel = chart.channels[0]
    assert len(channel.lines) == 2 and len(channel.bands) == 2
    lone = coordinates(channel.lines[1])
    assert len(lone) == 2 and lone[0][1] == lone[1][1]
    assert lone[1][0] - lone[0][0] == pytest.approx(4.0)
    assert (channel.images, channel.values, channel.nulls) == (4, 30, 40)


def test_channels_get_their_own_colours_in_order() -> None:
    chart = time_chart([Series(str(n), (point(1, float(n)),)) for n in range(3)], START, STOP)
    assert [c.colour for c in chart.channels] == list(LINE_COLOURS[:3])


def test_an_axis_that_does_not_move_forward_is_refused() -> None:
    with pytest.raises(ValueError, match="ends after it starts"):
        time_chart([], START, START)


def test_the_page_shows_each_channel_with_its_null_count_and_the_download() -> None:
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.filters["number"] = format_value
    templates.env.globals.update(labels=PARAMETER_LABELS, parameters=PARAMETER_NAMES)
    series = [Series("193", (point(1, 1.0, nulls=3), point(2, 2.0, nulls=4))),
              Series("304", ())]
    request = SeriesRequest("skewness", ("193", "304"), date(2022, 1, 1), date(2022, 1, 1), 64)
    html = templates.env.get_template("timeseries.html").render(
        links=Links("/nasaflow"), channels=["193", "304", "171"], selection=request,
        chart=time_chart(series, START, STOP), band=BAND, export_limit=5_000_000,
        export_link="/nasaflow/timeseries/export.parquet?x=1")
    nulls = dict(re.findall(r'data-wavelength="(\w+)">.*?class="nulls">([\d,]+)<', html,
                            re.DOTALL))
    assert nulls == {"193": "7", "304": "0"}
    assert html.count("<polyline") == 1 and html.count("<polygon") == 1
    words = " ".join(html.split())
    assert "10th to 90th percentile" in words and "over the full solar disk" in words
    assert 'href="/nasaflow/timeseries/export.parquet?x=1"' in html
    checked = re.findall(r'value="(\w+)"\s+checked', html)
    assert checked == ["193", "304"]


def test_dense_points_are_drawn_at_the_charts_resolution_keeping_the_band_extremes() -> None:
    points = tuple(point(k * 24 / 10_000, 4.0 + (k % 2), spread=1.0 + (k == 5_000))
                   for k in range(10_000))
    chart = time_chart([Series("193", points)], START, STOP)
    (line,) = chart.channels[0].lines
    drawn = coordinates(line)
    assert len(drawn) <= TIME_CHART_WIDTH * POINTS_PER_UNIT + 1
    # Alternating 4s and 5s sharing a drawn position are drawn as their mean, in between.
    means = [chart.top - py / TIME_CHART_HEIGHT * (chart.top - chart.bottom) for _, py in drawn]
    assert sum(4.05 < mean < 4.95 for mean in means) > len(means) * 0.9
    # The one wider band (k = 5000: 4 +- 2) still shows its extreme.
    highest = min(py for _, py in coordinates(chart.channels[0].bands[0]))
    assert highest == pytest.approx(
        TIME_CHART_HEIGHT * (chart.top - 6.0) / (chart.top - chart.bottom), abs=0.05)
    assert chart.channels[0].images == 10_000
