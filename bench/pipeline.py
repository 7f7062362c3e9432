"""End-to-end images per second of nasa_ingest at the archive's shape, against Spark alone.

Why: the pipeline is only as fast as its slowest stage plus what its orchestration adds
(task start-up, downloads before compute, landing). This runs the real DAG through the
platform's Airflow on a day of the replay server's synthetic archive (4096^2 JPEG 2000
files, each its own bytes), then the same Spark job with the same Spark settings on the
same downloaded images, in the same run, and prints both rates and their ratio (target:
end to end >= 1.5 images/s and >= 85% of Spark alone on this 2-core machine), seconds per
stage, CPU use, Airflow task instances, the peak Kafka lag and PostgreSQL bytes per cell.

It works on the test suite's copies (target "test": the _test database, topic and image
store; the user's data is never touched), so do not run it during `make test`. It serves
the archive from a replay server of its own (connection nasa_helioviewer_test, removed
afterwards), runs a stream of its own on the test topic (started and warm before the
clock starts, as the platform's always-on stream is), and picks a day none of whose
images are in the store or the tables yet. It also prints the CPU seconds each component
used during the run (Spark jobs, the stream, Airflow, Kafka, PostgreSQL), which says
where a slow run's time went.

Usage: ops/with-env.sh python bench/pipeline.py [--wavelengths 304] [--cadence 6]
The data set's ten channels hourly: --cadence 60 --wavelengths
94,131,171,193,211,304,335,1600,1700,magnetogram
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # ships no stubs; none in the lock
import psycopg

from nasaflow.db.migrate import migrate_settings
from nasaflow.db.partitions import partition_names, partman_parent
from nasaflow.manifest import ImageRecord, write_manifest
from nasaflow.messaging.admin import ensure_topic, recreate_topic
from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.operations.stream_status import kafka_lag, last_batch
from nasaflow.replay.archive import ArchiveConfig
from nasaflow.replay.server import ReplayServer
from nasaflow.settings import SAMPLES_DIR, Settings, get_settings, isolated_for_tests
from nasaflow.sources.helioviewer import source_for
from nasaflow.spark_launch import (
    COMPUTE_APPLICATION,
    STREAM_APPLICATION,
    start_submitted,
    stop_submitted,
    submit_command,
    submit_env,
)

AIRFLOW_URL = os.environ.get("NASAFLOW_AIRFLOW_URL", "http://127.0.0.1:8080")
CONNECTION = "nasa_helioviewer_test"
QUERY = "bench_pipeline"
PATCH_SIZE = 64
STAGES = ("plan", "download_chunk", "compute_parameters", "close_downloads",
          "await_landing", "finish")


#: (marker in a process's or an ancestor's command line, component), first match wins:
#: where the machine's CPU seconds went during the run.
COMPONENTS = (
    ("compute_parameters", "spark compute job"),
    (f"--query-name {QUERY}", "the bench's stream sink"),
    ("stream_to_postgres", "the platform's stream sink (idle)"),
    ("kafka.Kafka", "kafka broker"),
    ("postgres: 15/main: airflow", "postgresql (airflow metadata)"),
    ("postgres", "postgresql (nasaflow)"),
    ("LocalExecutor", "airflow tasks (downloads, plan, landing)"),
    ("airflow", "airflow services"),
    ("replay-server", "platform replay server"),
)


def component_of(process: psutil.Process, bench_pid: int) -> str:
    """The component a process belongs to, from its own and its ancestors' commands."""
    if process.pid == bench_pid:
        return "bench (archive server, sampler)"
    try:
        chain = [process, *process.parents()]
        commands = [" ".join(p.cmdline()) for p in chain]
    except psutil.Error:
        return "other"
    for marker, component in COMPONENTS:
        if any(marker in command for command in commands):
            if component.startswith(("spark", "the")):
                return f"{component}: {'JVM' if process.name() == 'java' else 'Python'}"
            return component
    return "other"


