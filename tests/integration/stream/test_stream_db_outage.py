"""PostgreSQL down for longer than a batch was ever retried before (150 s) under the
stream_to_postgres DAG's task: the stream rides the outage out and commits its first batch
within a minute of the database's return; every cell published meanwhile lands, none
twice.

The database is a throwaway cluster of the test's own (ScratchPostgres, its own port),
with its own topic and checkpoint: the platform's cluster, which also holds Airflow's
metadata, is never stopped.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from nasaflow.messaging.admin import ensure_topic
from nasaflow.settings import Settings
from nasaflow.spark_launch import STREAM_QUERY_NAME

from tests.integration.stream.dag_stream_task import StreamTask
from tests.integration.stream.scratch_postgres import ScratchPostgres
from tests.integration.stream.streamkit import (
    EPOCH,
    Producer,
    assert_offsets_processed_once,
    committed_batches,
    delete_topic,
    fetch,
    first_batch_after,
    publish_images,
    topic_end_offsets,
    wait_until,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

PARTS, ROWS_PER_PART, COLS = 2, 4, 64
OUTAGE_SECONDS = 150
RECOVERY_LIMIT_SECONDS = 60


@dataclass
class OutageRun:
    settings: Settings     # pointing at the test's own database
    topic: str
    prefix: str
    images: list[str]
    published_during_outage: int
    recovery_seconds: float
    task_alive_after: bool
    log: str


@pytest.fixture(scope="module")
def run(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OutageRun]:
    token = uuid.uuid4().hex[:10]
    topic, prefix = f"test-stream-outage-{token}", f"test-outage-{token}-"
    ensure_topic(settings.kafka_bootstrap, topic, 2)
    folder = tmp_path_factory.mktemp("outage")
    cluster = ScratchPostgres()
    images: list[str] = []
    stop = threading.Event()
    producer = Producer(settings, topic)
    publisher = threading.Thread(target=publish_images, args=(
        producer, prefix, stop, images, (PARTS, ROWS_PER_PART, COLS)))
    task: StreamTask | None = None
    try:
        cluster.start()
        own = dataclasses.replace(settings, db_url=cluster.create_database(f"outage_{token}"))
        task = StreamTask(own.db_url, settings.kafka_bootstrap, topic, folder / "checkpoints",
                          folder / "task.log")
        publisher.start()
        wait_until(lambda: first_batch_after(own, STREAM_QUERY_NAME, EPOCH) is not None,
                   600, "the task's first batch")
        try:
            cluster.stop()
            before = len(images)
            time.sleep(OUTAGE_SECONDS)
            during = len(images) - before
        finally:
            cluster.start()
        back_at = datetime.now(UTC)
        wait_until(lambda: first_batch_after(own, STREAM_QUERY_NAME, back_at)
                   is not None, RECOVERY_LIMIT_SECONDS * 4, "the first batch after the outage")
        committed = first_batch_after(own, STREAM_QUERY_NAME, back_at)
        assert committed is not None
        recovery = (committed - back_at).total_seconds()
        print(f"PostgreSQL down {OUTAGE_SECONDS} s: first batch {recovery:.1f} s after its "
              "return")
        stop.set()
        publisher.join(timeout=60)
        expected = len(images) * PARTS * ROWS_PER_PART * COLS
        wait_until(lambda: fetch(own, "SELECT count(*) FROM image_parameters WHERE image_id"
                                      " LIKE %s", (prefix + "%",))[0][0] == expected,
                   300, f"{expected} cells to land")
        alive = task.process.poll() is None
        task.stop()
        yield OutageRun(own, topic, prefix, images, during, recovery, alive, task.log())
    finally:
        stop.set()
        if task is not None:
            task.stop()
        producer.close()
        cluster.destroy()
        delete_topic(settings, topic)


def test_stream_is_back_within_a_minute_of_the_end_of_a_database_outage(
        run: OutageRun) -> None:
    print(f"recovery after a {OUTAGE_SECONDS} s outage: {run.recovery_seconds:.1f} s")
    assert run.published_during_outage > 0
    assert run.task_alive_after, "the task rode the outage out"
    assert run.recovery_seconds <= RECOVERY_LIMIT_SECONDS, f"{run.recovery_seconds:.1f} s"


def test_the_batch_in_flight_is_retried_through_the_outage(run: OutageRun) -> None:
    assert "failed (attempt 1, " in run.log and "retrying in" in run.log


def test_cells_published_around_the_outage_land_exactly_once(run: OutageRun) -> None:
    own = run.settings
    landed = fetch(own, "SELECT count(*), count(DISTINCT image_id) FROM image_parameters"
                        " WHERE image_id LIKE %s", (run.prefix + "%",))[0]
    assert landed == (len(run.images) * PARTS * ROWS_PER_PART * COLS, len(run.images))
    batches = committed_batches(own, STREAM_QUERY_NAME)
    assert sum(rows for _, rows, *_ in batches) == landed[0]
    assert_offsets_processed_once(batches, run.topic, topic_end_offsets(own, run.topic))
