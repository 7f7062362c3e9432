"""make demo: the pipeline end to end on the bundled sample date, then what landed.

Runs after `make up`. Starts the stream (unpauses stream_to_postgres), triggers nasa_ingest
for the sample date through Airflow's REST API, prints each task's progress, waits until
the run is green (i.e. every cell is queryable), and prints a summary from PostgreSQL.
With NASAFLOW_LIVE=1 the same run talks to NASA's real APIs instead of the replay server.
A task that fails a try is named with its reason at once; a failed run ends with each
failing task and its reason and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
import requests

from nasaflow.operations.airflow_rest import AirflowError, AirflowRestClient
from nasaflow.operations.run_failures import (
    TaskFailure,
    task_failure,
    task_failures,
    task_label,
)
from nasaflow.parameters import PARAMETER_NAMES

AIRFLOW_URL = "http://127.0.0.1:8080"
SAMPLE_DATE = "2022-01-01"


#: Task states of a try that just failed: its reason is printed with the state.
FAILED_TRY = {"failed", "up_for_retry"}


class Progress:
    """Prints a line whenever a task instance of the run changes state; a try that failed
    is followed by its reason (`explain`), so a failure is named when it happens, not
    after the retries."""

    def __init__(self, started: float,
                 explain: Callable[[dict[str, Any]], TaskFailure] | None = None) -> None:
        self.started = started
        self.explain = explain
        self.seen: dict[tuple[str, int], str] = {}

    def __call__(self, task_instances: list[dict[str, Any]]) -> None:
        for ti in sorted(task_instances, key=lambda t: (t["start_date"] or "", t["task_id"])):
            key = (ti["task_id"], ti["map_index"])
            state = ti["state"] or "waiting"
            if self.seen.get(key) != state:
                self.seen[key] = state
                print(f"  {time.monotonic() - self.started:6.0f}s  {task_label(ti):60} {state}",
                      flush=True)
                if state in FAILED_TRY and self.explain is not None:
                    print(f"           reason: {self.explain(ti).reason}", flush=True)


def cell_lines(ranges: Sequence[Any], patch_size: int) -> list[str]:
    """The cell count and each parameter's range, from `count(*), min(p1), max(p1), ...`;
    with no cells (a failed run) the ranges are NULL and only the count is told."""
    if not ranges[0]:
        return [f"cells: none landed at {patch_size}-pixel cells"]
    lines = [f"cells: {ranges[0]} at {patch_size}-pixel cells; parameter ranges:"]
    for index, name in enumerate(PARAMETER_NAMES):
        low, high = ranges[1 + 2 * index], ranges[2 + 2 * index]
        lines.append(f"  {name:24} {low:>14.6g} .. {high:<14.6g}")
    return lines


def stream_line(batches: int, rows: int, last: datetime | None, median: float | None,
                dead: int) -> str:
    """The stream's micro-batches so far; none yet on a fresh platform."""
    if not batches or last is None:
        return f"stream: no micro-batch committed yet; dead letters: {dead}"
    return (f"stream: {batches} micro-batches, {rows} rows in all, median batch "
            f"{median or 0:.2f} s, last at {last:%H:%M:%S}Z; dead letters: {dead}")


def failure_lines(run_id: str, failures: list[TaskFailure]) -> list[str]:
    """Why the run failed: each failing task with its reason."""
    if not failures:
        return [f"[demo] run {run_id} failed without a failed task (timed out or marked "
                "failed); see the Airflow UI"]
    return [f"[demo] run {run_id} failed at {failure.task}: {failure.reason}"
            for failure in failures]


