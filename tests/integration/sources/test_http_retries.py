"""The shared HTTP client follows the contract's retry rules (§5.2) over real HTTP."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from nasaflow.sources.errors import (
    ApiKeyError,
    BadRequestError,
    NoImageError,
    NotFoundError,
    RetryLaterError,
    UnavailableError,
    UnexpectedBodyError,
)
from nasaflow.sources.helioviewer import source_for
from nasaflow.sources.http import HttpClient, RetryPolicy, make_session

STATUS = "/v2/getStatus/"
CLOSEST = "/v2/getClosestImage/"
WHEN = datetime(2022, 1, 1, 0, 4, tzinfo=UTC)


def test_503_is_retried_with_exponential_backoff_until_success(replay, http, sleeps) -> None:
    # urllib3's backoff: the first retry at once, then backoff_factor * 2**(n-1).
    replay.arm(STATUS, "503", count=3)
    response = http.get(replay.url + STATUS)
    assert response.status_code == 200
    assert len(replay.requests(STATUS)) == 4
    assert sleeps == [2.0, 4.0]


@pytest.mark.parametrize("status", ["408", "425", "500", "502", "504"])
def test_other_transient_statuses_are_retried(replay, http, sleeps, status: str) -> None:
    replay.arm(STATUS, status, count=1)
    assert http.get(replay.url + STATUS).status_code == 200
    assert len(replay.requests(STATUS)) == 2


def test_500_errno_10_is_not_retried(replay, helioviewer, sleeps) -> None:
    replay.arm(CLOSEST, "500;errno=10", count=1)
    with pytest.raises(NoImageError, match="Helioviewer error 10"):
        helioviewer.closest_image(WHEN, source_for("193"))
    assert len(replay.requests(CLOSEST)) == 1 and sleeps == []


@pytest.mark.parametrize("errno", ["1", "2", "255"])
def test_500_with_a_database_errno_is_retried(replay, helioviewer, errno: str) -> None:
    replay.arm(CLOSEST, f"500;errno={errno}", count=1)
    assert helioviewer.closest_image(WHEN, source_for("193")).name == "AIA 193"
    assert len(replay.requests(CLOSEST)) == 2


def test_legacy_errno_with_status_200_is_still_an_error(replay, helioviewer) -> None:
    replay.arm(CLOSEST, "200;errno=10", count=1)
    with pytest.raises(NoImageError):
        helioviewer.closest_image(WHEN, source_for("193"))


def test_at_most_five_attempts(replay, http, sleeps) -> None:
    replay.arm(STATUS, "503", count=-1)
    with pytest.raises(UnavailableError, match="after 5 attempt"):
        http.get(replay.url + STATUS)
    assert len(replay.requests(STATUS)) == 5
    assert sleeps == [2.0, 4.0, 8.0]


@pytest.mark.parametrize("status,error", [("400", BadRequestError), ("403", ApiKeyError),
                                          ("404", NotFoundError), ("409", BadRequestError)])
def test_other_client_errors_are_not_retried(replay, http, sleeps, status: str,
                                             error: type) -> None:
    replay.arm(STATUS, status, count=1)
    with pytest.raises(error):
        http.get(replay.url + STATUS)
    assert len(replay.requests(STATUS)) == 1 and sleeps == []


def test_429_retry_after_2_really_waits_two_seconds(replay) -> None:
    http = HttpClient(make_session("nasaflow-tests"), RetryPolicy())  # real sleep
    replay.arm(STATUS, "429;retry-after=2", count=1)
    started = time.monotonic()
    response = http.get(replay.url + STATUS)
    assert response.status_code == 200
    assert time.monotonic() - started >= 2.0


def test_429_retry_after_http_date_is_honoured(replay, http, sleeps) -> None:
    replay.arm(STATUS, "429;retry-after-date=30", count=1)
    http.get(replay.url + STATUS)
    assert len(sleeps) == 1 and 27 <= sleeps[0] <= 31


def test_429_without_retry_after_backs_off(replay, http, sleeps) -> None:
    replay.arm(STATUS, "429", count=2)
    http.get(replay.url + STATUS)
    assert sleeps == [2.0] and len(replay.requests(STATUS)) == 3


@pytest.mark.parametrize("fault", ["429;retry-after=57263", "429;retry-after-date=57263"])
def test_huge_retry_after_fails_fast_with_retry_at(replay, http, sleeps, fault: str) -> None:
    replay.arm(STATUS, fault, count=1)
    started = time.monotonic()
    with pytest.raises(RetryLaterError) as caught:
        http.get(replay.url + STATUS)
    assert time.monotonic() - started < 1.0
    expected = datetime.now(UTC) + timedelta(seconds=57263)
    assert abs((caught.value.retry_at - expected).total_seconds()) < 5
    assert sleeps == [] and len(replay.requests(STATUS)) == 1


def test_retry_after_cap_is_configurable(replay, policy) -> None:
    http = HttpClient(make_session("nasaflow-tests"), replace(policy, max_retry_after=1.0))
    replay.arm(STATUS, "503;retry-after=2", count=1)
    with pytest.raises(RetryLaterError, match="more than the 1 s"):
        http.get(replay.url + STATUS)


def test_dropped_connection_is_retried(replay, http, sleeps) -> None:
    replay.arm(STATUS, "drop", count=1)
    assert http.get(replay.url + STATUS).status_code == 200
    assert len(replay.requests(STATUS)) == 2 and sleeps == []  # the first retry at once


def test_html_on_200_is_retried_at_most_twice(replay, helioviewer) -> None:
    replay.arm(CLOSEST, "html", count=-1)
    with pytest.raises(UnexpectedBodyError, match="expected JSON .* got text/html"):
        helioviewer.closest_image(WHEN, source_for("193"))
    assert len(replay.requests(CLOSEST)) == 3


def test_rate_limit_page_defers_the_job_without_sleeping(replay, helioviewer, sleeps) -> None:
    # Helioviewer's limiter answers 200 with an HTML page: not a wrong body to retry in
    # a worker slot, but "retry later" for the whole job, a minute and some jitter ahead.
    replay.arm(CLOSEST, "ratelimit-html", count=1)
    with pytest.raises(RetryLaterError, match="rate limiter's page") as caught:
        helioviewer.closest_image(WHEN, source_for("193"))
    assert sleeps == [] and len(replay.requests(CLOSEST)) == 1
    ahead = (caught.value.retry_at - datetime.now(UTC)).total_seconds()
    assert 70 <= ahead <= 76  # 60 s + the jitter's upper bound (15 s) in these tests


def test_user_agent_identifies_the_pipeline(replay, http) -> None:
    http.get(replay.url + STATUS)
    assert replay.requests(STATUS)[0]["user_agent"] == "nasaflow-tests/1 (+integration)"


def test_the_sessions_adapter_retries_503_then_succeeds(replay, http, sleeps) -> None:
    # The policy is the library's, behind the session's adapter: a plain session call,
    # without the client's own loop, is retried and backed off already.
    replay.arm(STATUS, "503", count=2)
    assert http.session.get(replay.url + STATUS, timeout=5).status_code == 200
    assert len(replay.requests(STATUS)) == 3 and sleeps == [2.0]


@pytest.mark.parametrize("fault", ["503;retry-after=7", "429;retry-after=7"])
def test_the_sessions_adapter_honours_retry_after(replay, http, sleeps, fault: str) -> None:
    replay.arm(STATUS, fault, count=1)
    assert http.session.get(replay.url + STATUS, timeout=5).status_code == 200
    assert len(replay.requests(STATUS)) == 2 and sleeps == [7.0]
