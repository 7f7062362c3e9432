"""The nasaflow page opens with the stream's status, as `make status` reports it."""

from __future__ import annotations

import os
import re

import pytest
import requests

from nasaflow.operations.airflow_rest import AirflowRestClient

from tests.conftest import AIRFLOW_URL

pytestmark = pytest.mark.services


def test_page_shows_the_stream_state_last_batch_and_lag_at_its_top(
        airflow_api: AirflowRestClient, stream_running: None) -> None:
    page = requests.get(f"{AIRFLOW_URL}/nasaflow/", timeout=60,
                        headers={"Authorization": f"Bearer {airflow_api.token}"})
    assert page.status_code == 200
    html = page.text
    banner = re.search(r'<section class="card stream-status (healthy|unhealthy)" '
                       r'id="stream-status"\s+data-state="(\w+)">(.*?)</section>', html, re.S)
    assert banner, html[:2000]
    assert banner.start() < html.index('id="stream"') < html.index('id="images"')
    assert banner.group(2) in {"running", "starting", "retrying", "paused", "down"}
    text = " ".join(banner.group(3).split())
    assert f"stream {banner.group(2)}" in text
    assert re.search(r"(last batch \d+ committed at|no batch committed yet)", text), text
    assert re.search(r"lag [\d,]+ messages, \d+ s", text), text


def test_page_asks_airflow_with_the_callers_own_login(stream_running: None) -> None:
    """The viewer (or admin when setup made no viewer) sees the state Airflow gave it."""
    role = "VIEWER" if os.environ.get("AIRFLOW_VIEWER_USER") else "ADMIN"
    client = AirflowRestClient(AIRFLOW_URL, os.environ[f"AIRFLOW_{role}_USER"],
                               os.environ[f"AIRFLOW_{role}_PASSWORD"])
    html = requests.get(f"{AIRFLOW_URL}/nasaflow/", timeout=60,
                        headers={"Authorization": f"Bearer {client.token}"}).text
    assert 'id="stream-status"' in html
    assert "error: Airflow" not in html
