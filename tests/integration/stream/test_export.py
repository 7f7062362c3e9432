"""`nasaflow export` on real PostgreSQL (a private migrated schema): a few images of two
channels over two days, read back from Parquet, CSV and npz files."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import psycopg
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from nasaflow.export import ExportError, Selection, export, record_batches
from nasaflow.parameters import PARAMETER_NAMES

from tests.integration.stream.private_schema import private_schemas  # noqa: F401 (fixture)

#: (image id, wavelength, observed_at); a 2 x 3 grid of 64 px cells each.
IMAGES = (
    ("2022_01_01__00_00_05_000__SDO_AIA_AIA_304", "304", datetime(2022, 1, 1, 0, 0, 5, tzinfo=UTC)),
    ("2022_01_01__00_00_07_000__SDO_AIA_AIA_193", "193", datetime(2022, 1, 1, 0, 0, 7, tzinfo=UTC)),
    ("2022_01_02__12_00_05_000__SDO_AIA_AIA_304", "304", datetime(2022, 1, 2, 12, 0, 5, tzinfo=UTC)),
)
ROWS, COLS = 2, 3


def value(image: int, row: int, col: int, parameter: int) -> float | None:
    """The stored value of a cell's parameter; the last cell of each image is constant
    (NULL parameters)."""
    if (row, col) == (ROWS - 1, COLS - 1):
        return None
    return image * 1000 + row * 100 + col * 10 + parameter / 10


@pytest.fixture(scope="module")
def db_url(private_schemas: Callable[..., str]) -> str:  # noqa: F811
    url = private_schemas()
    with psycopg.connect(url, autocommit=True) as conn:
        for index, (image_id, wavelength, observed) in enumerate(IMAGES):
            conn.execute(
                "INSERT INTO images (id, source, instrument, wavelength, observed_at, width,"
                " height, sha256, path, size_bytes) VALUES (%s, 'helioviewer', 'AIA', %s, %s,"
                " 192, 128, repeat('a', 64), 'x', 1)", (image_id, wavelength, observed))
            columns = ", ".join(PARAMETER_NAMES)
            marks = ", ".join(["%s"] * len(PARAMETER_NAMES))
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO image_parameters (image_id, patch_size, cell_row, cell_col,"
                    f" {columns}, schema_version, convention, calculator_version)"
                    f" VALUES (%s, 64, %s, %s, {marks}, 2, 'toolkit', '2')",
                    [(image_id, row, col,
                      *(value(index, row, col, k) for k in range(len(PARAMETER_NAMES))))
                     for row in range(ROWS) for col in range(COLS)])
    return url


def selection(**changes: object) -> Selection:
    fields: dict[str, object] = {"start": date(2022, 1, 1), "end": date(2022, 1, 2),
                                 "wavelengths": (), "parameters": ("entropy", "mean"),
                                 "patch_size": 64}
    fields.update(changes)
    return Selection(**fields)  # type: ignore[arg-type]


def test_parquet_has_one_typed_row_per_cell_with_its_image(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "cells.parquet"
    assert export(db_url, selection(), path, "parquet") == (3, 18)
    table = pq.read_table(path)
    assert table.schema.names == ["image_id", "source", "instrument", "wavelength",
                                  "observed_at", "patch_size", "cell_row", "cell_col",
                                  "entropy", "mean"]
    assert str(table.schema.field("observed_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("mean").type) == "double"
    rows = table.to_pylist()
    assert [row["image_id"] for row in rows[::6]] == [image[0] for image in IMAGES]
    for row in rows:
        index = next(i for i, image in enumerate(IMAGES) if image[0] == row["image_id"])
        assert row["wavelength"] == IMAGES[index][1]
        assert row["observed_at"] == IMAGES[index][2]
        assert row["entropy"] == value(index, row["cell_row"], row["cell_col"], 0)
        assert row["mean"] == value(index, row["cell_row"], row["cell_col"], 1)
    assert sum(row["mean"] is None for row in rows) == 3


def test_range_and_channel_filters_select_only_their_images(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    assert export(db_url, selection(end=date(2022, 1, 1), wavelengths=("304",)), path,
                  "csv") == (1, 6)
    table = pacsv.read_csv(path)
    assert set(table.column("image_id").to_pylist()) == {IMAGES[0][0]}
    assert table.column("entropy").to_pylist()[:2] == [value(0, 0, 0, 0), value(0, 0, 1, 0)]


def test_npz_cube_is_time_by_rows_by_cols_by_parameters(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "cube.npz"
    export(db_url, selection(parameters=("mean", "tamura_directionality")), path, "npz")
    with np.load(path) as cube:
        values = cube["values"]
        assert values.shape == (3, ROWS, COLS, 2)
        assert list(cube["image_id"]) == [image[0] for image in IMAGES]
        assert list(cube["wavelength"]) == ["304", "193", "304"]
        assert list(cube["parameters"]) == ["mean", "tamura_directionality"]
        assert cube["observed_at"].tolist() == [image[2].replace(tzinfo=None)
                                                for image in IMAGES]
        directionality = PARAMETER_NAMES.index("tamura_directionality")
        assert values[2, 1, 0, 1] == value(2, 1, 0, directionality)
        assert values[0, 0, 2, 0] == value(0, 0, 2, PARAMETER_NAMES.index("mean"))
        assert math.isnan(values[1, ROWS - 1, COLS - 1, 0])


def test_a_cube_over_the_memory_limit_is_refused_before_reading(db_url: str,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "cube.npz"
    with pytest.raises(ExportError, match="over the limit"):
        export(db_url, selection(), path, "npz", max_cube_bytes=100)
    assert not path.exists()


def test_an_empty_selection_is_an_error(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no cells match"):
        export(db_url, selection(wavelengths=("171",)), tmp_path / "none.parquet", "parquet")


def test_rows_are_read_in_batches_from_a_server_side_cursor(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        batches = record_batches(conn, selection(), batch_rows=4)
        sizes = [next(batches).num_rows]
        open_cursors = conn.execute("SELECT name FROM pg_cursors").fetchall()
        sizes += [batch.num_rows for batch in batches]
    assert ("nasaflow_export",) in open_cursors
    assert sizes == [4, 4, 4, 4, 2]
