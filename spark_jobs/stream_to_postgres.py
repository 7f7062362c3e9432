"""Kafka topic of parameter messages -> PostgreSQL, in throttled micro-batches, exactly once.

    spark-submit --jars <connector and JDBC jars> spark_jobs/stream_to_postgres.py \
        [--query-name NAME] [--checkpoint DIR] [--available-now] [--wait-for-lock SECONDS]

Runs until stopped (or, with --available-now, until it has caught up with the topic).
Exits 75 without starting when another driver holds the query's lock, and 78 when the
database lacks a table or column it needs (run `nasaflow migrate`; restarting cannot
help). The work of each micro-batch lives in nasaflow.sink; this file only wires Spark
to it.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from psycopg import errors

from nasaflow.settings import Settings, get_settings
from nasaflow.sink.batch import PostgresBatchWriter
from nasaflow.sink.contract import SchemaDriftError, check_sink_schema
from nasaflow.sink.lock import LOCK_BUSY_EXIT_CODE, LockBusyError, StreamLock
from nasaflow.sink.supervision import (
    CONFIG_ERROR_EXIT_CODE,
    exit_with_parent,
    take_lock,
    warm_python_workers,
)
from nasaflow.spark_launch import STREAM_QUERY_NAME

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("nasaflow.stream_to_postgres")


def parse_args(argv: Sequence[str], settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query-name", default=STREAM_QUERY_NAME,
                        help="names the query in stream_batches and its lock "
                             "(default %(default)s)")
    parser.add_argument("--checkpoint",
                        help="checkpoint folder (default <NASAFLOW_CHECKPOINT_DIR>/<query name>);"
                             " a new checkpoint gets a new id, under which stream_batches "
                             "records its batches, so they are never taken for those of an "
                             "earlier checkpoint of the same query name")
    parser.add_argument("--topic", default=settings.kafka_topic,
                        help="Kafka topic to read (default %(default)s)")
    parser.add_argument("--bootstrap", default=settings.kafka_bootstrap,
                        help="Kafka bootstrap servers (default %(default)s)")
    parser.add_argument("--trigger-seconds", type=int, default=settings.trigger_seconds,
                        help="micro-batch interval (default %(default)s)")
    parser.add_argument("--max-offsets-per-trigger", type=int,
                        default=settings.max_offsets_per_trigger,
                        help="throttle: at most this many messages per micro-batch "
                             "(default %(default)s)")
    parser.add_argument("--mode", choices=("continuous", "drain"), default="continuous",
                        help="continuous: a batch every --trigger-seconds until stopped; "
                             "drain: batches back to back until caught up, then exit")
    parser.add_argument("--available-now", dest="mode", action="store_const", const="drain",
                        help="same as --mode drain")
    parser.add_argument("--starting-offsets", default="earliest",
                        help="where a NEW checkpoint starts reading: earliest, latest, or "
                             "JSON offsets per partition, e.g. '{\"image-parameters\": "
                             "{\"0\": 1200, \"1\": 980}}' (ignored once the checkpoint "
                             "exists; default %(default)s)")
    parser.add_argument("--starting-timestamp", type=int, metavar="EPOCH_MS",
                        help="a NEW checkpoint starts at the first message published at or "
                             "after this time (milliseconds since the epoch)")
    parser.add_argument("--fail-on-data-loss", choices=("true", "false"), default="true",
                        help="stop when messages expired from Kafka before they were read "
                             "(default %(default)s)")
    parser.add_argument("--wait-for-lock", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for another driver of the same checkpoint or "
                             "query name to stop (default: exit 75 at once)")
    parser.add_argument("--retry-seconds", type=float, default=settings.sink_retry_seconds,
                        help="how long a batch is retried while PostgreSQL is unreachable "
                             "before the query fails; 0: until it is back "
                             "(default %(default)s)")
    args = parser.parse_args(argv)
    args.checkpoint = args.checkpoint or os.path.join(settings.checkpoint_dir, args.query_name)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("nasaflow").setLevel(logging.INFO)
    settings = get_settings()
    args = parse_args(sys.argv[1:] if argv is None else argv, settings)
    exit_with_parent()
    # A driver that waits for the lock (a standby) starts Spark first, so it takes over
    # within seconds when the running one dies; one that would not wait checks the lock
    # before paying for Spark.
    spark = None
    if args.wait_for_lock > 0:
        spark = start_spark(args.query_name)
        log.info("driver %d ready, waiting for the lock of %s", os.getpid(), args.query_name)
    try:
        check_sink_schema(settings.db_url)
    except SchemaDriftError as exc:
        print(f"stream_to_postgres: not starting: {exc}", file=sys.stderr)
        return CONFIG_ERROR_EXIT_CODE
    try:
        lock = take_lock(StreamLock(settings.db_url, args.query_name, args.checkpoint),
                         args.wait_for_lock)
    except LockBusyError as exc:
        print(f"stream_to_postgres: not starting: {exc}", file=sys.stderr)
        return LOCK_BUSY_EXIT_CODE
    with lock:
        log.info("driver %d holds the lock of %s", os.getpid(), args.query_name)
        writer = PostgresBatchWriter(settings.db_url, args.query_name, lock,
                                     args.retry_seconds or math.inf)
        try:
            writer.clear_leftovers()
        except (errors.UndefinedTable, errors.UndefinedColumn) as exc:
            print(f"stream_to_postgres: not starting: the database lacks what the sink "
                  f"needs, run `nasaflow migrate`: {exc}", file=sys.stderr)
            return CONFIG_ERROR_EXIT_CODE
        run_query(spark or start_spark(args.query_name), args, writer)
    return 0


def start_spark(query_name: str) -> SparkSession:
    """The driver's session, with its Python workers started (they serve the batches)."""
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.appName(f"stream_to_postgres {query_name}")
             .config("spark.ui.enabled", "false")
             .config("spark.log.level", "WARN")
             .getOrCreate())
    warm_python_workers(spark.sparkContext)
    return spark


def run_query(spark: SparkSession, args: argparse.Namespace,
              writer: PostgresBatchWriter) -> None:
    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", args.bootstrap)
              .option("subscribe", args.topic)
              .option("startingOffsets", args.starting_offsets)
              .option("maxOffsetsPerTrigger", args.max_offsets_per_trigger)
              .option("failOnDataLoss", args.fail_on_data_loss))
    if args.starting_timestamp is not None:
        reader = reader.option("startingTimestamp", str(args.starting_timestamp))
    messages = reader.load()
    stream = (messages.writeStream.queryName(args.query_name)
              .option("checkpointLocation", args.checkpoint)
              .foreachBatch(writer))
    if args.mode == "drain":
        stream = stream.trigger(availableNow=True)
    else:
        stream = stream.trigger(processingTime=f"{args.trigger_seconds} seconds")
    query = stream.start()
    log.info("query %s started from checkpoint %s, checkpoint id %s", args.query_name,
             args.checkpoint, query.id)
    query.awaitTermination()


if __name__ == "__main__":
    sys.exit(main())
