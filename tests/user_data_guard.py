"""`make test`'s proof that the suite leaves the user's data alone (a pytest plugin).

Loaded with `-p tests.user_data_guard --guard-user-data`. Before the first test it makes
sure the user's platform holds data (on a fresh installation it runs the demo's ingest,
ops/demo.py), then records a snapshot of that data: a row count and an order-independent
checksum of every table of the user's database, size and modification time of every file
in the user's image store and checkpoint folder, and the end offset of every partition of
the user's topic. After the last test it takes the snapshot again and fails the session,
naming what differs, if anything changed, or if the first snapshot was empty (nothing to
compare proves nothing).

The manifest folder of a nasa_ingest run of the user's scheduler during the session (a
suite crossing midnight UTC meets the daily run) is the platform's own work: the guard
names it and leaves it out of the comparison, after asking the user's Airflow that the run
is a scheduled one, still running when the session began or begun since. Anything else
the platform does during the suite (a scheduled run that finds images, a new stream batch
of the user's own messages) still counts as a change: run `make test` on a quiet platform.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from nasaflow.settings import PROJECT_ROOT, Settings

OPTION = "--guard-user-data"
SNAPSHOT_KEY = pytest.StashKey["Snapshot"]()
SETTINGS_KEY = pytest.StashKey[Settings]()
STARTED_KEY = pytest.StashKey[datetime]()


@dataclass(frozen=True)
class Snapshot:
    """What the user's platform holds at one moment."""

    #: table -> (rows, sum of the rows' 64-bit hashes as text)
    tables: dict[str, tuple[int, str]]
    #: path -> (size, mtime in ns), for files of the image store and the checkpoints
    files: dict[str, tuple[int, int]]
    #: "topic/partition" -> end offset
    offsets: dict[str, int]

    def missing_data(self) -> list[str]:
        """What a meaningful comparison needs and this snapshot lacks."""
        missing = []
        if not self.tables.get("images", (0, ""))[0]:
            missing.append("no image registered in the user's database")
        # image_parameters is a view; its rows are those of the partitioned image_cells.
        if not self.tables.get("image_cells", (0, ""))[0]:
            missing.append("no cell in the user's image_parameters")
        if not any("/images/" in path for path in self.files):
            missing.append("no file in the user's image store")
        # The topic is append-only: a publish shows as a moved end offset even from 0, so
        # an empty topic still proves something (a database that already held the demo's
        # cells makes its ingest skip compute, and a fresh Kafka then stays empty). Only a
        # missing topic leaves nothing to compare.
        if not self.offsets:
            missing.append("the user's topic does not exist")
        return missing

    def changes_to(self, later: Snapshot, platform_folders: tuple[str, ...] = ()) -> list[str]:
        """Every difference between this snapshot and a later one, one line each, but for
        files below `platform_folders` (written by the platform's own runs)."""
        lines = []
        for kind, before, after in (("table", self.tables, later.tables),
                                    ("file", self.files, later.files),
                                    ("topic partition", self.offsets, later.offsets)):
            for key in sorted(before.keys() | after.keys()):
                if kind == "file" and key.startswith(platform_folders):
                    continue
                if before.get(key) != after.get(key):
                    lines.append(f"{kind} {key}: {before.get(key)} -> {after.get(key)}")
        return lines


def table_checksums(db_url: str) -> dict[str, tuple[int, str]]:
    """Row count and the sum of 64-bit hashes of each row's text, per table of the public
    schema (order-independent, one pass, no sort)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(db_url, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        return {table: tuple(conn.execute(sql.SQL(
            "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text"
            " FROM {} AS t").format(sql.Identifier(table))).fetchone() or ())
            for table in tables}


def file_states(*roots: str) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file below `roots`."""
    states = {}
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file():
                status = path.stat()
                states[str(path)] = (status.st_size, status.st_mtime_ns)
    return states


def topic_offsets(bootstrap: str, topic: str) -> dict[str, int]:
    """End offset of every partition of `topic` (empty when the topic does not exist)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p)
                      for p in consumer.partitions_for_topic(topic) or ()]
        return {f"{tp.topic}/{tp.partition}": offset
                for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def take_snapshot(settings: Settings) -> Snapshot:
    """The user's data now, read with the read-only role."""
    return Snapshot(table_checksums(settings.db_reader_url),
                    file_states(settings.data_dir, settings.checkpoint_dir),
                    topic_offsets(settings.kafka_bootstrap, settings.kafka_topic))


