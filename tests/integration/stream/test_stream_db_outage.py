"""PostgreSQL stopped for 30 s under a running stream: the batch in flight is retried with
backoff instead of killing the query, and once the database is back every cell published
meanwhile lands, none twice.

This stops the shared PostgreSQL cluster (Airflow complains meanwhile); it is always
started again, whatever happens.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from nasaflow.messaging.admin import ensure_topic
from nasaflow.settings import Settings

from tests.integration.stream.streamkit import (
    Driver,
    Producer,
    assert_offsets_processed_once,
    band,
    cleanup_rows,
    committed_batches,
    delete_topic,
    driver_args,
    fetch,
    topic_end_offsets,
    wait_until,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

PARTS, ROWS_PER_PART, COLS = 2, 4, 64
OUTAGE_SECONDS = 30


@dataclass
class OutageRun:
    topic: str
    query: str
    prefix: str
    images: list[str]
    published_during_outage: int
    driver_alive_after: bool
    log: str


def pg_cluster() -> list[str]:
    """[version, name] of the local Debian PostgreSQL cluster."""
    line = subprocess.run(["pg_lsclusters", "--no-header"], check=True, capture_output=True,
                          text=True).stdout.splitlines()[0]
    return line.split()[:2]


def pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]).returncode == 0


def publish(producer: Producer, prefix: str, stop: threading.Event, images: list[str]) -> None:
    """One image every 0.5 s until `stop`."""
    while not stop.is_set():
        image = f"{prefix}{len(images):04d}"
        for part in range(PARTS):
            producer.send(image.encode(), band(image, part, PARTS, ROWS_PER_PART, COLS))
        producer.flush()
        images.append(image)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def run(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OutageRun]:
    token = uuid.uuid4().hex[:10]
    topic = query_name = f"test-stream-outage-{token}"
    prefix = f"test-outage-{token}-"
    ensure_topic(settings.kafka_bootstrap, topic, 2)
    folder = tmp_path_factory.mktemp("outage")
    images: list[str] = []
    stop = threading.Event()
    producer = Producer(settings, topic)
    publisher = threading.Thread(target=publish, args=(producer, prefix, stop, images))
    driver = Driver(settings, driver_args(topic, query_name, folder / "checkpoint",
                                          "--trigger-seconds", "2", "--retry-seconds", "120"),
                    folder / "driver.log")
    cluster = pg_cluster()
    try:
        publisher.start()
        wait_until(lambda: len(committed_batches(settings, query_name)) >= 1, 180,
                   "the first batch")
        try:
            subprocess.run(["pg_ctlcluster", *cluster, "stop"], check=True)
            before = len(images)
            time.sleep(OUTAGE_SECONDS)
            during = len(images) - before
        finally:
            subprocess.run(["pg_ctlcluster", *cluster, "start"], check=True)
            wait_until(pg_ready, 60, "PostgreSQL to accept connections again")
        time.sleep(3)
        stop.set()
        publisher.join(timeout=60)
        expected = len(images) * PARTS * ROWS_PER_PART * COLS
        wait_until(lambda: fetch(settings, "SELECT count(*) FROM image_parameters WHERE"
                                           " image_id LIKE %s", (prefix + "%",))[0][0] == expected,
                   180, f"{expected} cells to land")
        time.sleep(5)  # a few more triggers: nothing may change any more
        alive = driver.process.poll() is None
        driver.kill()
        yield OutageRun(topic, query_name, prefix, images, during, alive, driver.log())
    finally:
        stop.set()
        driver.kill()
        producer.close()
        if not pg_ready():
            subprocess.run(["pg_ctlcluster", *cluster, "start"])
        cleanup_rows(settings, prefix, [query_name])
        delete_topic(settings, topic)


def test_query_survives_a_30_second_database_outage_by_retrying_the_batch(
        run: OutageRun) -> None:
    assert run.published_during_outage > 0
    assert run.driver_alive_after
    assert "failed (attempt 1, " in run.log and "retrying in" in run.log


def test_cells_published_around_the_outage_land_exactly_once(settings: Settings,
                                                             run: OutageRun) -> None:
    landed = fetch(settings, "SELECT count(*), count(DISTINCT image_id) FROM image_parameters"
                             " WHERE image_id LIKE %s", (run.prefix + "%",))[0]
    assert landed == (len(run.images) * PARTS * ROWS_PER_PART * COLS, len(run.images))
    batches = committed_batches(settings, run.query)
    assert sum(rows for _, rows, *_ in batches) == landed[0]
    assert_offsets_processed_once(batches, run.topic, topic_end_offsets(settings, run.topic))
