"""The parameter job through spark-submit (local[2]) against the real broker.

One job run serves most tests: the 410x410 sample, a 4096x4096 sample split into bands,
and a corrupt file, published to a topic of its own. Each spark-submit costs 15-20 s of
JVM start, so the runs are shared by module-scoped fixtures.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nasaflow.manifest import ImageRecord, write_manifest
from nasaflow.messaging.admin import ensure_topic
from nasaflow.messaging.contract import check_record
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import SAMPLES_DIR, Settings, get_settings
from nasaflow.spark_launch import COMPUTE_APPLICATION, submit_command, submit_env

pytestmark = pytest.mark.services

SMALL = "2013_06_24__17_31_30_84__SDO_AIA_AIA_193"  # 410x410
LARGE = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193"  # 4096x4096
CORRUPT = "2023_01_01__00_00_00_000__SDO_AIA_AIA_304"


def sample_record(stem: str, size: int, path: Path | None = None) -> ImageRecord:
    return ImageRecord(id=stem, source="helioviewer", instrument="AIA",
                       wavelength=stem.rsplit("_", 1)[-1],
                       observed_at=datetime.strptime(stem[:20], "%Y_%m_%d__%H_%M_%S").replace(
                           tzinfo=UTC),
                       path=str(path or SAMPLES_DIR / f"{stem}.jp2"), width=size, height=size)


def spark_submit(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Submit the application as the DAG does, bound to 127.0.0.1 and without a UI."""
    settings = get_settings()
    return subprocess.run(submit_command(COMPUTE_APPLICATION, settings, args), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **submit_env(settings)})


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every message of `topic`, read without a consumer group."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        messages: list[Any] = []
        deadline = time.monotonic() + 60
        while any((consumer.position(p) or 0) < ends[p] for p in partitions):
            assert time.monotonic() < deadline, "topic not drained within 60 s"
            for batch in consumer.poll(timeout_ms=1000).values():
                messages.extend(batch)
        return messages
    finally:
        consumer.close()


@dataclass
class JobRun:
    topic: str
    manifest: list[ImageRecord]
    result: subprocess.CompletedProcess
    report: dict[str, Any]
    messages: list[Any]


@pytest.fixture(scope="module")
def job_run(tmp_path_factory: pytest.TempPathFactory) -> JobRun:
    settings = Settings.from_env()
    workdir = tmp_path_factory.mktemp("spark_job")
    corrupt = workdir / f"{CORRUPT}.jp2"
    corrupt.write_bytes((SAMPLES_DIR / f"{LARGE}.jp2").read_bytes()[:5000])
    records = [sample_record(SMALL, 410), sample_record(LARGE, 4096),
               sample_record(CORRUPT, 4096, corrupt)]
    write_manifest(workdir / "manifest.jsonl", records)
    topic = f"test-spark-job-{uuid.uuid4().hex[:12]}"
    ensure_topic(settings.kafka_bootstrap, topic, 2)
    result = spark_submit(
        "--manifest", str(workdir / "manifest.jsonl"), "--patch-size", "64",
        "--band-rows", "16", "--bootstrap", settings.kafka_bootstrap, "--topic", topic,
        "--report", str(workdir / "report.json"), cwd=workdir,
    )
    report = json.loads((workdir / "report.json").read_text())
    return JobRun(topic, records, result, report, read_topic(settings.kafka_bootstrap, topic))


def test_a_corrupt_image_is_named_and_the_others_are_published(job_run: JobRun) -> None:
    assert job_run.result.returncode == 1, job_run.result.stdout[-3000:]
    images = {image["id"]: image for image in job_run.report["images"]}
    assert images[CORRUPT]["status"] == "failed"
    assert images[CORRUPT]["error"]
    assert images[SMALL]["status"] == images[LARGE]["status"] == "published"
    assert images[SMALL]["cells"] == 6 * 6 and images[LARGE]["cells"] == 64 * 64
    assert job_run.report["failed"] == [CORRUPT]
    # spark-submit merges the application's stderr into its stdout
    assert f"FAILED {CORRUPT}: " in job_run.result.stdout
    assert f"error: 1 image(s) failed: {CORRUPT}" in job_run.result.stdout