def scheduled_run_folders(settings: Settings, since: datetime) -> dict[str, str]:
    """Manifest folder (with a trailing separator) -> run id of every nasa_ingest run of
    the user's scheduler that was still running at `since` or began after it, asked of the
    user's Airflow as its read-only viewer. An Airflow that cannot be asked leaves none
    out (the comparison is then the strictest), and says so."""
    from nasaflow.operations.airflow_rest import AirflowRestClient

    try:
        api = AirflowRestClient(settings.airflow_url, os.environ["AIRFLOW_VIEWER_USER"],
                                os.environ["AIRFLOW_VIEWER_PASSWORD"])
        runs = api.get("/dags/nasa_ingest/dagRuns", run_type="scheduled",
                       order_by="-start_date", limit=100)["dag_runs"]
    except (OSError, KeyError, RuntimeError) as error:
        print(f"\n[guard] could not ask Airflow for the platform's scheduled runs ({error});"
              " none is left out of the comparison", flush=True)
        return {}
    return platform_run_folders(settings, runs, since)


def platform_run_folders(settings: Settings, runs: list[dict[str, Any]],
                         since: datetime) -> dict[str, str]:
    """Of the scheduled `runs` (Airflow's DAG run records), the manifest folders (with a
    trailing separator) of those not ended before `since`, each -> its run id."""
    from nasaflow.ingest.steps import manifest_folder
    from nasaflow.ingest.targets import PLATFORM

    return {os.path.join(manifest_folder(settings, PLATFORM, run["dag_run_id"]), ""):
            run["dag_run_id"] for run in runs
            if run["end_date"] is None or datetime.fromisoformat(run["end_date"]) >= since}


def stream_driver_up(settings: Settings) -> bool:
    """Whether a driver of the platform's stream holds its query's lock."""
    import psycopg

    from nasaflow.operations.stream_status import lock_holder
    from nasaflow.spark_launch import STREAM_QUERY_NAME

    with psycopg.connect(settings.db_reader_url, autocommit=True) as conn:
        return lock_holder(conn, STREAM_QUERY_NAME) is not None


def wait_until_quiet(settings: Settings, interval_s: float = 20,
                     timeout_s: float = 300) -> Snapshot:
    """The platform's data once the demo's aftermath has settled: its stream's driver is up
    and two snapshots `interval_s` apart, both taken while it was, are equal.

    The demo starts the stream; when its ingest finds every cell already landed (a
    database that outlived its checkpoints) it returns before the new driver has written
    its first checkpoint and batch, which would otherwise show up as the suite's change.
    """
    deadline = time.monotonic() + timeout_s
    previous: Snapshot | None = None
    while True:
        current = take_snapshot(settings) if stream_driver_up(settings) else None
        if current is not None and current == previous:
            return current
        if time.monotonic() > deadline:
            pytest.exit(f"[guard] the platform did not settle within {timeout_s:.0f} s after"
                        " the demo (is stream_to_postgres running?)", returncode=1)
        previous = current
        time.sleep(interval_s)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(OPTION, action="store_true",
                     help="fail the session if the user's data changed (make test)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Remember the user's settings before tests/conftest.py points the environment at
    the test copies."""
    config.stash[SETTINGS_KEY] = Settings.from_env()


def pytest_sessionstart(session: pytest.Session) -> None:
    if not session.config.getoption(OPTION):
        return
    settings = session.config.stash[SETTINGS_KEY]
    session.config.stash[STARTED_KEY] = datetime.now(UTC)
    snapshot = take_snapshot(settings)
    if snapshot.missing_data():
        print(f"\n[guard] the platform holds no data yet ({'; '.join(snapshot.missing_data())}):"
              " running the demo's ingest first", flush=True)
        demo = subprocess.run([sys.executable, str(PROJECT_ROOT / "ops" / "demo.py")],
                              env={**os.environ, **settings.to_env()}, check=False)
        if demo.returncode != 0:
            pytest.exit(f"[guard] the demo's ingest failed (exit {demo.returncode}): nothing"
                        " to protect, so nothing to prove; see its output above", returncode=1)
        snapshot = wait_until_quiet(settings)
    session.config.stash[SNAPSHOT_KEY] = snapshot
    print(f"\n[guard] recorded the user's data: {len(snapshot.tables)} tables, "
          f"{len(snapshot.files)} files, {len(snapshot.offsets)} topic partitions", flush=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(SNAPSHOT_KEY, None)
    if before is None:
        return
    settings = session.config.stash[SETTINGS_KEY]
    after = take_snapshot(settings)
    platform_runs = scheduled_run_folders(settings, session.config.stash[STARTED_KEY])
    for folder, run_id in platform_runs.items():
        print(f"\n[guard] the platform's scheduler ran nasa_ingest {run_id} during the suite;"
              f" its manifest folder {folder} is left out of the comparison", flush=True)
    problems = before.missing_data() or before.changes_to(after, tuple(platform_runs))
    if problems:
        print("\n[guard] FAILED: the test suite changed the user's data or had nothing to"
              " compare:\n  " + "\n  ".join(problems), flush=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        print("\n[guard] the user's rows, files and topic offsets are unchanged", flush=True)
