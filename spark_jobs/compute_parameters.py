"""Spark application: image parameters for every image of a manifest, published to Kafka.

Submitted by the nasa_ingest DAG (SparkSubmitOperator, local[2] by default). The images
are cut into (image, cell-row range) tasks; executors decode, compute and publish their
tasks with one producer per partition, and only small per-task statuses come back to the
driver, which writes the report and exits non-zero when an image or Kafka failed.
Everything but the Spark wiring is in the nasaflow.compute package.

Exit codes: 0 all published; 1 some images failed (named in the report and on stdout);
2 bad arguments or manifest; 3 Kafka unreachable after bounded retries.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from functools import partial

from nasaflow.compute.plan import Plan, partition_tasks, plan_tasks
from nasaflow.compute.publish import JobConfig, TaskStatus, publish_partition, warm_up
from nasaflow.compute.report import Report, summarize
from nasaflow.manifest import ImageRecord, ManifestError, read_manifest
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
                        help="JSON Lines file, one image per line (written by nasa_ingest)")
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


def run_on_spark(records: list[ImageRecord], config: JobConfig,
                 band_rows: int | None) -> tuple[Plan, list[TaskStatus], dict[str, float]]:
    """Plan, warm up one Python worker per core, then compute and publish on executors;
    returns the plan, the per-task statuses and the timings."""
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    spark = SparkSession.builder.appName("nasaflow-compute-parameters").getOrCreate()
    timing = {"spark_session_s": time.perf_counter() - started}
    try:
        context = spark.sparkContext
        context.setLogLevel("WARN")
        cores = context.defaultParallelism
        plan = plan_tasks(records, config.patch_size, cores, band_rows)
        groups = partition_tasks(plan.tasks, cores)
        statuses: list[TaskStatus] = []
        if groups:
            started = time.perf_counter()
            context.parallelize(range(cores), cores).foreach(warm_up)
            timing["warm_up_s"] = time.perf_counter() - started
            started = time.perf_counter()
            statuses = (context.parallelize(groups, len(groups))
                        .mapPartitions(partial(publish_partition, config=config))
                        .collect())
            timing["compute_publish_s"] = time.perf_counter() - started
    finally:
        spark.stop()
    return plan, statuses, timing


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit code (see the module docstring)."""
    args = parse_args(argv)
    try:
        records = read_manifest(args.manifest)
    except (OSError, ManifestError) as exc:
        print(f"error: cannot read the manifest: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    config = JobConfig(args.bootstrap, args.topic, args.patch_size, args.kafka_timeout)
    run = {"manifest": args.manifest, "topic": args.topic, "bootstrap": args.bootstrap,
           "patch_size": args.patch_size}
    try:
        Publisher(args.bootstrap, args.topic, timeout_s=args.kafka_timeout).close()
    except PublishError as exc:
        plan = Plan(tasks=[])
        statuses = [TaskStatus(record.id, error=str(exc), kafka_error=True) for record in records]
        report = summarize(records, plan, statuses, run)
    else:
        plan, statuses, timing = run_on_spark(records, config, args.band_rows)
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
