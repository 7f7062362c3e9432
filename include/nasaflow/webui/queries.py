"""What the pages read from the data database, as small dataclasses.

Every query is here, so the pages' load on PostgreSQL can be read in one place: each
page costs one or two indexed queries; a heat map costs one aggregate over one image's
cells (its data version), plus, only when it is not cached yet, one read of those cells.

The data version of (image, patch size) is the number of landed cells and the time the
last one landed: it changes whenever the stream writes a cell of that image, and is what
the rendering cache is keyed by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.parameters.grid import make_grid
from nasaflow.webui.render import cell_grid

#: SQL over a group of image_parameters rows giving their data version.
_VERSION_SQL = ("count(*)::text || '-' || "
                "(extract(epoch FROM max(landed_at)) * 1000000)::bigint::text")

_IMAGE_SQL = f"""
SELECT i.id, i.source, i.instrument, i.wavelength, i.observed_at, i.width, i.height,
       i.sha256, i.path, COALESCE(p.patches, '[]'::json)
FROM images i
LEFT JOIN LATERAL (
    SELECT json_agg(json_build_object('patch_size', patch_size, 'cells', cells,
                                      'version', version, 'extent', extent)
                    ORDER BY patch_size) AS patches
    FROM (SELECT patch_size, count(*) AS cells, {_VERSION_SQL} AS version,
                 json_build_array(max(cell_row) + 1, max(cell_col) + 1) AS extent
          FROM image_parameters WHERE image_id = i.id GROUP BY patch_size) AS landed
) AS p ON true
"""


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


def count_images(conn: psycopg.Connection) -> int:
    """Number of images registered."""
    row = conn.execute("SELECT count(*) FROM images").fetchone()
    return int(row[0]) if row else 0


def list_images(conn: psycopg.Connection, limit: int, offset: int = 0) -> list[ImageRow]:
    """Images newest observation first, with their landed patch sizes."""
    rows = conn.execute(_IMAGE_SQL + " ORDER BY i.observed_at DESC, i.id LIMIT %s OFFSET %s",
                        (limit, offset)).fetchall()
    return [_image_row(row) for row in rows]


def get_image(conn: psycopg.Connection, image_id: str) -> ImageRow | None:
    """The image `image_id`, or None when it is not registered."""
    row = conn.execute(_IMAGE_SQL + " WHERE i.id = %s", (image_id,)).fetchone()
    return _image_row(row) if row else None


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


def _image_row(row: tuple) -> ImageRow:
    image_id, source, instrument, wavelength, observed_at, width, height, sha, path, patches = row
    statuses = tuple(_patch_status(width, height, p) for p in patches)
    return ImageRow(image_id, source, instrument, wavelength, observed_at, width, height,
                    sha, path, statuses)


def _patch_status(width: int, height: int, landed: dict) -> PatchStatus:
    patch_size = int(landed["patch_size"])
    rows, cols = _grid_shape(width, height, patch_size, landed["extent"])
    return PatchStatus(patch_size, rows, cols, int(landed["cells"]), str(landed["version"]))


def _grid_shape(width: int, height: int, patch_size: int,
                extent: list[int]) -> tuple[int, int]:
    """The image's cell grid at `patch_size` (the project's tiling), or, for a patch size
    the image cannot hold, the extent of the cells that landed, so that none is hidden."""
    try:
        grid = make_grid((height, width), patch_size)
    except ValueError:
        return int(extent[0]), int(extent[1])
    return grid.rows, grid.cols
