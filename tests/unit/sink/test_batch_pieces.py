"""Pure pieces of the batch machinery: failure classification, offsets, lock names, the
checkpoint id progress is keyed by."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import psycopg
import pytest

from nasaflow.sink.batch import (
    QUERY_ID_PROPERTY,
    TRANSIENT_MARKERS,
    CheckpointUnknownError,
    ExecutorDatabaseError,
    PostgresBatchWriter,
    is_transient,
)
from nasaflow.sink.commit import StagingMismatch
from nasaflow.sink.lock import StreamLock, checkpoint_identity, lock_key, session_options
from nasaflow.sink.records import KafkaRecord
from nasaflow.sink.staging import StagedPartition


def test_unreachable_database_and_lost_staging_are_transient_other_errors_are_not() -> None:
    assert is_transient(psycopg.OperationalError("connection refused"))
    assert is_transient(psycopg.errors.AdminShutdown("terminating connection"))
    assert is_transient(StagingMismatch("staging emptied"))
    assert is_transient(ExecutorDatabaseError("psycopg.OperationalError: refused"))
    assert not is_transient(psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_transient(ValueError("bug"))


def test_executor_failures_are_recognised_by_psycopg_class_names() -> None:
    assert "psycopg.OperationalError" in TRANSIENT_MARKERS
    assert "psycopg.errors.AdminShutdown" in TRANSIENT_MARKERS
    assert "psycopg.errors.UniqueViolation" not in TRANSIENT_MARKERS


def test_staged_partition_tracks_offset_span_and_oldest_timestamp() -> None:
    staged = StagedPartition()
    for partition, offset, timestamp in [(0, 7, 50.0), (0, 5, 40.0), (1, 9, 30.0), (0, 6, 45.0)]:
        staged.saw(KafkaRecord(b"k", b"v", "t", partition, offset, timestamp))
    assert staged.offsets == {("t", 0): [5, 7], ("t", 1): [9, 9]}
    assert staged.oldest_timestamp == 30.0


def test_lock_keys_are_stable_64_bit_and_distinct_per_kind() -> None:
    key = lock_key("checkpoint", "/data/cp")
    assert key == lock_key("checkpoint", "/data/cp")
    assert -(2**63) <= key < 2**63
    assert key != lock_key("query", "/data/cp")


def test_two_spellings_of_one_checkpoint_folder_are_one_lock(tmp_path: Path) -> None:
    folder = tmp_path / "cp"
    folder.mkdir()
    link = tmp_path / "link"
    link.symlink_to(folder)
    relative = os.path.relpath(folder)
    assert {checkpoint_identity(str(folder)), checkpoint_identity(f"file://{link}/"),
            checkpoint_identity(relative)} == {str(folder.resolve())}
    assert checkpoint_identity("s3a://bucket/cp/") == "s3a://bucket/cp"


def batch_seeing(properties: dict[str, str]) -> Any:
    """A foreachBatch DataFrame as far as the writer looks at it: the local properties of
    the thread Spark calls it on."""
    return SimpleNamespace(sparkSession=SimpleNamespace(
        sparkContext=SimpleNamespace(getLocalProperty=properties.get)))


def writer() -> PostgresBatchWriter:
    return PostgresBatchWriter("postgresql://unused", "q", cast(StreamLock, None), 0.0)


def test_progress_is_keyed_by_the_query_id_spark_reports_found_once() -> None:
    sink = writer()
    assert sink.checkpoint_id(batch_seeing({QUERY_ID_PROPERTY: "id-1"})) == "id-1"
    assert sink.checkpoint_id(batch_seeing({QUERY_ID_PROPERTY: "id-2"})) == "id-1"


def test_a_batch_without_a_query_id_fails_instead_of_guessing_its_checkpoint() -> None:
    with pytest.raises(CheckpointUnknownError, match="cannot tell its checkpoint"):
        writer().checkpoint_id(batch_seeing({}))


def test_the_lock_session_keeps_the_urls_own_options_before_its_keepalives() -> None:
    options = session_options("postgresql://u@db/nasaflow?options=-csearch_path%3Dprivate")
    assert options.startswith("-csearch_path=private -c tcp_keepalives_idle=")
    assert session_options("postgresql://u@db/nasaflow").startswith("-c tcp_keepalives_idle=")
