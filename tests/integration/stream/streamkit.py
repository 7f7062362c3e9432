"""Helpers of the stream tests: synthetic version 1 messages, a bulk publisher, spark-submit
drivers run as their own process groups, and per-test cleanup of database rows."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import psycopg
from psycopg import sql

from nasaflow.messaging.publisher import COMPRESSION
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import Settings
from nasaflow.spark_launch import STREAM_APPLICATION, submit_command, submit_env

from tests.integration.stream.private_schema import schema_url


def expected_value(row: int, col: int, index: int) -> float:
    """The value band() gives parameter number `index` of cell (row, col)."""
    return row * 1000.0 + col + index / 100


@lru_cache(maxsize=64)
def _cells_json(first_row: int, rows: int, cols: int, compact: bool) -> str:
    names = PARAMETER_NAMES
    return json.dumps([
        {"row": row, "col": col,
         **{name: (0 if compact else expected_value(row, col, index))
            for index, name in enumerate(names)}}
        for row in range(first_row, first_row + rows) for col in range(cols)
    ], separators=(",", ":"))


def band(image_id: str, part: int, parts: int, rows_per_part: int, cols: int,
         published_at: datetime | None = None, compact: bool = False) -> bytes:
    """Message `part` of an image whose grid is (parts * rows_per_part) x cols cells.

    Values follow `expected_value`, so a landed row can be checked against its
    coordinates; `compact` makes them all 0 (short, compressible messages for volume).
    """
    moment = (published_at or datetime.now(UTC)).astimezone(UTC)
    header = json.dumps({
        "schema_version": 1, "image_id": image_id, "source": "helioviewer",
        "instrument": "AIA", "wavelength": "193", "observed_at": "2022-01-01T00:03:52Z",
        "patch_size": 64, "grid": {"rows": parts * rows_per_part, "cols": cols},
        "part": part, "parts": parts,
        "published_at": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }, separators=(",", ":"))
    cells = _cells_json(part * rows_per_part, rows_per_part, cols, compact)
    return f'{header[:-1]},"cells":{cells}}}'.encode()


class Producer:
    """A kafka-python producer tuned for volume, compressed as the parameter job's."""

    def __init__(self, settings: Settings, topic: str) -> None:
        from kafka import KafkaProducer

        self.topic = topic
        self._producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                       compression_type=COMPRESSION, linger_ms=20,
                                       batch_size=1 << 20, max_request_size=4 << 20)

    def send(self, key: bytes | None, value: bytes | None) -> None:
        self._producer.send(self.topic, key=key, value=value)

    def send_all(self, messages: Iterable[tuple[bytes | None, bytes | None]]) -> int:
        count = 0
        for key, value in messages:
            self.send(key, value)
            count += 1
        self.flush()
        return count

    def flush(self) -> None:
        self._producer.flush(timeout=120)

    def close(self) -> None:
        self._producer.close(timeout=10)


def publish_images(producer: Producer, prefix: str, stop: threading.Event, images: list[str],
                   shape: tuple[int, int, int], pause: float = 0.5) -> None:
    """One image of `shape` (parts, rows per part, cols) every `pause` seconds until `stop`,
    so that messages always wait; `images` collects the ids sent."""
    parts, rows_per_part, cols = shape
    while not stop.is_set():
        image = f"{prefix}{len(images):04d}"
        for part in range(parts):
            producer.send(image.encode(), band(image, part, parts, rows_per_part, cols))
        producer.flush()
        images.append(image)
        time.sleep(pause)


#: A moment before any batch.
EPOCH = datetime.fromtimestamp(0, UTC)


def first_batch_after(settings: Settings, query: str, moment: datetime) -> datetime | None:
    """When the first batch of `query` committed after `moment` did, or None."""
    return fetch(settings, "SELECT min(finished_at) FROM stream_batches WHERE query = %s"
                           " AND finished_at > %s", (query, moment))[0][0]


def topic_end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def delete_topic(settings: Settings, topic: str) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()


