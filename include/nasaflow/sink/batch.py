"""The foreachBatch function of the stream: one micro-batch from Kafka into PostgreSQL.

Per batch: skip it if stream_batches already records it for this query's checkpoint (a
replay after a crash; the same batch id from another checkpoint is another batch); clear
what an earlier attempt may have staged; let the executors parse and COPY their partitions
into staging in parallel; then apply and record the batch in one transaction on the
driver, on the session that holds the stream's lock (see nasaflow.sink.lock): a driver
whose lock session ended cannot commit, so a driver that took over is the only one that
applies the batch. A database that cannot be reached makes the attempt fail and the whole
batch is tried again with backoff (staging is cleared first, so nothing is applied twice);
once the retry budget is spent the exception ends the query, the driver exits non-zero and
Airflow restarts it on the same checkpoint, which replays the batch. A driver that finds
its lock taken by another (LockLostError) stops at once.

Works on whatever DataFrame Spark hands over; Spark itself is never imported here.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
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


#: Local property Spark sets, on the thread running a streaming query's batches, to the
#: query's id (StreamingQuery.id).
QUERY_ID_PROPERTY = "sql.streaming.queryId"


class CheckpointUnknownError(RuntimeError):
    """Spark did not say which query, hence which checkpoint, a batch belongs to."""


class ExecutorDatabaseError(RuntimeError):
    """An executor failed to reach PostgreSQL while staging (Spark wraps the original)."""


def _transient_markers() -> tuple[str, ...]:
    """How psycopg's connection-level errors appear in a Spark task failure's text."""
    classes: list[type[Exception]] = [psycopg.OperationalError]
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
        query: the streaming query's name; with its checkpoint id, the key of its
            stream_batches rows.
        lock: the driver's held StreamLock, on whose session every batch is committed.
        retry_seconds: how long one batch keeps being retried on transient failures.
    """

    def __init__(self, db_url: str, query: str, lock: StreamLock, retry_seconds: float) -> None:
        self.db_url = db_url
        self.query = query
        self.lock = lock
        self.retry_seconds = retry_seconds
        self._checkpoint_id: str | None = None

    def checkpoint_id(self, batch: DataFrame) -> str:
        """The id of the query running `batch` (StreamingQuery.id), found once.

        Spark keeps it in the checkpoint: the same on every restart from that checkpoint, so
        a replayed batch is recognised, and new for a new checkpoint, whose batch ids restart
        at 0 and must not be mistaken for the old checkpoint's. Read from the local property
        Spark sets on the thread that calls foreachBatch (the batch's session is a clone
        whose `streams` lists no query). Without it the batch fails: guessing could skip it.
        """
        if self._checkpoint_id is None:
            found = batch.sparkSession.sparkContext.getLocalProperty(QUERY_ID_PROPERTY)
            if not found:
                raise CheckpointUnknownError(
                    f"Spark did not set {QUERY_ID_PROPERTY} for the batch of {self.query}: "
                    "cannot tell its checkpoint, so cannot tell whether it was committed")
            self._checkpoint_id = found
        return self._checkpoint_id

    def clear_leftovers(self) -> None:
        """Delete whatever earlier drivers of this query staged and never committed (call
        with the lock held: no other driver of the query can be staging now)."""
        clear_staging(self.lock.ensure(), self.query)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started_at = datetime.now(UTC)
        checkpoint_id = self.checkpoint_id(batch)
        call_with_retry(lambda: self.write(batch, checkpoint_id, batch_id, started_at),
                        is_transient=is_transient, budget_seconds=self.retry_seconds,
                        what=f"batch {batch_id} of {self.query}")

    def write(self, batch: DataFrame, checkpoint_id: str, batch_id: int,
              started_at: datetime) -> BatchOutcome | None:
        """One attempt at the batch; None when it was committed before."""
        conn = self.lock.ensure()
        if batch_committed(conn, self.query, checkpoint_id, batch_id):
            log.info("batch %d of %s (checkpoint %s) was already committed: skipped",
                     batch_id, self.query, checkpoint_id)
            return None
        clear_staging(conn, self.query, (checkpoint_id, batch_id))
        clock = time.monotonic()
        staged = self.stage(batch, checkpoint_id, batch_id)
        staged_at = time.monotonic()
        outcome = commit_batch(self.lock.ensure(), self.query, checkpoint_id, batch_id, staged,
                               started_at)
        if outcome is None:
            log.info("batch %d of %s was committed meanwhile: skipped", batch_id, self.query)
            return None
        lag = outcome.max_lag_seconds
        log.info("batch %d of %s: %d rows, %d dead letters; staged in %.1f s, committed in "
                 "%.1f s; max lag %s", batch_id, self.query, outcome.rows, outcome.dead_letters,
                 staged_at - clock, time.monotonic() - staged_at,
                 "-" if lag is None else f"{lag:.1f} s")
        return outcome

    def stage(self, batch: DataFrame, checkpoint_id: str,
              batch_id: int) -> list[StagedPartition]:
        """Run the executors' staging; a task that could not reach PostgreSQL becomes an
        ExecutorDatabaseError."""
        task = partial(stage_spark_partition, self.db_url, self.query, checkpoint_id, batch_id)
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
