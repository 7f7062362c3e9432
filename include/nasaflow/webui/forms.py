"""The pages' query parameters: read into selections, and written back into links.

The list's filters and page, and a time series' selection, live in the URL (GET forms),
so every view can be bookmarked, shared and opened in a new tab, and the browser's back
button works. Reading and writing them is in one place, so a link always reads back as
the view it was made from. Bad values are refused with a message that names them
(FormError, answered 400 by the app), never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from nasaflow.webui.links import QueryParams
from nasaflow.webui.queries import ImageFilter, PageKey
from nasaflow.webui.timeseries import CellRange, SeriesError, SeriesRequest

#: Days a time series opened from an image page spans on each side of the image's day.
DAYS_AROUND_IMAGE = 3


class FormError(ValueError):
    """A query parameter holds a value the page cannot use; the message says which."""


def parse_day(name: str, text: str | None) -> date | None:
    """A YYYY-MM-DD parameter (None or empty: not given)."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FormError(f"{name}: expected a date YYYY-MM-DD, got {text!r}") from None


def channels_of(values: list[str]) -> tuple[str, ...]:
    """Channels as given (repeated parameters), blanks dropped, duplicates once."""
    return tuple(dict.fromkeys(value.strip() for value in values if value.strip()))


@dataclass(frozen=True)
class ListView:
    """The image list's filter, the page key and the page's number (for people only: the
    key says where the page starts)."""

    where: ImageFilter
    key: PageKey | None
    page: int

    @classmethod
    def parse(cls, start: str | None, end: str | None, wavelengths: list[str],
              after: str | None, before: str | None, page: int) -> ListView:
        """The view of the list's query parameters."""
        if after and before:
            raise FormError("after and before: give one page key, not both")
        try:
            where = ImageFilter(parse_day("start", start), parse_day("end", end),
                                channels_of(wavelengths))
            key = (PageKey.parse(after) if after
                   else PageKey.parse(before, older=False) if before else None)
        except ValueError as exc:
            raise FormError(str(exc)) from None
        return cls(where, key, max(page, 1) if key else 1)

    def filter_params(self) -> list[tuple[str, str | int]]:
        """The filter as query parameters (for the pager's links)."""
        params: list[tuple[str, str | int]] = []
        if self.where.start:
            params.append(("start", self.where.start.isoformat()))
        if self.where.end:
            params.append(("end", self.where.end.isoformat()))
        params.extend(("wavelength", wavelength) for wavelength in self.where.wavelengths)
        return params

    def page_params(self, key: PageKey) -> QueryParams:
        """The link to the page that `key` starts (older or newer than this one)."""
        page = self.page + 1 if key.older else self.page - 1
        return [*self.filter_params(), ("after" if key.older else "before", key.token()),
                ("page", max(page, 1))]


def parse_series(parameter: str, wavelengths: list[str], start: str | None, end: str | None,
                 patch_size: int, cells: tuple[int | None, int | None, int | None,
                                               int | None]) -> SeriesRequest:
    """The time series of the page's parameters; `cells` are (row from, row to, col from,
    col to), all None for the full disk, a missing "to" meaning the same as its "from".

    Raises:
        FormError: a value is missing or invalid.
    """
    first, last = parse_day("start", start), parse_day("end", end)
    if first is None or last is None:
        raise FormError("start and end: both days are needed")
    row_from, row_to, col_from, col_to = cells
    if (row_from is None) != (col_from is None):
        raise FormError("row_from and col_from: give both for a cell range, or neither "
                        "for the full disk")
    try:
        picked = (None if row_from is None or col_from is None else
                  CellRange((row_from, row_from if row_to is None else row_to),
                            (col_from, col_from if col_to is None else col_to)))
        return SeriesRequest(parameter, channels_of(wavelengths), first, last, patch_size,
                             picked)
    except SeriesError as exc:
        raise FormError(str(exc)) from None


def series_params(request: SeriesRequest) -> list[tuple[str, str | int]]:
    """`request` as the time-series page's query parameters (parse_series reads them)."""
    params: list[tuple[str, str | int]] = [
        ("parameter", request.parameter),
        *(("wavelength", wavelength) for wavelength in request.wavelengths),
        ("start", request.start.isoformat()), ("end", request.end.isoformat()),
        ("patch_size", request.patch_size)]
    if request.cells is not None:
        params += [("row_from", request.cells.rows[0]), ("row_to", request.cells.rows[1]),
                   ("col_from", request.cells.cols[0]), ("col_to", request.cells.cols[1])]
    return params


def around(day: date) -> tuple[date, date]:
    """The days a time series opened from an image of `day` spans."""
    return day - timedelta(days=DAYS_AROUND_IMAGE), day + timedelta(days=DAYS_AROUND_IMAGE)
