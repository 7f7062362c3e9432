"""The cluster profile loses a machine and carries on: the parameter job survives the loss
of the Spark worker running its tasks, publishing and streaming survive the loss of the
Kafka broker leading a partition being written, and a killed stream driver resumes from
its checkpoint in the object store; every cell lands exactly once each time.

Each test ingests its own day of a synthetic archive (one channel, 2048 x 2048 images
every hour: 24 images, 1,024 cells each) into the object store and the test
database, runs the real Spark applications on the suite's cluster, and prints what it
measured (run time, recovery time)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from nasaflow import objectstore
from nasaflow.replay.archive import ArchiveConfig
from nasaflow.replay.server import ReplayServer
from nasaflow.settings import SAMPLES_DIR
from nasaflow.sources.helioviewer import source_for
from nasaflow.spark_launch import stop_submitted

from tests.cluster.clusterkit import (
    Cluster,
    checkpoint_of,
    day_of,
    ingest_day,
    landed_cells,
    new_topic,
    partition_leader,
    published,
    start_compute,
    start_stream,
    stream,
    wait_for,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

WAVELENGTH = "171"
CADENCE_MINUTES = 60
SIDE = 2048
CELLS_PER_IMAGE = (SIDE // 64) ** 2
COMPUTE_APP = "nasaflow-compute-parameters"


@pytest.fixture(scope="module")
def archive(cluster: Cluster) -> Iterator[str]:
    """The suite's archive server: AIA 171 every hour, 2048 x 2048 images."""
    config = ArchiveConfig({source_for(WAVELENGTH).source_id: CADENCE_MINUTES * 60},
                           timedelta(minutes=25), pool_size=2, side=SIDE,
                           cache_dir=Path(cluster.settings.data_dir) / "replay-archive")
    with ReplayServer("127.0.0.1", 0, samples_dir=SAMPLES_DIR, archive=config) as server:
        yield server.url


def ingested(cluster: Cluster, archive: str, day: int, tmp_path: Path) -> tuple[list[str], str]:
    """Day number `day` of the archive ingested into the store and the test database, with
    its manifest in tmp_path/manifest, and a fresh replicated topic for its messages."""
    ids = ingest_day(cluster.settings, archive, day_of(day), WAVELENGTH, CADENCE_MINUTES,
                     tmp_path / "manifest")
    return ids, new_topic(cluster)


def all_landed(cluster: Cluster, ids: list[str]) -> float:
    """Wait until every cell of these images is in the test database; the seconds taken."""
    return wait_for(lambda: landed_cells(cluster.settings, ids) >= CELLS_PER_IMAGE * len(ids),
                    600, "every cell landed")


def test_the_parameter_job_survives_the_loss_of_the_worker_running_its_tasks(
        cluster: Cluster, archive: str, tmp_path: Path) -> None:
    ids, topic = ingested(cluster, archive, 0, tmp_path)
    assert len(ids) == 24 * 60 // CADENCE_MINUTES
    # Executors read the images from the object store, not from the driver's disk.
    paths = stored_paths(cluster, ids)
    assert all(path.startswith("s3://") for path in paths), paths[:3]
    with stream(cluster, topic, f"cluster_worker_{uuid.uuid4().hex[:6]}", tmp_path / "s.log"):
        started = time.monotonic()
        job = start_compute(cluster, tmp_path / "manifest", topic, tmp_path / "compute.log")
        wait_for(lambda: published(cluster, topic) > 0, 300, "the job's first messages")
        placed = cluster.executors_by_worker(COMPUTE_APP)
        victim = max(placed, key=lambda number: placed[number])
        assert placed[victim] > 0, placed
        before = published(cluster, topic)
        killed_at = cluster.kill_host(f"spark-worker-{victim}")
        assert job.poll() is None, "the job ended before the worker was lost"
        assert job.wait(timeout=900) == 0, (tmp_path / "compute.log").read_text()[-3000:]
        job_s = time.monotonic() - started
        back_s = cluster.wait_running(f"spark-worker-{victim}") - killed_at
        landed_s = all_landed(cluster, ids)
    assert landed_cells(cluster.settings, ids) == CELLS_PER_IMAGE * len(ids)
    print(f"worker loss: killed worker {victim} after {before} messages; job "
          f"{job_s:.0f} s; worker back in {back_s:.1f} s; all cells landed "
          f"{landed_s:.0f} s after the job")