def summary(db_url: str, image_ids: list[str], patch_size: int) -> None:
    """What landed: images, cells, per-parameter ranges, stream batches."""
    with psycopg.connect(db_url) as conn:
        images = conn.execute(
            "SELECT id, instrument, wavelength, observed_at, width, height FROM images"
            " WHERE id = ANY(%s) ORDER BY observed_at", (image_ids,)).fetchall()
        print(f"\nimages ({len(images)}):")
        for image_id, instrument, wavelength, observed, width, height in images:
            count = conn.execute("SELECT count(*) FROM image_parameters WHERE image_id = %s"
                                 " AND patch_size = %s", (image_id, patch_size)).fetchone()[0]
            print(f"  {image_id}  {instrument} {wavelength}  {observed:%Y-%m-%d %H:%M:%S}Z"
                  f"  {width}x{height}  {count} cells")
        ranges = conn.execute(
            "SELECT count(*), " + ", ".join(f"min({n}), max({n})" for n in PARAMETER_NAMES)
            + " FROM image_parameters WHERE image_id = ANY(%s) AND patch_size = %s",
            (image_ids, patch_size)).fetchone()
        print("\n" + "\n".join(cell_lines(ranges, patch_size)))
        batches = conn.execute(
            "SELECT count(*), coalesce(sum(rows), 0), max(finished_at),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))"
            " FROM stream_batches").fetchone()
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        print("\n" + stream_line(batches[0], batches[1], batches[2], batches[3], dead))


def login_hint(user: str) -> str:
    """Where to log in and where the password is: printed output ends up in terminal
    scrollback and CI logs, so the password itself stays in .env."""
    return (f"[demo] Airflow UI: {AIRFLOW_URL}  login: {user}, password: AIRFLOW_ADMIN_PASSWORD"
            " in .env")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default=SAMPLE_DATE, help="UTC day to ingest")
    parser.add_argument("--wavelengths", default="193,304", help="comma-separated")
    parser.add_argument("--patch-size", type=int, default=64)
    args = parser.parse_args()
    try:
        return demo(args)
    except (AirflowError, requests.RequestException, psycopg.Error) as error:
        # A platform that stops answering midway: the reason, not a traceback.
        print(f"\n[demo] stopped: {type(error).__name__}: {error}", flush=True)
        return 1


def demo(args: argparse.Namespace) -> int:
    """Trigger the run, follow it, report what landed or why it failed; the exit status."""
    started = time.monotonic()
    user = os.environ["AIRFLOW_ADMIN_USER"]
    api = AirflowRestClient(AIRFLOW_URL, user, os.environ["AIRFLOW_ADMIN_PASSWORD"])
    live = os.environ.get("NASAFLOW_LIVE") == "1"
    print(f"[demo] sources: {'NASA (live)' if live else 'replay server (bundled samples)'}")

    print("[demo] starting the stream (stream_to_postgres)", flush=True)
    api.ensure_running("stream_to_postgres", "stream")
    api.wait_for_dag("nasa_ingest")

    conf = {"date": args.date, "wavelengths": args.wavelengths.split(","),
            "patch_size": args.patch_size}
    api.set_paused("nasa_ingest", False)
    run_id = api.trigger("nasa_ingest", conf)
    print(f"[demo] triggered nasa_ingest {run_id} with {conf}", flush=True)
    state = api.wait_for_run(
        "nasa_ingest", run_id, timeout=1200,
        on_progress=Progress(started, lambda ti: task_failure(api, "nasa_ingest", run_id, ti)))
    registered = next((ti for ti in api.task_instances("nasa_ingest", run_id)
                       if ti["task_id"] == "close_downloads"), None)
    image_ids = list(api.get(f"/dags/nasa_ingest/dagRuns/{run_id}/taskInstances/close_downloads"
                             "/xcomEntries/return_value", deserialize="true",
                             stringify="false")["value"]["expected"]) \
        if registered is not None and registered["state"] == "success" else []
    summary(os.environ["NASAFLOW_DB_READER_URL"], image_ids, args.patch_size)
    print(f"\n[demo] run {state} in {time.monotonic() - started:.0f} s")
    if state != "success":
        for line in failure_lines(run_id, task_failures(api, "nasa_ingest", run_id)):
            print(line)
    print(login_hint(user))
    print(f"[demo] images and heat maps: {AIRFLOW_URL}/plugin/nasaflow")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
