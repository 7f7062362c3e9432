"""The sink's PostgreSQL side without Spark: staging, the exactly-once batch commit, dead
letters, the landing check, nulls and provenance of version 2 messages, and the schema
check at start, against the real database.

Every test runs in a schema of its own in the platform's database, migrated from
include/sql and dropped afterwards, so the platform's tables are never read or written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from nasaflow.messaging.contract import check_record
from nasaflow.parameters import CALCULATOR_VERSION, PARAMETER_NAMES
from nasaflow.settings import PROJECT_ROOT, SQL_DIR, Settings
from nasaflow.sink.commit import (
    BatchOutcome,
    StagingMismatch,
    batch_committed,
    clear_staging,
    commit_batch,
)
from nasaflow.sink.contract import SCHEMA_DRIFT_EXIT_CODE, SchemaDriftError, check_sink_schema
from nasaflow.sink.landing import missing_cells, rejected_messages
from nasaflow.sink.records import KafkaRecord
from nasaflow.sink.staging import stage_partition

from tests.integration.stream.private_schema import (  # noqa: F401 (fixture)
    migrate_schema,
    migrations_before,
    private_schemas,
)
from tests.integration.stream.streamkit import band, cleanup_rows, expected_value

pytestmark = pytest.mark.services

NOW = datetime.now(UTC)
#: The checkpoint id the batches of these tests run under, unless a test says otherwise.
CHECKPOINT = "checkpoint-a"
#: The migrations the sink needs: nullable parameters and provenance, then compact storage.
NULLABLE_MIGRATION = "005_nullable_parameters"
ROLES_MIGRATION = "006_roles"
STORAGE_MIGRATION = "007_partitioned_cells"
SUMMARY_MIGRATION = "009_image_parameter_summary"


@pytest.fixture(scope="module")
def settings(settings: Settings,
             private_schemas: Callable[[Path], str]) -> Settings:  # noqa: F811
    """The platform's settings with the data database narrowed to a private, fully
    migrated schema."""
    return dataclasses.replace(settings, db_url=private_schemas(SQL_DIR))


@pytest.fixture()
def names(settings: Settings) -> Iterator[tuple[str, str]]:
    """A unique (query name, image id prefix), cleaned up afterwards."""
    token = uuid.uuid4().hex[:10]
    query, prefix = f"test-sink-{token}", f"test-sink-{token}-"
    yield query, prefix
    cleanup_rows(settings, prefix, [query])


def record(key: str | bytes | None, value: bytes, offset: int, partition: int = 0,
           topic: str = "t") -> KafkaRecord:
    raw_key = key.encode() if isinstance(key, str) else key
    return KafkaRecord(raw_key, value, topic, partition, offset, NOW.timestamp() - 5)


def commit(conn: psycopg.Connection, query: str, batch_id: int, records: list[KafkaRecord],
           settings: Settings, checkpoint_id: str = CHECKPOINT) -> BatchOutcome | None:
    clear_staging(conn, query, (checkpoint_id, batch_id))
    staged = [stage_partition(settings.db_url, query, checkpoint_id, batch_id, records)]
    return commit_batch(conn, query, checkpoint_id, batch_id, staged, NOW)


def cells(conn: psycopg.Connection, prefix: str) -> dict[tuple[str, int, int], float]:
    rows = conn.execute(
        "SELECT image_id, cell_row, cell_col, mean FROM image_parameters"
        " WHERE image_id LIKE %s", (prefix + "%",)).fetchall()
    return {(image, row, col): mean for image, row, col, mean in rows}


def test_a_batch_lands_its_cells_and_its_progress_row_together(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "a"
    records = [record(image, band(image, part, 2, 2, 3), offset) for offset, part in
               enumerate([0, 1])]
    outcome = commit(db_conn, query, 0, records, settings)
    assert outcome is not None and outcome.rows == 12 and outcome.dead_letters == 0
    landed = cells(db_conn, prefix)
    assert len(landed) == 12
    assert landed[(image, 3, 2)] == expected_value(3, 2, 1)
    row = db_conn.execute(
        "SELECT checkpoint_id, rows, dead_letters, start_offsets, end_offsets, max_lag_seconds"
        " FROM stream_batches WHERE query = %s AND batch_id = 0", (query,)).fetchone()
    assert row is not None, "the batch was not recorded"
    assert row[:5] == (CHECKPOINT, 12, 0, {"t": {"0": 0}}, {"t": {"0": 2}})
    assert row[5] >= 5
    staged = db_conn.execute("SELECT count(*) FROM stream_staged_cells WHERE query = %s",
                             (query,)).fetchone()
    assert staged == (0,)


def test_a_replayed_batch_id_is_skipped_and_changes_nothing(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "a"
    commit(db_conn, query, 7, [record(image, band(image, 0, 1, 2, 3), 0)], settings)
    replay = band(image, 0, 1, 2, 3).replace(b'"mean":1.01', b'"mean":-1.0')
    assert commit(db_conn, query, 7, [record(image, replay, 0)], settings) is None
    assert cells(db_conn, prefix)[(image, 0, 1)] == expected_value(0, 1, 1)
    assert batch_committed(db_conn, query, CHECKPOINT, 7)
    assert db_conn.execute("SELECT count(*) FROM stream_batches WHERE query = %s",
                           (query,)).fetchone() == (1,)


def test_the_same_batch_id_from_a_new_checkpoint_is_a_new_batch_and_lands(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "a"
    commit(db_conn, query, 0, [record(image, band(image, 0, 1, 2, 3), 0)], settings)
    assert not batch_committed(db_conn, query, "checkpoint-b", 0)
    again = band(image, 0, 1, 2, 3).replace(b'"mean":1.01', b'"mean":-1.0')
    outcome = commit(db_conn, query, 0, [record(image, again, 0)], settings, "checkpoint-b")
    assert outcome is not None and outcome.rows == 6
    assert cells(db_conn, prefix)[(image, 0, 1)] == -1.0
    recorded = db_conn.execute("SELECT checkpoint_id, batch_id, rows FROM stream_batches"
                               " WHERE query = %s ORDER BY checkpoint_id", (query,)).fetchall()
    assert recorded == [(CHECKPOINT, 0, 6), ("checkpoint-b", 0, 6)]


def test_within_a_batch_the_latest_offset_of_a_cell_wins(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "a"
    older = band(image, 0, 1, 1, 2, published_at=NOW - timedelta(minutes=1))
    newer = band(image, 0, 1, 1, 2).replace(b'"mean":1.01', b'"mean":99.5')
    outcome = commit(db_conn, query, 0, [record(image, newer, 11), record(image, older, 10)],
                     settings)
    assert outcome is not None and outcome.rows == 2
    assert cells(db_conn, prefix)[(image, 0, 1)] == 99.5


def test_a_later_batch_overwrites_the_cells_it_carries_again(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "a"
    commit(db_conn, query, 0, [record(image, band(image, 0, 1, 1, 2), 0)], settings)
    again = band(image, 0, 1, 1, 2).replace(b'"mean":1.01', b'"mean":42.0')
    commit(db_conn, query, 1, [record(image, again, 1)], settings)
    landed = cells(db_conn, prefix)
    assert len(landed) == 2 and landed[(image, 0, 1)] == 42.0


def test_refused_records_become_dead_letters_once_with_reason_and_coordinates(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "a"
    topic = f"{query}-topic"
    records = [
        record(image, band(image, 0, 1, 1, 2), 0, topic=topic),
        record(image, b"{broken", 1, topic=topic),
        record(prefix + "other", band(image, 0, 1, 1, 2), 2, partition=1, topic=topic),
    ]
    outcome = commit(db_conn, query, 0, records, settings)
    assert outcome is not None and (outcome.rows, outcome.dead_letters) == (2, 2)
    letters = db_conn.execute(
        "SELECT kafka_partition, kafka_offset, message_key, message_value, reason, batch_id"
        " FROM dead_letters WHERE topic = %s ORDER BY kafka_offset", (topic,)).fetchall()
    assert [(p, o, bytes(k), bytes(v), b) for p, o, k, v, _, b in letters] == [
        (0, 1, image.encode(), b"{broken", 0),
        (1, 2, (prefix + "other").encode(), records[2].value, 0)]
    assert letters[0][4].startswith("not_json: ")
    assert letters[1][4].startswith("key_mismatch: ")
    other_query = query + "-replay"
    try:
        replayed = commit(db_conn, other_query, 0, records[1:2], settings)
        assert replayed is not None and replayed.dead_letters == 1
        kept = db_conn.execute("SELECT query FROM dead_letters WHERE topic = %s AND"
                               " kafka_offset = 1", (topic,)).fetchall()
        assert kept == [(query,)]
    finally:
        cleanup_rows(settings, prefix, [other_query])


def test_commit_refuses_a_batch_whose_staged_rows_went_missing(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "a"
    one = record(image, band(image, 0, 1, 1, 2), 0)
    staged = [stage_partition(settings.db_url, query, CHECKPOINT, 3, [one])]
    db_conn.execute("DELETE FROM stream_staged_cells WHERE query = %s", (query,))
    with pytest.raises(StagingMismatch, match="staging holds 0 cells"):
        commit_batch(db_conn, query, CHECKPOINT, 3, staged, NOW)
    assert not batch_committed(db_conn, query, CHECKPOINT, 3)
    assert cells(db_conn, prefix) == {}


def test_clearing_one_batch_leaves_other_batches_staged(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "a"
    one = record(image, band(image, 0, 1, 1, 2), 0)
    for checkpoint_id, batch_id in ((CHECKPOINT, 1), (CHECKPOINT, 2), ("checkpoint-b", 1)):
        stage_partition(settings.db_url, query, checkpoint_id, batch_id, [one])
    clear_staging(db_conn, query, (CHECKPOINT, 1))
    left = db_conn.execute("SELECT checkpoint_id, batch_id, count(*) FROM stream_staged_cells"
                           " WHERE query = %s GROUP BY 1, 2 ORDER BY 1, 2", (query,)).fetchall()
    assert left == [(CHECKPOINT, 2, 2), ("checkpoint-b", 1, 2)]


def test_a_batch_commits_only_the_rows_staged_under_its_own_checkpoint(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "a"
    other = band(image, 0, 1, 1, 2).replace(b'"mean":1.01', b'"mean":-7.0')
    stage_partition(settings.db_url, query, "checkpoint-b", 0, [record(image, other, 0)])
    outcome = commit(db_conn, query, 0, [record(image, band(image, 0, 1, 1, 2), 0)], settings)
    assert outcome is not None and outcome.rows == 2
    assert cells(db_conn, prefix)[(image, 0, 1)] == expected_value(0, 1, 1)
    left = db_conn.execute("SELECT checkpoint_id, count(*) FROM stream_staged_cells"
                           " WHERE query = %s GROUP BY 1", (query,)).fetchall()
    assert left == [("checkpoint-b", 2)]


def test_landing_check_counts_missing_cells_and_names_refused_images(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    done, partial, refused = prefix + "done", prefix + "partial", prefix + "refused"
    commit(db_conn, query, 0, [
        record(done, band(done, 0, 2, 2, 3), 0), record(done, band(done, 1, 2, 2, 3), 1),
        record(partial, band(partial, 0, 2, 2, 3), 2),
        record(refused, b"[]", 3),
    ], settings)
    try:
        expected = {done: 12, partial: 12, refused: 12}
        assert missing_cells(db_conn, list(expected), 64, expected) == {partial: 6, refused: 12}
        assert missing_cells(db_conn, [done], 32, {done: 12}) == {done: 12}
        reasons = rejected_messages(db_conn, list(expected))
        assert list(reasons) == [refused]
        assert reasons[refused][0].startswith("wrong_type: message: [] is not of type")
        assert rejected_messages(db_conn, [refused], since=datetime.now(UTC)) == {}
    finally:
        db_conn.execute("DELETE FROM dead_letters WHERE query = %s", (query,))


def v2_band(image: str, values: dict[str, float | None], convention: str = "toolkit") -> bytes:
    """A version 2 message of one 1 x 2 image: cell (0, 0) with `values`, (0, 1) all 1.5."""
    return json.dumps({
        "schema_version": 2, "convention": convention, "calculator_version": CALCULATOR_VERSION,
        "image_id": image, "source": "helioviewer", "instrument": "AIA", "wavelength": "193",
        "observed_at": "2022-01-01T00:03:52Z", "patch_size": 64, "grid": {"rows": 1, "cols": 2},
        "part": 0, "parts": 1, "published_at": "2026-11-27T10:00:00Z",
        "cells": [{"row": 0, "col": 0, **values},
                  {"row": 0, "col": 1, **dict.fromkeys(PARAMETER_NAMES, 1.5)}],
    }).encode()


def test_undefined_values_land_as_null_with_their_convention_beside_version_1_rows(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    new, old = prefix + "v2", prefix + "v1"
    constant_cell = {**dict.fromkeys(PARAMETER_NAMES, 0.0), "mean": 7.0,
                     "skewness": None, "kurtosis": None, "tamura_contrast": None}
    payload = v2_band(new, constant_cell, convention="published")
    check_record(new.encode(), payload)  # what the producer sends
    outcome = commit(db_conn, query, 0, [record(new, payload, 0),
                                         record(old, band(old, 0, 1, 1, 2), 1)], settings)
    assert outcome is not None and (outcome.rows, outcome.dead_letters) == (4, 0)
    rows = db_conn.execute(
        "SELECT image_id, cell_col, mean, skewness, kurtosis, tamura_contrast, schema_version,"
        " convention, calculator_version FROM image_parameters WHERE image_id LIKE %s"
        " ORDER BY image_id, cell_col", (prefix + "%",)).fetchall()
    assert rows == [
        (old, 0, expected_value(0, 0, 1), expected_value(0, 0, 4), expected_value(0, 0, 5),
         expected_value(0, 0, 8), 1, None, None),
        (old, 1, expected_value(0, 1, 1), expected_value(0, 1, 4), expected_value(0, 1, 5),
         expected_value(0, 1, 8), 1, None, None),
        (new, 0, 7.0, None, None, None, 2, "published", CALCULATOR_VERSION),
        (new, 1, 1.5, 1.5, 1.5, 1.5, 2, "published", CALCULATOR_VERSION),
    ]


def test_a_version_2_row_without_its_convention_is_refused_by_the_table(
        db_conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        db_conn.execute("INSERT INTO image_parameters (image_id, patch_size, cell_row, cell_col,"
                        " schema_version) VALUES ('test-contract-no-convention', 64, 0, 0, 2)")


def test_the_sink_schema_check_passes_on_a_migrated_database(settings: Settings) -> None:
    check_sink_schema(settings.db_url)


def test_the_sink_schema_check_names_the_migration_not_yet_applied(
        private_schemas: Callable[[Path], str], tmp_path: Path) -> None:  # noqa: F811
    url = private_schemas(migrations_before(tmp_path, "005"))
    with pytest.raises(SchemaDriftError) as caught:
        check_sink_schema(url)
    message = str(caught.value)
    assert ("image_parameters lacks columns convention, calculator_version, observed_at"
            in message)
    assert ("stream_staged_cells lacks columns convention, calculator_version, observed_at"
            in message)
    assert "table image_parameter_summary does not exist" in message
    # Every migration from 005 on, in order, the summaries' among them.
    assert (f"apply migrations {NULLABLE_MIGRATION}, {ROLES_MIGRATION}, {STORAGE_MIGRATION}, "
            in message)
    assert f", {SUMMARY_MIGRATION}, " in message and message.endswith("(nasaflow migrate)")


def test_migration_005_keeps_landed_rows_and_marks_them_unrecorded(
        private_schemas: Callable[[Path], str], tmp_path: Path) -> None:  # noqa: F811
    url = private_schemas(migrations_before(tmp_path, "005"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE image_parameters ALTER COLUMN skewness SET NOT NULL")
        conn.execute("INSERT INTO image_parameters (image_id, patch_size, cell_row, cell_col,"
                     " skewness, schema_version) VALUES ('old', 64, 0, 0, 0.0, 1)")
        applied = migrate_schema(url)
        assert applied[:3] == [NULLABLE_MIGRATION, ROLES_MIGRATION, STORAGE_MIGRATION]
        assert SUMMARY_MIGRATION in applied[3:]
        assert migrate_schema(url) == []
        assert conn.execute("SELECT skewness, convention, calculator_version FROM"
                            " image_parameters").fetchall() == [(0.0, None, None)]
        conn.execute("UPDATE image_cells SET skewness = NULL")
    check_sink_schema(url)


def test_a_column_no_migration_creates_is_reported_as_such(
        private_schemas: Callable[[Path], str]) -> None:  # noqa: F811
    url = private_schemas(SQL_DIR)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE stream_staged_cells DROP COLUMN tamura_contrast")
        conn.execute("ALTER TABLE stream_staged_cells ALTER COLUMN mean SET NOT NULL")
        conn.execute("ALTER TABLE image_cells ALTER COLUMN entropy SET NOT NULL")
    with pytest.raises(SchemaDriftError) as caught:
        check_sink_schema(url)
    message = str(caught.value)
    assert "stream_staged_cells lacks column tamura_contrast" in message
    assert "stream_staged_cells refuses NULL in mean" in message
    assert "image_cells refuses NULL in entropy" in message
    assert "added to the code without its migration" in message


def test_the_stream_driver_exits_78_without_starting_on_an_unmigrated_database(
        private_schemas: Callable[[Path], str], tmp_path: Path) -> None:  # noqa: F811
    url = private_schemas(migrations_before(tmp_path, "005"))
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "spark_jobs" / "stream_to_postgres.py"),
         "--query-name", f"test-contract-{uuid.uuid4().hex[:8]}",
         "--checkpoint", str(tmp_path / "checkpoint")],
        env={**os.environ, "NASAFLOW_DB_URL": url}, capture_output=True, text=True, timeout=120)
    assert result.returncode == SCHEMA_DRIFT_EXIT_CODE == 78, result.stderr
    assert "not starting: image_parameters lacks columns" in result.stderr
    assert NULLABLE_MIGRATION in result.stderr
    assert not (tmp_path / "checkpoint").exists()


#: A 256 x 256 image of 4 x 4 cells of 64 px whose disk (centre (128, 128), radius 110 px)
#: holds every cell but the corners: cell centres are 32, 96, 160, 224 px from the edge.
DISK_METADATA = {"refPixelX": 128.5, "refPixelY": 128.5, "rsun": 110.0, "width": 256,
                 "height": 256}
CORNERS = {(0, 0), (0, 3), (3, 0), (3, 3)}
#: The cells of the 4 x 4 grid whose centres lie on the disk: all but the corners.
ON_DISK = [(r, c) for r in range(4) for c in range(4) if (r, c) not in CORNERS]


def register(conn: psycopg.Connection, image: str, metadata: dict, size: tuple[int, int]
             ) -> None:
    conn.execute(
        "INSERT INTO images (id, source, instrument, wavelength, observed_at, width, height,"
        " sha256, path, size_bytes, source_ref) VALUES (%s, 'helioviewer', 'AIA', '193',"
        " '2022-01-01T00:03:52Z', %s, %s, %s, 'x.jp2', 1, %s)",
        (image, size[0], size[1], "0" * 64, json.dumps({"metadata": metadata})))


def summary(conn: psycopg.Connection, image: str, parameter: str) -> tuple | None:
    return conn.execute(
        "SELECT s.mean, s.p10, s.p50, s.p90, s.n_cells, s.n_null"
        " FROM image_parameter_summary AS s JOIN image_keys AS k USING (image_key)"
        " WHERE k.image_id = %s AND s.patch_size = 64 AND s.parameter = %s",
        (image, parameter)).fetchone()


def expected_summary(cells: list[tuple[int, int]]) -> tuple:
    """What percentile_cont and avg give over the `mean` values band() puts in `cells`."""
    import numpy as np

    values = np.array([expected_value(row, col, 1) for row, col in cells])
    return (pytest.approx(values.mean()), *(pytest.approx(np.percentile(values, q))
                                            for q in (10, 50, 90)), len(cells), 0)


def test_a_batch_refreshes_the_full_disk_summary_of_its_images_with_its_cells(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "disk"
    try:
        register(db_conn, image, DISK_METADATA, (256, 256))
        commit(db_conn, query, 0, [record(image, band(image, 0, 2, 2, 4), 0)], settings)
        top = [(r, c) for r in range(2) for c in range(4) if (r, c) not in CORNERS]
        assert summary(db_conn, image, "mean") == expected_summary(top)
        # The image's other half lands in a later batch: its summary covers both halves.
        commit(db_conn, query, 1, [record(image, band(image, 1, 2, 2, 4), 1)], settings)
        assert summary(db_conn, image, "mean") == expected_summary(ON_DISK)
        assert db_conn.execute(
            "SELECT count(*) FROM image_parameter_summary AS s JOIN image_keys AS k"
            " USING (image_key) WHERE k.image_id = %s", (image,)).fetchone() == (
            len(PARAMETER_NAMES),)
    finally:
        db_conn.execute("DELETE FROM images WHERE id = %s", (image,))


def test_cells_that_land_before_their_image_is_registered_are_summarised_at_registration(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "late"
    try:
        commit(db_conn, query, 0, [record(image, band(image, 0, 1, 4, 4), 0)], settings)
        assert summary(db_conn, image, "mean") is None  # no header: no disk to speak of
        register(db_conn, image, DISK_METADATA, (256, 256))
        assert summary(db_conn, image, "mean") == expected_summary(ON_DISK)
        # Metadata corrected later (a smaller disk): the summary follows.
        db_conn.execute("UPDATE images SET source_ref = %s WHERE id = %s",
                        (json.dumps({"metadata": {**DISK_METADATA, "rsun": 50.0}}), image))
        middle = [(1, 1), (1, 2), (2, 1), (2, 2)]
        assert summary(db_conn, image, "mean") == expected_summary(middle)
    finally:
        db_conn.execute("DELETE FROM images WHERE id = %s", (image,))


def test_null_values_on_the_disk_are_counted_and_left_out_of_the_summary(
        db_conn: psycopg.Connection, settings: Settings, names: tuple[str, str]) -> None:
    query, prefix = names
    image = prefix + "nulls"
    constant_cell = {**dict.fromkeys(PARAMETER_NAMES, 0.0), "mean": 7.0, "skewness": None,
                     "kurtosis": None, "tamura_contrast": None}
    try:
        # The 1 x 2 grid of a 128 x 64 image, both cells on a disk of radius 100 px.
        register(db_conn, image, {"refPixelX": 64.5, "refPixelY": 32.5, "rsun": 100.0,
                                  "width": 128, "height": 64}, (128, 64))
        commit(db_conn, query, 0, [record(image, v2_band(image, constant_cell), 0)], settings)
        assert summary(db_conn, image, "skewness") == (1.5, 1.5, 1.5, 1.5, 1, 1)
        assert summary(db_conn, image, "mean") == (
            4.25, pytest.approx(1.5 + 0.1 * 5.5), 4.25, pytest.approx(1.5 + 0.9 * 5.5), 2, 0)
    finally:
        db_conn.execute("DELETE FROM images WHERE id = %s", (image,))


def test_migration_009_summarises_the_cells_already_stored(
        private_schemas: Callable[[Path], str], tmp_path: Path) -> None:  # noqa: F811
    url = private_schemas(migrations_before(tmp_path, "009"))
    with psycopg.connect(url, autocommit=True) as conn:
        register(conn, "stored-before", DISK_METADATA, (256, 256))
        conn.execute("INSERT INTO image_parameters (image_id, patch_size, cell_row, cell_col,"
                     " mean, schema_version) SELECT 'stored-before', 64, r, c,"
                     " r * 1000.0 + c + 0.01, 1"
                     " FROM generate_series(0, 3) AS r, generate_series(0, 3) AS c")
        assert SUMMARY_MIGRATION in migrate_schema(url)
        assert summary(conn, "stored-before", "mean") == expected_summary(ON_DISK)
