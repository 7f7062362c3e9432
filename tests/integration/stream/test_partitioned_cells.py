"""Cells at archive scale (include/sql/007): the migration from the old table keeps every
row, cells go to the monthly partition of their image's observation, months ahead are
created by pg_partman's maintenance with the readers' and writers' grants, the sink's
upsert stays idempotent, the landing check counts, and image ids stay queryable through
the image_parameters view.

Every test runs in a schema of its own in the platform's database, dropped afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from nasaflow.db.partitions import maintain_partitions, partition_names, partman_parent
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import SQL_DIR
from nasaflow.sink.commit import clear_staging, commit_batch
from nasaflow.sink.landing import missing_cells
from nasaflow.sink.records import KafkaRecord
from nasaflow.sink.staging import stage_partition

from tests.integration.stream.private_schema import (  # noqa: F401 (fixture)
    migrate_schema,
    migrations_before,
    private_schemas,
)
from tests.integration.stream.streamkit import band, expected_value

pytestmark = pytest.mark.services

STORAGE_MIGRATION = "007_partitioned_cells"
CHECKPOINT = "checkpoint-storage"


def message(image_id: str, observed_at: str, part: int = 0, parts: int = 1,
            rows_per_part: int = 2, cols: int = 2) -> KafkaRecord:
    """A version 1 band of `image_id` observed at `observed_at` (RFC 3339)."""
    document = json.loads(band(image_id, part, parts, rows_per_part, cols))
    document["observed_at"] = observed_at
    return KafkaRecord(image_id.encode(), json.dumps(document).encode(), "t", 0, part,
                       datetime.now(UTC).timestamp())


def land(conn: psycopg.Connection, url: str, batch_id: int,
         records: list[KafkaRecord], query: str = "test-storage") -> int:
    """Stage and commit `records` as one batch; returns the rows it upserted."""
    clear_staging(conn, query, (CHECKPOINT, batch_id))
    staged = [stage_partition(url, query, CHECKPOINT, batch_id, records)]
    outcome = commit_batch(conn, query, CHECKPOINT, batch_id, staged, datetime.now(UTC))
    assert outcome is not None
    return outcome.rows


def partition_of(conn: psycopg.Connection, image_id: str) -> set[str]:
    """The partitions holding the cells of `image_id`."""
    return {name for (name,) in conn.execute(
        "SELECT DISTINCT c.tableoid::regclass::text FROM image_cells AS c"
        " JOIN image_keys AS k USING (image_key) WHERE k.image_id = %s", (image_id,))}


@pytest.fixture()
def url(private_schemas: Callable[[Path], str]) -> str:  # noqa: F811
    """A private schema migrated from include/sql."""
    return private_schemas(SQL_DIR)


def test_migration_007_keeps_every_row_of_the_old_table(
        private_schemas: Callable[[Path], str], tmp_path: Path) -> None:  # noqa: F811
    old = private_schemas(migrations_before(tmp_path, "007"))
    parameters = ", ".join(PARAMETER_NAMES)
    values = ", ".join(["%s"] * len(PARAMETER_NAMES))
    with psycopg.connect(old, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO images (id, source, instrument, wavelength, observed_at, width,"
            " height, sha256, path, size_bytes) VALUES ('registered', 'helioviewer', 'AIA',"
            " '304', '2014-03-31T23:59:50Z', 4096, 4096, repeat('a', 64), 'x', 1)")
        rows = [("registered", 64, row, col, *[row * 10.0 + col + k / 100
                                                for k in range(len(PARAMETER_NAMES))],
                 2, "toolkit", "2", datetime(2014, 4, 1, tzinfo=UTC))
                for row in range(3) for col in range(2)]
        rows.append(("unregistered", 32, 0, 0, *[None] * len(PARAMETER_NAMES), 1, None, None,
                     datetime(2020, 7, 9, 12, tzinfo=UTC)))
        with conn.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO image_parameters (image_id, patch_size, cell_row, cell_col,"
                f" {parameters}, schema_version, convention, calculator_version, published_at)"
                f" VALUES (%s, %s, %s, %s, {values}, %s, %s, %s, %s)", rows)
        columns = ("image_id, patch_size, cell_row, cell_col, " + parameters
                   + ", schema_version, convention, calculator_version, published_at,"
                     " landed_at")
        before = conn.execute(f"SELECT {columns} FROM image_parameters ORDER BY 1, 2, 3, 4"
                              ).fetchall()

        assert migrate_schema(old)[0] == STORAGE_MIGRATION  # then the later ones

        after = conn.execute(f"SELECT {columns} FROM image_parameters ORDER BY 1, 2, 3, 4"
                             ).fetchall()
        assert after == before and len(after) == 7
        assert conn.execute("SELECT count(*) FROM image_cells").fetchone() == (7,)
        # Registered: its observation time; never registered: when it was published.
        assert conn.execute("SELECT image_id, observed_at FROM image_keys ORDER BY 1"
                            ).fetchall() == [
            ("registered", datetime(2014, 3, 31, 23, 59, 50, tzinfo=UTC)),
            ("unregistered", datetime(2020, 7, 9, 12, tzinfo=UTC))]
        assert partition_of(conn, "registered") == {"image_cells_p2014_03"}
        assert partition_of(conn, "unregistered") == {"image_cells_p2020_07"}


def test_cells_go_to_the_partition_of_their_observation_month(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        land(conn, url, 0, [message("march", "2011-03-31T23:59:59Z"),
                            message("april", "2011-04-01T00:00:00+02:00"),
                            message("may", "2011-05-01T00:00:00Z")])
        # The UTC day decides: 2011-04-01T00:00+02:00 is March 31st in UTC.
        assert partition_of(conn, "march") == {"image_cells_p2011_03"}
        assert partition_of(conn, "april") == {"image_cells_p2011_03"}
        assert partition_of(conn, "may") == {"image_cells_p2011_05"}
        assert conn.execute("SELECT count(*) FROM image_cells_default").fetchone() == (0,)


def test_maintenance_creates_new_months_ahead_with_the_parent_grants(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        parent = partman_parent(conn)
        assert parent is not None
        schema = parent.split(".")[0]
        months = [name for name in partition_names(conn, parent)
                  if not name.endswith("_default")]
        today = date.today()
        ahead = (today.year * 12 + today.month - 1) + 6
        assert months[0] == f"{schema}.image_cells_p2010_05"
        assert months[-1] == f"{schema}.image_cells_p{ahead // 12}_{ahead % 12 + 1:02d}"
        assert len(months) == ahead - (2010 * 12 + 4) + 1
        assert maintain_partitions(conn) == []

        # Six months ahead become eight: maintenance creates the next two months, and
        # each new partition is granted what the parent is.
        conn.execute("GRANT SELECT ON image_cells TO PUBLIC")
        conn.execute("UPDATE partman.part_config SET premake = 8 WHERE parent_table = %s",
                     (parent,))
        created = maintain_partitions(conn)
        expected = [f"{schema}.image_cells_p{(ahead + n) // 12}_{(ahead + n) % 12 + 1:02d}"
                    for n in (1, 2)]
        assert created == expected
        for name in created:
            assert conn.execute("SELECT has_table_privilege('public', %s, 'SELECT')",
                                (name,)).fetchone() == (True,)
        assert maintain_partitions(conn) == []


def test_the_upsert_is_idempotent_and_the_latest_message_wins(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        records = [message("again", "2012-06-01T10:00:00Z", part, 2) for part in (0, 1)]
        assert land(conn, url, 0, records) == 8
        first = conn.execute("SELECT * FROM image_parameters ORDER BY cell_row, cell_col"
                             ).fetchall()
        assert [(row[2], row[3], row[5]) for row in first] == [
            (row, col, expected_value(row, col, 1)) for row in range(4) for col in range(2)]
        # The same cells again, in another batch and with another observation time: one
        # key per image, no new row, the same partition.
        assert land(conn, url, 1, [message("again", "2013-01-01T00:00:00Z", part, 2)
                                   for part in (0, 1)]) == 8
        second = conn.execute("SELECT * FROM image_parameters ORDER BY cell_row, cell_col"
                              ).fetchall()
        # All but published_at and landed_at (the messages' and the batch's times).
        assert [row[:15] + row[17:] for row in second] == [row[:15] + row[17:] for row in first]
        assert conn.execute("SELECT count(*), count(DISTINCT image_key) FROM image_cells"
                            ).fetchone() == (8, 1)
        assert partition_of(conn, "again") == {"image_cells_p2012_06"}


def test_the_landing_check_counts_landed_cells_per_image(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        ids = ["whole", "half", "none"]
        land(conn, url, 0, [message("whole", "2015-01-01T00:00:00Z", part, 2)
                            for part in (0, 1)]
             + [message("half", "2015-02-01T00:00:00Z", 0, 2)])
        expected = dict.fromkeys(ids, 8)
        assert missing_cells(conn, ids, 64, expected) == {"half": 4, "none": 8}
        assert missing_cells(conn, ids, 32, expected) == dict.fromkeys(ids, 8)
        land(conn, url, 1, [message("half", "2015-02-01T00:00:00Z", 1, 2)])
        assert missing_cells(conn, ids, 64, expected) == {"none": 8}


def test_the_view_answers_by_image_id_and_accepts_rows_like_the_table(url: str) -> None:
    image = f"view-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        land(conn, url, 0, [message(image, "2016-08-08T08:08:08Z")])
        assert conn.execute(
            "SELECT image_id, cell_row, cell_col, mean, observed_at FROM image_parameters"
            " WHERE image_id = %s ORDER BY 2, 3", (image,)).fetchall() == [
            (image, row, col, expected_value(row, col, 1),
             datetime(2016, 8, 8, 8, 8, 8, tzinfo=UTC)) for row in range(2) for col in range(2)]
        # Written through the view: a new cell of a known image, then deleted again.
        conn.execute("INSERT INTO image_parameters (image_id, patch_size, cell_row, cell_col,"
                     " mean, schema_version) VALUES (%s, 16, 0, 0, 5.0, 1)", (image,))
        assert conn.execute("SELECT mean FROM image_parameters WHERE image_id = %s"
                            " AND patch_size = 16", (image,)).fetchall() == [(5.0,)]
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO image_parameters (image_id, patch_size, cell_row,"
                         " cell_col, schema_version) VALUES (%s, 16, 0, 0, 1)", (image,))
        conn.execute("DELETE FROM image_parameters WHERE image_id = %s", (image,))
        assert conn.execute("SELECT count(*) FROM image_cells").fetchone() == (0,)


def test_a_known_provenance_draws_no_new_key(url: str) -> None:
    """The 2-byte provenance key's sequence (32,767 values) advances only for a new
    provenance, not on every batch or every row written through the view (010)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for batch in range(3):
            land(conn, url, batch, [message(f"known-{batch}", "2014-03-03T00:00:00Z")])
        for row in range(3):
            conn.execute("INSERT INTO image_parameters (image_id, patch_size, cell_row,"
                         " cell_col, schema_version) VALUES ('known-0', 16, %s, 0, 1)", (row,))
        (sequence,) = conn.execute(
            "SELECT pg_get_serial_sequence('cell_provenance', 'provenance')").fetchall()[0]
        assert conn.execute(f"SELECT last_value FROM {sequence}").fetchall() == [(1,)]
        assert conn.execute("SELECT provenance FROM cell_provenance").fetchall() == [(1,)]
        # A new provenance through the view takes the next key.
        conn.execute("INSERT INTO image_parameters (image_id, patch_size, cell_row, cell_col,"
                     " schema_version, convention, calculator_version)"
                     " VALUES ('known-0', 16, 9, 0, 2, 'lab', '1.0')")
        assert conn.execute("SELECT provenance FROM cell_provenance ORDER BY 1").fetchall() \
            == [(1,), (2,)]
