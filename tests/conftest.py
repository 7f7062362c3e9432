"""Fixtures shared by every test layer.

Services are started by `make test` (make up) before pytest runs; these fixtures only
connect to them and give each test its own Kafka topic, so tests never read each other's
messages nor the platform's live stream.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from nasaflow.settings import Settings

if TYPE_CHECKING:  # imported inside the fixtures, so collecting tests stays cheap
    import psycopg

    from nasaflow.operations.airflow_rest import AirflowRestClient


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The platform's settings, from the environment loaded by ops/with-env.sh."""
    return Settings.from_env()


@pytest.fixture()
def db_conn(settings: Settings) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the data database."""
    import psycopg

    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture()
def fresh_topic(settings: Settings) -> Callable[..., str]:
    """Creates a uniquely named topic (2 partitions by default) and returns its name."""
    from nasaflow.messaging.admin import ensure_topic

    def create(partitions: int = 2, prefix: str = "test") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        ensure_topic(settings.kafka_bootstrap, name, partitions)
        return name

    return create


#: The platform's api-server; NASAFLOW_AIRFLOW_URL points the suite at another instance.
AIRFLOW_URL = os.environ.get("NASAFLOW_AIRFLOW_URL", "http://127.0.0.1:8080")


@pytest.fixture(scope="session")
def airflow_api() -> AirflowRestClient:
    """A REST client logged in with the .env admin credentials."""
    import os

    from nasaflow.operations.airflow_rest import AirflowRestClient

    client = AirflowRestClient(AIRFLOW_URL, os.environ["AIRFLOW_ADMIN_USER"],
                               os.environ["AIRFLOW_ADMIN_PASSWORD"])
    # Earlier tests stop PostgreSQL on purpose; Airflow's components restart after it.
    client.wait_until_healthy()
    return client


@pytest.fixture(scope="session")
def stream_running(airflow_api: AirflowRestClient) -> None:
    """stream_to_postgres unpaused, with its spark-submit task running (restarted if it
    waits out a retry delay: earlier tests stop PostgreSQL on purpose)."""
    airflow_api.ensure_running("stream_to_postgres", "stream")


@pytest.fixture(scope="session")
def ingest_dag(airflow_api: AirflowRestClient, stream_running: None) -> str:
    """nasa_ingest unpaused (manual and backfill runs only run on an unpaused DAG)."""
    airflow_api.wait_for_dag("nasa_ingest")
    airflow_api.set_paused("nasa_ingest", False)
    return "nasa_ingest"
