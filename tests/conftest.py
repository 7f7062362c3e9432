"""Fixtures shared by every test layer.

Services are started by `make test` (make up) before pytest runs; these fixtures only
connect to them and give each test its own Kafka topic, so tests never read each other's
messages nor the platform's live stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from nasaflow.settings import Settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The platform's settings, from the environment loaded by ops/with-env.sh."""
    return Settings.from_env()


@pytest.fixture()
def db_conn(settings: Settings) -> Iterator["psycopg.Connection"]:  # noqa: F821
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


AIRFLOW_URL = "http://127.0.0.1:8080"


class AirflowApi:
    """A logged-in client of Airflow's REST API (v2) with the .env admin credentials."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        import requests

        self.base_url = base_url
        self.session = requests.Session()
        response = self.session.post(f"{base_url}/auth/token",
                                     json={"username": username, "password": password},
                                     timeout=30)
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: object) -> "requests.Response":  # noqa: F821
        return self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=30,
                                    **kwargs)  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object) -> dict:
        response = self.request("GET", path, **kwargs)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def airflow_api() -> AirflowApi:
    import os

    return AirflowApi(AIRFLOW_URL, os.environ["AIRFLOW_ADMIN_USER"],
                      os.environ["AIRFLOW_ADMIN_PASSWORD"])