def test_every_cell_arrives_with_the_library_values(job_run: JobRun) -> None:
    from nasaflow.images.decode import load_image
    from nasaflow.parameters import compute_parameters

    parts: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    partitions: dict[str, set[int]] = defaultdict(set)
    for message in job_run.messages:
        document = check_record(message.key, message.value)
        assert message.key == document["image_id"].encode()
        assert document["part"] not in parts[document["image_id"]], "part published twice"
        parts[document["image_id"]][document["part"]] = document
        partitions[document["image_id"]].add(message.partition)
    assert set(parts) == {SMALL, LARGE}
    for record in job_run.manifest[:2]:
        documents = parts[record.id]
        assert sorted(documents) == list(range(documents[0]["parts"]))
        assert len(partitions[record.id]) == 1, "an image's parts share one partition"
        expected = compute_parameters(load_image(record.path), 64)
        received = {name: np.full((expected.rows, expected.cols), -1.0)
                    for name in PARAMETER_NAMES}
        cells = [cell for document in documents.values() for cell in document["cells"]]
        assert len(cells) == expected.rows * expected.cols
        for cell in cells:
            for name in PARAMETER_NAMES:
                value = cell[name]
                received[name][cell["row"], cell["col"]] = np.nan if value is None else value
        for name in PARAMETER_NAMES:
            np.testing.assert_array_equal(received[name], expected.values[name], err_msg=name)


def test_the_large_image_was_computed_in_bands_of_cell_rows(job_run: JobRun) -> None:
    images = {image["id"]: image for image in job_run.report["images"]}
    assert images[LARGE]["tasks"] == 64 // 16  # --band-rows 16 on a 64-row grid
    assert images[SMALL]["tasks"] == 1


def test_tail_prints_one_line_per_message(job_run: JobRun) -> None:
    settings = Settings.from_env()
    count = len(job_run.messages)
    result = subprocess.run(
        [sys.executable, "-m", "nasaflow.cli", "tail", "--from-beginning", "--topic",
         job_run.topic, "--bootstrap", settings.kafka_bootstrap, "--max-messages",
         str(count), "--timeout", "20"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == count
    assert all(line.startswith((SMALL, LARGE)) and " cells, " in line for line in lines)


def test_tail_prints_invalid_messages_with_their_reason_and_goes_on(
    job_run: JobRun, fresh_topic
) -> None:
    from kafka import KafkaProducer

    settings = Settings.from_env()
    topic = fresh_topic(partitions=1)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    producer.send(topic, key=b"x", value=b"not json at all")
    producer.send(topic, key=job_run.messages[0].key, value=job_run.messages[0].value)
    producer.flush()
    producer.close()
    result = subprocess.run(
        [sys.executable, "-m", "nasaflow.cli", "tail", "--from-beginning", "--topic", topic,
         "--bootstrap", settings.kafka_bootstrap, "--timeout", "5"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("invalid: not_json: ")
    assert lines[1].startswith(job_run.messages[0].key.decode())


def test_unreachable_kafka_fails_the_job_clearly_within_bounded_time(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    write_manifest(tmp_path / "manifest.jsonl", [sample_record(SMALL, 410)])
    started = time.monotonic()
    result = spark_submit(
        "--manifest", str(tmp_path / "manifest.jsonl"), "--bootstrap", f"127.0.0.1:{port}",
        "--topic", "unused", "--kafka-timeout", "3", "--report", str(tmp_path / "report.json"),
        cwd=tmp_path, timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stdout[-3000:]
    message = f"error: publishing failed: Kafka at 127.0.0.1:{port} is unreachable"
    assert message in result.stdout  # the application's stderr, merged by spark-submit
    assert elapsed < 60
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["failed"] == [SMALL]
    assert report["kafka_error"]
