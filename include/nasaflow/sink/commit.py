"""Driver side of a micro-batch: apply the staged rows exactly once, in one transaction.

Spark replays a micro-batch whose end it did not record (a crash between our commit and
its own) with the same batch id and the same offsets. So the batch id is recorded in
stream_batches by the very transaction that upserts the batch's cells and dead letters:
either all of it is in PostgreSQL and the replay is skipped, or none of it is and the
replay does the work.

A batch is identified by (query name, checkpoint id, batch id): batch ids restart at 0 with
every new checkpoint, so under the name alone a fresh checkpoint's batches would be taken
for an old checkpoint's and skipped, losing their messages. The checkpoint id (Spark's
StreamingQuery.id, kept in the checkpoint) tells them apart.

Cells are keyed by (image_id, patch_size, cell_row, cell_col); within a batch the latest
Kafka offset of a cell wins, and a later batch overwrites an earlier one, so the table
always holds the most recently published value of each cell, together with the schema
version, convention and calculator version of the message that carried it. Stored
compactly (include/sql/007): the image id becomes an integer image key (image_keys, a key
made by the first batch that names the image), the cell goes to the monthly partition of
its image's observation day, and how it was computed is a 2-byte key into
cell_provenance. The full-disk summary of every image the batch wrote cells of
(image_parameter_summary, include/sql/009) is recomputed by the same transaction, so a
time series never shows an image's cells and a summary that disagree. Identifiers are
composed with psycopg.sql.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.sink.staging import (
    STAGED_BATCH,
    STAGED_CELLS,
    STAGED_DEAD_LETTERS,
    StagedPartition,
)

#: Memory for the DISTINCT ON sort of one batch, so it stays out of temporary files.
SORT_MEMORY = "256MB"

_KEY_COLUMNS = ("image_id", "patch_size", "cell_row", "cell_col")
#: Columns of image_cells taken as staged; the rest are looked up (include/sql/007).
_VALUE_COLUMNS = ("patch_size", "cell_row", "cell_col", *PARAMETER_NAMES, "published_at")
_CELL_KEY = sql.SQL("image_key, patch_size, cell_row, cell_col, observed_on")
_PROVENANCE = sql.SQL("schema_version, convention, calculator_version")
#: New image ids get their key; an id seen before keeps its key and observation time.
_IMAGE_KEYS = sql.SQL("""
INSERT INTO image_keys (image_id, observed_at)
SELECT DISTINCT ON (image_id) image_id, observed_at FROM {staged} WHERE {batch}
 ORDER BY image_id
ON CONFLICT (image_id) DO NOTHING
""").format(staged=sql.Identifier(STAGED_CELLS), batch=STAGED_BATCH)
#: Only provenances not stored yet: ON CONFLICT alone would draw a value of the 2-byte
#: key's sequence on every batch and exhaust it (see 010_provenance_keys.sql).
_PROVENANCES = sql.SQL("""
INSERT INTO cell_provenance ({provenance})
SELECT DISTINCT {provenance} FROM {staged} AS s WHERE {batch}
   AND NOT EXISTS (SELECT FROM cell_provenance AS v
                    WHERE v.schema_version = s.schema_version
                      AND v.convention IS NOT DISTINCT FROM s.convention
                      AND v.calculator_version IS NOT DISTINCT FROM s.calculator_version)
ON CONFLICT DO NOTHING
""").format(provenance=_PROVENANCE, staged=sql.Identifier(STAGED_CELLS), batch=STAGED_BATCH)
#: The keys of the batch's images: a few rows (one per image), handed back to _UPSERT.
_BATCH_KEYS = sql.SQL("""
SELECT k.image_id, k.image_key, observation_day(k.observed_at) FROM image_keys AS k
 WHERE k.image_id IN (SELECT image_id FROM {staged} WHERE {batch})
