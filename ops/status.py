"""make status: every local service with its health, one line each; exit 1 if any is not.

Checks talk to the services themselves (a query, a metadata request, a health endpoint),
not just to their processes, so "healthy" means usable. The stream's line says whether it
runs or waits to restart (since when, next try), its last committed batch and its lag;
it is unhealthy when no driver streams or the oldest waiting message is older than
NASAFLOW_STREAM_MAX_LAG_SECONDS (nasaflow.operations.stream_status). A last "info" line
names the latest failed nasa_ingest run with its failing tasks and their reasons
(nasaflow.operations.run_failures); it is information and never changes the exit status,
which says whether the services and the stream are healthy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nasaflow.operations.airflow_rest import AirflowRestClient

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HEALTH = "http://127.0.0.1:8080/api/v2/monitor/health"
AIRFLOW_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
        return json.load(response)


def check_postgres() -> str:
    import psycopg

    with psycopg.connect(os.environ["NASAFLOW_DB_URL"], connect_timeout=3) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    missing = {"images", "image_parameters", "stream_batches", "dead_letters"} - tables
    if missing:
        raise RuntimeError(f"schema incomplete, missing {sorted(missing)}")
    airflow_url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg.connect(airflow_url, connect_timeout=3) as conn:
        conn.execute("SELECT 1")
    return "databases nasaflow (schema ok) and airflow reachable"


def check_kafka() -> str:
    from kafka.admin import KafkaAdminClient

    topic = os.environ.get("NASAFLOW_KAFKA_TOPIC", "image-parameters")
    admin = KafkaAdminClient(bootstrap_servers=os.environ.get("NASAFLOW_KAFKA_BOOTSTRAP",
                                                              "127.0.0.1:9092"),
                             request_timeout_ms=5000)
    try:
        described = admin.describe_topics([topic])[0]
    finally:
        admin.close()
    partitions = len(described["partitions"])
    if described.get("error_code") or partitions < 2:
        raise RuntimeError(f"topic {topic} has {partitions} partitions (need >= 2)")
    return f"broker 127.0.0.1:9092, topic {topic} with {partitions} partitions"


def check_airflow() -> str:
    health = _get_json(AIRFLOW_HEALTH)
    assert isinstance(health, dict)
    states = {name: (health.get(name) or {}).get("status") for name in AIRFLOW_COMPONENTS}
    bad = {name: state for name, state in states.items() if state != "healthy"}
    if bad:
        raise RuntimeError(f"unhealthy components: {bad}")
    return "api-server :8080, " + ", ".join(f"{n} healthy" for n in AIRFLOW_COMPONENTS)


def check_replay() -> str:
    port = os.environ.get("NASAFLOW_REPLAY_PORT", "8081")
    sources = _get_json(f"http://127.0.0.1:{port}/v2/getDataSources/")
    assert isinstance(sources, dict) and "SDO" in sources, "no SDO data sources"
    return f"http://127.0.0.1:{port} serving the bundled samples"


def check_supervised() -> str:
    result = subprocess.run(
        ["supervisorctl", "-c", str(ROOT / "ops" / "supervisord.conf"), "status"],
        capture_output=True, text=True, check=False)
    lines = [line.split()[:2] for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("supervisord is not running (make up)")
    expected_stopped = set() if os.environ.get("NASAFLOW_REPLAY_AUTOSTART") == "true" else {
        "replay-server"}
    bad = [f"{name} {state}" for name, state in lines
           if state != "RUNNING" and name not in expected_stopped]
    if bad:
        raise RuntimeError("; ".join(bad))
    return ", ".join(f"{name}" for name, _ in lines if name not in expected_stopped) + " running"


class Unhealthy(Exception):
    """A check's service answered, and the answer is bad (the message says how)."""


def airflow_reader() -> AirflowRestClient:
    """A REST session as the read-only user when setup created one: status changes nothing."""
    from nasaflow.operations.airflow_rest import AirflowRestClient
    from nasaflow.settings import get_settings

    role = "VIEWER" if os.environ.get("AIRFLOW_VIEWER_USER") else "ADMIN"
    return AirflowRestClient(get_settings().airflow_url, os.environ[f"AIRFLOW_{role}_USER"],
                             os.environ[f"AIRFLOW_{role}_PASSWORD"], timeout=10)


def check_stream(query: str, topic: str | None) -> str:
    from nasaflow.operations.stream_status import stream_status
    from nasaflow.settings import get_settings

    status = stream_status(get_settings(), airflow_reader(), query=query, topic=topic)
    if not status.healthy:
        raise Unhealthy(status.summary())
    return status.summary()


def latest_ingest_failure() -> str:
    """The latest failed nasa_ingest run on the platform's data, with its reasons."""
    from nasaflow.operations.run_failures import latest_failed_run

    failed = latest_failed_run(airflow_reader())
    return "no failed nasa_ingest run" if failed is None else (
        "latest failed nasa_ingest " + failed.summary())


def main() -> int:
    from nasaflow.spark_launch import STREAM_QUERY_NAME

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airflow-only", action="store_true", help="check Airflow alone")
    parser.add_argument("--stream-query", default=STREAM_QUERY_NAME,
                        help="the stream's query name (default %(default)s)")
    parser.add_argument("--stream-topic", help="the topic it reads (default: the platform's)")
    args = parser.parse_args()
    checks: dict[str, Callable[[], str]] = {"airflow": check_airflow}
    if not args.airflow_only:
        checks = {"postgresql": check_postgres, "kafka": check_kafka,
                  "processes": check_supervised, **checks}
        if os.environ.get("NASAFLOW_REPLAY_AUTOSTART") == "true":
            checks["replay-server"] = check_replay
        checks["stream"] = partial(check_stream, args.stream_query, args.stream_topic)
    healthy = True
    for name, check in checks.items():
        try:
            detail, ok = check(), True
        except Exception as error:  # every failure is reported, none stops the report
            detail, ok = str(error) if isinstance(error, Unhealthy) else (
                f"{type(error).__name__}: {error}"), False
        healthy &= ok
        if not args.airflow_only or not ok:
            print(f"{name:14} {'healthy' if ok else 'UNHEALTHY':10} {detail}")
    if not args.airflow_only:
        try:
            info = latest_ingest_failure()
        except Exception as error:  # information only: an unanswered question, not a failure
            info = f"latest failed run unknown ({type(error).__name__}: {error})"
        print(f"{'ingest':14} {'info':10} {info}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
