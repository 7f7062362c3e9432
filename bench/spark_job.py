"""Images per second of the parameter job: Spark local[2] against one Python process.

Why: the job only earns its Spark wiring if two cores publish clearly faster than the
same library code in one process (target: at least 1.5x). Both sides do identical work
per image (decode, compute the 64x64 grid, encode, publish to Kafka with
acknowledgement), on the same 20 manifest entries (the bundled 4096x4096 samples
repeated under distinct ids), each into a fresh topic, in the same run.

Spark is timed by the application itself (its report's timing), excluding JVM and
SparkSession start-up, two ways:
- after warm-up (the headline): its publishing action (parallelize .. collect), which
  follows a warm-up action that starts one Python worker per core and imports the
  libraries; the single process imports the same libraries before its clock starts;
- from the first action: warm-up plus publishing, i.e. also counting the Python workers'
  start and imports (the conservative figure).

Usage: ops/with-env.sh python bench/spark_job.py [--images 20]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from nasaflow.compute.plan import plan_tasks
from nasaflow.compute.publish import JobConfig, publish_partition, warm_up
from nasaflow.manifest import ImageRecord, write_manifest
from nasaflow.messaging.admin import ensure_topic
from nasaflow.settings import SAMPLES_DIR, get_settings
from nasaflow.spark_launch import COMPUTE_APPLICATION, submit_command, submit_env

PATCH_SIZE = 64


def bench_records(count: int) -> list[ImageRecord]:
    """`count` entries cycling over the 4096x4096 samples, each under its own id."""
    from PIL import Image

    samples = []
    for path in sorted(SAMPLES_DIR.glob("*.jp2")):
        with Image.open(path) as image:
            if image.size == (4096, 4096):
                samples.append(path)
    records = []
    for number, path in zip(range(count), itertools.cycle(samples)):
        stem = path.stem
        records.append(ImageRecord(
            id=f"{stem}__bench{number:02d}", source="helioviewer",
            instrument=stem.split("_SDO_")[1].split("_")[0],
            wavelength=stem.rsplit("_", 1)[1],
            observed_at=datetime.strptime(stem[:20], "%Y_%m_%d__%H_%M_%S").replace(
                tzinfo=UTC),
            path=str(path), width=4096, height=4096,
        ))
    return records


def fresh_topic(bootstrap: str) -> str:
    topic = f"bench-spark-job-{uuid.uuid4().hex[:12]}"
    ensure_topic(bootstrap, topic, 2)
    return topic


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    """Drop the benchmark's topics: a run publishes about 7 MB into each."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="nasaflow-bench")
    try:
        admin.delete_topics(topics)
    finally:
        admin.close()


def single_process(records: list[ImageRecord], bootstrap: str,
                   topic: str) -> tuple[float, float]:
    """(seconds for the whole manifest, mean seconds per image) through the library in
    this process."""
    config = JobConfig(bootstrap, topic, PATCH_SIZE)
    tasks = plan_tasks(records, PATCH_SIZE, parallelism=1).tasks
    warm_up(None)
    started = time.perf_counter()
    statuses = publish_partition([tasks], config)
    elapsed = time.perf_counter() - started
    failed = [status for status in statuses if status.error]
    if failed:
        raise SystemExit(f"single-process run failed: {failed[0].error}")
    return elapsed, sum(status.seconds for status in statuses) / len(statuses)


def spark_job(manifest: Path, bootstrap: str, topic: str,
              workdir: Path) -> tuple[float, dict]:
    """(wall seconds, report) of one spark-submit of the application on `manifest`."""
    report = workdir / f"report-{manifest.stem}.json"
    settings = get_settings()
    command = submit_command(COMPUTE_APPLICATION, settings, [
        "--manifest", str(manifest), "--patch-size", str(PATCH_SIZE),
        "--bootstrap", bootstrap, "--topic", topic, "--report", str(report)])
    started = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                            env={**os.environ, **submit_env(settings)})
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"spark-submit failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return elapsed, json.loads(report.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args()
    bootstrap = get_settings().kafka_bootstrap
    records = bench_records(args.images)
    topics = [fresh_topic(bootstrap), fresh_topic(bootstrap)]
    with tempfile.TemporaryDirectory(prefix="bench-spark-job-") as tmp:
        workdir = Path(tmp)
        write_manifest(workdir / "images.jsonl", records)
        print(f"{len(records)} images of 4096x4096, patch {PATCH_SIZE}, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")

        try:
            spark_wall, report = spark_job(workdir / "images.jsonl", bootstrap, topics[0],
                                           workdir)
            single, per_single = single_process(records, bootstrap, topics[1])
        finally:
            delete_topics(bootstrap, topics)
        timing = report["timing"]
        warm = timing["compute_publish_s"]
        cold = timing["warm_up_s"] + warm
        per_image = sum(image["seconds"] for image in report["images"]) / len(records)
        print(f"spark local[2]: after warm-up {warm:.1f} s -> {len(records) / warm:.2f} "
              f"images/s; from the first action {cold:.1f} s -> {len(records) / cold:.2f} "
              f"images/s; {per_image:.2f} s per image in a task; spark-submit wall "
              f"{spark_wall:.1f} s (session {timing['spark_session_s']:.1f} s)")

        print(f"single process: {single:.1f} s -> {len(records) / single:.2f} images/s; "
              f"{per_single:.2f} s per image")

    print(f"speed-up after warm-up: {single / warm:.2f}x (target >= 1.5x); "
          f"from the first action: {single / cold:.2f}x; "
          f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