""").format(staged=sql.Identifier(STAGED_CELLS), batch=STAGED_BATCH)
_UPSERT = sql.SQL("""
INSERT INTO image_cells ({values}, image_key, observed_on, provenance)
SELECT DISTINCT ON (k.image_key, s.patch_size, s.cell_row, s.cell_col)
       {staged_values}, k.image_key, k.observed_on, v.provenance
  FROM {staged} AS s
  JOIN unnest(%(image_ids)s::text[], %(image_keys)s::integer[], %(observed_on)s::date[])
       AS k (image_id, image_key, observed_on) ON k.image_id = s.image_id
  JOIN cell_provenance AS v ON v.schema_version = s.schema_version
   AND v.convention IS NOT DISTINCT FROM s.convention
   AND v.calculator_version IS NOT DISTINCT FROM s.calculator_version
 WHERE {batch}
 ORDER BY k.image_key, s.patch_size, s.cell_row, s.cell_col, s.kafka_partition,
          s.kafka_offset DESC
ON CONFLICT ({key}) DO UPDATE SET
  {updates},
  provenance = EXCLUDED.provenance,
  landed_at = now()
""").format(
    values=sql.SQL(", ").join(map(sql.Identifier, _VALUE_COLUMNS)),
    staged_values=sql.SQL(", ").join(sql.Identifier("s", name) for name in _VALUE_COLUMNS),
    key=_CELL_KEY, staged=sql.Identifier(STAGED_CELLS),
    batch=STAGED_BATCH,
    updates=sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name))
        for name in _VALUE_COLUMNS if name not in _KEY_COLUMNS))
#: The full-disk statistics of the batch's images, from all their stored cells (an image's
#: parts may arrive in several batches), computed by include/sql/009's function.
_SUMMARY = "SELECT refresh_image_parameter_summary(%(image_keys)s::integer[])"
_DEAD_LETTERS = sql.SQL("""
INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, message_key, message_value,
                          reason, query, batch_id)
SELECT DISTINCT ON (topic, kafka_partition, kafka_offset)
       topic, kafka_partition, kafka_offset, message_key, message_value, reason, query, batch_id
  FROM {staged}
 WHERE {batch}
ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING
""").format(staged=sql.Identifier(STAGED_DEAD_LETTERS), batch=STAGED_BATCH)
_STAGED_COUNTS = sql.SQL("""
SELECT (SELECT count(*) FROM {cells} WHERE {batch}),
       (SELECT count(*) FROM {dead} WHERE {batch})
