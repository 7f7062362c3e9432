"""The streaming driver under spark-submit: SIGKILL mid-flow and a restart on the same
checkpoint land every cell exactly once; poison messages become dead letters without
stopping the stream; a second driver on the same checkpoint refuses to start.

One scenario, run once for the module (each spark-submit costs a JVM start):
driver A streams (2 s trigger) while a publisher sends images; once A has committed a
batch, poison messages join the flow and driver B is started on A's checkpoint; then A's whole
process group is SIGKILLed while messages still flow; after the publisher stops, driver C
restarts on the checkpoint in drain mode and exits once caught up.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from nasaflow.messaging.admin import ensure_topic
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import Settings
from nasaflow.sink.lock import LOCK_BUSY_EXIT_CODE

from tests.integration.stream.streamkit import (
    Driver,
    Producer,
    assert_offsets_processed_once,
    band,
    cleanup_rows,
    committed_batches,
    delete_topic,
    driver_args,
    expected_value,
    fetch,
    topic_end_offsets,
    wait_until,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

PARTS, ROWS_PER_PART, COLS = 4, 4, 64
#: Poison messages: (key, value, expected reason category); the value None stands for a
#: real band of the image just sent, with a string where a number belongs.
POISON: list[tuple[bytes | None, bytes | None, str]] = [
    (b"poison-1", b"\x00\x01 not json", "not_json"),
    (b"poison-2", b'{"schema_version": 1, "image_id": "poison-2"}', "schema_violation"),
    (None, None, "wrong_type"),
]


@dataclass
class CrashRun:
    topic: str
    query: str
    prefix: str
    images: list[str]
    poison: list[tuple[bytes | None, bytes, str]]
    second_driver_exit: int
    second_driver_log: str
    killed_while_publishing: bool
    batches_before_kill: int
    restart_exit: int
    restart_log: str


def publish(producer: Producer, prefix: str, stop: threading.Event, poison_now: threading.Event,
            images: list[str], poison: list[tuple[bytes | None, bytes, str]]) -> None:
    """One image (PARTS messages) every 0.4 s until `stop`; once `poison_now` is set, one
    poison message after each image until all POISON went out."""
    remaining = list(POISON)
    while not stop.is_set():
        image = f"{prefix}{len(images):04d}"
        for part in range(PARTS):
            producer.send(image.encode(), band(image, part, PARTS, ROWS_PER_PART, COLS))
        images.append(image)
        if remaining and poison_now.is_set():
            key, value, category = remaining.pop(0)
            if value is None:
                key = image.encode()
                value = band(image, 0, PARTS, ROWS_PER_PART, COLS).replace(
                    b'"mean":0.01', b'"mean":"high"', 1)
            producer.send(key, value)
            poison.append((key, value, category))
        producer.flush()
        time.sleep(0.4)


@pytest.fixture(scope="module")
def run(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashRun]:
    token = uuid.uuid4().hex[:10]
    topic = query_name = f"test-stream-crash-{token}"
    prefix = f"test-crash-{token}-"
    ensure_topic(settings.kafka_bootstrap, topic, 2)
    folder = tmp_path_factory.mktemp("crash")
    checkpoint = folder / "checkpoint"
    args = driver_args(topic, query_name, checkpoint, "--trigger-seconds", "2")
    images: list[str] = []
    poison: list[tuple[bytes | None, bytes, str]] = []
    stop, poison_now = threading.Event(), threading.Event()
    producer = Producer(settings, topic)
    publisher = threading.Thread(target=publish,
                                 args=(producer, prefix, stop, poison_now, images, poison))
    first = Driver(settings, args, folder / "a.log")
    try:
        publisher.start()
        wait_until(lambda: len(committed_batches(settings, query_name)) >= 1, 180,
                   "driver A's first batch")
        poison_now.set()
        second = Driver(settings, args, folder / "b.log")
        second_exit = second.wait(timeout=180)
        time.sleep(2)
        batches_before_kill = len(committed_batches(settings, query_name))
        first.kill()
        killed_while_publishing = publisher.is_alive() and not stop.is_set()
        time.sleep(3)
        stop.set()
        publisher.join(timeout=60)
        restart = Driver(settings, [*args, "--available-now"], folder / "c.log")
        restart_exit = restart.wait(timeout=300)
        yield CrashRun(topic, query_name, prefix, images, poison, second_exit, second.log(),
                       killed_while_publishing, batches_before_kill, restart_exit,
                       restart.log())
    finally:
        stop.set()
        first.kill()
        producer.close()
        cleanup_rows(settings, prefix, [query_name])
        delete_topic(settings, topic)


def test_second_driver_on_the_same_checkpoint_exits_with_lock_busy_code(run: CrashRun) -> None:
    assert run.second_driver_exit == LOCK_BUSY_EXIT_CODE
    assert "stream_to_postgres: not starting: another stream driver holds the lock on " \
           "checkpoint" in run.second_driver_log
    assert f"nasaflow-stream {run.query}" in run.second_driver_log


def test_driver_killed_mid_flow_then_restarted_lands_every_cell_exactly_once(
        settings: Settings, run: CrashRun) -> None:
    assert run.killed_while_publishing
    assert run.restart_exit == 0, run.restart_log[-3000:]
    mean_index = PARAMETER_NAMES.index("mean")
    landed = fetch(settings, "SELECT image_id, cell_row, cell_col, mean FROM image_parameters"
                             " WHERE image_id LIKE %s", (run.prefix + "%",))
    assert len(landed) == len(run.images) * PARTS * ROWS_PER_PART * COLS
    assert {image for image, *_ in landed} == set(run.images)
    assert all(mean == expected_value(row, col, mean_index) for _, row, col, mean in landed)
    batches = committed_batches(settings, run.query)
    assert len(batches) > run.batches_before_kill
    assert sum(rows for _, rows, *_ in batches) == len(landed)
    assert_offsets_processed_once(batches, run.topic, topic_end_offsets(settings, run.topic))


def test_poison_messages_become_dead_letters_and_the_stream_goes_on(
        settings: Settings, run: CrashRun) -> None:
    letters = fetch(settings, "SELECT message_key, message_value, reason, batch_id"
                              " FROM dead_letters WHERE query = %s ORDER BY received_at",
                    (run.query,))
    assert len(run.poison) == len(POISON)
    by_value = {bytes(value): (key, reason) for key, value, reason, _ in letters}
    for key, value, category in run.poison:
        stored_key, reason = by_value[value]
        assert (bytes(stored_key) if stored_key is not None else None) == key
        assert reason.startswith(f"{category}: ")
    last_poison_batch = max(batch_id for *_, batch_id in letters)
    batches = committed_batches(settings, run.query)
    assert any(batch_id > last_poison_batch and rows > 0 for batch_id, rows, *_ in batches)
