"""Fixtures of the page tests: a login the running api-server issued."""

from __future__ import annotations

import os

import pytest
import requests

from tests.conftest import AIRFLOW_URL


@pytest.fixture(scope="module")
def access_token() -> str:
    """A token of the .env admin, issued by the running api-server."""
    response = requests.post(f"{AIRFLOW_URL}/auth/token", timeout=30, json={
        "username": os.environ["AIRFLOW_ADMIN_USER"],
        "password": os.environ["AIRFLOW_ADMIN_PASSWORD"]})
    response.raise_for_status()
    return response.json()["access_token"]


@pytest.fixture(scope="module")
def web(access_token: str) -> requests.Session:
    """A session that sends the admin's token with every request."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {access_token}"
    return session
