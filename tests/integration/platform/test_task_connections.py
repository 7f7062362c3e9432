"""Tasks reach the data database through Airflow connections and the Postgres provider's
PostgresHook: the writer for registering, the reader for checks, and the test database
when a run's target is "test"."""

from __future__ import annotations

import pytest

from nasaflow.ingest.targets import (
    PLATFORM,
    TEST,
    reader_connection,
    target_suffix,
    writer_connection,
)
from nasaflow.settings import Settings, database_of, url_user

pytestmark = pytest.mark.services


def test_the_test_target_reaches_the_test_database_as_writer_and_reader(
        settings: Settings) -> None:
    with writer_connection(TEST) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            url_user(settings.db_url), database_of(settings.db_url))
    with reader_connection(TEST) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            url_user(settings.db_reader_url), database_of(settings.db_reader_url))


def test_inside_the_suite_even_the_platform_target_reaches_the_test_database(
        settings: Settings) -> None:
    with writer_connection(PLATFORM) as conn:
        assert (conn.execute("SELECT current_database()").fetchone() or ("",))[0] == database_of(
            settings.db_url)


def test_an_unknown_target_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="platform, test.*'staging'"):
        target_suffix("staging")
