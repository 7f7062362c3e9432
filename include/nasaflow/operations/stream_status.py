"""Is the stream up, and keeping up? One answer for `make status` and the nasaflow page.

Each source is asked what only it knows: Airflow whether the stream task runs or waits
to retry (since when, next try); PostgreSQL which driver holds the query's lock and the
last committed batch with the offsets it reached; Kafka how many messages wait behind
those offsets and how old the oldest is. "Healthy" means a driver streams and the oldest
waiting message is younger than `stream_max_lag_seconds`: a task that Airflow calls
running while its drivers restart, or that waits out a retry delay, is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg

from nasaflow.settings import Settings
from nasaflow.sink.lock import lock_key
from nasaflow.spark_launch import STREAM_QUERY_NAME

STREAM_DAG_ID = "stream_to_postgres"
STREAM_TASK_ID = "stream"
#: Airflow task states of a task about to (re)start.
_STARTING = {"scheduled", "queued", "up_for_reschedule", "restarting", "deferred"}


class RestClient(Protocol):
    """What is read from Airflow's REST API (nasaflow.operations.airflow_rest)."""

    def get(self, path: str, **params: Any) -> Any: ...


@dataclass(frozen=True)
class TaskState:
    """Airflow's view of the stream task in the DAG's latest run."""

    paused: bool
    state: str | None = None          # task-instance state; None without a run
    since: datetime | None = None     # start of this try, or end of the failed one
    next_try: datetime | None = None  # when an up_for_retry task starts again
    try_number: int | None = None


@dataclass(frozen=True)
class LastBatch:
    """The query's most recently committed micro-batch."""

    batch_id: int
    rows: int
    finished_at: datetime
    end_offsets: dict[int, int]       # partition -> next offset to read, for the topic


@dataclass(frozen=True)
class Lag:
    """Messages published and not yet committed, and the age of the oldest of them."""

    messages: int
    seconds: float


@dataclass(frozen=True)
class StreamStatus:
    """Everything known about the stream; `errors` names the sources that did not answer."""

    max_lag_seconds: float
    task: TaskState | None = None
    driver: str | None = None         # the lock holder's application name
    last_batch: LastBatch | None = None
    lag: Lag | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def state(self) -> str:
        """running, starting (task up, no driver streaming yet), retrying, paused, down,
        or unknown (Airflow did not answer)."""
        if self.task is None:
            return "unknown"
        if self.task.paused:
            return "paused"
        if self.task.state == "running":
            return "running" if self.driver else "starting"
        if self.task.state == "up_for_retry":
            return "retrying"
        if self.task.state in _STARTING:
            return "starting"
        return "down"

    @property
    def behind(self) -> bool:
        return self.lag is not None and self.lag.seconds > self.max_lag_seconds

    @property
    def healthy(self) -> bool:
        return self.state == "running" and not self.behind and not self.errors

    def summary(self) -> str:
        """One line: state (since, next try), last batch, lag, and what is wrong."""
        parts = [self._state_text(), self._batch_text(), self._lag_text()]
        parts += [f"error: {error}" for error in self.errors]
        return "; ".join(parts)

    def _state_text(self) -> str:
        task = self.task
        text = self.state
        if task is None:
            return text
        if task.since is not None:
            text += f" since {_clock(task.since)}"
        if self.state == "retrying" and task.next_try is not None:
            text += f", next try at {_clock(task.next_try)}"
        if task.try_number and task.try_number > 1:
            text += f" (try {task.try_number})"
        return text

    def _batch_text(self) -> str:
        batch = self.last_batch
        if batch is None:
            return "no batch committed yet"
        return (f"last batch {batch.batch_id} committed at {_clock(batch.finished_at)}"
                f" ({batch.rows:,} rows)")

    def _lag_text(self) -> str:
        if self.lag is None:
            return "lag unknown"
        text = f"lag {self.lag.messages:,} messages, {self.lag.seconds:.0f} s"
        if self.behind:
            text += f" (more than {self.max_lag_seconds:.0f} s behind)"
        return text


