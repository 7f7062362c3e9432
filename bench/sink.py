"""Benchmark of the streaming sink against the original's way of writing, in one run.

1. throughput: a topic pre-filled with realistic messages (64 x 64 grids of full-precision
   doubles cut into 9-row bands, compressed like the platform's publisher) is drained by
   spark_jobs/stream_to_postgres.py in drain mode with the default throttle; rows per
   second come from stream_batches (sustained: from the end of the first batch, which
   also pays for starting the Python workers, to the end of the last).
2. baseline: the same rows (parsed beforehand, parsing not timed) written the original
   way: one INSERT per row, autocommit, with psycopg.
3. latency: while the stream runs with its normal 10 s trigger, single messages are
   published at random moments and PostgreSQL is polled until their cells are visible.

Runs in a schema of its own in the data database, migrated from include/sql, so the
platform's tables are neither read nor written. `--prefill-rows` first fills it like an
archive (cells of 64 x 64 images at 6-minute cadence, generated in SQL: the rows never
leave PostgreSQL), `--prefill-current-rows` of them in the month of the benchmark's
messages, i.e. in the partition the stream then writes, and vacuums them as autovacuum
would have long before in a real archive; the storage size per cell row (all partitions
with their indexes / rows) is printed after the drain.

Every row, progress row, topic, checkpoint and the schema made here are removed at the end
(the drivers' logs are kept when a run fails). Exits 1 when a target is missed: >= 10x
the baseline, >= 30,000 rows/s sustained, median latency under 15 s, <= 200 bytes per
stored cell row.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from multiprocessing import Pool
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from nasaflow.db.migrate import migrate
from nasaflow.db.partitions import forget_partitioning, partition_names, partman_parent
from nasaflow.messaging.admin import ensure_topic
from nasaflow.messaging.publisher import COMPRESSION
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import Settings, get_settings, url_user
from nasaflow.sink.records import CELL_COLUMNS, cell_rows
from nasaflow.spark_launch import STREAM_APPLICATION, submit_command, submit_env

if TYPE_CHECKING:
    from kafka import KafkaProducer

GRID, ROWS_PER_PART = 64, 9
PARTS = -(-GRID // ROWS_PER_PART)
TARGET_SPEEDUP, TARGET_ROWS_PER_SECOND, TARGET_MEDIAN_LATENCY = 10.0, 30_000, 15.0
TARGET_BYTES_PER_ROW = 200.0
#: When every benchmark image is observed: its month is the partition the stream writes.
OBSERVED_AT = datetime(2022, 1, 1, 0, 3, 52, tzinfo=UTC)
#: Pre-filled images per transaction (4,096 cells each).
PREFILL_CHUNK_IMAGES = 250


def cells_json(part: int, seed: int = 7) -> str:
    """Cells of one band with random full-precision values (parsing cost as in real data)."""
    rnd = random.Random(seed + part)
    first = part * ROWS_PER_PART
    return json.dumps([
        {"row": row, "col": col, **{name: rnd.random() * 1000 for name in PARAMETER_NAMES}}
        for row in range(first, min(first + ROWS_PER_PART, GRID)) for col in range(GRID)
    ], separators=(",", ":"))


def message(image_id: str, part: int, cells: str) -> bytes:
    header = json.dumps({
        "schema_version": 1, "image_id": image_id, "source": "helioviewer",
        "instrument": "AIA", "wavelength": "193",
        "observed_at": OBSERVED_AT.isoformat().replace("+00:00", "Z"),
        "patch_size": 64, "grid": {"rows": GRID, "cols": GRID}, "part": part, "parts": PARTS,
        "published_at": datetime.now(UTC).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }, separators=(",", ":"))
    return f'{header[:-1]},"cells":{cells}}}'.encode()


def producer(bootstrap: str) -> KafkaProducer:
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=COMPRESSION,
                         linger_ms=20, batch_size=1 << 20, max_request_size=4 << 20)


def publish_images(job: tuple[str, str, str, range]) -> int:
    """Publish every part of images `indexes` (one process's share); returns messages sent."""
    bootstrap, topic, prefix, indexes = job
    bands = [cells_json(part) for part in range(PARTS)]
    kafka = producer(bootstrap)
    for index in indexes:
        image = f"{prefix}{index:05d}"
        for part in range(PARTS):
            kafka.send(topic, key=image.encode(), value=message(image, part, bands[part]))
    kafka.flush(timeout=300)
    kafka.close()
    return len(indexes) * PARTS


def run_driver(settings: Settings, args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(submit_command(STREAM_APPLICATION, settings, args, with_jars=True),
                                env={**os.environ, **submit_env(settings)},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def throughput(settings: Settings, conn: psycopg.Connection, topic: str, query: str,
               checkpoint: Path, log: Path) -> dict[str, float]:
    process = run_driver(settings, ["--topic", topic, "--query-name", query,
                                    "--checkpoint", str(checkpoint), "--available-now"], log)
    if process.wait(timeout=1800) != 0:
        raise SystemExit(f"the drain run failed, see {log}")
    batches = conn.execute(
        "SELECT rows, extract(epoch FROM started_at), extract(epoch FROM finished_at)"
        " FROM stream_batches WHERE query = %s ORDER BY batch_id", (query,)).fetchall()
    rows = [int(r) for r, _, _ in batches]
    starts = [float(s) for _, s, _ in batches]
    ends = [float(e) for _, _, e in batches]
    return {
        "batches": len(batches), "rows": sum(rows), "max_rows_per_batch": max(rows),
        "overall_rows_per_second": sum(rows) / (ends[-1] - starts[0]),
        "sustained_rows_per_second": sum(rows[1:]) / (ends[-1] - ends[0]),
    }


def baseline(conn: psycopg.Connection, prefix: str, count: int) -> float:
    """Rows per second of one autocommitted INSERT per row, on rows parsed beforehand."""
    bands = [cells_json(part) for part in range(PARTS)]
    rows: list[tuple] = []
    index = 0
    while len(rows) < count:
        image = f"{prefix}{index:05d}"
        for part in range(PARTS):
            rows.extend(cell_rows(image.encode(), message(image, part, bands[part])))
        index += 1
    rows = rows[:count]
    sql = (f"INSERT INTO image_parameters ({', '.join(CELL_COLUMNS)})"
           f" VALUES ({', '.join(['%s'] * len(CELL_COLUMNS))})")
    started = time.perf_counter()
    for row in rows:
        conn.execute(sql, row)
    return count / (time.perf_counter() - started)


def latency(settings: Settings, conn: psycopg.Connection, topic: str, query: str,
            checkpoint: Path, log: Path, prefix: str, samples: int) -> list[float]:
    """Seconds from publishing one message to its cells being visible, per sample."""
    process = run_driver(settings, ["--topic", topic, "--query-name", query,
                                    "--checkpoint", str(checkpoint)], log)
    kafka = producer(settings.kafka_bootstrap)
    band = cells_json(0)
    rnd = random.Random(11)
    try:
        measured: list[float] = []
        for sample in range(samples + 1):  # sample 0 waits for the driver to be up
            image = f"{prefix}{sample:03d}"
            time.sleep(rnd.uniform(1, settings.trigger_seconds))
            sent = time.monotonic()
            kafka.send(topic, key=image.encode(), value=message(image, 0, band))
            kafka.flush(timeout=60)
            while conn.execute("SELECT 1 FROM image_parameters WHERE image_id = %s LIMIT 1",
                               (image,)).fetchone() is None:
                if process.poll() is not None:
                    raise SystemExit(f"the stream stopped, see {log}")
                if time.monotonic() - sent > 300:
                    raise SystemExit(f"{image} not visible after 300 s, see {log}")
                time.sleep(0.05)
            if sample:
                measured.append(time.monotonic() - sent)
        return measured
    finally:
        kafka.close()
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def fetch_one(conn: psycopg.Connection, query: Any, params: Any = None) -> tuple[Any, ...]:
    """The one row `query` returns."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, "the query returned no row"
    return row


def private_schema(settings: Settings, schema: str) -> Settings:
    """`settings` narrowed to a new schema `schema`, migrated from include/sql."""
    with psycopg.connect(settings.db_owner_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in settings.db_owner_url else "?"
    url = f"{settings.db_owner_url}{separator}options=-csearch_path%3D{schema}"
    migrate(url, url_user(settings.db_url), url_user(settings.db_reader_url))
    return dataclasses.replace(settings, db_url=url, db_owner_url=url)


def prefill(conn: psycopg.Connection, prefix: str, rows: int, current_rows: int) -> int:
    """Store `rows` cells (whole 64 x 64 images, rounded up) as an archive would hold them:
    `current_rows` in images observed from OBSERVED_AT on, the rest in the months before,
    every 6 minutes. Returns the rows stored."""
    current = -(-current_rows // (GRID * GRID))
    older = -(-(rows - current_rows) // (GRID * GRID))
    conn.execute("INSERT INTO cell_provenance (schema_version) VALUES (1) ON CONFLICT DO NOTHING")
    (provenance,) = fetch_one(conn, "SELECT provenance FROM cell_provenance WHERE"
                                    " schema_version = 1 AND convention IS NULL")
    first, last = fetch_one(
        conn, "WITH made AS (INSERT INTO image_keys (image_id, observed_at)"
        " SELECT %s || to_char(n + %s::integer, 'FM0000000'), %s + n * interval '6 minutes'"
        " FROM generate_series(%s::integer, %s::integer) AS n RETURNING image_key)"
        " SELECT min(image_key), max(image_key) FROM made",
        (prefix, older, OBSERVED_AT, -older, current - 1))
    values = sql.SQL(", ").join(sql.SQL("random() * 1000") for _ in PARAMETER_NAMES)
    fill = sql.SQL(
        "INSERT INTO image_cells (published_at, landed_at, {parameters}, image_key,"
        " patch_size, cell_row, cell_col, observed_on, provenance)"
        " SELECT now(), now(), {values}, k.image_key, {grid}, c / {grid}, mod(c, {grid}),"
        " observation_day(k.observed_at), {provenance}"
        " FROM image_keys AS k CROSS JOIN generate_series(0, {cells}) AS c"
        " WHERE k.image_key BETWEEN %s AND %s ORDER BY k.image_key, c").format(
        parameters=sql.SQL(", ").join(map(sql.Identifier, PARAMETER_NAMES)), values=values,
        grid=GRID, provenance=provenance, cells=GRID * GRID - 1)
    started, stored = time.perf_counter(), 0
    for low in range(first, last + 1, PREFILL_CHUNK_IMAGES):
        stored += conn.execute(fill, (low, min(low + PREFILL_CHUNK_IMAGES, last + 1) - 1)
                               ).rowcount
        elapsed = time.perf_counter() - started
        print(f"  pre-filled {stored:,} rows in {elapsed:.0f} s", flush=True)
    # An archive's older rows were vacuumed long ago: do it now, so that the drain is not
    # measured against autovacuum's first pass over the freshly inserted rows.
    started = time.perf_counter()
    conn.execute("VACUUM (ANALYZE) image_cells")
    print(f"  vacuumed and analysed in {time.perf_counter() - started:.0f} s", flush=True)
    return stored


def storage(conn: psycopg.Connection) -> tuple[int, int]:
    """(bytes of every partition of image_cells with its indexes, rows stored)."""
    parent = partman_parent(conn)
    assert parent is not None, "image_cells is not partitioned by pg_partman"
    size = sum(fetch_one(conn, "SELECT pg_total_relation_size(%s::regclass)", (name,))[0]
               for name in partition_names(conn, parent))
    (rows,) = fetch_one(conn, "SELECT count(*) FROM image_cells")
    return size, rows


def cleanup(settings: Settings, conn: psycopg.Connection, schema: str,
            topics: list[str]) -> None:
    from kafka.admin import KafkaAdminClient

    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    forget_partitioning(conn, schema)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.delete_topics(topics)
    finally:
        admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300,
                        help="64 x 64 images pre-filled for the throughput run (default 300: "
                             "1,228,800 cells)")
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--latency-samples", type=int, default=7)
    parser.add_argument("--prefill-rows", type=int, default=0,
                        help="cells stored before the run, like an archive (e.g. 100000000)")
    parser.add_argument("--prefill-current-rows", type=int, default=0,
                        help="of those, cells in the partition the stream writes"
                             " (e.g. 20000000)")
    args = parser.parse_args()
    if not 0 <= args.prefill_current_rows <= args.prefill_rows:
        parser.error("--prefill-current-rows must be between 0 and --prefill-rows")
    platform = get_settings()
    token = uuid.uuid4().hex[:8]
    schema = f"bench_sink_{token}"
    prefix = f"bench-sink-{token}-"
    topics = [f"bench-sink-{token}-fill", f"bench-sink-{token}-live"]
    queries = [f"bench-sink-{token}-drain", f"bench-sink-{token}-live"]
    for topic in topics:
        ensure_topic(platform.kafka_bootstrap, topic, 2)
    work = Path(tempfile.mkdtemp(prefix="bench-sink-"))
    try:
        settings = private_schema(platform, schema)
        os.environ["NASAFLOW_DB_URL"] = settings.db_url  # what the drivers connect to
        if args.prefill_rows:
            with psycopg.connect(settings.db_url, autocommit=True) as conn:
                started = time.perf_counter()
                stored = prefill(conn, prefix + "pre-", args.prefill_rows,
                                 args.prefill_current_rows)
                print(f"pre-filled {stored:,} rows in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        halves = [range(0, args.images // 2), range(args.images // 2, args.images)]
        with Pool(2) as pool:
            sent = sum(pool.map(publish_images, [(settings.kafka_bootstrap, topics[0],
                                                  prefix + "fill-", half) for half in halves]))
        print(f"pre-filled {sent} messages ({args.images * GRID * GRID:,} cells) in "
              f"{time.perf_counter() - started:.0f} s")
        with psycopg.connect(settings.db_url, autocommit=True) as conn:
            sink = throughput(settings, conn, topics[0], queries[0], work / "drain",
                              work / "drain.log")
            size, stored_rows = storage(conn)
            base = baseline(conn, prefix + "base-", args.baseline_rows)
            delays = latency(settings, conn, topics[1], queries[1], work / "live",
                             work / "live.log", prefix + "live-", args.latency_samples)
    except BaseException:
        print(f"bench/sink.py: the drivers' logs are kept in {work}", file=sys.stderr)
        raise
    else:
        shutil.rmtree(work)
    finally:
        with psycopg.connect(platform.db_owner_url, autocommit=True) as conn:
            cleanup(platform, conn, schema, topics)
    speedup = sink["sustained_rows_per_second"] / base
    median = statistics.median(delays)
    verdicts = [
        ("sustained rows/s", sink["sustained_rows_per_second"], TARGET_ROWS_PER_SECOND, ">="),
        ("speed-up over baseline", speedup, TARGET_SPEEDUP, ">="),
        ("median publish->visible latency (s)", median, TARGET_MEDIAN_LATENCY, "<"),
        ("bytes per stored cell row", size / stored_rows, TARGET_BYTES_PER_ROW, "<="),
    ]
    print(f"sink (spark drain, default throttle {settings.max_offsets_per_trigger} messages):"
          f" {sink['rows']:,} rows in {sink['batches']} batches"
          f" (largest {sink['max_rows_per_batch']:,}),"
          f" {sink['overall_rows_per_second']:,.0f} rows/s from first start to last end,"
          f" {sink['sustained_rows_per_second']:,.0f} rows/s sustained")
    print(f"storage after the drain: {stored_rows:,} rows in {size / 1e9:.2f} GB"
          f" (all partitions with their indexes), {size / stored_rows:.1f} bytes per row")
    print(f"baseline (psycopg, one INSERT per row, autocommit): {base:,.0f} rows/s"
          f" over {args.baseline_rows:,} rows")
    print(f"latency over {len(delays)} messages with the {settings.trigger_seconds} s trigger:"
          f" median {median:.1f} s, min {min(delays):.1f} s, max {max(delays):.1f} s"
          f" ({', '.join(f'{d:.1f}' for d in delays)})")
    missed = False
    for name, value, target, relation in verdicts:
        ok = {">=": value >= target, "<": value < target, "<=": value <= target}[relation]
        missed |= not ok
        print(f"  {'ok  ' if ok else 'MISS'} {name}: {value:,.1f} (target {relation} {target:,})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
