"""Where a nasa_ingest run reads and writes: the platform's data or the test suite's copy.

A run's `target` param chooses. "platform" (the default, and every scheduled run) uses the
Airflow connections nasaflow_db (writer role) and nasaflow_db_reader (read-only role), the
topic named by nasaflow_kafka and the image store of the settings. "test" uses the twins
the test suite owns (`isolated_for_tests`): the connections nasaflow_db_test and
nasaflow_db_reader_test (database <name>_test), the topic <topic>_test and the store
<data_dir>_test, so the suite can run the DAG through the user's Airflow without touching
the user's data.

This is the one ingest module that reaches Airflow: tasks get their database connections
from Airflow's connection store through the Postgres provider's PostgresHook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import psycopg

from nasaflow.settings import TEST_SUFFIX, Settings, with_suffix

PLATFORM = "platform"
TEST = "test"
TARGETS = (PLATFORM, TEST)
#: Airflow connection ids of the data database, by role.
WRITER_CONN_ID = "nasaflow_db"
READER_CONN_ID = "nasaflow_db_reader"


def target_suffix(target: str) -> str:
    """What the target appends to connection ids, the topic and the image store."""
    if target not in TARGETS:
        raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {target!r}")
    return TEST_SUFFIX if target == TEST else ""


def run_is_for(target: str) -> Callable[[Mapping[str, Any]], bool]:
    """A task condition (`@task.run_if`): whether the task's run sends its data to
    `target`, read from the run's params."""
    target_suffix(target)  # an unknown target fails at parse time

    def condition(context: Mapping[str, Any]) -> bool:
        return bool(context["params"]["target"] == target)
    return condition


def writer_connection(target: str = PLATFORM) -> psycopg.Connection:
    """A connection to the target's data database as the writer role (ingest)."""
    return _connection(WRITER_CONN_ID + target_suffix(target))


def reader_connection(target: str = PLATFORM) -> psycopg.Connection:
    """A connection to the target's data database as the read-only role (checks)."""
    return _connection(READER_CONN_ID + target_suffix(target))


def _connection(conn_id: str) -> psycopg.Connection:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=conn_id).get_conn()  # type: ignore[return-value]


def run_settings(settings: Settings, target: str = PLATFORM) -> Settings:
    """`settings` with the NASA endpoints and credentials of the Airflow connections and
    the target's image store. The test target uses nasa_helioviewer_test and
    nasa_apod_test when the suite defines them (e.g. a replay server of its own serving
    the synthetic archive), else the platform's endpoints, which it only reads."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    def connection(conn_id: str) -> Connection:
        if target_suffix(target):
            try:
                return Connection.get(conn_id + target_suffix(target))
            except AirflowNotFoundException:
                pass
        return Connection.get(conn_id)

    helioviewer = connection("nasa_helioviewer")
    apod = connection("nasa_apod")
    return replace(
        settings,
        helioviewer_url=helioviewer.host or settings.helioviewer_url,
        apod_url=apod.host or settings.apod_url,
        apod_api_key=apod.password or "",
        data_dir=settings.data_dir + target_suffix(target),
        image_store=with_suffix(settings.image_store, target_suffix(target)),
    )
