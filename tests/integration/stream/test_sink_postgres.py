"""The sink's PostgreSQL side without Spark: staging, the exactly-once batch commit, dead
letters, and the landing check, against the real database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from nasaflow.settings import Settings
from nasaflow.sink.commit import (
    BatchOutcome,
    StagingMismatch,
    batch_committed,
    clear_staging,
    commit_batch,
)
from nasaflow.sink.landing import missing_cells, rejected_messages
from nasaflow.sink.records import KafkaRecord
from nasaflow.sink.staging import stage_partition

from tests.integration.stream.streamkit import band, cleanup_rows, expected_value

pytestmark = pytest.mark.services

NOW = datetime.now(timezone.utc)
#: The checkpoint id the batches of these tests run under, unless a test says otherwise.
CHECKPOINT = "checkpoint-a"


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
        assert rejected_messages(db_conn, [refused], since=datetime.now(timezone.utc)) == {}
    finally:
        db_conn.execute("DELETE FROM dead_letters WHERE query = %s", (query,))
