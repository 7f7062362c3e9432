"""Time series of one parameter: per channel, one point per image, over the disk or a cell range.

What researchers ask of the archive is how a parameter evolved over a day, a month or a
solar rotation, per channel. Each point is one image's statistic: the mean of the values
and the p10-p90 band around it, with the number of cells that had a value and of those
whose value is null (undefined, e.g. the skewness of a constant cell), which are left
out of the statistic but counted, never hidden.

Two selections of cells:
  the full disk   the cells whose centre lies inside the solar disk of the image's own
                  header (include/sql/009): read from image_parameter_summary, one row per
                  image, so a month at 6-minute cadence (7,200 images, 29 M cells) costs
                  one index range scan of the channel's images and one probe per image;
  a cell range    a rectangle of cell rows and columns picked on an image page: read from
                  the cells, one index range scan per image over the rectangle's rows.
The day range means what it means everywhere in nasaflow: UTC days, both ends included
(ImageFilter), the same days an export of the page's selection holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.webui.queries import ImageFilter

#: The band drawn around the mean: these quantiles of an image's values (the summary's
#: p10 and p90 columns; the cell-range query computes the same).
BAND = (0.1, 0.9)
#: Longest range of one request, in days: a year and a little more (a solar rotation is
#: 27 days; longer studies use `nasaflow export`).
MAX_DAYS = 400


class SeriesError(ValueError):
    """The request cannot be answered as asked; the message says why."""


@dataclass(frozen=True)
class CellRange:
    """Cell rows `rows[0]..rows[1]` and columns `cols[0]..cols[1]`, both ends included."""

    rows: tuple[int, int]
    cols: tuple[int, int]

    def __post_init__(self) -> None:
        for name, (low, high) in (("rows", self.rows), ("cols", self.cols)):
            if low < 0 or high < low:
                raise SeriesError(f"expected cell {name} from 0 up, first <= last, "
                                  f"got {low}..{high}")

    @property
    def cells(self) -> int:
        """Number of cells in the range."""
        return (self.rows[1] - self.rows[0] + 1) * (self.cols[1] - self.cols[0] + 1)

    def label(self) -> str:
        """The range for people: "cell (3, 4)" or "cells rows 2–5, cols 0–9"."""
        if self.cells == 1:
            return f"cell (row {self.rows[0]}, col {self.cols[0]})"
        return (f"cells rows {self.rows[0]}–{self.rows[1]}, "
                f"cols {self.cols[0]}–{self.cols[1]}")


@dataclass(frozen=True)
class SeriesRequest:
    """One parameter, channels and UTC days (inclusive), at one patch size, over the full
    disk (`cells` None) or a cell range."""

    parameter: str
    wavelengths: tuple[str, ...]
    start: date
    end: date
    patch_size: int
    cells: CellRange | None = None

    def __post_init__(self) -> None:
        if self.parameter not in PARAMETER_NAMES:
            raise SeriesError(f"unknown parameter {self.parameter!r}; known: "
                              f"{', '.join(PARAMETER_NAMES)}")
        if not self.wavelengths:
            raise SeriesError("choose at least one channel")
        if self.end < self.start:
            raise SeriesError(f"the range ends ({self.end}) before it starts ({self.start})")
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise SeriesError(f"a range of at most {MAX_DAYS} days, got "
                              f"{(self.end - self.start).days + 1}: export longer ones with "
                              "`nasaflow export`")
        if self.patch_size < 1:
            raise SeriesError(f"the patch size must be at least 1, got {self.patch_size}")


@dataclass(frozen=True)
class Point:
    """One image's statistic: mean and band of its values (None when every value is
    null), `values` cells with a value and `nulls` cells whose value is null."""

    observed_at: datetime
    mean: float | None
    low: float | None
    high: float | None
    values: int
    nulls: int


@dataclass(frozen=True)
class Series:
    """The points of one channel, in time order."""

    wavelength: str
    points: tuple[Point, ...]

    @property
    def nulls(self) -> int:
        """Null values left out of the statistic, over every image of the series."""
        return sum(point.nulls for point in self.points)

    @property
    def values(self) -> int:
        """Values the statistic was computed from, over every image of the series."""
        return sum(point.values for point in self.points)


_DISK = sql.SQL("""
SELECT i.wavelength, i.observed_at, s.mean, s.p10, s.p90, s.n_cells, s.n_null
  FROM images AS i
  JOIN image_keys AS k ON k.image_id = i.id
  JOIN image_parameter_summary AS s ON s.image_key = k.image_key
   AND s.patch_size = %(patch_size)s AND s.parameter = %(parameter)s
 WHERE {where}
 ORDER BY i.wavelength, i.observed_at, i.id""")
_RANGE = sql.SQL("""
SELECT i.wavelength, i.observed_at, avg(c.{value}),
       percentile_cont(%(low)s) WITHIN GROUP (ORDER BY c.{value}),
       percentile_cont(%(high)s) WITHIN GROUP (ORDER BY c.{value}),
       count(c.{value}), count(*) - count(c.{value})
  FROM images AS i
  JOIN image_keys AS k ON k.image_id = i.id
  JOIN image_cells AS c ON c.image_key = k.image_key
   AND c.observed_on = observation_day(k.observed_at) AND c.patch_size = %(patch_size)s
   AND c.observed_on BETWEEN %(first_day)s AND %(last_day)s
   AND c.cell_row BETWEEN %(row_from)s AND %(row_to)s
   AND c.cell_col BETWEEN %(col_from)s AND %(col_to)s
 WHERE {where}
 GROUP BY i.wavelength, i.observed_at, i.id
 ORDER BY i.wavelength, i.observed_at, i.id""")


def series_query(request: SeriesRequest) -> tuple[sql.Composed, dict[str, Any]]:
    """The query of `request`: rows (wavelength, observed_at, mean, low, high, values,
    nulls), one per image, by channel and time."""
    clauses, params = ImageFilter(request.start, request.end).where()
    clauses.insert(0, sql.SQL("i.wavelength = ANY(%(wavelengths)s)"))
    params.update(wavelengths=list(request.wavelengths), patch_size=request.patch_size,
                  parameter=request.parameter)
    where = sql.SQL(" AND ").join(clauses)
    if request.cells is None:
        return _DISK.format(where=where), params
    # The days again as the cells' partition key: only their partitions are opened.
    params.update(low=BAND[0], high=BAND[1], first_day=request.start, last_day=request.end,
                  row_from=request.cells.rows[0],
                  row_to=request.cells.rows[1], col_from=request.cells.cols[0],
                  col_to=request.cells.cols[1])
    return _RANGE.format(value=sql.Identifier(request.parameter), where=where), params


def fetch_series(conn: psycopg.Connection, request: SeriesRequest) -> list[Series]:
    """One series per asked channel, in the order asked (empty where no image has a
    statistic in the range)."""
    query, params = series_query(request)
    return group_series(conn.execute(query, params).fetchall(), request.wavelengths)


def group_series(rows: Sequence[Sequence[Any]], wavelengths: Sequence[str]) -> list[Series]:
    """Rows of `series_query` as one Series per channel of `wavelengths`, in that order."""
    points: dict[str, list[Point]] = {wavelength: [] for wavelength in wavelengths}
    for wavelength, observed_at, mean, low, high, values, nulls in rows:
        points.setdefault(wavelength, []).append(
            Point(observed_at, mean, low, high, int(values), int(nulls)))
    return [Series(wavelength, tuple(found)) for wavelength, found in points.items()]