class Driver:
    """spark_jobs/stream_to_postgres.py under spark-submit, in its own process group (so
    kill() takes the JVM and its Python workers down at once, like a lost machine)."""

    def __init__(self, settings: Settings, args: list[str], log_path: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.log_path = log_path
        # Open for the driver's lifetime: wait() or kill() closes it.
        self._log = open(log_path, "ab")  # noqa: SIM115 (outlives this method)
        self.process = subprocess.Popen(submit_command(STREAM_APPLICATION, settings, args,
                                                       with_jars=True),
                                        env={**os.environ, **submit_env(settings), **(env or {})},
                                        stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL the whole process group; no-op when it has already ended."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def driver_args(topic: str, query: str, checkpoint: Path, *extra: str) -> list[str]:
    return ["--topic", topic, "--query-name", query, "--checkpoint", str(checkpoint), *extra]


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               interval: float = 1.0) -> None:
    """Poll `condition` until true; AssertionError naming `what` after `timeout` seconds.
    Errors raised by the condition (e.g. PostgreSQL briefly away) count as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except psycopg.OperationalError:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def fetch(settings: Settings, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def committed_batches(settings: Settings, name: str) -> list[tuple]:
    """(batch_id, rows, dead_letters, start_offsets, end_offsets) of a query, in order."""
    return fetch(settings, "SELECT batch_id, rows, dead_letters, start_offsets, end_offsets"
                           " FROM stream_batches WHERE query = %s ORDER BY batch_id", (name,))


def assert_offsets_processed_once(batches: list[tuple], topic: str,
                                  end_offsets: dict[int, int]) -> None:
    """Every offset of `topic` lies in exactly one recorded batch: per partition, the
    batches' [start, end) ranges follow each other without gap or overlap from 0 to the
    partition's end."""
    reached = {partition: 0 for partition in end_offsets}
    for batch_id, _, _, start, end in batches:
        for partition, first in start.get(topic, {}).items():
            assert first == reached[int(partition)], (
                f"batch {batch_id} starts partition {partition} at {first}, "
                f"expected {reached[int(partition)]}")
            reached[int(partition)] = end[topic][partition]
    assert reached == end_offsets


def cleanup_rows(settings: Settings, image_prefix: str, queries: Iterable[str]) -> None:
    """Delete a test's rows: cells of images starting with `image_prefix`, progress and
    dead letters of `queries`, and anything they left staged."""
    names = list(queries)
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        # Set-based on the stored cells: through the image_parameters view a delete runs
        # row by row, too slow for a backlog test's millions of cells.
        conn.execute("DELETE FROM image_cells AS c USING image_keys AS k"
                     " WHERE c.image_key = k.image_key AND k.image_id >= %s AND k.image_id < %s",
                     (image_prefix, image_prefix + "\U0010ffff"))
        conn.execute("DELETE FROM image_keys WHERE image_id >= %s AND image_id < %s",
                     (image_prefix, image_prefix + "\U0010ffff"))
        for table in ("stream_batches", "dead_letters", "stream_staged_cells",
                      "stream_staged_dead_letters"):
            conn.execute(f"DELETE FROM {table} WHERE query = ANY(%s)",
                         (names,))


def batches_needed(messages: int, per_batch: int) -> int:
    return math.ceil(messages / per_batch)


@contextmanager
def private_schema(settings: Settings) -> Iterator[Settings]:
    """`settings` with a database URL whose connections see only a new schema holding the
    migrated data tables, dropped afterwards: for tests that lock tables or need migrations
    the shared database has not had yet, without touching the platform's rows."""
    from nasaflow.db.partitions import forget_partitioning

    from tests.integration.stream.private_schema import migrate_schema

    # Created and used as the owner: the writer has no DDL rights.
    schema = f"test_{uuid.uuid4().hex[:12]}"
    url = schema_url(settings.db_owner_url, schema)
    with psycopg.connect(settings.db_owner_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        migrate_schema(url)
        yield replace(settings, db_url=url, db_owner_url=url)
    finally:
        with psycopg.connect(settings.db_owner_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            forget_partitioning(conn, schema)
