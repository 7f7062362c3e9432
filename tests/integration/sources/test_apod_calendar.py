"""APOD on a controlled clock: US Eastern dates and DEMO_KEY's daily budget (50 a day per
IP, shown by no header), through the replay gateway and the client across runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from nasaflow.ingest import plan_images
from nasaflow.ingest.clients import SourceClients
from nasaflow.replay.server import ReplayServer
from nasaflow.settings import SAMPLES_DIR
from nasaflow.sources.apod import ApodClient, DailyLedger
from nasaflow.sources.errors import RetryLaterError
from nasaflow.sources.helioviewer import HelioviewerClient
from nasaflow.sources.http import HttpClient, RetryPolicy, make_session

APOD = "/planetary/apod"
KEY = "calendar-test-key"
#: 03:00 UTC on 2024-02-11 is 22:00 on 2024-02-10 in New York.
BEFORE_EASTERN_MIDNIGHT = datetime(2024, 2, 11, 3, 0, tzinfo=UTC)


class Clock:
    """The time the replay server and the client both read; tests move it."""

    def __init__(self) -> None:
        self.at = BEFORE_EASTERN_MIDNIGHT

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture(scope="module")
def module_clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def server(module_clock: Clock) -> Iterator[ReplayServer]:
    with ReplayServer("127.0.0.1", 0, samples_dir=SAMPLES_DIR, apod_keys=[KEY],
                      now=module_clock) as running:
        yield running


@pytest.fixture()
def clock(server: ReplayServer, module_clock: Clock) -> Clock:
    """The clock at BEFORE_EASTERN_MIDNIGHT, with fresh budgets and request log."""
    server.state.reset()
    module_clock.at = BEFORE_EASTERN_MIDNIGHT
    return module_clock


def _http(clock: Clock) -> HttpClient:
    policy = RetryPolicy(sleep=lambda _seconds: None, jitter=lambda upper: upper, now=clock)
    return HttpClient(make_session("nasaflow-tests/1 (+calendar)"), policy)


def _served(server: ReplayServer) -> list[dict]:
    return server.state.requests.entries(APOD)


def _ask(server: ReplayServer, key: str, **params: str) -> requests.Response:
    return requests.get(f"{server.url}{APOD}", params=params, headers={"X-Api-Key": key},
                        timeout=10)


# -- the replay speaks like api.nasa.gov --------------------------------------------------

def test_replay_today_is_the_us_eastern_date(server: ReplayServer, clock: Clock) -> None:
    utc_today = _ask(server, KEY, date="2024-02-11")
    assert utc_today.status_code == 400
    assert utc_today.json()["msg"] == "Date must be between Jun 16, 1995 and Feb 10, 2024."
    assert _ask(server, KEY, date="2024-02-10").status_code == 200


def test_replay_demo_key_daily_budget_refuses_the_51st_while_headers_show_the_hour(
        server: ReplayServer, clock: Clock) -> None:
    first = clock()
    answers = [_ask(server, "DEMO_KEY", date="2024-02-05") for _ in range(30)]
    clock.advance(hours=1, seconds=1)
    answers += [_ask(server, "DEMO_KEY", date="2024-02-05") for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 50
    refused = _ask(server, "DEMO_KEY", date="2024-02-05")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "OVER_RATE_LIMIT"
    assert refused.headers["X-RateLimit-Limit"] == "30"
    assert refused.headers["X-RateLimit-Remaining"] == "9"
    assert int(refused.headers["Retry-After"]) == int(
        (first + timedelta(days=1) - clock()).total_seconds()) + 1
    # A refused request is not counted: the next one is refused with the same figures.
    again = _ask(server, "DEMO_KEY", date="2024-02-05")
    assert (again.status_code, again.headers["X-RateLimit-Remaining"]) == (429, "9")


# -- the client and the plan ---------------------------------------------------------------

def test_run_for_the_utc_day_before_eastern_midnight_plans_it_as_not_published(
        server: ReplayServer, clock: Clock) -> None:
    http = _http(clock)
    clients = SourceClients(http, HelioviewerClient(server.url, http), server.url, KEY)
    plan = plan_images(datetime(2024, 2, 10, tzinfo=UTC), datetime(2024, 2, 12, tzinfo=UTC),
                       ["apod"], [], 60, clients=clients, now=clock)
    assert [(p.status, p.id) for p in plan] == [("download", "apod_2024-02-10"),
                                                ("skipped", None)]
    assert "not published yet: APOD dates are US Eastern, where it is still 2024-02-10" \
        in (plan[1].reason or "")
    assert [r["query"] for r in _served(server)] == ["date=2024-02-10"]


def test_demo_key_daily_budget_is_counted_across_runs_and_refused_with_a_clear_message(
        server: ReplayServer, clock: Clock, tmp_path) -> None:
    ledger = tmp_path / "state" / "apod-demo-key.json"
    first = clock()
    run = ApodClient(server.url, "DEMO_KEY", _http(clock), reserve_fraction=0.0, ledger=ledger)
    for _ in range(25):
        run.entry(date(2024, 2, 5))
    clock.advance(hours=1, seconds=1)
    # A new run is a new process: only the ledger remembers the first run's requests.
    run = ApodClient(server.url, "DEMO_KEY", _http(clock), reserve_fraction=0.0, ledger=ledger)
    for _ in range(25):
        run.entry(date(2024, 2, 5))
    with pytest.raises(RetryLaterError, match="DEMO_KEY's daily budget is spent") as caught:
        run.entry(date(2024, 2, 5))
    assert "NASAFLOW_APOD_API_KEY" in str(caught.value)
    assert caught.value.retry_at == first + timedelta(days=1)
    assert [r["status"] for r in _served(server)] == [200] * 50


def test_daily_budget_frees_one_request_a_day_after_each(server: ReplayServer, clock: Clock,
                                                         tmp_path) -> None:
    ledger = DailyLedger.path_for(tmp_path, server.url)
    client = ApodClient(server.url, "DEMO_KEY", _http(clock), ledger=ledger)
    for _ in range(24):
        client.entry(date(2024, 2, 5))
    clock.advance(hours=1, seconds=1)
    for _ in range(24):
        client.entry(date(2024, 2, 5))
    with pytest.raises(RetryLaterError, match=r"48 were sent in the last 24 hours \(reserve 2\)"):
        client.entry(date(2024, 2, 5))
    clock.advance(hours=23)
    client.entry(date(2024, 2, 5))
    assert len(_served(server)) == 49 and ledger.is_file()


def test_gateway_refusing_demo_key_with_hourly_budget_left_names_the_daily_limit(
        server: ReplayServer, clock: Clock, tmp_path) -> None:
    # Others behind this address spent the day's 50 (this machine's ledger knows nothing).
    for _ in range(30):
        _ask(server, "DEMO_KEY", date="2024-02-05")
    clock.advance(hours=1, seconds=1)
    for _ in range(20):
        _ask(server, "DEMO_KEY", date="2024-02-05")
    client = ApodClient(server.url, "DEMO_KEY", _http(clock), ledger=tmp_path / "ledger.json")
    with pytest.raises(RetryLaterError, match="DEMO_KEY's daily budget of 50 requests per IP "
                                              "is spent") as caught:
        client.entry(date(2024, 2, 5))
    assert caught.value.retry_at > clock() + timedelta(hours=22)
