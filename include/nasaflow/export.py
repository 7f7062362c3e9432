"""`nasaflow export`: a selection of cells out of PostgreSQL into Parquet, CSV or an npz cube.

Researchers want the archive in their notebooks, not in SQL: one row per cell with its
image's metadata (Parquet or CSV), or a cube (time x cell rows x cell cols x parameters)
with the images' timestamps (npz). The selection is a UTC date range, channels, parameters
and one cell size.

Rows are streamed from a server-side cursor in batches and written batch by batch (Parquet
row groups, CSV chunks), so an export's memory stays bounded whatever its size; only the
npz cube must be whole in memory to be written, so its size is checked before the first
row is read. The export reads as the reader role, which can change nothing. On a terminal
it shows its progress (rows and images of the total, rate, time left); piped, it is quiet.

    nasaflow export --from 2022-01-01 --to 2022-01-31 --wavelengths 193,304 \\
        --params entropy,mean --patch-size 64 --format parquet -o january.parquet
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import get_settings

FORMATS = ("parquet", "csv", "npz")
#: Rows fetched from the server and written per batch (one Parquet row group each).
BATCH_ROWS = 65_536
#: Largest npz cube (8 bytes per value) built in memory unless --max-cube-bytes says more.
DEFAULT_MAX_CUBE_BYTES = 2 << 30
#: The image columns joined to every cell row, with their Arrow types.
IMAGE_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("image_id", pa.string()),
    ("source", pa.string()),
    ("instrument", pa.string()),
    ("wavelength", pa.string()),
    ("observed_at", pa.timestamp("us", tz="UTC")),
)
CELL_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("patch_size", pa.int32()),
    ("cell_row", pa.int32()),
    ("cell_col", pa.int32()),
)


class ExportError(ValueError):
    """The selection cannot be exported as asked; the message says why."""


@dataclass(frozen=True)
class Selection:
    """Which cells to export.

    Attributes:
        start: first UTC day, inclusive.
        end: last UTC day, inclusive.
        wavelengths: channels (images.wavelength), or empty for all.
        parameters: parameter columns, in the order asked.
        patch_size: cell side in pixels.
    """

    start: date
    end: date
    wavelengths: tuple[str, ...]
    parameters: tuple[str, ...]
    patch_size: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ExportError(f"--to {self.end} is before --from {self.start}")
        unknown = [name for name in self.parameters if name not in PARAMETER_NAMES]
        if unknown:
            raise ExportError(f"unknown parameter(s) {', '.join(unknown)}; known: "
                              f"{', '.join(PARAMETER_NAMES)}")
        if not self.parameters:
            raise ExportError("no parameter asked for")
        if self.patch_size < 1:
            raise ExportError(f"--patch-size must be at least 1, got {self.patch_size}")

    def schema(self) -> pa.Schema:
        """The Arrow schema of an exported row: image metadata, cell, parameters."""
        return pa.schema([*IMAGE_FIELDS, *CELL_FIELDS,
                          *((name, pa.float64()) for name in self.parameters)])

    def where(self) -> tuple[sql.Composable, dict[str, Any]]:
        """The WHERE clause on images i and image_cells c, and its parameters."""
        clauses = [sql.SQL("i.observed_at >= %(start)s AND i.observed_at < %(stop)s"),
                   sql.SQL("c.patch_size = %(patch_size)s")]
        if self.wavelengths:
            clauses.append(sql.SQL("i.wavelength = ANY(%(wavelengths)s)"))
        params = {"start": self.start, "stop": self.end + timedelta(days=1),
                  "patch_size": self.patch_size, "wavelengths": list(self.wavelengths)}
        return sql.SQL(" AND ").join(clauses), params


#: Cells of the selection with their images; the join on the observation day lets
#: PostgreSQL read only the partitions of the range.
_FROM = sql.SQL("""
  FROM images AS i
  JOIN image_keys AS k ON k.image_id = i.id
  JOIN image_cells AS c ON c.image_key = k.image_key
                       AND c.observed_on = observation_day(k.observed_at)""")


def selection_query(selection: Selection) -> tuple[sql.Composed, dict[str, Any]]:
    """The rows of the selection, in schema order, by time, image, row and column."""
    where, params = selection.where()
    columns = [sql.SQL("i.id"), sql.SQL("i.source"), sql.SQL("i.instrument"),
               sql.SQL("i.wavelength"), sql.SQL("i.observed_at"), sql.SQL("c.patch_size"),
               sql.SQL("c.cell_row"), sql.SQL("c.cell_col"),
               *(sql.SQL("c.{}").format(sql.Identifier(name)) for name in selection.parameters)]
    query = sql.SQL("SELECT {columns}{source} WHERE {where}"
                    " ORDER BY i.observed_at, i.id, c.cell_row, c.cell_col").format(
        columns=sql.SQL(", ").join(columns), source=_FROM, where=where)
    return query, params


def selection_totals(conn: psycopg.Connection, selection: Selection
                     ) -> tuple[int, int, int, int]:
    """(images, cells, grid rows, grid cols) of the selection; the grid is the largest
    cell row and column + 1 (what an npz cube needs)."""
    where, params = selection.where()
    query = sql.SQL("SELECT count(DISTINCT i.id), count(*), coalesce(max(c.cell_row) + 1, 0),"
                    " coalesce(max(c.cell_col) + 1, 0){source} WHERE {where}").format(
        source=_FROM, where=where)
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def record_batches(conn: psycopg.Connection, selection: Selection,
                   batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The selection as Arrow record batches, read from a server-side cursor."""
    schema = selection.schema()
    query, params = selection_query(selection)
    with conn.cursor(name="nasaflow_export") as cursor:
        cursor.itersize = batch_rows
        cursor.execute(query, params)
        while rows := cursor.fetchmany(batch_rows):
            columns = list(zip(*rows, strict=True))
            yield pa.RecordBatch.from_arrays(
                [pa.array(column, type=field.type) for column, field in zip(columns, schema,
                                                                             strict=True)],
                schema=schema)


