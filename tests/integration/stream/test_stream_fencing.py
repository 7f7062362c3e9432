"""A driver that lost its lock cannot commit: the batch commit is fenced by the lock session.

Driver A stages batch 0, and its commit is held up by a table lock this test takes. While
A waits, the test terminates A's lock session (as a PostgreSQL restart or a dropped network
would) and takes A's locks itself, standing for a driver that took over. Then the table
lock goes. A must not commit batch 0: its lock is another's. Once the usurper lets go, a
third driver on the same checkpoint commits the batch, once, with every cell.

Runs in a private schema: it locks image_cells (the table under the image_parameters
view), which the platform's stream writes.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from nasaflow.messaging.admin import ensure_topic
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import Settings
from nasaflow.sink.lock import StreamLock

from tests.integration.stream.streamkit import (
    Driver,
    Producer,
    assert_offsets_processed_once,
    band,
    delete_topic,
    driver_args,
    expected_value,
    fetch,
    private_schema,
    topic_end_offsets,
    wait_until,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

IMAGES, PARTS, ROWS_PER_PART, COLS = 3, 2, 2, 8


@dataclass
class FencedRun:
    private: Settings
    topic: str
    query: str
    prefix: str
    stale_exit: int | None
    stale_log: str
    batches_while_usurped: list[tuple]
    cells_while_usurped: int
    replay_exit: int
    replay_log: str


def waiting_on_image_parameters(private: Settings) -> bool:
    """Whether a session waits for a lock on image_cells (the held-up commit)."""
    return bool(fetch(private, "SELECT 1 FROM pg_locks WHERE locktype = 'relation' AND NOT"
                               " granted AND relation = 'image_cells'::regclass"))


def lock_session_pid(private: Settings, query: str) -> int:
    [(pid,)] = fetch(private, "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
                     (f"nasaflow-stream {query} %",))
    return pid


class Usurper:
    """A session that queues for a driver's advisory locks and holds them once granted,
    as a driver taking over would. Queued before the holder's session ends, it gets the
    locks the moment that session is gone, before the old driver can try again."""

    def __init__(self, private: Settings, query: str, checkpoint: Path) -> None:
        self.private = private
        self.keys = list(StreamLock(private.db_url, query, str(checkpoint)).resources.values())
        self.conn = psycopg.connect(private.db_url, autocommit=True)
        self.granted = threading.Event()
        self._thread = threading.Thread(target=self._take, daemon=True)

    def _take(self) -> None:
        for key in self.keys:
            self.conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        self.granted.set()

    def queue(self) -> None:
        """Start waiting for the locks; returns once PostgreSQL shows the wait."""
        pid = self.conn.info.backend_pid
        self._thread.start()
        waiting = ("SELECT 1 FROM pg_locks WHERE pid = %s AND locktype = 'advisory'"
                   " AND NOT granted")
        wait_until(lambda: bool(fetch(self.private, waiting, (pid,))), 30,
                   "the usurper to queue for the lock", 0.1)

    def release(self) -> None:
        self._thread.join(timeout=30)
        self.conn.close()


@pytest.fixture(scope="module")
def run(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FencedRun]:
    token = uuid.uuid4().hex[:10]
    topic = query = f"test-stream-fence-{token}"
    prefix = f"test-fence-{token}-"
    folder = tmp_path_factory.mktemp("fence")
    checkpoint = folder / "checkpoint"
    args = driver_args(topic, query, checkpoint, "--trigger-seconds", "2")
    ensure_topic(settings.kafka_bootstrap, topic, 1)
    producer = Producer(settings, topic)
    with private_schema(settings) as private:
        env = {"NASAFLOW_DB_URL": private.db_url}
        blocker = psycopg.connect(private.db_url)
        stale: Driver | None = None
        usurper: Usurper | None = None
        try:
            producer.send_all((f"{prefix}{n}".encode(),
                               band(f"{prefix}{n}", part, PARTS, ROWS_PER_PART, COLS))
                              for n in range(IMAGES) for part in range(PARTS))
            blocker.execute("LOCK TABLE image_cells IN SHARE MODE")
            stale = Driver(settings, args, folder / "stale.log", env)
            wait_until(lambda: waiting_on_image_parameters(private), 240,
                       "driver A to stage batch 0 and start its commit")
            usurper = Usurper(private, query, checkpoint)
            usurper.queue()
            pid = lock_session_pid(private, query)
            fetch(private, "SELECT pg_terminate_backend(%s)", (pid,))
            assert usurper.granted.wait(30), "the usurper did not get the lock"
            blocker.rollback()
            wait_until(lambda: stale.process.poll() is not None or bool(
                fetch(private, "SELECT 1 FROM stream_batches WHERE query = %s", (query,))),
                120, "driver A to stop or to commit")
            time.sleep(2)
            batches = fetch(private, "SELECT batch_id, rows FROM stream_batches"
                                     " WHERE query = %s", (query,))
            [(cells,)] = fetch(private, "SELECT count(*) FROM image_parameters"
                                        " WHERE image_id LIKE %s", (prefix + "%",))
            stale.kill()
            usurper.release()
            replay = Driver(settings, [*args, "--available-now"], folder / "replay.log", env)
            replay_exit = replay.wait(timeout=300)
            yield FencedRun(private, topic, query, prefix, stale.process.returncode, stale.log(),
                            batches, cells, replay_exit, replay.log())
        finally:
            blocker.close()
            if stale is not None:
                stale.kill()
            if usurper is not None:
                usurper.conn.close()
            producer.close()
            delete_topic(settings, topic)


def test_a_driver_whose_lock_session_was_dropped_before_its_commit_commits_nothing(
        run: FencedRun) -> None:
    assert run.batches_while_usurped == [], "the stale driver committed while another " \
                                            "held its lock"
    assert run.cells_while_usurped == 0
    assert run.stale_exit not in (None, 0)
    assert "the stream lost its lock (its PostgreSQL session ended) and another stream " \
           "driver holds the lock" in run.stale_log


def test_the_driver_taking_over_commits_the_batch_once_with_every_cell(
        settings: Settings, run: FencedRun) -> None:
    assert run.replay_exit == 0, run.replay_log[-3000:]
    mean_index = PARAMETER_NAMES.index("mean")
    landed = fetch(run.private, "SELECT image_id, cell_row, cell_col, mean"
                                " FROM image_parameters WHERE image_id LIKE %s",
                   (run.prefix + "%",))
    assert len(landed) == IMAGES * PARTS * ROWS_PER_PART * COLS
    assert all(mean == expected_value(row, col, mean_index) for _, row, col, mean in landed)
    batches = fetch(run.private, "SELECT batch_id, rows, dead_letters, start_offsets,"
                                 " end_offsets FROM stream_batches WHERE query = %s"
                                 " ORDER BY batch_id", (run.query,))
    assert sum(rows for _, rows, *_ in batches) == len(landed)
    assert_offsets_processed_once(batches, run.topic, topic_end_offsets(settings, run.topic))
    staged = fetch(run.private, "SELECT (SELECT count(*) FROM stream_staged_cells),"
                                " (SELECT count(*) FROM stream_staged_dead_letters)")
    assert staged == [(0, 0)]
