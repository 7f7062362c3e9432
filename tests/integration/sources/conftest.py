"""Fixtures for the NASA client tests: a real replay server on a free 127.0.0.1 port.

The server runs in-process for the whole session; each test starts from a clean slate
(no armed faults, empty request log, fresh rate-limit budgets). Retry sleeps are recorded
instead of slept, so backoff is exercised over real HTTP without waiting for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from nasaflow.ingest.clients import SourceClients
from nasaflow.replay.server import ReplayServer
from nasaflow.settings import SAMPLES_DIR
from nasaflow.sources.helioviewer import HelioviewerClient
from nasaflow.sources.http import HttpClient, RetryPolicy, make_session

API_KEY = "replay-test-key"


class Sleeps(list[float]):
    """Every sleep the client asked for, in order."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Replay:
    """Test-side handle on the replay server: URL, control endpoint and request log."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.url = server.url

    def arm(self, route: str, fault: str, count: int = 1, match: str = "") -> None:
        """Arm a fault through the control endpoint, as a pipeline operator would."""
        response = requests.post(f"{self.url}/_replay/faults", timeout=5,
                                 json={"route": route, "fault": fault, "count": count,
                                       "match": match})
        assert response.status_code == 201, response.text

    def requests(self, path: str = "") -> list[dict[str, Any]]:
        """Requests served so far whose path starts with `path`."""
        response = requests.get(f"{self.url}/_replay/requests", params={"path": path},
                                timeout=5)
        return list(response.json()["requests"])

    def downloads(self) -> list[dict[str, Any]]:
        """Image byte downloads (getJP2Image without jpip, APOD images)."""
        jp2 = [r for r in self.requests("/v2/getJP2Image/") if "jpip" not in r["query"]]
        return jp2 + self.requests("/apod/image/") + self.requests("/jp2/")


@pytest.fixture(scope="session")
def replay_server() -> Iterator[ReplayServer]:
    server = ReplayServer("127.0.0.1", 0, samples_dir=SAMPLES_DIR, apod_keys=[API_KEY])
    with server:
        yield server


@pytest.fixture()
def replay(replay_server: ReplayServer) -> Replay:
    replay_server.state.reset()
    return Replay(replay_server)


@pytest.fixture()
def api_key() -> str:
    """The registered (non-DEMO) APOD key the replay server accepts."""
    return API_KEY


@pytest.fixture()
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture()
def policy(sleeps: Sleeps) -> RetryPolicy:
    """The contract's policy with recorded sleeps, no backoff jitter and the deferral's
    jitter at its upper bound."""
    return RetryPolicy(sleep=sleeps, jitter=lambda upper: upper, backoff_jitter=0.0)


@pytest.fixture()
def http(policy: RetryPolicy) -> HttpClient:
    return HttpClient(make_session("nasaflow-tests/1 (+integration)"), policy)


@pytest.fixture()
def helioviewer(replay: Replay, http: HttpClient) -> HelioviewerClient:
    return HelioviewerClient(replay.url, http)


@pytest.fixture()
def clients(replay: Replay, http: HttpClient, helioviewer: HelioviewerClient) -> SourceClients:
    return SourceClients(http, helioviewer, replay.url, API_KEY)