def test_publishing_and_streaming_survive_the_loss_of_a_partition_leader(
        cluster: Cluster, archive: str, tmp_path: Path) -> None:
    ids, topic = ingested(cluster, archive, 1, tmp_path)
    # The stream drains a few messages a batch, so it is still reading when the broker goes.
    with stream(cluster, topic, f"cluster_broker_{uuid.uuid4().hex[:6]}", tmp_path / "s.log",
                "--max-offsets-per-trigger", "4"):
        job = start_compute(cluster, tmp_path / "manifest", topic, tmp_path / "compute.log")
        # Mid-publish: the job has published some of its messages and goes on.
        wait_for(lambda: published(cluster, topic) >= 4, 600, "the job's first messages")
        leader = partition_leader(cluster, topic)
        killed_at = cluster.kill_host(f"kafka-{leader}")
        assert job.poll() is None, "the job ended before the broker was lost"
        assert job.wait(timeout=900) == 0, (tmp_path / "compute.log").read_text()[-3000:]
        new_leader = partition_leader(cluster, topic)
        back_s = cluster.wait_running(f"kafka-{leader}") - killed_at
        all_landed(cluster, ids)
    assert new_leader != leader
    assert landed_cells(cluster.settings, ids) == CELLS_PER_IMAGE * len(ids)
    print(f"broker loss: leader {leader} of partition 0 killed mid-publish, {new_leader} "
          f"took over; broker back in {back_s:.1f} s")


def test_a_killed_stream_driver_resumes_from_its_checkpoint_in_the_store(
        cluster: Cluster, archive: str, tmp_path: Path) -> None:
    ids, topic = ingested(cluster, archive, 2, tmp_path)
    job = start_compute(cluster, tmp_path / "manifest", topic, tmp_path / "compute.log")
    assert job.wait(timeout=900) == 0, (tmp_path / "compute.log").read_text()[-3000:]
    query = f"cluster_resume_{uuid.uuid4().hex[:6]}"
    # A few messages per micro-batch, so the backlog takes several batches to drain.
    first = start_stream(cluster, topic, query, tmp_path / "first.log",
                         "--max-offsets-per-trigger", "8")
    try:
        # A batch's cells land before its commit file is written: wait for the commit.
        wait_for(lambda: bool(committed_batches(cluster, query)), 600,
                 "the first batch committed in the store")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        stop_submitted(first)
    landed_before = landed_cells(cluster.settings, ids)
    assert 0 < landed_before < CELLS_PER_IMAGE * len(ids), "drained before the kill"
    commits = committed_batches(cluster, query)
    killed_at = time.monotonic()
    with stream(cluster, topic, query, tmp_path / "second.log", "--wait-for-lock", "120"):
        all_landed(cluster, ids)
        resumed_s = time.monotonic() - killed_at
    assert landed_cells(cluster.settings, ids) == CELLS_PER_IMAGE * len(ids)
    with psycopg.connect(cluster.settings.db_url) as conn:
        batches = [row[0] for row in conn.execute(
            "SELECT batch_id FROM stream_batches WHERE query = %s ORDER BY batch_id", (query,))]
    # One checkpoint: the restarted driver went on from its batch ids, it did not start over.
    assert batches == list(range(len(batches))) and len(batches) > len(commits)
    print(f"stream driver loss: killed with {landed_before} cells landed and "
          f"{len(commits)} batches committed in the store; all landed {resumed_s:.0f} s "
          f"after the kill, {len(batches)} batches in all")


def stored_paths(cluster: Cluster, ids: list[str]) -> list[str]:
    with psycopg.connect(cluster.settings.db_url) as conn:
        return [row[0] for row in conn.execute("SELECT path FROM images WHERE id = ANY(%s)",
                                               (ids,))]


def committed_batches(cluster: Cluster, query: str) -> list[str]:
    """The batch files of the checkpoint's commit log, listed in the object store."""
    from pyarrow import fs as pafs

    filesystem, path = objectstore.resolve(objectstore.join(checkpoint_of(cluster, query),
                                                            "commits"), cluster.settings)
    infos = filesystem.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(info.base_name for info in infos
                  if info.type == pafs.FileType.File and info.base_name.isdigit())
