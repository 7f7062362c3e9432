"""A backlog of over a million cells drains completely, in micro-batches no larger than
the maxOffsetsPerTrigger throttle allows (drain mode: availableNow, back-to-back batches).

Midway, one executor's staging connection is cut (pg_terminate_backend, as a database
failover would): the batch fails, is retried, and still lands exactly once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from nasaflow.messaging.admin import ensure_topic
from nasaflow.settings import Settings

from tests.integration.stream.streamkit import (
    Driver,
    Producer,
    assert_offsets_processed_once,
    band,
    batches_needed,
    cleanup_rows,
    committed_batches,
    delete_topic,
    driver_args,
    fetch,
    topic_end_offsets,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

IMAGES, PARTS, ROWS_PER_PART, COLS = 250, 8, 8, 64
CELLS_PER_MESSAGE = ROWS_PER_PART * COLS
MESSAGES = IMAGES * PARTS
CELLS = MESSAGES * CELLS_PER_MESSAGE  # 1,024,000
THROTTLE = 250  # messages per trigger: 128,000 cells per batch at most


@dataclass
class BacklogRun:
    topic: str
    query: str
    prefix: str
    exit_code: int
    log: str
    cut_batch: int | None


def cut_one_staging_connection(settings: Settings, query_name: str, done: threading.Event,
                               cut: list[int]) -> None:
    """Terminate the first staging session of batch 1 or later of `query_name`."""
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        while not done.is_set():
            row = conn.execute(
                "SELECT pid, split_part(application_name, ' ', 2)::bigint FROM pg_stat_activity"
                " WHERE application_name LIKE %s AND application_name NOT LIKE %s LIMIT 1",
                (f"nasaflow-stage % {query_name}", "nasaflow-stage 0 %")).fetchone()
            if row is not None:
                conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                cut.append(row[1])
                return
            time.sleep(0.05)


def backlog(prefix: str) -> Iterator[tuple[bytes, bytes]]:
    for index in range(IMAGES):
        image = f"{prefix}{index:04d}"
        for part in range(PARTS):
            yield image.encode(), band(image, part, PARTS, ROWS_PER_PART, COLS, compact=True)


@pytest.fixture(scope="module")
def run(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BacklogRun]:
    token = uuid.uuid4().hex[:10]
    topic = query_name = f"test-stream-backlog-{token}"
    prefix = f"test-backlog-{token}-"
    ensure_topic(settings.kafka_bootstrap, topic, 2)
    folder = tmp_path_factory.mktemp("backlog")
    producer = Producer(settings, topic)
    done, cut = threading.Event(), list[int]()
    cutter = threading.Thread(target=cut_one_staging_connection,
                              args=(settings, query_name, done, cut))
    try:
        assert producer.send_all(backlog(prefix)) == MESSAGES
        driver = Driver(settings, driver_args(topic, query_name, folder / "checkpoint",
                                              "--available-now", "--max-offsets-per-trigger",
                                              str(THROTTLE)), folder / "driver.log")
        cutter.start()
        exit_code = driver.wait(timeout=400)
        yield BacklogRun(topic, query_name, prefix, exit_code, driver.log(),
                         cut[0] if cut else None)
    finally:
        done.set()
        producer.close()
        cleanup_rows(settings, prefix, [query_name])
        delete_topic(settings, topic)


def test_backlog_of_a_million_cells_drains_completely(settings: Settings,
                                                     run: BacklogRun) -> None:
    assert run.exit_code == 0, run.log[-3000:]
    landed = fetch(settings, "SELECT count(*) FROM image_parameters WHERE image_id LIKE %s",
                   (run.prefix + "%",))[0][0]
    assert landed == CELLS >= 1_000_000


def test_no_batch_is_larger_than_the_throttle_allows(settings: Settings,
                                                     run: BacklogRun) -> None:
    batches = committed_batches(settings, run.query)
    assert sum(rows for _, rows, *_ in batches) == CELLS
    assert max(rows for _, rows, *_ in batches) <= THROTTLE * CELLS_PER_MESSAGE
    assert len(batches) >= batches_needed(MESSAGES, THROTTLE)


def test_a_staging_connection_cut_mid_batch_is_retried_and_lands_once(
        settings: Settings, run: BacklogRun) -> None:
    assert run.cut_batch is not None
    assert f"batch {run.cut_batch} of {run.query} failed (attempt 1, ExecutorDatabaseError)" \
        in run.log
    assert_offsets_processed_once(committed_batches(settings, run.query), run.topic,
                                  topic_end_offsets(settings, run.topic))
