"""A source that cannot be reached at the first request is named at once, not retried for
minutes: a name under the reserved .invalid TLD never resolves (RFC 6761), and a bound
127.0.0.1 port that does not listen refuses. Real sockets, real resolver, no mocks."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from nasaflow.ingest.clients import SourceClients
from nasaflow.ingest.plan import plan_images
from nasaflow.replay.server import ReplayServer
from nasaflow.settings import SAMPLES_DIR
from nasaflow.sources.errors import UnavailableError, UnreachableSourceError
from nasaflow.sources.helioviewer import HelioviewerClient

UNRESOLVABLE = "http://helioviewer.nasaflow-test.invalid"
DAY = datetime(2022, 1, 1, tzinfo=UTC)
NEXT_DAY = datetime(2022, 1, 2, tzinfo=UTC)


@pytest.fixture()
def refusing_url() -> Iterator[str]:
    """A 127.0.0.1 port held bound but not listening: connections to it are refused, and no
    other process can take it while the test runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_an_unresolvable_host_fails_at_once_naming_it(http, sleeps) -> None:
    with pytest.raises(UnreachableSourceError, match="does not resolve") as raised:
        http.get(UNRESOLVABLE + "/v2/getDataSources/")
    assert raised.value.host == "helioviewer.nasaflow-test.invalid"
    assert "helioviewer.nasaflow-test.invalid is unreachable" in str(raised.value)
    assert sleeps == []


def test_a_refused_first_connection_fails_at_once_naming_the_host(http, sleeps,
                                                                  refusing_url: str) -> None:
    with pytest.raises(UnreachableSourceError, match="refuses connections") as raised:
        http.get(refusing_url + "/v2/getDataSources/")
    assert raised.value.host == refusing_url.removeprefix("http://")
    assert sleeps == []


def test_an_unreachable_source_stops_the_plan_at_its_first_request(http, sleeps) -> None:
    """What a run without internet meets: the plan names the host instead of retrying."""
    clients = SourceClients(http, HelioviewerClient(UNRESOLVABLE, http), UNRESOLVABLE, "key")
    with pytest.raises(UnreachableSourceError, match="helioviewer.nasaflow-test.invalid"):
        plan_images(DAY, NEXT_DAY, ["helioviewer"], ["193"], 360, clients=clients)
    assert sleeps == []


def test_a_source_that_answered_and_then_refuses_is_retried_as_a_restart(http, sleeps) -> None:
    """Once a host has answered, a refused connection is a restart in progress: retried
    with backoff like any transient failure, still an UnavailableError in the end."""
    server = ReplayServer("127.0.0.1", 0, samples_dir=SAMPLES_DIR)
    with server:
        url = server.url + "/v2/getStatus/"
        # Connection: close, so the stopped server leaves no kept-alive connection behind.
        assert http.get(url, headers={"Connection": "close"}).status_code == 200
    with pytest.raises(UnavailableError, match="after 5 attempt") as raised:
        http.get(url)
    assert not isinstance(raised.value, UnreachableSourceError)
    assert sleeps == [2.0, 4.0, 8.0]  # urllib3: the first retry at once
