"""Fixtures shared by every test layer, and the suite's isolation from the user's data.

Services are started by `make test` (make up) before pytest runs; these fixtures only
connect to them. The suite never uses the platform's data: before anything runs, the
NASAFLOW_* environment of this process (inherited by every process a test starts) is
switched to `isolated_for_tests`, i.e. the database <name>_test, the topic <topic>_test and
the folders <data_dir>_test and <checkpoint_dir>_test. At the start of a session that uses
them, the test database's schema is dropped and migrated anew and the test topic, image
store and checkpoints are emptied. Tests that go through Airflow (the user's platform) run
nasa_ingest with target=test, which makes the run use those same test copies.
tests/user_data_guard.py (loaded by `make test`) proves it: it fails the session if any of
the user's rows, image files, checkpoint files or topic offsets changed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from nasaflow.settings import TEST_SUFFIX, Settings, database_of, get_settings, isolated_for_tests

#: The environment the suite was started with (the user's platform's), before the switch
#: to the test copies: for commands that manage the platform itself (make up, make status),
#: which must never start it on the test copies.
PLATFORM_ENVIRON = dict(os.environ)
#: The user's settings, as loaded by ops/with-env.sh: read, never used for data.
PLATFORM_SETTINGS = Settings.from_env()
#: The suite's own copies; every test and every process a test starts uses these.
TEST_SETTINGS = isolated_for_tests(PLATFORM_SETTINGS)


def pytest_configure(config: pytest.Config) -> None:
    """Point this process and its children at the test copies before any test runs: the
    NASAFLOW_* settings, and the Airflow connections of the data database (so library code
    reaching them through PostgresHook in-process lands in the test database too)."""
    os.environ.update(TEST_SETTINGS.to_env())
    for conn_id in ("NASAFLOW_DB", "NASAFLOW_DB_READER"):
        test_twin = os.environ.get(f"AIRFLOW_CONN_{conn_id}{TEST_SUFFIX.upper()}")
        if test_twin:
            os.environ[f"AIRFLOW_CONN_{conn_id}"] = test_twin
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def platform_settings() -> Settings:
    """The user's platform settings: for reading service metadata (never data)."""
    return PLATFORM_SETTINGS

if TYPE_CHECKING:  # imported inside the fixtures, so collecting tests stays cheap
    import psycopg

    from nasaflow.operations.airflow_rest import AirflowRestClient


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The suite's settings (database, topic and folders with the _test suffix), on a
    test database migrated afresh and an empty test topic, image store and checkpoints."""
    reset_test_database(TEST_SETTINGS)
    reset_test_topic(TEST_SETTINGS)
    for folder in (TEST_SETTINGS.data_dir, TEST_SETTINGS.checkpoint_dir):
        assert folder.endswith(TEST_SUFFIX), folder
        shutil.rmtree(folder, ignore_errors=True)
    return TEST_SETTINGS


def reset_test_database(settings: Settings) -> None:
    """Drop everything in the test database and apply every migration, as the owner."""
    import psycopg

    from nasaflow.db.migrate import migrate_settings
    from nasaflow.db.partitions import forget_partitioning

    assert database_of(settings.db_owner_url).endswith(TEST_SUFFIX), "not a test database"
    with psycopg.connect(settings.db_owner_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        # pg_partman keeps its configuration of the dropped tables in its own schema.
        forget_partitioning(conn, "public")
        conn.execute("CREATE SCHEMA public")
    migrate_settings(settings)


def reset_test_topic(settings: Settings, partitions: int = 2) -> None:
    """Delete the test topic if it exists and create it empty."""
    from nasaflow.messaging.admin import recreate_topic

    assert settings.kafka_topic.endswith(TEST_SUFFIX), settings.kafka_topic
    recreate_topic(settings.kafka_bootstrap, settings.kafka_topic, partitions)


@pytest.fixture()
def db_conn(settings: Settings) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test database, as the writer role."""
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
    """The platform's stream_to_postgres unpaused with its task running, as the platform
    keeps it: for the tests that report on it (make status, the page's banner). It drains
    the user's topic into the user's tables only, as it always does."""
    airflow_api.ensure_running("stream_to_postgres", "stream")


@pytest.fixture(scope="session")
def test_stream(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The suite's own stream: spark_jobs/stream_to_postgres.py draining the test topic into
    the test database on a checkpoint under the test checkpoint folder, for the session.
    The platform's stream_to_postgres is left alone (it serves the user's data)."""
    from nasaflow.spark_launch import STREAM_APPLICATION, start_submitted, stop_submitted

    args = ["--topic", settings.kafka_topic, "--query-name", "e2e" + TEST_SUFFIX,
            "--checkpoint", os.path.join(settings.checkpoint_dir, "e2e"),
            "--trigger-seconds", "2"]
    process = start_submitted(STREAM_APPLICATION, settings, args,
                              tmp_path_factory.mktemp("stream") / "stream.log", with_jars=True)
    try:
        yield
    finally:
        stop_submitted(process)


@pytest.fixture(scope="session")
def ingest_dag(airflow_api: AirflowRestClient, test_stream: None) -> Iterator[str]:
    """nasa_ingest unpaused (manual and backfill runs only run on an unpaused DAG), paused
    again afterwards if it was paused; tests trigger it with TEST_CONF only."""
    airflow_api.wait_for_dag("nasa_ingest")
    was_paused = airflow_api.get("/dags/nasa_ingest")["is_paused"]
    airflow_api.set_paused("nasa_ingest", False)
    yield "nasa_ingest"
    if was_paused:
        airflow_api.set_paused("nasa_ingest", True)


#: The conf of every nasa_ingest run a test triggers: the run reads and writes the suite's
#: database, topic and image store (target "test"), never the platform's.
TEST_CONF = {"target": "test"}
