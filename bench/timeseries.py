"""Benchmark of the time-series page's query and the image list's pages, at archive volume.

1. time series: CHANNELS channels of 64 x 64-cell images (4096 x 4096 pixels, 64 px cells)
   every 6 minutes over DAYS days are stored as the sink stores them: the cells, and in
   the same transaction per chunk of images the full-disk summaries
   (refresh_image_parameter_summary, what nasaflow.sink.commit calls). Then 20 requests,
   each a random 30-day range of a random parameter and channel (7,200 images, 29 M
   cells), are answered by the page's own query (nasaflow.webui.timeseries, from the
   summaries); the target is a 95th percentile under 2 s. The baseline is the same
   statistic computed from the cells on each request (what the page would cost without
   the summaries), on the first few of the same requests, measured in the same run; the
   two answers must agree, image by image.
2. image list: the images table is topped up to LIST_IMAGES rows (images without cells,
   in other channels) and random pages, with and without a channel filter, are read by
   keyset (the page's query) and, as the baseline, by OFFSET; target under 0.5 s a page.

Runs in a schema of its own in the data database, migrated from include/sql, so the
platform's tables are neither read nor written; the schema is dropped at the end. The
rows are generated in SQL (they never leave PostgreSQL). The fill is large: at the
defaults 2 channels x 36 days = 17,280 images, 71 M cells (about 14 GB with indexes).
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from nasaflow.db.partitions import forget_partitioning
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import get_settings
from nasaflow.webui.queries import ImageFilter, PageKey, page_query
from nasaflow.webui.timeseries import BAND, SeriesRequest, fetch_series

# The private, migrated schema is made as bench/sink.py makes it (run as a script, the
# repository root is not on the path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.sink import fetch_one, private_schema

T = TypeVar("T")
GRID, PATCH = 64, 64
SIDE = GRID * PATCH
CADENCE = timedelta(minutes=6)
FIRST_DAY = date(2022, 1, 1)
RANGE_DAYS = 30
TARGET_SERIES_P95, TARGET_PAGE = 2.0, 0.5
#: Images whose cells are generated per transaction (4,096 cells each), with their summaries.
CHUNK_IMAGES = 200
#: The Helioviewer metadata of a 4096 x 4096 AIA image: the disk in the middle.
METADATA = ('{"metadata": {"refPixelX": 2048.5, "refPixelY": 2048.5, "rsun": 1600.0,'
            ' "width": 4096, "height": 4096}}')
#: The full-disk statistic computed from the cells, image by image: the baseline.
_FROM_CELLS = sql.SQL("""
SELECT i.wavelength, i.observed_at, cells.mean, cells.band[1], cells.band[2], cells.values,
       cells.nulls
  FROM images AS i
  JOIN image_keys AS k ON k.image_id = i.id
 CROSS JOIN LATERAL image_disk(i.source_ref, i.width, i.height) AS d
 CROSS JOIN LATERAL (
       SELECT avg(v) AS mean, count(v) AS values, count(*) - count(v) AS nulls,
              percentile_cont(ARRAY[%(low)s, %(high)s]::float8[]) WITHIN GROUP (ORDER BY v)
                  AS band
         FROM (SELECT c.{value} AS v FROM image_cells AS c
                WHERE c.image_key = k.image_key AND c.patch_size = %(patch_size)s
                  AND c.observed_on = observation_day(k.observed_at)
                  AND c.observed_on BETWEEN %(first_day)s AND %(last_day)s
                  AND ((c.cell_col::float8 + 0.5) * c.patch_size - d.x) ^ 2
                      + ((c.cell_row::float8 + 0.5) * c.patch_size - d.y) ^ 2 <= d.r ^ 2) AS on_disk
       ) AS cells
 WHERE i.wavelength = %(wavelength)s AND i.observed_at >= %(start)s AND i.observed_at < %(stop)s
   AND cells.values + cells.nulls > 0
 ORDER BY i.wavelength, i.observed_at, i.id""")


def channel_names(count: int) -> list[str]:
    return [str(wavelength) for wavelength in (193, 304, 171, 211, 335, 94, 131, 1600, 1700,
                                               4500)[:count]]


def fill(conn: psycopg.Connection, channels: list[str], days: int) -> tuple[int, int, float]:
    """Images, cells and summaries of `channels` over `days`, chunk by chunk as the sink
    commits them; returns (images, cells, seconds spent on the summaries)."""
    per_channel = days * 24 * 60 // 6
    conn.execute("INSERT INTO cell_provenance (schema_version) VALUES (1) ON CONFLICT DO NOTHING")
    (provenance,) = fetch_one(conn, "SELECT provenance FROM cell_provenance WHERE"
                                    " schema_version = 1 AND convention IS NULL")
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)
    for channel in channels:
        conn.execute(
            "INSERT INTO images (id, source, instrument, wavelength, observed_at, width, height,"
            " sha256, path, size_bytes, source_ref)"
            " SELECT format('bench_%%s_%%s', %(channel)s::text, n), 'helioviewer', 'AIA', %(channel)s::text,"
            " %(start)s + n * interval '6 minutes' + random() * interval '10 seconds',"
            " %(side)s, %(side)s, md5(n::text) || md5(n::text), 'bench.jp2', 1, %(meta)s::jsonb"
            " FROM generate_series(0, %(last)s) AS n",
            {"channel": channel, "start": start, "side": SIDE, "meta": METADATA,
             "last": per_channel - 1})
    conn.execute("INSERT INTO image_keys (image_id, observed_at)"
                 " SELECT id, observed_at FROM images ORDER BY observed_at, id")
    first, last = fetch_one(conn, "SELECT min(image_key), max(image_key) FROM image_keys")
    # Values: a smooth trend over time plus noise; every 97th cell constant (null skewness
    # and kurtosis, as the calculators report a constant cell).
    values = sql.SQL(", ").join(
        sql.SQL("CASE WHEN {nullable} AND mod(c, 97) = 0 THEN NULL"
                " ELSE {k} + sin(k.image_key / 500.0) + random() END").format(
            nullable=sql.SQL("true" if name in ("skewness", "kurtosis") else "false"),
            k=sql.Literal(index))
        for index, name in enumerate(PARAMETER_NAMES))
    cells = sql.SQL(
        "INSERT INTO image_cells (published_at, landed_at, {parameters}, image_key,"
        " patch_size, cell_row, cell_col, observed_on, provenance)"
        " SELECT now(), now(), {values}, k.image_key, {patch}, c / {grid}, mod(c, {grid}),"
        " observation_day(k.observed_at), {provenance}"
        " FROM image_keys AS k CROSS JOIN generate_series(0, {last_cell}) AS c"
        " WHERE k.image_key BETWEEN %s AND %s ORDER BY k.image_key, c").format(
        parameters=sql.SQL(", ").join(map(sql.Identifier, PARAMETER_NAMES)), values=values,
        patch=PATCH, grid=GRID, provenance=provenance, last_cell=GRID * GRID - 1)
    stored, summarising, started = 0, 0.0, time.perf_counter()
    for low in range(first, last + 1, CHUNK_IMAGES):
        high = min(low + CHUNK_IMAGES, last + 1) - 1
        with conn.transaction():
            stored += conn.execute(cells, (low, high)).rowcount
            before = time.perf_counter()
            conn.execute("SELECT refresh_image_parameter_summary(ARRAY(SELECT generate_series("
                         "%s::integer, %s::integer)))", (low, high))
            summarising += time.perf_counter() - before
        print(f"  stored {stored:,} cells in {time.perf_counter() - started:.0f} s",
              flush=True)
    conn.execute("VACUUM ANALYZE images")
    conn.execute("VACUUM ANALYZE image_keys")
    conn.execute("VACUUM ANALYZE image_parameter_summary")
    conn.execute("ANALYZE image_cells")
    return last - first + 1, stored, summarising


def top_up_images(conn: psycopg.Connection, total: int, days: int) -> None:
    """Images without cells in ten other channels, spread over `days`, up to `total`."""
    (have,) = fetch_one(conn, "SELECT count(*) FROM images")
    missing = max(0, total - have)
    conn.execute(
        "INSERT INTO images (id, source, instrument, wavelength, observed_at, width, height,"
        " sha256, path, size_bytes)"
        " SELECT format('list_%%s', n), 'helioviewer', 'AIA', 'list' || mod(n, 10),"
        " %s + random() * %s * interval '1 day', 4096, 4096, md5(n::text) || md5(n::text),"
        " 'list.jp2', 1 FROM generate_series(1, %s) AS n",
        (datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC), days, missing))
    conn.execute("VACUUM ANALYZE images")


def timed(run: Callable[..., T], *args: Any) -> tuple[float, T]:
    """(seconds, result) of run(*args)."""
    started = time.perf_counter()
    result = run(*args)
    return time.perf_counter() - started, result


def series_requests(rnd: random.Random, channels: list[str], days: int,
                    count: int) -> list[SeriesRequest]:
    latest = days - RANGE_DAYS
    return [SeriesRequest(rnd.choice(PARAMETER_NAMES), (rnd.choice(channels),),
                          start := FIRST_DAY + timedelta(days=rnd.randint(0, latest)),
                          start + timedelta(days=RANGE_DAYS - 1), PATCH)
            for _ in range(count)]


def from_cells(conn: psycopg.Connection, request: SeriesRequest) -> list[tuple]:
    clauses, params = ImageFilter(request.start, request.end).where()
    query = _FROM_CELLS.format(value=sql.Identifier(request.parameter))
    return conn.execute(query, {**params, "low": BAND[0], "high": BAND[1],
                                "patch_size": request.patch_size, "first_day": request.start,
                                "last_day": request.end,
                                "wavelength": request.wavelengths[0]}).fetchall()


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def bench_series(conn: psycopg.Connection, channels: list[str], days: int, samples: int,
                 baseline_samples: int, rnd: random.Random) -> tuple[list[float], list[float]]:
    requests = series_requests(rnd, channels, days, samples)
    measured = [timed(fetch_series, conn, request) for request in requests]
    times = [seconds for seconds, _ in measured]
    answers = [answer for _, answer in measured]
    for request, seconds, answer in zip(requests, times, answers, strict=True):
        points = answer[0].points
        print(f"  {request.parameter:22} {request.wavelengths[0]:>5} {request.start}:"
              f" {len(points):,} images, {sum(p.values for p in points):,} values,"
              f" {sum(p.nulls for p in points):,} nulls in {seconds:.3f} s")
        assert len(points) >= RANGE_DAYS * 240 - 1, "a 30-day range lacks images"
    baseline = []
    for request, answer in zip(requests[:baseline_samples], answers, strict=False):
        seconds, rows = timed(from_cells, conn, request)
        baseline.append(seconds)
        summary = [(p.observed_at, p.mean, p.low, p.high, p.values, p.nulls)
                   for p in answer[0].points]
        assert len(rows) == len(summary), "summary and cells disagree on the images"
        for row, point in zip(rows, summary, strict=True):
            assert row[1] == point[0] and row[5:] == point[4:], (row, point)
            assert all(abs(a - b) <= 1e-9 * max(1.0, abs(a)) for a, b in
                       zip(row[2:5], point[1:4], strict=True)), (row, point)
        print(f"  baseline from cells: {request.parameter} {request.wavelengths[0]}"
              f" {request.start} in {baseline[-1]:.1f} s (same answer)")
    return times, baseline


def bench_pages(conn: psycopg.Connection, channels: list[str], samples: int,
                rnd: random.Random) -> dict[str, list[float]]:
    """Seconds per page at random depths of the list, every other one filtered by a
    channel: "page" is the page's own query (keyset, with the landed patch sizes of its
    images); "keyset" and "offset" read the same page's bare rows by keyset and by
    OFFSET (the baseline)."""
    (total,) = fetch_one(conn, "SELECT count(*) FROM images")
    times: dict[str, list[float]] = {"page": [], "keyset": [], "offset": []}
    for sample in range(samples):
        where = ImageFilter(wavelengths=(rnd.choice(channels),) if sample % 2 else ())
        channel = sql.SQL("wavelength = ANY(%(wavelengths)s) AND " if where.wavelengths
                          else "")
        params: dict[str, Any] = {"wavelengths": list(where.wavelengths)}
        (count,) = fetch_one(conn, sql.SQL("SELECT count(*) FROM images WHERE {} true").format(
            channel), params)
        params["depth"] = rnd.randrange(max(1, count - 12))
        order = " ORDER BY observed_at DESC, id DESC LIMIT 13"
        offset = sql.SQL("SELECT observed_at, id FROM images WHERE {} true"
                         + order + " OFFSET %(depth)s").format(channel)
        seconds, rows = timed(lambda q, p: conn.execute(q, p).fetchall(), offset, params)
        times["offset"].append(seconds)
        params.update(key_at=rows[0][0], key_id=rows[0][1])
        keyset = sql.SQL("SELECT observed_at, id FROM images WHERE {}"
                         " (observed_at, id) < (%(key_at)s, %(key_id)s)" + order).format(channel)
        times["keyset"].append(timed(lambda q, p: conn.execute(q, p).fetchall(), keyset,
                                     params)[0])
        query, query_params = page_query(where, 13, PageKey(rows[0][0], rows[0][1]))
        times["page"].append(timed(lambda q, p: conn.execute(q, p).fetchall(), query,
                                   query_params)[0])
    print(f"  {total:,} images; {samples} random pages")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=2, help="channels with cells (1..10)")
    parser.add_argument("--days", type=int, default=36, help="days of images (>= 30)")
    parser.add_argument("--samples", type=int, default=20, help="time-series requests")
    parser.add_argument("--baseline-samples", type=int, default=3,
                        help="of those, also computed from the cells (each reads 29 M)")
    parser.add_argument("--list-images", type=int, default=1_000_000,
                        help="images in the table for the list's pages")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    if args.days < RANGE_DAYS or not 1 <= args.channels <= 10:
        parser.error(f"--days must be at least {RANGE_DAYS}, --channels 1 to 10")
    platform = get_settings()
    schema = f"bench_timeseries_{uuid.uuid4().hex[:8]}"
    channels = channel_names(args.channels)
    rnd = random.Random(args.seed)
    try:
        settings = private_schema(platform, schema)
        with psycopg.connect(settings.db_url, autocommit=True) as conn:
            started = time.perf_counter()
            images, cells, summarising = fill(conn, channels, args.days)
            print(f"stored {images:,} images, {cells:,} cells in"
                  f" {time.perf_counter() - started:.0f} s, of which {summarising:.0f} s"
                  f" computing their summaries ({summarising / images * 1000:.1f} ms an image)")
            top_up_images(conn, args.list_images, args.days)
            series, baseline = bench_series(conn, channels, args.days, args.samples,
                                            args.baseline_samples, rnd)
            pages = bench_pages(conn, [*channels, "list3"], 20, rnd)
    finally:
        with psycopg.connect(platform.db_owner_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))
            forget_partitioning(conn, schema)
    series_p95, page_p95 = p95(series), p95(pages["page"])
    print(f"time series of 30 days (7,200 images) from the summaries: p95 {series_p95:.3f} s,"
          f" median {statistics.median(series):.3f} s over {len(series)} random requests")
    print(f"baseline from the cells: median {statistics.median(baseline):.1f} s over"
          f" {len(baseline)} of the same requests: {statistics.median(baseline) / series_p95:,.0f}x"
          " the summaries' p95")
    keyset, offset = p95(pages["keyset"]), p95(pages["offset"])
    print(f"image list pages (with their patch sizes): p95 {page_p95 * 1000:.1f} ms; their"
          f" rows by keyset: p95 {keyset * 1000:.2f} ms, by OFFSET (baseline): p95"
          f" {offset * 1000:.1f} ms: {offset / keyset:,.0f}x")
    verdicts = [("time series p95 (s)", series_p95, TARGET_SERIES_P95),
                ("image list page p95 (s)", page_p95, TARGET_PAGE)]
    missed = False
    for name, value, target in verdicts:
        missed |= value >= target
        print(f"  {'ok  ' if value < target else 'MISS'} {name}: {value:.3f} (target < {target})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