class CpuByComponent:
    """CPU seconds used by each component since start, from per-process samples (a
    process that ends between two samples loses at most one interval)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.baseline: dict[tuple[int, float], float] = {}
        self.latest: dict[tuple[int, float], float] = {}
        self.labels: dict[tuple[int, float], str] = {}
        self.sample(baseline=True)

    def sample(self, baseline: bool = False) -> None:
        for process in psutil.process_iter(["create_time", "cpu_times"]):
            times = process.info["cpu_times"]
            if times is None:
                continue
            key = (process.pid, process.info["create_time"])
            used = times.user + times.system
            if baseline:
                self.baseline[key] = used
            if key not in self.labels:
                self.labels[key] = component_of(process, self.pid)
            self.latest[key] = used

    def seconds(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, used in self.latest.items():
            label = self.labels[key]
            totals[label] = totals.get(label, 0.0) + used - self.baseline.get(key, 0.0)
        return dict(sorted(((k, round(v, 1)) for k, v in totals.items()),
                           key=lambda item: -item[1]))


class Sampler(threading.Thread):
    """Samples machine CPU use and each component's CPU every second, and the bench
    stream's Kafka lag every 5 s (a Kafka client per sample: sampled less often so the
    bench stays light)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.stop_event = threading.Event()
        self.cpu: list[float] = []
        self.components = CpuByComponent()
        self.peak_lag = 0

    def run(self) -> None:
        psutil.cpu_percent(None)
        with psycopg.connect(self.settings.db_reader_url, autocommit=True) as conn:
            while not self.stop_event.wait(1.0):
                self.cpu.append(psutil.cpu_percent(None))
                self.components.sample()
                if len(self.cpu) % 5:
                    continue
                batch = last_batch(conn, QUERY, self.settings.kafka_topic)
                lag = kafka_lag(self.settings.kafka_bootstrap, self.settings.kafka_topic,
                                batch.end_offsets if batch else {})
                self.peak_lag = max(self.peak_lag, lag.messages)


def fresh_day(conn: psycopg.Connection, rng: random.Random) -> date:
    """A day of 2011-2024 with no image in the test tables (a new day every run)."""
    while True:
        day = date(2011, 1, 1) + timedelta(days=rng.randrange(14 * 365))
        row = conn.execute("SELECT count(*) FROM images WHERE observed_at >= %s"
                           " AND observed_at < %s::date + 1", (day, day)).fetchone()
        if row is not None and row[0] == 0:
            return day


def start_stream(settings: Settings, workdir: Path) -> subprocess.Popen[bytes]:
    args = ["--topic", settings.kafka_topic, "--query-name", QUERY,
            "--checkpoint", str(workdir / "checkpoint"), "--trigger-seconds", "10"]
    return start_submitted(STREAM_APPLICATION, settings, args, workdir / "stream.log",
                           with_jars=True, env=settings.to_env())


def wait_until_warm(settings: Settings, stream: subprocess.Popen[bytes], since: datetime,
                    timeout: float = 300.0) -> float:
    """Wait for the bench stream's first micro-batch to commit (after `since`: earlier
    runs of the bench left theirs); returns the seconds waited.

    The platform's stream runs all the time, so its start-up (a JVM, Python workers, the
    first batch's planning) is no part of an ingest run: the clock starts once it is warm.
    """
    started = time.monotonic()
    with psycopg.connect(settings.db_reader_url, autocommit=True) as conn:
        while (batch := last_batch(conn, QUERY, settings.kafka_topic)) is None \
                or batch.finished_at < since:
            if stream.poll() is not None:
                raise SystemExit(f"the bench stream exited {stream.returncode}")
            if time.monotonic() - started > timeout:
                raise SystemExit(f"the bench stream committed no batch in {timeout:.0f} s")
            time.sleep(1)
    return time.monotonic() - started


def stage_seconds(instances: list[dict[str, Any]]) -> dict[str, float]:
    """Wall seconds of each task (first start to last end over its mapped instances)."""
    seconds = {}
    for stage in STAGES:
        mine = [ti for ti in instances if ti["task_id"] == stage and ti["start_date"]]
        if mine:
            start = min(datetime.fromisoformat(ti["start_date"]) for ti in mine)
            end = max(datetime.fromisoformat(ti["end_date"]) for ti in mine if ti["end_date"])
            seconds[stage] = (end - start).total_seconds()
    return seconds


def spark_only(settings: Settings, conn: psycopg.Connection, day: date,
               workdir: Path) -> tuple[int, float]:
    """(images, seconds) of the compute job alone, as the DAG submits it, on the day's
    downloaded images, publishing to a scratch topic that is dropped afterwards."""
    from kafka.admin import KafkaAdminClient

    rows = conn.execute("SELECT id, source, instrument, wavelength, observed_at, path, width,"
                        " height FROM images WHERE observed_at >= %s AND observed_at <"
                        " %s::date + 1", (day, day)).fetchall()
    manifest = workdir / "spark-only.jsonl"
    write_manifest(manifest, [ImageRecord(*row) for row in rows])
    topic = f"bench-pipeline-{uuid.uuid4().hex[:12]}"
    ensure_topic(settings.kafka_bootstrap, topic, 2)
    try:
        command = submit_command(COMPUTE_APPLICATION, settings, [
            "--manifest", str(manifest), "--patch-size", str(PATCH_SIZE),
            "--bootstrap", settings.kafka_bootstrap, "--topic", topic])
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=workdir,
                                env={**os.environ, **submit_env(settings)})
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"the Spark-only run failed:\n{result.stderr[-3000:]}")
    finally:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        admin.delete_topics([topic])
        admin.close()
    return len(rows), elapsed


