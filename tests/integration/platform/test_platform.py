"""The local platform started by `make up`: every service reachable and usable."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable

import psycopg
import pytest
import requests

from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.settings import PROJECT_ROOT, Settings

from tests.conftest import AIRFLOW_URL, PLATFORM_ENVIRON

pytestmark = pytest.mark.services

TABLE_KEYS = {
    "images": ["id"],
    # image_parameters is a view over image_cells (migration 007), keyed by image key.
    "image_cells": ["image_key", "patch_size", "cell_row", "cell_col", "observed_on"],
    "stream_batches": ["query", "checkpoint_id", "batch_id"],
    "dead_letters": ["topic", "kafka_partition", "kafka_offset"],
}


@pytest.mark.parametrize("table", sorted(TABLE_KEYS))
def test_data_schema_table_has_its_idempotency_key(db_conn: psycopg.Connection,
                                                   table: str) -> None:
    rows = db_conn.execute(
        """SELECT a.attname FROM pg_index i
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
           WHERE i.indrelid = %s::regclass AND i.indisprimary
           ORDER BY array_position(i.indkey, a.attnum)""", (table,)).fetchall()
    assert [row[0] for row in rows] == TABLE_KEYS[table]


def test_image_parameters_has_one_double_column_per_parameter(
        db_conn: psycopg.Connection) -> None:
    columns: dict[str, str] = dict(db_conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = 'image_parameters'").fetchall())
    for name in ("entropy", "mean", "std", "fractal_dimension", "skewness", "kurtosis",
                 "uniformity", "relative_smoothness", "tamura_contrast",
                 "tamura_directionality"):
        assert columns[name] == "double precision", name


def test_kafka_produce_consume_round_trip(settings: Settings,
                                         fresh_topic: Callable[..., str]) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = fresh_topic()
    payloads = {f"key-{i}".encode(): uuid.uuid4().bytes for i in range(10)}
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for key, value in payloads.items():
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=10_000)
    received = {record.key: record.value for record in consumer}
    consumer.close()
    assert received == payloads


def test_platform_topic_has_at_least_two_partitions(platform_settings: Settings) -> None:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=platform_settings.kafka_bootstrap)
    partitions = consumer.partitions_for_topic(platform_settings.kafka_topic)
    consumer.close()
    assert partitions is not None and len(partitions) >= 2


def test_airflow_components_are_healthy() -> None:
    health = requests.get(f"{AIRFLOW_URL}/api/v2/monitor/health", timeout=10).json()
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", component


def test_rest_login_with_env_credentials_reaches_the_api(airflow_api: AirflowRestClient) -> None:
    assert "dags" in airflow_api.get("/dags")


def test_wrong_password_and_anonymous_requests_are_refused() -> None:
    bad = requests.post(f"{AIRFLOW_URL}/auth/token",
                        json={"username": os.environ["AIRFLOW_ADMIN_USER"],
                              "password": "not-the-password"}, timeout=10)
    assert bad.status_code in (401, 403)
    anonymous = requests.get(f"{AIRFLOW_URL}/api/v2/dags", timeout=10)
    assert anonymous.status_code == 401


def test_airflow_uses_the_generated_jwt_secret_not_a_default() -> None:
    secret = os.environ["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert len(secret) >= 32
    assert secret not in (PROJECT_ROOT / "airflow.cfg").read_text()


def test_make_status_reports_every_service_healthy(stream_running: None) -> None:
    """Every service, the stream included (running, its last batch, its lag); a stream
    (re)started a moment ago may need a few minutes until a driver streams."""
    deadline = time.monotonic() + 600
    while True:
        result = subprocess.run(["make", "-s", "status"], cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=120, check=False, env=PLATFORM_ENVIRON)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(10)
    assert result.returncode == 0, result.stdout + result.stderr
    # Health lines, then the "ingest info" line (information: never a health verdict).
    *lines, info = [line for line in result.stdout.splitlines() if line.strip()]
    assert info.split()[:2] == ["ingest", "info"], result.stdout
    names = {line.split()[0] for line in lines}
    assert {"postgresql", "kafka", "processes", "airflow", "stream"} <= names
    assert all(line.split()[1] == "healthy" for line in lines), result.stdout
    stream = next(line for line in lines if line.startswith("stream "))
    print(stream)
    assert re.fullmatch(
        r"stream\s+healthy\s+running since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC( \(try \d+\))?; "
        r"(last batch \d+ committed at [^;]+ \([\d,]+ rows\)|no batch committed yet); "
        r"lag [\d,]+ messages, \d+ s", stream), stream


def test_postgres_runs_with_the_shipped_server_settings(db_conn: psycopg.Connection) -> None:
    """make up installs ops/postgres/nasaflow.conf; the server runs with each of its values
    (a value waiting for a restart is named)."""
    shipped = dict(re.findall(r"^(\w+) = (\S+)$",
                              (PROJECT_ROOT / "ops" / "postgres" / "nasaflow.conf").read_text(),
                              re.MULTILINE))
    assert {"shared_buffers", "max_wal_size"} <= shipped.keys(), shipped
    for name, value in shipped.items():
        row = db_conn.execute("SELECT current_setting(%s), pending_restart FROM pg_settings"
                              " WHERE name = %s", (name, name)).fetchone()
        assert row is not None, name
        assert row == (value, False), (name, value, row)
