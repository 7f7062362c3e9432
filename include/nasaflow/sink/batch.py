"""The foreachBatch function of the stream: one micro-batch from Kafka into PostgreSQL.

Per batch: skip it if stream_batches already records it (a replay after a crash); clear
what an earlier attempt may have staged; let the executors parse and COPY their partitions
into staging in parallel; then apply and record the batch in one transaction on the
driver. A database that cannot be reached makes the attempt fail and the whole batch is
tried again with backoff (staging is cleared first, so nothing is applied twice); once the
retry budget is spent the exception ends the query, the driver exits non-zero and Airflow
restarts it on the same checkpoint, which replays the batch.

Works on whatever DataFrame Spark hands over; Spark itself is never imported here.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING

import psycopg

from nasaflow.sink.commit import (
    BatchOutcome,
    StagingMismatch,
    batch_committed,
    clear_staging,
    commit_batch,
)
from nasaflow.sink.lock import StreamLock
from nasaflow.sink.records import KAFKA_SELECT
from nasaflow.sink.retry import call_with_retry
from nasaflow.sink.staging import StagedPartition, stage_spark_partition

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


class ExecutorDatabaseError(RuntimeError):
    """An executor failed to reach PostgreSQL while staging (Spark wraps the original)."""


def _transient_markers() -> tuple[str, ...]:
    """How psycopg's connection-level errors appear in a Spark task failure's text."""
    classes: list[type] = [psycopg.OperationalError]
    markers = ["psycopg.OperationalError"]
    while classes:
        for sub in classes.pop().__subclasses__():
            classes.append(sub)
            markers.append(f"{sub.__module__}.{sub.__name__}")
    return tuple(markers)


TRANSIENT_MARKERS = _transient_markers()


def is_transient(exc: BaseException) -> bool:
    """Whether a failed batch attempt may succeed when tried again."""
    return isinstance(exc, (psycopg.OperationalError, StagingMismatch, ExecutorDatabaseError))


class PostgresBatchWriter:
    """Callable for DataStreamWriter.foreachBatch.

    Args:
        db_url: postgresql:// URL of the data database (executors connect with it too).
        query: the streaming query's name, the key of its stream_batches rows.
        lock: the driver's held StreamLock, checked before each attempt.
        retry_seconds: how long one batch keeps being retried on transient failures.
    """

    def __init__(self, db_url: str, query: str, lock: StreamLock, retry_seconds: float) -> None:
        self.db_url = db_url
        self.query = query
        self.lock = lock
        self.retry_seconds = retry_seconds

    def clear_leftovers(self) -> None:
        """Delete whatever earlier drivers of this query staged and never committed (call
        with the lock held: no other driver of the query can be staging now)."""
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            clear_staging(conn, self.query)

    def __call__(self, batch: "DataFrame", batch_id: int) -> None:
        started_at = datetime.now(timezone.utc)
        call_with_retry(lambda: self.write(batch, batch_id, started_at),
                        is_transient=is_transient, budget_seconds=self.retry_seconds,
                        what=f"batch {batch_id} of {self.query}")

    def write(self, batch: "DataFrame", batch_id: int,
              started_at: datetime) -> BatchOutcome | None:
        """One attempt at the batch; None when it was committed before."""
        self.lock.ensure()
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            if batch_committed(conn, self.query, batch_id):
                log.info("batch %d of %s was already committed: skipped", batch_id,
                         self.query)
                return None
            clear_staging(conn, self.query, batch_id)
        clock = time.monotonic()
        staged = self.stage(batch, batch_id)
        staged_at = time.monotonic()
        self.lock.ensure()
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            outcome = commit_batch(conn, self.query, batch_id, staged, started_at)
        if outcome is None:
            log.info("batch %d of %s was committed meanwhile: skipped", batch_id, self.query)
            return None
        lag = outcome.max_lag_seconds
        log.info("batch %d of %s: %d rows, %d dead letters; staged in %.1f s, committed in "
                 "%.1f s; max lag %s", batch_id, self.query, outcome.rows, outcome.dead_letters,
                 staged_at - clock, time.monotonic() - staged_at,
                 "-" if lag is None else f"{lag:.1f} s")
        return outcome

    def stage(self, batch: "DataFrame", batch_id: int) -> list[StagedPartition]:
        """Run the executors' staging; a task that could not reach PostgreSQL becomes an
        ExecutorDatabaseError."""
        task = partial(stage_spark_partition, self.db_url, self.query, batch_id)
        records = batch.selectExpr(*KAFKA_SELECT).rdd
        try:
            return records.mapPartitions(task).collect()
        except Exception as exc:
            text = str(exc)
            marker = next((m for m in TRANSIENT_MARKERS if m in text), None)
            if marker is None:
                raise
            line = next(line for line in text.splitlines() if marker in line)
            raise ExecutorDatabaseError(line.strip()) from exc