def stream_status(settings: Settings, airflow: RestClient | None, *,
                  query: str = STREAM_QUERY_NAME, topic: str | None = None,
                  dag_id: str = STREAM_DAG_ID, task_id: str = STREAM_TASK_ID) -> StreamStatus:
    """Ask Airflow (through `airflow`; None: not asked), PostgreSQL and Kafka about the
    stream `query` reading `topic` (default: the platform's). Never raises for a source
    that does not answer: its error is in the result."""
    topic = topic or settings.kafka_topic
    errors: list[str] = []
    task = driver = batch = lag = None
    if airflow is not None:
        try:
            task = read_task(airflow, dag_id, task_id)
        except Exception as exc:  # reported, not raised: the other sources still answer
            errors.append(f"Airflow: {_reason(exc)}")
    try:
        with psycopg.connect(settings.db_url, autocommit=True, connect_timeout=5) as conn:
            driver = lock_holder(conn, query)
            batch = last_batch(conn, query, topic)
    except Exception as exc:
        errors.append(f"PostgreSQL: {_reason(exc)}")
    else:
        try:
            lag = kafka_lag(settings.kafka_bootstrap, topic,
                            batch.end_offsets if batch else {})
        except Exception as exc:
            errors.append(f"Kafka: {_reason(exc)}")
    return StreamStatus(settings.stream_max_lag_seconds, task, driver, batch, lag,
                        tuple(errors))


def read_task(airflow: RestClient, dag_id: str, task_id: str) -> TaskState:
    """The stream task's state in the DAG's latest run, from Airflow's REST API."""
    paused = bool(airflow.get(f"/dags/{dag_id}")["is_paused"])
    runs = airflow.get(f"/dags/{dag_id}/dagRuns", order_by="-run_after", limit=1)["dag_runs"]
    if not runs:
        return TaskState(paused)
    instance = airflow.get(f"/dags/{dag_id}/dagRuns/{runs[0]['dag_run_id']}"
                           f"/taskInstances/{task_id}")
    state = instance.get("state")
    started, ended = _when(instance.get("start_date")), _when(instance.get("end_date"))
    next_try = None
    if state == "up_for_retry" and ended is not None:
        delay = airflow.get(f"/dags/{dag_id}/tasks/{task_id}").get("retry_delay") or {}
        next_try = ended + timedelta(days=delay.get("days", 0), seconds=delay.get("seconds", 0))
    since = ended if state == "up_for_retry" else started
    return TaskState(paused, state, since, next_try, instance.get("try_number"))


def lock_holder(conn: psycopg.Connection, query: str) -> str | None:
    """The application name of the session holding the query's lock (sink.lock), if any."""
    key = lock_key("query", query)
    row = conn.execute(
        """SELECT coalesce(nullif(a.application_name, ''), 'pid ' || l.pid)
             FROM pg_locks l LEFT JOIN pg_stat_activity a USING (pid)
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.classid = ((%(key)s >> 32) & 4294967295)::bigint::oid
              AND l.objid = (%(key)s & 4294967295)::bigint::oid""", {"key": key}).fetchone()
    return row[0] if row else None


def last_batch(conn: psycopg.Connection, query: str, topic: str) -> LastBatch | None:
    """The query's latest committed batch, with the offsets it reached in `topic`."""
    row = conn.execute(
        "SELECT batch_id, rows, finished_at, end_offsets FROM stream_batches WHERE query = %s"
        " ORDER BY finished_at DESC, batch_id DESC LIMIT 1", (query,)).fetchone()
    if row is None:
        return None
    batch_id, rows, finished_at, end_offsets = row
    reached = (end_offsets or {}).get(topic, {})
    return LastBatch(batch_id, rows, finished_at,
                     {int(partition): int(offset) for partition, offset in reached.items()})


def kafka_lag(bootstrap: str, topic: str, committed: dict[int, int],
              now: datetime | None = None) -> Lag:
    """Messages of `topic` past the `committed` offsets (absent partitions: from their
    first message) and the age of the oldest of them (its Kafka timestamp)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             request_timeout_ms=10_000, consumer_timeout_ms=5_000)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = consumer.end_offsets(tps)
        starts = consumer.beginning_offsets(tps)
        positions = {tp: max(committed.get(tp.partition, 0), starts[tp]) for tp in tps}
        waiting = {tp: position for tp, position in positions.items() if ends[tp] > position}
        messages = sum(ends[tp] - position for tp, position in waiting.items())
        oldest = _oldest_timestamp(consumer, waiting)
    finally:
        consumer.close()
    now = now or datetime.now(UTC)
    seconds = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
    return Lag(messages, seconds)


def _oldest_timestamp(consumer: Any, positions: dict[Any, int]) -> datetime | None:
    """The earliest Kafka timestamp among the records at `positions` (one per partition)."""
    if not positions:
        return None
    consumer.assign(list(positions))
    for tp, position in positions.items():
        consumer.seek(tp, position)
    stamps: dict[Any, int] = {}
    for record in consumer:  # stops after consumer_timeout_ms without records
        tp = next(tp for tp in positions if tp.partition == record.partition)
        stamps.setdefault(tp, record.timestamp)
        consumer.pause(tp)
        if len(stamps) == len(positions):
            break
    if not stamps:
        return None
    return datetime.fromtimestamp(min(stamps.values()) / 1000, UTC)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
