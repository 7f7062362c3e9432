"""Executor side of a micro-batch: parse one Spark partition of Kafka records and COPY its
rows into the UNLOGGED staging tables, tagged with the batch: (query, checkpoint id,
batch id), the key stream_batches records it under.

Every executor writes its own share in parallel with binary COPY (the fastest way into
PostgreSQL, and no WAL for an UNLOGGED table), so the driver never holds a batch's rows:
it only receives a `StagedPartition` summary per partition and applies the batch with one
INSERT ... SELECT (see nasaflow.sink.commit). The staging commit is not the batch commit:
rows staged here mean nothing until the driver's transaction moves them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from nasaflow.messaging.contract import ContractViolation
from nasaflow.sink.records import CELL_COLUMN_TYPES, CELL_COLUMNS, KafkaRecord, cell_rows

#: Staging tables (include/sql/002_stream_staging.sql, 004_staging_checkpoint.sql).
STAGED_CELLS = "stream_staged_cells"
STAGED_DEAD_LETTERS = "stream_staged_dead_letters"
#: The staged rows of one batch, with parameters query, checkpoint_id and batch_id. The
#: checkpoint id is part of the key because batch ids restart at 0 with every checkpoint.
STAGED_BATCH = sql.SQL("query = %(query)s AND checkpoint_id = %(checkpoint_id)s"
                       " AND batch_id = %(batch_id)s")
_TAG_COLUMNS = ("query", "checkpoint_id", "batch_id", "kafka_partition", "kafka_offset")
_CELL_TYPES = ["text", "text", "int8", "int4", "int8", *CELL_COLUMN_TYPES]
_DEAD_LETTER_COLUMNS = ("query", "checkpoint_id", "batch_id", "topic", "kafka_partition",
                        "kafka_offset", "message_key", "message_value", "reason")
_DEAD_LETTER_TYPES = ["text", "text", "int8", "text", "int4", "int8", "bytea", "bytea", "text"]


@dataclass
class StagedPartition:
    """What one executor staged: the driver checks the staging tables against these counts
    and derives the batch's offsets and lag from them.

    Attributes:
        cells: cell rows COPied into stream_staged_cells.
        dead_letters: records COPied into stream_staged_dead_letters.
        offsets: (topic, partition) -> [first offset, last offset] seen.
        oldest_timestamp: the earliest Kafka timestamp seen (epoch seconds), or None.
    """

    cells: int = 0
    dead_letters: int = 0
    offsets: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    oldest_timestamp: float | None = None

    def saw(self, record: KafkaRecord) -> None:
        """Account for `record`'s coordinates."""
        span = self.offsets.setdefault((record.topic, record.partition),
                                       [record.offset, record.offset])
        span[0] = min(span[0], record.offset)
        span[1] = max(span[1], record.offset)
        if self.oldest_timestamp is None or record.timestamp < self.oldest_timestamp:
            self.oldest_timestamp = record.timestamp


def stage_partition(db_url: str, query: str, checkpoint_id: str, batch_id: int,
                    records: Iterable[KafkaRecord]) -> StagedPartition:
    """Parse `records` and stage their rows and dead letters, committed on return.

    Dead letters go through a second connection, opened at the first one only: one
    connection cannot run two COPYs at once, and rejected values are never held in memory.

    Args:
        db_url: postgresql:// URL of the data database.
        query, checkpoint_id, batch_id: the micro-batch (tag every staged row).
        records: one partition's Kafka records.
    """
    staged = StagedPartition()
    name = staging_application_name(query, batch_id)
    # Leaving the stack ends each COPY, then commits and closes its connection.
    with ExitStack() as stack:
        conn = stack.enter_context(psycopg.connect(db_url, application_name=name))
        cells = stack.enter_context(conn.cursor().copy(
            _copy_sql(STAGED_CELLS, _TAG_COLUMNS + CELL_COLUMNS)))
        cells.set_types(_CELL_TYPES)
        dead: psycopg.Copy | None = None
        for record in records:
            staged.saw(record)
            try:
                rows = cell_rows(record.key, record.value)
            except ContractViolation as violation:
                if dead is None:
                    dead_conn = stack.enter_context(psycopg.connect(db_url,
                                                                    application_name=name))
                    dead = stack.enter_context(dead_conn.cursor().copy(
                        _copy_sql(STAGED_DEAD_LETTERS, _DEAD_LETTER_COLUMNS)))
                    dead.set_types(_DEAD_LETTER_TYPES)
                dead.write_row((query, checkpoint_id, batch_id, record.topic,
                                record.partition, record.offset, record.key, record.value,
                                violation.reason))
                staged.dead_letters += 1
                continue
            tag = (query, checkpoint_id, batch_id, record.partition, record.offset)
            for row in rows:
                cells.write_row(tag + row)
            staged.cells += len(rows)
    return staged


def staging_application_name(query: str, batch_id: int) -> str:
    """How staging sessions show in pg_stat_activity (PostgreSQL keeps 63 bytes of it)."""
    return f"nasaflow-stage {batch_id} {query}"


def stage_spark_partition(db_url: str, query: str, checkpoint_id: str, batch_id: int,
                          rows: Iterable[Any]) -> Iterator[StagedPartition]:
    """`stage_partition` over Spark rows selected as KafkaRecord's fields, for
    RDD.mapPartitions: yields the partition's one summary."""
    yield stage_partition(db_url, query, checkpoint_id, batch_id,
                          (KafkaRecord(*row) for row in rows))


def _copy_sql(table: str, columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
