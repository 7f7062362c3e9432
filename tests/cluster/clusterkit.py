"""Helpers of the cluster tests: the running cluster's programs (pids, kills, restarts),
where Spark placed an application's executors, and a day of the synthetic archive ingested
into the object store and the test database, ready for the parameter job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from nasaflow import objectstore
from nasaflow.ingest import SourceClients, plan_images
from nasaflow.ingest.chunks import ingest_chunk
from nasaflow.ingest.pause import RunPause
from nasaflow.manifest import close_manifest
from nasaflow.messaging.admin import ensure_topic
from nasaflow.operations.cluster import spark
from nasaflow.operations.cluster.layout import ClusterLayout
from nasaflow.settings import Settings
from nasaflow.spark_launch import (
    COMPUTE_APPLICATION,
    STREAM_APPLICATION,
    start_submitted,
    stop_submitted,
)


@dataclass(frozen=True)
class Cluster:
    """The suite's running cluster: its layout, its environment and the suite's settings
    pointed at it (Spark master, Kafka brokers, object store, checkpoints)."""

    layout: ClusterLayout
    env: dict[str, str]
    settings: Settings

    def supervisorctl(self, *args: str) -> str:
        """supervisorctl of the cluster's supervisord; its output."""
        command = [str(Path(sys.executable).parent / "supervisorctl"), "-c",
                   str(self.layout.run / "supervisord.conf"), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout

    def pid(self, program: str) -> int:
        """The pid of a running program (0 when it is not running)."""
        return int(self.supervisorctl("pid", program).strip() or 0)

    def kill_host(self, program: str) -> float:
        """SIGKILL the program's whole process group (the service and every process it
        started, e.g. a worker's executors and their Python workers), as the loss of its
        machine would; returns the monotonic time of the kill."""
        pid = self.pid(program)
        assert pid > 0, f"{program} is not running"
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        return time.monotonic()

    def wait_running(self, program: str, timeout_s: float = 120) -> float:
        """Wait until supervisord reports `program` RUNNING again; returns when."""
        deadline = time.monotonic() + timeout_s
        while "RUNNING" not in self.supervisorctl("status", program):
            assert time.monotonic() < deadline, self.supervisorctl("status", program)
            time.sleep(0.5)
        return time.monotonic()

    def master_state(self) -> dict[str, Any]:
        """The Spark master's JSON state (workers, applications)."""
        url = f"http://127.0.0.1:{self.layout.port('spark_master_ui')}/json/"
        with urllib.request.urlopen(url, timeout=5) as response:
            return dict(json.load(response))

    def executors_by_worker(self, app_name: str) -> dict[int, int]:
        """Worker number -> executors of the running application named `app_name` on it."""
        apps = {app["id"]: app["name"] for app in self.master_state()["activeapps"]}
        found: dict[int, int] = {}
        for number in spark.WORKER_IDS:
            url = f"http://127.0.0.1:{self.layout.port(f'spark_worker_{number}_ui')}/json/"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    state = json.load(response)
            except OSError:
                continue
            found[number] = sum(1 for executor in state.get("executors", [])
                                if apps.get(executor.get("appid")) == app_name)
        return found


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str,
             poll_s: float = 0.5) -> float:
    """Poll `condition` until true; returns the seconds it took; fails naming `what`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"timed out after {timeout_s} s: {what}"
        time.sleep(poll_s)
    return time.monotonic() - started


def ingest_day(settings: Settings, archive_url: str, day: datetime, wavelength: str,
               cadence_minutes: int, manifest_dir: Path) -> list[str]:
    """A day of one channel of the archive downloaded, verified, published to the object
    store, registered in the test database and written to a closed manifest folder, as
    nasa_ingest's chunks do; returns the image ids."""
    clients = SourceClients.from_settings(replace(settings, helioviewer_url=archive_url))
    plan = plan_images(day, day + timedelta(days=1), ["helioviewer"], [wavelength],
                       cadence_minutes, clients=clients)
    entries = [entry.to_dict() for entry in plan if entry.status == "download"]
    result = ingest_chunk({"label": f"{wavelength} {day:%Y-%m-%d}", "name": "cluster",
                           "entries": entries},
                          clients=lambda: clients, data_dir=settings.data_dir, patch_size=64,
                          connect=lambda: psycopg.connect(settings.db_url),
                          manifest_dir=manifest_dir, threads=3,
                          pause=RunPause.of_run(settings.data_dir, f"cluster-{day:%Y%m%d}"),
                          image_store=settings.image_store, log=print)
    close_manifest(manifest_dir)
    assert not result.failed and not result.quarantined, result
    return sorted(result.expected)


def landed_cells(settings: Settings, image_ids: list[str]) -> int:
    """Cell rows of these images in the test database (patch size 64)."""
    with psycopg.connect(settings.db_url) as conn:
        row = conn.execute("SELECT count(*) FROM image_parameters WHERE image_id = ANY(%s)"
                           " AND patch_size = 64", (image_ids,)).fetchone()
    assert row is not None
    return int(row[0])


def day_of(offset_days: int) -> datetime:
    """A UTC midnight well inside the archive's indexed range, distinct per test."""
    base = datetime(2023, 3, 1, tzinfo=UTC)
    return base + timedelta(days=offset_days)


def new_topic(cluster: Cluster) -> str:
    """A topic of the test's own, replicated on the three brokers."""
    return ensure_cluster_topic(cluster, f"cluster-test-{uuid.uuid4().hex[:8]}")


def ensure_cluster_topic(cluster: Cluster, name: str) -> str:
    """`name` on the cluster's brokers with replication 3 (min.insync.replicas 2 is the
    brokers' default); returns it."""
    ensure_topic(cluster.settings.kafka_bootstrap, name, partitions=2, replication=3)
    return name


def published(cluster: Cluster, topic: str) -> int:
    """Messages in the topic so far (sum of its partitions' end offsets)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=cluster.settings.kafka_bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def partition_leader(cluster: Cluster, topic: str, partition: int = 0) -> int:
    """The node id of the broker leading one partition of `topic`."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=cluster.settings.kafka_bootstrap)
    try:
        described = admin.describe_topics([topic])[0]
    finally:
        admin.close()
    return next(int(p["leader_id"]) for p in described["partitions"]
                if p["partition_index"] == partition)


@contextmanager
def stream(cluster: Cluster, topic: str, query: str, log: Path,
           *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """The stream application on the cluster, draining `topic` into the test database on
    a checkpoint in the object store; stopped on exit."""
    process = start_stream(cluster, topic, query, log, *extra)
    try:
        yield process
    finally:
        stop_submitted(process)


def start_stream(cluster: Cluster, topic: str, query: str, log: Path,
                 *extra: str) -> subprocess.Popen[bytes]:
    args = ["--topic", topic, "--query-name", query,
            "--checkpoint", checkpoint_of(cluster, query), "--trigger-seconds", "2",
            "--bootstrap", cluster.settings.kafka_bootstrap, *extra]
    return start_submitted(STREAM_APPLICATION, cluster.settings, args, log, with_jars=True)


def checkpoint_of(cluster: Cluster, query: str) -> str:
    return objectstore.join(cluster.settings.checkpoint_dir, query)


def start_compute(cluster: Cluster, manifest: Path, topic: str,
                  log: Path) -> subprocess.Popen[bytes]:
    args = ["--manifest", str(manifest), "--topic", topic,
            "--bootstrap", cluster.settings.kafka_bootstrap,
            "--report", str(manifest / "report.json")]
    return start_submitted(COMPUTE_APPLICATION, cluster.settings, args, log)