""").format(cells=sql.Identifier(STAGED_CELLS), dead=sql.Identifier(STAGED_DEAD_LETTERS),
             batch=STAGED_BATCH)


class StagingMismatch(RuntimeError):
    """The staging tables do not hold what the executors reported (PostgreSQL restarted
    and emptied the UNLOGGED tables, or a task was retried): stage the batch again."""


@dataclass(frozen=True)
class BatchOutcome:
    """What one committed micro-batch did (also its stream_batches row): `rows` cells
    upserted (distinct keys), `dead_letters` messages refused (recorded in dead_letters
    unless an earlier run already recorded the same offset)."""

    rows: int
    dead_letters: int
    start_offsets: dict[str, dict[str, int]]
    end_offsets: dict[str, dict[str, int]]
    max_lag_seconds: float | None


def batch_committed(conn: psycopg.Connection, query: str, checkpoint_id: str,
                    batch_id: int) -> bool:
    """True when batch `batch_id` of `query` run from checkpoint `checkpoint_id` is already
    recorded in stream_batches (the same batch id of another checkpoint is another batch)."""
    row = conn.execute("SELECT 1 FROM stream_batches WHERE query = %s AND checkpoint_id = %s"
                       " AND batch_id = %s", (query, checkpoint_id, batch_id)).fetchone()
    return row is not None


def clear_staging(conn: psycopg.Connection, query: str,
                  batch: tuple[str, int] | None = None) -> None:
    """Delete staged rows of `query`'s batch `batch` = (checkpoint id, batch id), or of
    every batch when None, left by an attempt that did not commit; committed in `conn`'s
    transaction."""
    condition = sql.SQL("query = %(query)s") if batch is None else STAGED_BATCH
    params: dict[str, object] = {"query": query}
    if batch is not None:
        params.update(checkpoint_id=batch[0], batch_id=batch[1])
    with conn.transaction():
        for table in (STAGED_CELLS, STAGED_DEAD_LETTERS):
            conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(table),
                                                                   condition), params)


def commit_batch(conn: psycopg.Connection, query: str, checkpoint_id: str, batch_id: int,
                 staged: Sequence[StagedPartition], started_at: datetime) -> BatchOutcome | None:
    """Apply a staged batch and record it, in one transaction.

    Args:
        conn: a connection with no transaction open.
        query, checkpoint_id, batch_id: the micro-batch, the key of its staged rows.
        staged: the executors' summaries of what they staged for it.
        started_at: when the driver started the batch (stream_batches.started_at).

    Returns:
        The batch's outcome, or None when the batch was already recorded (nothing changed).

    Raises:
        StagingMismatch: the staging tables hold other counts than `staged` reports.
    """
    cells = sum(part.cells for part in staged)
    dead = sum(part.dead_letters for part in staged)
    start, end = _offset_ranges(staged)
    timestamps = [part.oldest_timestamp for part in staged if part.oldest_timestamp is not None]
    oldest = min(timestamps) if timestamps else None
    key = {"query": query, "checkpoint_id": checkpoint_id, "batch_id": batch_id}
    with conn.transaction():
        claimed = conn.execute(
            """INSERT INTO stream_batches (query, checkpoint_id, batch_id, rows, dead_letters,
                                          start_offsets, end_offsets, started_at)
               VALUES (%(query)s, %(checkpoint_id)s, %(batch_id)s, 0, 0, %(start)s, %(end)s,
                       %(started_at)s)
               ON CONFLICT (query, checkpoint_id, batch_id) DO NOTHING""",
            {**key, "start": json.dumps(start), "end": json.dumps(end),
             "started_at": started_at})
        if claimed.rowcount == 0:
            return None
        # Two scalar subqueries: always one row (the `or` only tells the type checker).
        staged_cells, staged_dead = conn.execute(_STAGED_COUNTS, key).fetchone() or (0, 0)
        if (staged_cells, staged_dead) != (cells, dead):
            raise StagingMismatch(
                f"batch {batch_id} of {query}: staging holds {staged_cells} cells and "
                f"{staged_dead} dead letters, executors staged {cells} and {dead}")
        conn.execute(sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal(SORT_MEMORY)))
        # The staging table's statistics say nothing about the batch (it is emptied after
        # every batch): estimated at a row or so, it would be rescanned once per image in
        # a nested loop. Hash joins cost the same whatever the estimate.
        conn.execute("SET LOCAL enable_nestloop = off")
        conn.execute(_IMAGE_KEYS, key)
        conn.execute(_PROVENANCES, key)
        images = conn.execute(_BATCH_KEYS, key).fetchall()
        rows = conn.execute(_UPSERT, {**key, "image_ids": [image[0] for image in images],
                                      "image_keys": [image[1] for image in images],
                                      "observed_on": [image[2] for image in images]}).rowcount
        conn.execute(_SUMMARY, {"image_keys": [image[1] for image in images]})
        conn.execute(_DEAD_LETTERS, key)
        for table in (STAGED_CELLS, STAGED_DEAD_LETTERS):
            conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(table),
                                                                   STAGED_BATCH), key)
        lag = conn.execute(
            """UPDATE stream_batches
                  SET rows = %(rows)s, dead_letters = %(dead)s, finished_at = clock_timestamp(),
                      max_lag_seconds = extract(epoch FROM clock_timestamp())
                                        - %(oldest)s::double precision
                WHERE query = %(query)s AND checkpoint_id = %(checkpoint_id)s
                  AND batch_id = %(batch_id)s
               RETURNING max_lag_seconds""",
            {**key, "rows": rows, "dead": dead, "oldest": oldest}).fetchone()
    return BatchOutcome(rows, dead, start, end, lag[0] if lag else None)


def _offset_ranges(staged: Sequence[StagedPartition]
                   ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Per topic and partition: first offset seen, and last offset seen + 1 (exclusive end,
    as Spark writes offsets)."""
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for part in staged:
        for coordinates, (first, last) in part.offsets.items():
            seen = spans.get(coordinates)
            spans[coordinates] = ((first, last) if seen is None
                                  else (min(seen[0], first), max(seen[1], last)))
    start: dict[str, dict[str, int]] = {}
    end: dict[str, dict[str, int]] = {}
    for (topic, partition), (first, last) in sorted(spans.items()):
        start.setdefault(topic, {})[str(partition)] = first
        end.setdefault(topic, {})[str(partition)] = last + 1
    return start, end
