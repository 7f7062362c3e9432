"""Benchmark: getJP2Image requests per second of 4096^2 archive images, from one core.

1. `nasaflow replay-server --archive` runs in its own process on a free port: 4096 px
   images, a small pool (`--pool`, default 4) cached under the archive folder, so only a
   first run pays the encodes (one to three seconds each).
2. The ids of one day of a source at a 6-minute cadence (240 images by default) come
   from getClosestImage; a warm-up pass renders the pool's variants (not timed).
3. archive: every id's getJP2Image, one at a time over one keep-alive connection, so the
   server handles one request at a time. Printed: requests/s by the wall clock and by
   the server's own CPU time (/proc), the second being the rate one core sustains.
4. baselines, in the same run and for the same number of requests: reading the pool's
   JP2 files from disk in this process (the bytes each answer is made of), and the same
   server answering a bundled sample from its static /jp2/ route (a file read per
   request).
Exits 1 when one core serves fewer than 20 archive requests per second.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from nasaflow.images.verify import verify_image
from nasaflow.replay.fixtures import load_samples
from nasaflow.settings import SAMPLES_DIR, get_settings
from nasaflow.sources.helioviewer import source_for

TARGET_PER_CORE = 20.0
_TICKS = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _start_server(port: int, args: argparse.Namespace) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "nasaflow.cli", "replay-server", "--archive",
               "--port", str(port), "--side", "4096", "--pool", str(args.pool),
               "--archive-dir", args.archive_dir]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    assert server.stdout is not None
    for line in server.stdout:
        if re.search(r"replay server on http://", line):
            return server
    server.wait()
    raise SystemExit(f"the replay server did not start (exit {server.returncode})")


def _timed(count: int, fetch: Callable[[int], int]) -> tuple[float, int]:
    """(seconds, bytes) for `count` calls of fetch(i) -> size."""
    total = 0
    started = time.perf_counter()
    for i in range(count):
        total += fetch(i)
    return time.perf_counter() - started, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wavelength", default="304")
    parser.add_argument("--day", default="2025-03-10", help="UTC day of the ids")
    parser.add_argument("--images", type=int, default=240,
                        help="requests per measurement (a day at 6 minutes: 240)")
    parser.add_argument("--pool", type=int, default=4)
    parser.add_argument("--archive-dir", default=get_settings().replay_archive_dir)
    args = parser.parse_args()

    source = source_for(args.wavelength)
    port = _free_port()
    server = _start_server(port, args)
    url = f"http://127.0.0.1:{port}"
    try:
        session = requests.Session()
        start = datetime.fromisoformat(args.day).replace(tzinfo=UTC)
        ids = []
        for step in range(args.images):
            moment = start + timedelta(minutes=6 * step) * (240 / args.images)
            answer = session.get(f"{url}/v2/getClosestImage/", timeout=30, params={
                "sourceId": str(source.source_id),
                "date": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}).json()
            ids.append(answer["id"])
        print(f"{len(set(ids))} distinct {source.nickname} images on {args.day}; warming "
              f"a pool of {args.pool} variant(s) ...", flush=True)
        warm = time.perf_counter()
        for image_id in ids:
            body = session.get(f"{url}/v2/getJP2Image/", params={"id": image_id},
                               timeout=600).content
        info = verify_image(body, "jp2")
        print(f"  warm-up {time.perf_counter() - warm:.1f} s; images are {info.width}x"
              f"{info.height}, {len(body):,} bytes", flush=True)

        def archive(i: int) -> int:
            response = session.get(f"{url}/v2/getJP2Image/", params={"id": ids[i]},
                                   timeout=30)
            return len(response.content)

        cpu_before = _cpu_seconds(server.pid)
        archive_s, archive_bytes = _timed(len(ids), archive)
        archive_cpu = _cpu_seconds(server.pid) - cpu_before

        pool_dir = Path(args.archive_dir) / "4096px-v1" / str(source.source_id)
        pool_files = sorted(pool_dir.glob("*.jp2"))
        disk_s, disk_bytes = _timed(len(ids), lambda i: len(
            pool_files[i % len(pool_files)].read_bytes()))

        sample = max(load_samples(SAMPLES_DIR), key=lambda s: s.size)

        def static(_i: int) -> int:
            return len(session.get(f"{url}/jp2/{sample.rel_path}", timeout=30).content)

        cpu_before = _cpu_seconds(server.pid)
        static_s, static_bytes = _timed(len(ids), static)
        static_cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=10)

    count = len(ids)
    per_core = count / archive_cpu if archive_cpu > 0 else float("inf")
    rows = [
        ("archive getJP2Image", archive_s, archive_bytes, archive_cpu),
        ("baseline: pool files read from disk", disk_s, disk_bytes, None),
        ("baseline: static sample over HTTP", static_s, static_bytes, static_cpu),
    ]
    print(f"\n{count} requests each, 4096^2 JP2s (~1 MB):")
    for label, seconds, size, cpu in rows:
        server_rate = f"{count / cpu:8.1f} req/s per server core" if cpu else ""
        print(f"  {label:38s} {count / seconds:8.1f} req/s  {size / seconds / 1e6:7.1f} MB/s"
              f"  {server_rate}")
    print(f"  archive / disk read: {disk_s / archive_s:.2f}   archive / static HTTP: "
          f"{static_s / archive_s:.2f}")
    ok = per_core >= TARGET_PER_CORE
    print(f"target >= {TARGET_PER_CORE:.0f} req/s from one core: {per_core:.1f} "
          f"{'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
