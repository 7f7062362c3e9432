"""What the pages read from the data database, as small dataclasses.

Every query of the image pages is here (the time series' are in timeseries.py), so the
pages' load on PostgreSQL can be read in one place: each page costs one or two indexed
queries; a heat map costs one aggregate over one image's cells (its data version), plus,
only when it is not cached yet, one read of those cells.

The image list is filtered by UTC days and channels and paged by keyset: a page is the
images just older (or newer) than the last (first) one shown, by (observed_at, id), read
from the indexes of include/sql/009 (per channel, one index range scan each), so any page
costs the same with a million images; no OFFSET, which would read every row before it.

The data version of (image, patch size) is the number of landed cells and the time the
last one landed: it changes whenever the stream writes a cell of that image, and is what
the rendering cache is keyed by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.parameters.grid import make_grid
from nasaflow.webui.render import cell_grid

#: SQL over a group of rows of one image's cells giving their data version.
_VERSION_SQL = ("count(*)::text || '-' || "
                "(extract(epoch FROM max(landed_at)) * 1000000)::bigint::text")

#: The columns of an ImageRow from images `i` (its landed patch sizes come from _PATCHES).
_IMAGE_COLUMNS = """
SELECT i.id, i.source, i.instrument, i.wavelength, i.observed_at, i.width, i.height,
       i.sha256, i.path"""
#: The landed patch sizes of images, read in the partitions of their observation days
#: only: the days are values of the statement, so PostgreSQL opens those partitions
#: alone, where a join on each image's day would plan every monthly partition (130 ms
#: of planning for a page at 200 partitions, against a few ms to run it).
_IMAGE_DAYS = ("SELECT DISTINCT observation_day(observed_at) FROM image_keys"
               " WHERE image_id = ANY(%s)")
_PATCHES = f"""
SELECT k.image_id, c.patch_size, count(*), {_VERSION_SQL}, max(c.cell_row) + 1,
       max(c.cell_col) + 1
  FROM image_keys AS k
  JOIN image_cells AS c ON c.image_key = k.image_key
                       AND c.observed_on = observation_day(k.observed_at)
 WHERE k.image_id = ANY(%(ids)s) AND c.observed_on = ANY(%(days)s)
 GROUP BY k.image_id, c.patch_size"""


@dataclass(frozen=True)
class PatchStatus:
    """The landed cells of one image at one patch size.

    Attributes:
        patch_size: cell side in pixels.
        rows, cols: the image's cell grid at this patch size.
        cells: number of cells landed in image_parameters.
        version: data version (see the module docstring).
    """

    patch_size: int
    rows: int
    cols: int
    cells: int
    version: str

    @property
    def expected(self) -> int:
        """Cells the grid has: when `cells` reaches it, the image has fully landed."""
        return self.rows * self.cols


@dataclass(frozen=True)
class ImageRow:
    """One row of `images` with the patch sizes that have landed cells."""

    id: str
    source: str
    instrument: str
    wavelength: str
    observed_at: datetime
    width: int
    height: int
    sha256: str
    path: str
    patches: tuple[PatchStatus, ...]

    def patch(self, patch_size: int) -> PatchStatus | None:
        """The status at `patch_size`, or None when no cell of that size has landed."""
        return next((p for p in self.patches if p.patch_size == patch_size), None)

    def shown_patch(self, preferred: int) -> PatchStatus | None:
        """The status to show: at `preferred` if landed, else the size with most cells."""
        return self.patch(preferred) or max(self.patches, key=lambda p: p.cells, default=None)


@dataclass(frozen=True)
class Batch:
    """One committed micro-batch of a streaming query (a row of `stream_batches`)."""

    query: str
    batch_id: int
    rows: int
    dead_letters: int
    max_lag_seconds: float | None
    started_at: datetime
    finished_at: datetime

    @property
    def duration_seconds(self) -> float:
        """Wall time from the batch's start to its commit."""
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class ImageFilter:
    """Which images the list shows: observed on UTC days `start`..`end` (inclusive; None:
    unbounded) in channels `wavelengths` (empty: all)."""

    start: date | None = None
    end: date | None = None
    wavelengths: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"the range ends ({self.end}) before it starts ({self.start})")

    def where(self) -> tuple[list[sql.Composable], dict[str, Any]]:
        """Conditions on images `i` (without the channel, which the caller places) and
        their parameters."""
        clauses: list[sql.Composable] = []
        params: dict[str, Any] = {}
        if self.start is not None:
            clauses.append(sql.SQL("i.observed_at >= %(start)s"))
            params["start"] = datetime(self.start.year, self.start.month, self.start.day,
                                       tzinfo=UTC)
        if self.end is not None:
            clauses.append(sql.SQL("i.observed_at < %(stop)s"))
            stop = self.end + timedelta(days=1)
            params["stop"] = datetime(stop.year, stop.month, stop.day, tzinfo=UTC)
        return clauses, params