def bytes_per_row(conn: psycopg.Connection) -> float:
    parent = partman_parent(conn)
    size = sum(conn.execute("SELECT pg_total_relation_size(%s::regclass)",
                            (name,)).fetchone()[0]  # type: ignore[index]
               for name in (partition_names(conn, parent) if parent else []))
    rows = conn.execute("SELECT count(*) FROM image_cells").fetchone()[0]  # type: ignore[index]
    return size / max(rows, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wavelengths", default="304", help="comma-separated channels")
    parser.add_argument("--cadence", type=int, default=6, help="minutes between images")
    parser.add_argument("--side", type=int, default=4096, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=None, help="seed of the day's choice")
    args = parser.parse_args()
    wavelengths = args.wavelengths.split(",")
    platform = get_settings()
    settings = isolated_for_tests(platform)
    migrate_settings(settings)
    api = AirflowRestClient(AIRFLOW_URL, os.environ["AIRFLOW_ADMIN_USER"],
                            os.environ["AIRFLOW_ADMIN_PASSWORD"])
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        day = fresh_day(conn, random.Random(args.seed))
    config = ArchiveConfig({source_for(w).source_id: args.cadence * 60 for w in wavelengths},
                           timedelta(minutes=25), platform.replay_archive_pool, args.side,
                           Path(platform.replay_archive_dir))
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    # The test topic emptied, so the bench's stream reads only this run's messages.
    recreate_topic(settings.kafka_bootstrap, settings.kafka_topic)
    stream_started = datetime.now(UTC)
    stream = start_stream(settings, workdir)
    with ReplayServer("127.0.0.1", 0, samples_dir=SAMPLES_DIR, archive=config) as server:
        # The archive's pixel variants are encoded once and kept on disk: encode those
        # of the asked channels before the clock starts, not inside the measured run.
        pool = server.state.helioviewer.pool  # type: ignore[attr-defined]
        rendering = time.monotonic()
        for wavelength in wavelengths:
            for variant in range(pool.size):
                pool.variant(source_for(wavelength).source_id, variant)
        print(f"[bench] archive variants ready in {time.monotonic() - rendering:.0f} s",
              flush=True)
        warm = wait_until_warm(settings, stream, stream_started)
        print(f"[bench] stream warm after {warm:.0f} s", flush=True)
        api.request("DELETE", f"/connections/{CONNECTION}")
        api.call("POST", "/connections", json={"connection_id": CONNECTION,
                                                "conn_type": "http", "host": server.url})
        sampler = Sampler(settings)
        try:
            api.wait_for_dag("nasa_ingest")
            was_paused = api.get("/dags/nasa_ingest")["is_paused"]
            api.set_paused("nasa_ingest", False)
            print(f"[bench] {day}: {','.join(wavelengths)} every {args.cadence} min,"
                  f" {args.side}^2 images; workdir {workdir}", flush=True)
            sampler.start()
            started = time.monotonic()
            run_id = api.trigger("nasa_ingest", {
                "target": "test", "date": day.isoformat(), "wavelengths": wavelengths,
                "cadence_minutes": args.cadence, "patch_size": PATCH_SIZE})
            state = api.wait_for_run("nasa_ingest", run_id, timeout=4 * 3600, poll=2)
            wall = time.monotonic() - started
            sampler.stop_event.set()
            sampler.join()
            if was_paused:
                api.set_paused("nasa_ingest", True)
            instances = api.task_instances("nasa_ingest", run_id)
            if state != "success":
                raise SystemExit(f"run {run_id} ended {state}: {instances}")
        finally:
            sampler.stop_event.set()
            api.request("DELETE", f"/connections/{CONNECTION}")
            stop_submitted(stream)
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        images, spark_seconds = spark_only(settings, conn, day, workdir)
    # pg_partman's catalogue is the owner's to read.
    with psycopg.connect(settings.db_owner_url, autocommit=True) as conn:
        per_row = bytes_per_row(conn)
    end_to_end, spark_rate = images / wall, images / spark_seconds
    busy = sorted(sampler.cpu)
    result = {
        "day": day.isoformat(), "images": images, "wall_s": round(wall, 1),
        "end_to_end_images_per_s": round(end_to_end, 3),
        "spark_only_images_per_s": round(spark_rate, 3),
        "ratio_end_to_end_to_spark_only": round(end_to_end / spark_rate, 3),
        "stage_s": {k: round(v, 1) for k, v in stage_seconds(instances).items()},
        "cpu_percent_mean": round(sum(busy) / max(len(busy), 1), 1),
        "cpu_percent_median": busy[len(busy) // 2] if busy else None,
        "cpu_seconds_by_component": sampler.components.seconds(),
        "task_instances": len(instances),
        "peak_kafka_lag_messages": sampler.peak_lag,
        "postgres_bytes_per_cell_row": round(per_row, 1),
    }
    print(json.dumps(result, indent=2))
    print(f"[bench] end to end {end_to_end:.2f} images/s, Spark alone {spark_rate:.2f} "
          f"images/s: ratio {end_to_end / spark_rate:.2f} (target >= 0.85, and >= 1.5 images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
