"""One streaming driver per checkpoint and per query name, enforced by PostgreSQL.

Two drivers on one checkpoint would both run the same micro-batches and clobber each
other's checkpoint files; two drivers under one query name would share stream_batches
rows and skip each other's batch ids as "already done". Both are prevented with session
advisory locks, held on a dedicated connection for the driver's lifetime: PostgreSQL
releases them as soon as that connection ends, so a driver killed with SIGKILL never leaves
a stale lock behind (unlike a lock file), and server-side TCP keepalives end the session
of a driver whose machine vanished.

The lock session is also the fence of the batch commit: the driver commits every batch on
it (`ensure` hands it out), so a commit only ever runs in a session that holds the locks.
A driver whose session ended (PostgreSQL restarted, the backend was terminated, the
network dropped) cannot commit on it any more: its transaction fails with the session;
`ensure` then takes the locks again on a new connection, or raises LockLostError when
another driver got them meanwhile, and the stale driver stops without committing.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from types import TracebackType

import psycopg
from psycopg.conninfo import conninfo_to_dict

#: Exit code of a driver that did not start because another holds its lock (sysexits'
#: EX_TEMPFAIL: try again later).
LOCK_BUSY_EXIT_CODE = 75
#: Server-side keepalive of the lock session: a holder that vanished without closing its
#: connection loses the lock after about idle + interval * count seconds.
_KEEPALIVE_OPTIONS = ("-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10"
                      " -c tcp_keepalives_count=3")
_POLL_SECONDS = 1.0


class LockBusyError(RuntimeError):
    """Another driver holds the lock; the message says which one and since when."""


class LockLostError(RuntimeError):
    """The lock went away with its session and another driver has taken it since: this
    driver must stop without committing anything more."""


def lock_key(kind: str, name: str) -> int:
    """A stable signed 64-bit advisory lock key for (kind, name)."""
    digest = hashlib.sha256(f"nasaflow.stream.{kind}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def checkpoint_identity(checkpoint: str) -> str:
    """The name a checkpoint is locked under: local paths made absolute and resolved, so
    two spellings of one folder are one lock; URIs (s3a://...) as given."""
    if "://" in checkpoint and not checkpoint.startswith("file://"):
        return checkpoint.rstrip("/")
    path = checkpoint.removeprefix("file://")
    return os.path.realpath(path)


def session_options(db_url: str) -> str:
    """The lock session's `options`: the URL's own (a search_path, say: the batch commit
    runs on this session and must see the same tables as every other connection) followed
    by the keepalive settings."""
    own = conninfo_to_dict(db_url).get("options")
    return f"{own} {_KEEPALIVE_OPTIONS}" if own else _KEEPALIVE_OPTIONS


class StreamLock:
    """The locks of one streaming query: its checkpoint and its name.

    Use as a context manager after `acquire`; leaving it releases the locks.

    Args:
        db_url: postgresql:// URL of the data database.
        query: the streaming query's name.
        checkpoint: the query's checkpoint location.
    """

    def __init__(self, db_url: str, query: str, checkpoint: str) -> None:
        self.db_url = db_url
        self.resources = {
            f"checkpoint {checkpoint_identity(checkpoint)}":
                lock_key("checkpoint", checkpoint_identity(checkpoint)),
            f"query name {query!r}": lock_key("query", query),
        }
        self._application_name = f"nasaflow-stream {query} {socket.gethostname()}:{os.getpid()}"
        self._conn: psycopg.Connection | None = None

    def acquire(self, wait_seconds: float = 0.0) -> StreamLock:
        """Take every lock, waiting up to `wait_seconds` for a holder to go away.

        Raises:
            LockBusyError: a lock is still held by another session after the wait.
        """
        deadline = time.monotonic() + wait_seconds
        while True:
            busy = self._try_take()
            if busy is None:
                return self
            if time.monotonic() >= deadline:
                raise LockBusyError(busy + (f" (waited {wait_seconds:g} s)" if wait_seconds else
                                            "; use --wait-for-lock SECONDS to wait for it"))
            time.sleep(_POLL_SECONDS)

    def ensure(self) -> psycopg.Connection:
        """The live session holding the locks (autocommit); after a lost session the locks
        are taken again on a new one. Run the batch's commit on it: a commit on any other
        connection could land after this session, hence the lock, was gone.

        Raises:
            LockLostError: another driver holds them now.
            psycopg.OperationalError: PostgreSQL cannot be reached (try again later).
        """
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.execute("SELECT 1")
                return self._conn
            except psycopg.OperationalError:
                self._conn.close()
        self._conn = None
        busy = self._try_take()
        if busy is not None:
            raise LockLostError(f"the stream lost its lock (its PostgreSQL session ended) "
                                f"and {busy}; nothing more is committed by this driver")
        assert self._conn is not None
        return self._conn

    def release(self) -> None:
        """Close the lock session, which releases the locks."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _try_take(self) -> str | None:
        """Take all locks on a (new) session; returns None, or why it could not."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.db_url, autocommit=True,
                                         application_name=self._application_name,
                                         options=session_options(self.db_url))
        for resource, key in self.resources.items():
            taken = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (taken and taken[0]):
                holder = self._holder(key)
                self.release()
                return f"another stream driver holds the lock on {resource}: {holder}"
        return None

    def _holder(self, key: int) -> str:
        """Who holds advisory lock `key`, as far as pg_stat_activity tells."""
        assert self._conn is not None
        row = self._conn.execute(
            """SELECT a.application_name, a.client_addr, a.pid, a.backend_start
                 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                  AND l.classid = ((%(key)s >> 32) & 4294967295)::bigint::oid
                  AND l.objid = (%(key)s & 4294967295)::bigint::oid""",
            {"key": key}).fetchone()
        if row is None:
            return "a session that has just ended"
        name, address, pid, since = row
        return (f"{name or 'unnamed session'} (PostgreSQL backend pid {pid}, client "
                f"{address or 'local socket'}, connected since {since:%Y-%m-%d %H:%M:%S %Z})")

    def __enter__(self) -> StreamLock:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
