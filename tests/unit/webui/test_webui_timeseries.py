"""Time series requests: validation, the query each selection builds, grouping by channel,
and the page's parameters read and written back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from nasaflow.webui.forms import FormError, around, parse_series, series_params
from nasaflow.webui.timeseries import (
    BAND,
    MAX_DAYS,
    CellRange,
    Point,
    SeriesError,
    SeriesRequest,
    group_series,
    series_query,
)

JAN = date(2022, 1, 1)


def make(**changes: object) -> SeriesRequest:
    fields: dict[str, object] = {"parameter": "entropy", "wavelengths": ("193", "304"),
                                 "start": JAN, "end": date(2022, 1, 30), "patch_size": 64}
    fields.update(changes)
    return SeriesRequest(**fields)  # type: ignore[arg-type]


def flat(request: SeriesRequest) -> tuple[str, dict]:
    query, params = series_query(request)
    return " ".join(query.as_string(None).split()), params


@pytest.mark.parametrize(("changes", "message"), [
    ({"parameter": "colour"}, "unknown parameter 'colour'"),
    ({"wavelengths": ()}, "at least one channel"),
    ({"end": date(2021, 12, 31)}, "before it starts"),
    ({"end": JAN + timedelta(days=MAX_DAYS)}, f"at most {MAX_DAYS} days.*nasaflow export"),
    ({"patch_size": 0}, "at least 1"),
])
def test_bad_requests_are_refused_with_the_reason(changes: dict, message: str) -> None:
    with pytest.raises(SeriesError, match=message):
        make(**changes)


@pytest.mark.parametrize(("rows", "cols"), [((2, 1), (0, 0)), ((-1, 0), (0, 0)),
                                             ((0, 0), (3, 2))])
def test_cell_ranges_run_forward_from_zero(rows: tuple[int, int], cols: tuple[int, int]) -> None:
    with pytest.raises(SeriesError, match="first <= last"):
        CellRange(rows, cols)


def test_cell_ranges_count_and_name_their_cells() -> None:
    assert CellRange((2, 5), (0, 9)).cells == 40
    assert CellRange((2, 5), (0, 9)).label() == "cells rows 2–5, cols 0–9"
    assert CellRange((3, 3), (4, 4)).label() == "cell (row 3, col 4)"


def test_the_full_disk_reads_one_summary_row_per_image_not_the_cells() -> None:
    query, params = flat(make())
    assert "FROM images AS i JOIN image_keys AS k ON k.image_id = i.id" in query
    assert ("JOIN image_parameter_summary AS s ON s.image_key = k.image_key AND"
            " s.patch_size = %(patch_size)s AND s.parameter = %(parameter)s") in query
    assert "image_cells" not in query
    assert ("WHERE i.wavelength = ANY(%(wavelengths)s) AND i.observed_at >= %(start)s"
            " AND i.observed_at < %(stop)s") in query
    assert query.endswith("ORDER BY i.wavelength, i.observed_at, i.id")
    assert params == {"wavelengths": ["193", "304"], "patch_size": 64, "parameter": "entropy",
                      "start": datetime(2022, 1, 1, tzinfo=UTC),
                      "stop": datetime(2022, 1, 31, tzinfo=UTC)}


def test_a_cell_range_reads_its_cells_in_the_partitions_of_its_days_only() -> None:
    query, params = flat(make(parameter="skewness", cells=CellRange((2, 5), (7, 9))))
    assert "image_parameter_summary" not in query
    assert 'avg(c."skewness")' in query and 'count(*) - count(c."skewness")' in query
    assert ('percentile_cont(%(low)s) WITHIN GROUP (ORDER BY c."skewness")') in query
    assert "AND c.observed_on BETWEEN %(first_day)s AND %(last_day)s" in query
    assert ("AND c.cell_row BETWEEN %(row_from)s AND %(row_to)s"
            " AND c.cell_col BETWEEN %(col_from)s AND %(col_to)s") in query
    assert (params["low"], params["high"]) == BAND
    assert (params["first_day"], params["last_day"]) == (JAN, date(2022, 1, 30))
    assert [params[k] for k in ("row_from", "row_to", "col_from", "col_to")] == [2, 5, 7, 9]


def test_rows_are_grouped_per_asked_channel_in_the_order_asked() -> None:
    moment = datetime(2022, 1, 1, tzinfo=UTC)
    rows = [("193", moment, 1.0, 0.5, 1.5, 40, 2),
            ("193", moment + timedelta(minutes=6), None, None, None, 0, 42),
            ("304", moment, 2.0, 1.0, 3.0, 42, 0)]
    series = group_series(rows, ("304", "193", "171"))
    assert [s.wavelength for s in series] == ["304", "193", "171"]
    assert series[1].points[1] == Point(moment + timedelta(minutes=6), None, None, None, 0, 42)
    assert (series[1].values, series[1].nulls) == (40, 44)
    assert series[2].points == ()


def test_the_page_parameters_read_back_as_the_same_request() -> None:
    request = make(cells=CellRange((2, 5), (7, 9)))
    params = series_params(request)
    wavelengths = [value for name, value in params if name == "wavelength"]
    single = {name: value for name, value in params if name != "wavelength"}
    assert parse_series(str(single["parameter"]), [str(w) for w in wavelengths],
                        str(single["start"]), str(single["end"]), int(single["patch_size"]),
                        (int(single["row_from"]), int(single["row_to"]),
                         int(single["col_from"]), int(single["col_to"]))) == request


def test_a_single_cell_needs_no_to_and_the_full_disk_no_cells() -> None:
    one = parse_series("mean", ["193"], "2022-01-01", "2022-01-02", 64, (3, None, 4, None))
    assert one.cells == CellRange((3, 3), (4, 4))
    disk = parse_series("mean", ["193"], "2022-01-01", "2022-01-02", 64,
                        (None, None, None, None))
    assert disk.cells is None


@pytest.mark.parametrize(("args", "message"), [
    (("mean", ["193"], None, "2022-01-02", 64, (None,) * 4), "both days are needed"),
    (("mean", ["193"], "2022-01-01", "2022-02-30", 64, (None,) * 4), "end: expected a date"),
    (("mean", ["193"], "2022-01-01", "2022-01-02", 64, (1, None, None, None)), "give both"),
    (("mean", ["193"], "2022-01-01", "2022-01-02", 64, (3, 1, 0, 0)), "first <= last"),
    (("area", ["193"], "2022-01-01", "2022-01-02", 64, (None,) * 4), "unknown parameter"),
    (("mean", [" "], "2022-01-01", "2022-01-02", 64, (None,) * 4), "at least one channel"),
])
def test_bad_page_parameters_are_refused_with_the_reason(args: tuple, message: str) -> None:
    with pytest.raises(FormError, match=message):
        parse_series(*args)


def test_a_series_opened_from_an_image_spans_days_around_it() -> None:
    assert around(date(2022, 1, 10)) == (date(2022, 1, 7), date(2022, 1, 13))
