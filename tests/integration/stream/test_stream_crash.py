"""The streaming driver under spark-submit: SIGKILL mid-flow and a restart on the same
checkpoint land every cell exactly once; poison messages become dead letters without
stopping the stream; a second driver on the same checkpoint refuses to start. And the
stream_to_postgres DAG's task, on a database and topic of its own: back within a minute of
every driver crash, and failed for good (no restart) on a configuration error.

One scenario, run once for the module (each spark-submit costs a JVM start):
driver A streams (2 s trigger) while a publisher sends images; once A has committed a
batch, poison messages join the flow and driver B is started on A's checkpoint; then A's whole
process group is SIGKILLed while messages still flow; after the publisher stops, driver C
restarts on the checkpoint in drain mode and exits once caught up.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from nasaflow.messaging.admin import ensure_topic
from nasaflow.operations.stream_status import kafka_lag, last_batch
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import Settings
from nasaflow.sink.lock import LOCK_BUSY_EXIT_CODE
from nasaflow.sink.supervision import CONFIG_ERROR_EXIT_CODE
from nasaflow.spark_launch import STREAM_QUERY_NAME

from tests.integration.stream.dag_stream_task import FAILED_FOR_GOOD, StreamTask, wait_gone
from tests.integration.stream.scratch_postgres import ScratchPostgres
from tests.integration.stream.streamkit import (
    EPOCH,
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
    first_batch_after,
    publish_images,
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


# --- the DAG's stream task: recovery after crashes ------------------------------------------

#: Driver crashes per scenario, and the promise: back within this long of each.
CRASHES = 3
RECOVERY_LIMIT_SECONDS = 60
#: What a driver logs once Spark runs and it waits for the lock (a warm standby).
READY = "ready, waiting for the lock of"
#: Messages waiting in steady state: about 10 s of publishing (8 messages a second).
STEADY_LAG = 100


@dataclass
class Recovery:
    settings: Settings        # pointing at the scenario's own database
    topic: str
    prefix: str
    images: list[str]
    recoveries: list[float]   # seconds from each SIGKILL to the next committed batch
    task_log: str
    task_exit: int | None
    leftovers: list[int]      # processes of the task still alive after it was stopped


@pytest.fixture(scope="module")
def scratch_cluster() -> Iterator[ScratchPostgres]:
    cluster = ScratchPostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def caught_up(settings: Settings, topic: str) -> bool:
    """Whether at most a trigger's worth of messages wait (steady state, the backlog of
    the start drained): a crash then, with messages waiting, is the case measured."""
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        batch = last_batch(conn, STREAM_QUERY_NAME, topic)
    if batch is None:
        return False
    return kafka_lag(settings.kafka_bootstrap, topic, batch.end_offsets).messages <= STEADY_LAG


@pytest.fixture(scope="module")
def recovery(settings: Settings, scratch_cluster: ScratchPostgres,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recovery]:
    """The DAG's stream task on its own database and topic while images flow; its driver
    is SIGKILLed CRASHES times, each time once the stream is back."""
    token = uuid.uuid4().hex[:10]
    topic, prefix = f"test-stream-recovery-{token}", f"test-recovery-{token}-"
    ensure_topic(settings.kafka_bootstrap, topic, 2)
    own = dataclasses.replace(settings, db_url=scratch_cluster.create_database(
        f"recovery_{token}"))
    folder = tmp_path_factory.mktemp("recovery")
    images: list[str] = []
    stop = threading.Event()
    producer = Producer(settings, topic)
    publisher = threading.Thread(target=publish_images, args=(
        producer, prefix, stop, images, (PARTS, ROWS_PER_PART, COLS)))
    task = StreamTask(own.db_url, settings.kafka_bootstrap, topic, folder / "checkpoints",
                      folder / "task.log")
    recoveries: list[float] = []
    try:
        publisher.start()
        wait_until(lambda: first_batch_after(own, STREAM_QUERY_NAME, EPOCH) is not None,
                   600, "the task's first batch")
        for crash in range(CRASHES):
            # Steady state before each crash: backlog drained, every driver started so far
            # (two, plus one per crash) ready; a crash during a restart is a double fault.
            wait_until(lambda: caught_up(own, topic), 900, "the stream to catch up")
            ready = 2 + crash
            wait_until(lambda: task.log().count(READY) >= ready, 600,  # noqa: B023 (called here)
                       "the standby")
            killed_at = datetime.now(UTC)
            assert wait_gone(task.kill_active_driver(own.db_url, STREAM_QUERY_NAME), 10) == []
            # A commit already on its way when the kill came does not count as back.
            dead_at = datetime.now(UTC)
            wait_until(lambda: first_batch_after(own, STREAM_QUERY_NAME, dead_at)  # noqa: B023 (called here)
                       is not None, RECOVERY_LIMIT_SECONDS * 3, f"a batch after crash {crash + 1}")
            back = first_batch_after(own, STREAM_QUERY_NAME, dead_at)
            assert back is not None
            recoveries.append((back - killed_at).total_seconds())
            print(f"crash {crash + 1}: stream back after {recoveries[-1]:.1f} s")
        stop.set()
        publisher.join(timeout=60)
        expected = len(images) * PARTS * ROWS_PER_PART * COLS
        wait_until(lambda: fetch(own, "SELECT count(*) FROM image_parameters WHERE image_id"
                                      " LIKE %s", (prefix + "%",))[0][0] == expected,
                   180, f"{expected} cells to land")
        pids = task.driver_pids()
        exit_code = task.stop()
        yield Recovery(own, topic, prefix, images, recoveries, task.log(), exit_code,
                       wait_gone(pids, 30))
    finally:
        stop.set()
        task.stop()
        producer.close()
        delete_topic(settings, topic)


def test_stream_task_is_back_within_a_minute_of_every_driver_crash(
        recovery: Recovery, record_property: pytest.FixtureRequest) -> None:
    figures = ", ".join(f"{seconds:.1f} s" for seconds in recovery.recoveries)
    print(f"recovery after each of {CRASHES} driver crashes: {figures}")
    record_property("recovery_seconds", figures)  # type: ignore[operator]
    assert len(recovery.recoveries) == CRASHES
    assert max(recovery.recoveries) <= RECOVERY_LIMIT_SECONDS, figures


def test_stream_task_restarts_its_driver_after_a_fixed_pause(recovery: Recovery) -> None:
    restarts = [line for line in recovery.task_log.splitlines()
                if "exited with code" in line and "on the same checkpoint" in line]
    assert len(restarts) == CRASHES, recovery.task_log[-3000:]
    assert all(f"restart {n} in 5 s on the same checkpoint" in line
               for n, line in enumerate(restarts, start=1)), restarts


def test_cells_published_across_driver_crashes_land_exactly_once(recovery: Recovery) -> None:
    own = recovery.settings
    landed = fetch(own, "SELECT count(*), count(DISTINCT image_id) FROM image_parameters"
                        " WHERE image_id LIKE %s", (recovery.prefix + "%",))[0]
    assert landed == (len(recovery.images) * PARTS * ROWS_PER_PART * COLS,
                      len(recovery.images))
    batches = committed_batches(own, STREAM_QUERY_NAME)
    assert sum(rows for _, rows, *_ in batches) == landed[0]
    assert_offsets_processed_once(batches, recovery.topic,
                                  topic_end_offsets(own, recovery.topic))


def test_killing_the_stream_task_ends_its_driver_and_restarts_nothing(
        recovery: Recovery) -> None:
    assert recovery.task_exit is not None and recovery.task_exit != 0
    assert recovery.leftovers == []
    assert "the stream drivers were stopped" in recovery.task_log


def test_configuration_error_fails_the_stream_task_without_restarting_it(
        settings: Settings, scratch_cluster: ScratchPostgres, tmp_path: Path) -> None:
    """A database without the sink's tables: the driver exits 78 and the task fails for
    good (AirflowFailException: no Airflow retry either) without starting it again."""
    token = uuid.uuid4().hex[:10]
    db_url = scratch_cluster.create_database(f"unmigrated_{token}", migrated=False)
    task = StreamTask(db_url, settings.kafka_bootstrap, f"test-unmigrated-{token}",
                      tmp_path / "checkpoints", tmp_path / "task.log")
    try:
        exit_code = task.wait(timeout=600)
    finally:
        task.stop()
    log = task.log()
    assert exit_code == FAILED_FOR_GOOD, log[-3000:]
    assert f"exited with code {CONFIG_ERROR_EXIT_CODE} (configuration error" in log
    assert "not starting" in log and "nasaflow migrate" in log
    assert "on the same checkpoint" not in log  # no driver was started again