@dataclass(frozen=True)
class PageKey:
    """Where a page of the list starts: just past the image (observed_at, image_id), going
    to older images (`older`) or to newer ones."""

    observed_at: datetime
    image_id: str
    older: bool = True

    def token(self) -> str:
        """The key as one URL parameter value."""
        return f"{self.observed_at.isoformat()}|{self.image_id}"

    @classmethod
    def parse(cls, token: str, older: bool = True) -> PageKey:
        """The key of `token()`; ValueError when `token` is not one."""
        moment, bar, image_id = token.partition("|")
        if not bar or not image_id:
            raise ValueError(f"expected <ISO time>|<image id>, got {token!r}")
        observed_at = datetime.fromisoformat(moment)
        if observed_at.tzinfo is None:
            raise ValueError(f"expected a time with its UTC offset, got {moment!r}")
        return cls(observed_at, image_id, older)


@dataclass(frozen=True)
class ImagePage:
    """One page of the list, newest first, and the keys of its neighbours (None: none)."""

    images: list[ImageRow]
    older: PageKey | None
    newer: PageKey | None


def count_images(conn: psycopg.Connection, where: ImageFilter | None = None,
                 up_to: int | None = None) -> int:
    """Number of images registered (matching `where`); counting stops past `up_to`
    (returns up_to + 1 then), since counting a million rows takes longer than a page."""
    clauses, params = (where or ImageFilter()).where()
    if where and where.wavelengths:
        clauses.append(sql.SQL("i.wavelength = ANY(%(wavelengths)s)"))
        params["wavelengths"] = list(where.wavelengths)
    rows = sql.SQL("SELECT 1 FROM images i") + _where(clauses)
    if up_to is not None:
        rows += sql.SQL(" LIMIT %(up_to)s")
        params["up_to"] = up_to + 1
    row = conn.execute(sql.SQL("SELECT count(*) FROM ({}) AS counted").format(rows),
                       params).fetchone()
    return int(row[0]) if row else 0


def page_query(where: ImageFilter, limit: int, key: PageKey | None = None
               ) -> tuple[sql.Composed, dict[str, Any]]:
    """The images of one page (at most `limit`), rows of _IMAGE_COLUMNS.

    In time order away from `key` (newest first without a key or going older): ids
    within one channel come from one index range scan of (wavelength, observed_at, id),
    several channels are merged from one scan each (a LATERAL per channel), no channel
    filter scans (observed_at, id).
    """
    clauses, params = where.where()
    params["limit"] = limit
    older = key is None or key.older
    if key is not None:
        clauses.append(sql.SQL("(i.observed_at, i.id) {} (%(key_at)s, %(key_id)s)").format(
            sql.SQL("<" if older else ">")))
        params.update(key_at=key.observed_at, key_id=key.image_id)
    direction = sql.SQL("DESC" if older else "ASC")
    order = sql.SQL("ORDER BY i.observed_at {0}, i.id {0}").format(direction)
    source: sql.Composable = sql.SQL("images")
    if where.wavelengths:
        clauses.insert(0, sql.SQL("i.wavelength = w.wavelength"))
        params["wavelengths"] = list(where.wavelengths)
        inner = sql.SQL("SELECT i.* FROM images i WHERE {where} {order} LIMIT %(limit)s").format(
            where=sql.SQL(" AND ").join(clauses), order=order)
        source = sql.SQL("(SELECT c.* FROM unnest(%(wavelengths)s::text[]) AS w (wavelength)"
                         " CROSS JOIN LATERAL ({inner}) AS c)").format(inner=inner)
    condition = _where([] if where.wavelengths else clauses)
    query = sql.SQL("{columns} FROM (SELECT i.* FROM {source} i{condition} {order}"
                    " LIMIT %(limit)s) AS i {order}").format(
        columns=sql.SQL(_IMAGE_COLUMNS), source=source, condition=condition, order=order)
    return query, params


def list_images(conn: psycopg.Connection, where: ImageFilter, limit: int,
                key: PageKey | None = None) -> ImagePage:
    """A page of images newest observation first, with their landed patch sizes and the
    keys of the pages before and after it (one extra row read tells whether there is one)."""
    query, params = page_query(where, limit + 1, key)
    rows = _with_patches(conn, conn.execute(query, params).fetchall())
    more = len(rows) > limit
    rows = rows[:limit]
    older = key is None or key.older
    if not older:
        rows.reverse()
    if not rows:
        return ImagePage([], None, None)
    first, last = rows[0], rows[-1]
    return ImagePage(
        rows,
        older=PageKey(last.observed_at, last.id) if (more or not older) else None,
        newer=(PageKey(first.observed_at, first.id, older=False)
               if key is not None and (more or older) else None))


def newest_observation(conn: psycopg.Connection) -> datetime | None:
    """When the newest registered image was observed (None without images)."""
    row = conn.execute("SELECT max(observed_at) FROM images").fetchone()
    return row[0] if row else None


