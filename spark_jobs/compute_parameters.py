"""Spark application: image parameters for every image of a manifest, published to Kafka.

Submitted by the nasa_ingest DAG (SparkSubmitOperator, local[2] by default). The images
are cut into (image, cell-row range) tasks; executors decode, compute and publish their
tasks with one producer per partition, and only small per-task statuses come back to the
driver, which writes the report and exits non-zero when an image or Kafka failed.
Everything but the Spark wiring is in the nasaflow.compute package.

`--manifest` is a file (compute its images) or a run's manifest folder: then the job
follows it, computing each batch of parts as the downloads add them, and ends when the
run has closed the folder (see nasaflow.manifest).

Exit codes: 0 all published; 1 some images failed (named in the report and on stdout);
2 bad arguments or manifest; 3 Kafka unreachable after bounded retries.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

from nasaflow.compute.plan import Plan, partition_tasks, plan_tasks
from nasaflow.compute.publish import JobConfig, TaskStatus, publish_partition, warm_up
from nasaflow.compute.report import Report, summarize
from nasaflow.manifest import ImageRecord, ManifestError, follow_manifest, read_manifest
from nasaflow.messaging.publisher import DEFAULT_TIMEOUT_S, Publisher, PublishError
from nasaflow.settings import get_settings

EXIT_BAD_INPUT = 2


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The job's arguments; defaults come from the platform settings."""
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True,
                        help="JSON Lines file, one image per line, or a run's manifest "
                             "folder to follow until closed (written by nasa_ingest)")
    parser.add_argument("--follow-timeout", type=positive_int, default=12 * 3600,
                        help="seconds to wait for a followed folder to close "
                             "(default %(default)s)")
    parser.add_argument("--patch-size", type=positive_int, default=settings.patch_size,
                        help="cell side in pixels (default %(default)s)")
    parser.add_argument("--band-rows", type=positive_int, default=None,
                        help="cell rows per task, rounded up to whole messages (default: "
                             "split an image only when there are fewer images than cores)")
    parser.add_argument("--bootstrap", default=settings.kafka_bootstrap,
                        help="Kafka bootstrap servers (default %(default)s)")
    parser.add_argument("--topic", default=settings.kafka_topic,
                        help="topic to publish to (default %(default)s)")
    parser.add_argument("--report", default=None,
                        help="write the per-image JSON report here")
    parser.add_argument("--kafka-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="bound in seconds on each Kafka wait (default %(default)s)")
    return parser.parse_args(argv)


def run_on_spark(batches: Iterable[list[ImageRecord]], config: JobConfig,
                 band_rows: int | None,
                 ) -> tuple[list[ImageRecord], Plan, list[TaskStatus], dict[str, float]]:
    """Plan each batch, warm up one Python worker per core once, then compute and publish
    on executors; returns every record, the merged plan, the per-task statuses and the
    timings."""
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    spark = SparkSession.builder.appName("nasaflow-compute-parameters").getOrCreate()
    timing = {"spark_session_s": time.perf_counter() - started, "compute_publish_s": 0.0}
    records: list[ImageRecord] = []
    merged = Plan(tasks=[])
    statuses: list[TaskStatus] = []
    try:
        context = spark.sparkContext
        context.setLogLevel("WARN")
        cores = context.defaultParallelism
        for batch in batches:
            plan = plan_tasks(batch, config.patch_size, cores, band_rows)
            groups = partition_tasks(plan.tasks, cores)
            if groups and "warm_up_s" not in timing:
                started = time.perf_counter()
                context.parallelize(range(cores), cores).foreach(warm_up)
                timing["warm_up_s"] = time.perf_counter() - started
            started = time.perf_counter()
            if groups:
                statuses += (context.parallelize(groups, len(groups))
                             .mapPartitions(partial(publish_partition, config=config))
                             .collect())
            timing["compute_publish_s"] += time.perf_counter() - started
            records += batch
            merged.tasks.extend(plan.tasks)
            merged.refused.extend(plan.refused)
            merged.layouts.update(plan.layouts)
            print(f"batch of {len(batch)} images done in {time.perf_counter() - started:.1f} s;"
                  f" {len(records)} images so far", flush=True)
    finally:
        spark.stop()
    return records, merged, statuses, timing


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit code (see the module docstring)."""
    args = parse_args(argv)
    # A manifest file is one batch, read now; a run's folder is followed batch by batch.
    following = Path(args.manifest).is_dir()
    try:
        batches: Iterable[list[ImageRecord]] = (
            follow_manifest(args.manifest, timeout_seconds=args.follow_timeout) if following
            else [read_manifest(args.manifest)])
    except (OSError, ManifestError) as exc:
        print(f"error: cannot read the manifest: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    config = JobConfig(args.bootstrap, args.topic, args.patch_size, args.kafka_timeout)
    run = {"manifest": args.manifest, "topic": args.topic, "bootstrap": args.bootstrap,
           "patch_size": args.patch_size}
    try:
        Publisher(args.bootstrap, args.topic, timeout_s=args.kafka_timeout).close()
    except PublishError as exc:
        # A followed folder is not waited for: the task fails now and Airflow retries it.
        records = [] if following else [record for batch in batches for record in batch]
        statuses = [TaskStatus(record.id, error=str(exc), kafka_error=True) for record in records]
        report = (summarize(records, Plan(tasks=[]), statuses, run) if records
                  else Report([], str(exc), run))
    else:
        try:
            records, plan, statuses, timing = run_on_spark(batches, config, args.band_rows)
        except (OSError, ManifestError, TimeoutError) as exc:
            print(f"error: cannot read the manifest: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        report = summarize(records, plan, statuses, {**run, "timing": timing})
    finish(report, args.report)
    return report.exit_code


def finish(report: Report, path: str | None) -> None:
    """Write the report file if asked, print one line per image, and the error if any."""
    if path:
        report.write(path)
    print("\n".join(report.lines()), flush=True)
    if report.kafka_error is not None:
        print(f"error: publishing failed: {report.kafka_error}", file=sys.stderr)
    elif report.failed:
        print(f"error: {len(report.failed)} image(s) failed: {', '.join(report.failed)}",
              file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