class Progress:
    """Rows and images done of the total, rate and time left, on a terminal only."""

    def __init__(self, images: int, cells: int, enabled: bool) -> None:
        self._bar: Any = None
        self._last_image: str | None = None
        self._images = 0
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(TextColumn("cells"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn(f"images {{task.fields[images]}}/{images}"),
                                 TextColumn("{task.fields[rate]} cells/s"),
                                 TimeRemainingColumn(), console=Console(stderr=True))
        self._bar.start()
        self._task = self._bar.add_task("export", total=cells, images=0, rate="-")

    def advance(self, batch: pa.RecordBatch) -> None:
        """Account for one written batch (nothing to count when not shown: piped exports
        skip the per-row work)."""
        if self._bar is None:
            return
        ids = batch.column(0).to_pylist()
        self._images += len(set(ids) - {self._last_image})
        self._last_image = ids[-1] if ids else self._last_image
        self._bar.update(self._task, advance=batch.num_rows, images=self._images)
        task = self._bar.tasks[0]
        if task.elapsed:
            self._bar.update(self._task, rate=f"{task.completed / task.elapsed:,.0f}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def write_table_file(batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: Path,
                     file_format: str, progress: Progress) -> int:
    """Write Parquet or CSV batch by batch; returns the rows written."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = 0
    writer: Any = (pq.ParquetWriter(path, schema, compression="zstd")
                   if file_format == "parquet" else pacsv.CSVWriter(path, schema))
    with writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
            progress.advance(batch)
    return rows


def write_cube(batches: Iterator[pa.RecordBatch], selection: Selection,
               totals: tuple[int, int, int, int], path: Path, progress: Progress) -> int:
    """Write the npz cube: values (time, row, col, parameter; NaN where a cell is missing
    or its value undefined), observed_at (datetime64[us], UTC), image_id, wavelength,
    parameters, patch_size. Returns the cells written."""
    images, _, grid_rows, grid_cols = totals
    values = np.full((images, grid_rows, grid_cols, len(selection.parameters)), np.nan)
    observed = np.empty(images, dtype="datetime64[us]")
    times: dict[str, int] = {}
    wavelengths: list[str] = []
    first_parameter = len(IMAGE_FIELDS) + len(CELL_FIELDS)
    rows = 0
    for batch in batches:
        ids = batch.column(0).to_numpy(zero_copy_only=False)
        # Rows come by image: each run of one id is one image (one time step).
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        for start in starts:
            if ids[start] not in times:
                times[ids[start]] = len(times)
                wavelengths.append(batch.column(3)[start].as_py())
                observed[len(times) - 1] = np.datetime64(batch.column(4)[start].value, "us")
        steps = np.repeat([times[image_id] for image_id in ids[starts]],
                          np.diff(np.r_[starts, batch.num_rows]))
        cell_rows = batch.column(6).to_numpy()
        cell_cols = batch.column(7).to_numpy()
        for offset in range(len(selection.parameters)):
            column = batch.column(first_parameter + offset).to_numpy(zero_copy_only=False)
            values[steps, cell_rows, cell_cols, offset] = column
        rows += batch.num_rows
        progress.advance(batch)
    np.savez(path, values=values, observed_at=observed, image_id=np.array(list(times)),
             wavelength=np.array(wavelengths), parameters=np.array(selection.parameters),
             patch_size=np.int32(selection.patch_size))
    return rows


def export(db_url: str, selection: Selection, path: Path, file_format: str, *,
           max_cube_bytes: int = DEFAULT_MAX_CUBE_BYTES, show_progress: bool = False
           ) -> tuple[int, int]:
    """Export the selection to `path`; returns (images, cells) written.

    Raises:
        ExportError: nothing matches the selection, or the npz cube would be larger than
            `max_cube_bytes`.
    """
    if file_format not in FORMATS:
        raise ExportError(f"unknown format {file_format!r}; one of {', '.join(FORMATS)}")
    with psycopg.connect(db_url) as conn:
        totals = selection_totals(conn, selection)
        images, cells, grid_rows, grid_cols = totals
        if cells == 0:
            raise ExportError("no cells match the selection")
        if file_format == "npz":
            size = images * grid_rows * grid_cols * len(selection.parameters) * 8
            if size > max_cube_bytes:
                raise ExportError(f"the npz cube would take {size / 2**30:.1f} GiB in memory,"
                                  f" over the limit of {max_cube_bytes / 2**30:.1f} GiB: "
                                  "narrow the selection, raise --max-cube-bytes, or export "
                                  "Parquet, which streams")
        progress = Progress(images, cells, show_progress)
        try:
            batches = record_batches(conn, selection)
            if file_format == "npz":
                written = write_cube(batches, selection, totals, path, progress)
            else:
                written = write_table_file(batches, selection.schema(), path, file_format,
                                           progress)
        finally:
            progress.close()
    return images, written


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=_day, required=True,
                        help="first UTC day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=_day, required=True,
                        help="last UTC day, inclusive")
    parser.add_argument("--wavelengths", type=_names, default=(),
                        help="comma-separated channels, e.g. 193,304 (default: all)")
    parser.add_argument("--params", type=_names, default=PARAMETER_NAMES,
                        help="comma-separated parameters (default: all ten)")
    parser.add_argument("--patch-size", type=int, default=None,
                        help="cell side in pixels (default: the platform's)")
    parser.add_argument("--format", choices=FORMATS, default="parquet",
                        help="parquet or csv (one row per cell, streamed) or npz (a cube)")
    parser.add_argument("--max-cube-bytes", type=int, default=DEFAULT_MAX_CUBE_BYTES,
                        help="largest npz cube built in memory (default %(default)s)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="file to write")


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        selection = Selection(args.start, args.end, tuple(args.wavelengths), tuple(args.params),
                              args.patch_size or settings.patch_size)
        images, cells = export(settings.db_reader_url, selection, args.output, args.format,
                               max_cube_bytes=args.max_cube_bytes,
                               show_progress=sys.stderr.isatty())
    except ExportError as exc:
        print(f"nasaflow export: {exc}", file=sys.stderr)
        return 2
    print(f"exported {cells} cells of {images} images to {args.output}")
    return 0