def channels(conn: psycopg.Connection) -> list[str]:
    """The wavelengths of the registered images, read as a skip scan of the channel index
    (one index probe per channel, not a scan of every image)."""
    rows = conn.execute("""
        WITH RECURSIVE seen (wavelength) AS (
            (SELECT wavelength FROM images ORDER BY wavelength LIMIT 1)
            UNION ALL
            SELECT (SELECT i.wavelength FROM images i WHERE i.wavelength > seen.wavelength
                     ORDER BY i.wavelength LIMIT 1)
              FROM seen WHERE seen.wavelength IS NOT NULL)
        SELECT wavelength FROM seen WHERE wavelength IS NOT NULL""").fetchall()
    return [row[0] for row in rows]


def get_image(conn: psycopg.Connection, image_id: str) -> ImageRow | None:
    """The image `image_id`, or None when it is not registered."""
    row = conn.execute(_IMAGE_COLUMNS + " FROM images i WHERE i.id = %s",
                       (image_id,)).fetchone()
    return _with_patches(conn, [row])[0] if row else None


def image_file(conn: psycopg.Connection, image_id: str) -> tuple[str, str] | None:
    """(path, sha256) of the image's file, or None when it is not registered."""
    row = conn.execute("SELECT path, sha256 FROM images WHERE id = %s", (image_id,)).fetchone()
    return (row[0], row[1]) if row else None


def data_version(conn: psycopg.Connection, image_id: str, patch_size: int) -> str | None:
    """The data version of (image, patch size), or None when no cell has landed."""
    row = conn.execute(
        f"SELECT {_VERSION_SQL} FROM image_parameters WHERE image_id = %s AND patch_size = %s"
        " HAVING count(*) > 0", (image_id, patch_size)).fetchone()
    return row[0] if row else None


def parameter_grids(conn: psycopg.Connection, image_id: str,
                    status: PatchStatus) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Parameter name -> (rows, cols) float64 grid of the landed values, NaN elsewhere
    (and where a landed value is NULL); and the boolean grid of the landed cells, which
    tells the two apart."""
    columns = ", ".join(PARAMETER_NAMES)
    rows = conn.execute(
        f"SELECT cell_row, cell_col, {columns} FROM image_parameters"
        " WHERE image_id = %s AND patch_size = %s", (image_id, status.patch_size)).fetchall()
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 2 + len(PARAMETER_NAMES))
    cell_rows, cell_cols = table[:, 0].astype(np.intp), table[:, 1].astype(np.intp)
    shape = (status.rows, status.cols)
    landed = cell_grid(shape, cell_rows, cell_cols, np.ones(len(rows))) == 1.0
    return {name: cell_grid(shape, cell_rows, cell_cols, table[:, 2 + k])
            for k, name in enumerate(PARAMETER_NAMES)}, landed


def recent_batches(conn: psycopg.Connection, limit: int) -> list[Batch]:
    """The `limit` most recently committed micro-batches, oldest first."""
    rows = conn.execute(
        "SELECT query, batch_id, rows, dead_letters, max_lag_seconds, started_at, finished_at"
        " FROM stream_batches ORDER BY finished_at DESC, batch_id DESC LIMIT %s",
        (limit,)).fetchall()
    return [Batch(*row) for row in reversed(rows)]


def _where(clauses: list[sql.Composable]) -> sql.Composable:
    """ " WHERE a AND b", or nothing without clauses."""
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")


def _with_patches(conn: psycopg.Connection, rows: list[tuple]) -> list[ImageRow]:
    """ImageRows of rows of _IMAGE_COLUMNS, with their landed patch sizes."""
    ids = [row[0] for row in rows]
    days = [day for (day,) in conn.execute(_IMAGE_DAYS, (ids,)).fetchall()]
    landed: dict[str, list[tuple]] = {}
    if days:
        for image_id, *patch in conn.execute(_PATCHES, {"ids": ids, "days": days}):
            landed.setdefault(image_id, []).append(tuple(patch))
    images = []
    for image_id, source, instrument, wavelength, observed_at, width, height, sha, path in rows:
        patches = tuple(_patch_status(width, height, *patch)
                        for patch in sorted(landed.get(image_id, [])))
        images.append(ImageRow(image_id, source, instrument, wavelength, observed_at, width,
                               height, sha, path, patches))
    return images


def _patch_status(width: int, height: int, patch_size: int, cells: int, version: str,
                  rows: int, cols: int) -> PatchStatus:
    grid_rows, grid_cols = _grid_shape(width, height, patch_size, [rows, cols])
    return PatchStatus(patch_size, grid_rows, grid_cols, int(cells), str(version))


def _grid_shape(width: int, height: int, patch_size: int,
                extent: list[int]) -> tuple[int, int]:
    """The image's cell grid at `patch_size` (the project's tiling), or, for a patch size
    the image cannot hold, the extent of the cells that landed, so that none is hidden."""
    try:
        grid = make_grid((height, width), patch_size)
    except ValueError:
        return int(extent[0]), int(extent[1])
    return grid.rows, grid.cols
