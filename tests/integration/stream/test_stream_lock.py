"""One driver per checkpoint and query name: PostgreSQL advisory locks on a live session."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from nasaflow.settings import Settings
from nasaflow.sink.lock import LockBusyError, LockLostError, StreamLock

pytestmark = pytest.mark.services


def unique(name: str) -> str:
    return f"test-lock-{name}-{uuid.uuid4().hex[:8]}"


def backend_pid(db_conn: psycopg.Connection, query: str) -> int:
    row = db_conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
                          (f"nasaflow-stream {query} %",)).fetchone()
    assert row is not None
    return row[0]


def terminate(db_conn: psycopg.Connection, pid: int) -> None:
    """End backend `pid` as a server restart would, and wait until it is gone."""
    db_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 10
    while db_conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
        assert time.monotonic() < deadline, f"backend {pid} did not end"
        time.sleep(0.1)


def test_a_second_driver_on_the_same_checkpoint_is_refused_naming_the_holder(
        settings: Settings, tmp_path: Path) -> None:
    query = unique("holder")
    with (StreamLock(settings.db_url, query, str(tmp_path)).acquire(),
          pytest.raises(LockBusyError) as refused):
        StreamLock(settings.db_url, unique("other"), str(tmp_path / ".." / tmp_path.name)
                   ).acquire()
    message = str(refused.value)
    assert f"checkpoint {tmp_path}" in message
    assert f"nasaflow-stream {query}" in message
    assert "--wait-for-lock" in message


def test_a_second_driver_under_the_same_query_name_is_refused(
        settings: Settings, tmp_path: Path) -> None:
    query = unique("name")
    with (StreamLock(settings.db_url, query, str(tmp_path / "a")).acquire(),
          pytest.raises(LockBusyError, match=f"query name '{query}'")):
        StreamLock(settings.db_url, query, str(tmp_path / "b")).acquire()


def test_the_lock_is_free_again_when_its_session_ends(settings: Settings,
                                                      tmp_path: Path) -> None:
    query = unique("wait")
    first = StreamLock(settings.db_url, query, str(tmp_path)).acquire()
    threading.Timer(1.5, first.release).start()
    started = time.monotonic()
    with StreamLock(settings.db_url, query, str(tmp_path)).acquire(wait_seconds=20):
        waited = time.monotonic() - started
    assert 1.0 <= waited < 10


def test_ensure_takes_the_lock_again_after_its_session_was_terminated(
        settings: Settings, db_conn: psycopg.Connection, tmp_path: Path) -> None:
    query = unique("ensure")
    with StreamLock(settings.db_url, query, str(tmp_path)).acquire() as lock:
        old_pid = backend_pid(db_conn, query)
        terminate(db_conn, old_pid)
        lock.ensure()
        assert backend_pid(db_conn, query) != old_pid
        with pytest.raises(LockBusyError):
            StreamLock(settings.db_url, query, str(tmp_path)).acquire()


def test_ensure_reports_a_lock_taken_over_while_its_session_was_gone(
        settings: Settings, db_conn: psycopg.Connection, tmp_path: Path) -> None:
    query = unique("lost")
    with StreamLock(settings.db_url, query, str(tmp_path)).acquire() as lock:
        terminate(db_conn, backend_pid(db_conn, query))
        with (StreamLock(settings.db_url, query, str(tmp_path)).acquire(wait_seconds=5),
              pytest.raises(LockLostError, match="another stream driver holds the lock")):
            lock.ensure()
