"""One HTTP client for every NASA source, with the retry rules of the API contract (§5).

The generic rules (retry connection errors and 408/425/429/5xx, exponential backoff with
jitter, honour Retry-After) are urllib3's `Retry` behind the session's requests adapter.
This module keeps only what is specific to these services: a Retry-After beyond our cap
and a rate limit that persists defer the job (RetryLaterError) instead of sleeping in a
worker slot; Helioviewer's limiter page (HTML on 200) is such a rate limit, not a wrong
body; a 5xx with a JSON body is the service's own answer, read by the client (errno,
APOD's scraper failure); wrong bodies on 200 are retried a couple of times; a host that
never answered fails at once. Sleep, jitter and clock are injectable, so tests run real
HTTP without waiting for real backoff.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import requests
from urllib3 import BaseHTTPResponse
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, NewConnectionError, ResponseError
from urllib3.util.retry import RequestHistory, Retry

from nasaflow.sources.answers import (
    MISSING_FILE_ERRNOS,
    RETRYABLE_ERRNOS,
    client_error,
    describe_body,
    helioviewer_errno,
    json_or_none,
)
from nasaflow.sources.errors import (
    MissingFileError,
    RetryLaterError,
    SourceError,
    UnavailableError,
    UnexpectedBodyError,
    UnreachableSourceError,
)

log = logging.getLogger(__name__)

#: (connect, read) timeouts in seconds, per kind of request (§5.1).
JSON_TIMEOUT = (10.0, 30.0)
DOWNLOAD_TIMEOUT = (10.0, 30.0)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: urllib3 caps Retry-After at 6 h by default; we compare the real value with our own cap.
_RETRY_AFTER_UNCAPPED = 10 * 365 * 86400

def _full_jitter(upper: float) -> float:
    return random.uniform(0.0, upper)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry (§5.2), as urllib3's Retry counts it.

    At most `max_attempts` per request. Retry n (1-based) waits Retry-After if the server
    sent one, else urllib3's backoff: none before the first retry, then
    `min(backoff_max, backoff_factor * 2**(n-1) + uniform(0, backoff_jitter))`.
    A Retry-After above `max_retry_after` seconds is not slept: RetryLaterError is raised.
    """

    max_attempts: int = 5
    backoff_factor: float = 1.0
    backoff_max: float = 60.0
    backoff_jitter: float = 1.0
    max_retry_after: float = 300.0
    #: Wrong bodies on a success status are retried at most this many times.
    max_body_retries: int = 2
    #: How long a job defers (RetryLaterError) after Helioviewer's "Limit of N requests per
    #: 60 seconds" page or a 429 that persists without Retry-After.
    rate_limit_pause: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    #: Jitter of the deferral: a random share of its argument.
    jitter: Callable[[float], float] = _full_jitter
    now: Callable[[], datetime] = _utcnow

    def deferred(self, reason: str, url: str, status: int | None) -> RetryLaterError:
        """"Retry later" after a rate limit that named no time: the pause plus up to a
        quarter of it of jitter, so deferred jobs do not all come back at once."""
        pause = self.rate_limit_pause + self.jitter(self.rate_limit_pause / 4)
        return RetryLaterError(reason, retry_at=self.now() + timedelta(seconds=pause),
                               url=url, status=status)


def origin(scheme: str, host: str | None, port: int | None) -> str:
    """host:port with the scheme's default port filled in: one key per server."""
    return f"{host}:{port or (443 if scheme == 'https' else 80)}"


class SourceRetry(Retry):
    """urllib3's Retry with the policy's sleep and the rules it has no setting for: a
    response the client must read itself is handed back unretried (a Retry-After beyond
    the cap, a 5xx whose JSON body is the service's own error), and a connection that
    cannot be opened to a host that never answered is not retried (UnreachableSourceError).
    """

    policy: RetryPolicy
    #: origin() of every host that has answered this client.
    reached: set[str]

    @classmethod
    def of(cls, policy: RetryPolicy, reached: set[str]) -> SourceRetry:
        retry = cls(total=policy.max_attempts - 1, status_forcelist=RETRYABLE_STATUS,
                    backoff_factor=policy.backoff_factor,
                    backoff_max=policy.backoff_max, backoff_jitter=policy.backoff_jitter,
                    raise_on_status=False, retry_after_max=_RETRY_AFTER_UNCAPPED)
        retry.policy, retry.reached = policy, reached
        return retry

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.policy, retry.reached = self.policy, self.reached
        return retry

    def retry_after(self, response: BaseHTTPResponse) -> float | None:
        """Retry-After in seconds (delta-seconds or HTTP-date); None if absent or bad."""
        try:
            return self.get_retry_after(response)
        except InvalidHeader:
            log.warning("ignoring unparsable Retry-After %r", response.headers["Retry-After"])
            return None

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait = (self.retry_after(response) if response is not None else None) \
            or self.get_backoff_time()
        if wait > 0:
            self.policy.sleep(wait)

    def increment(self, method: str | None = None, url: str | None = None,
                  response: BaseHTTPResponse | None = None, error: Exception | None = None,
                  _pool: ConnectionPool | None = None,
                  _stacktrace: TracebackType | None = None) -> Self:
        if _pool is None:  # the client's own retries (HttpClient.get)
            return super().increment(method, url, response, error, _pool, _stacktrace)
        if response is not None and (
                (self.retry_after(response) or 0) > self.policy.max_retry_after
                or (response.status >= 500
                    and "json" in response.headers.get("Content-Type", ""))):
            # Raised from here, urllib3 returns the response as it is (raise_on_status off).
            raise MaxRetryError(_pool, url or "", ResponseError("handed to the client"))
        if isinstance(error, NewConnectionError) and unreachable_reason(error) and \
                origin(_pool.scheme or "http", _pool.host, _pool.port) not in self.reached:
            raise MaxRetryError(_pool, url or "", error) from error
        return super().increment(method, url, response, error, _pool, _stacktrace)


def make_session(user_agent: str) -> requests.Session:
    """A session that identifies the pipeline (HttpClient mounts its retrying adapter)."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    return session


def unreachable_reason(exc: BaseException) -> str | None:
    """Why a connection failed before any byte was exchanged, if the host is unreachable:
    its name does not resolve, or it refuses the connection. None for other failures
    (timeouts, cut connections), which are retried. requests and urllib3 wrap the socket
    error a few levels deep, so the exception chain is walked."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return f"its name does not resolve ({current.strerror or current})"
        if isinstance(current, ConnectionRefusedError):
            return "it refuses connections"
        current = current.__cause__ or current.__context__
    return None


def _retried(response: requests.Response) -> tuple[RequestHistory, ...]:
    """The attempts urllib3 retried before this response (none for a first answer)."""
    return getattr(getattr(response.raw, "retries", None), "history", ())


@dataclass
class HttpClient:
    """GET with the contract's retry rules; one instance per job (and thread).

    `check` validates a success response (and may consume a streamed body); it raises
    UnexpectedBodyError to have the request retried. A host that is unreachable at the
    first request to it fails at once (UnreachableSourceError); once it has answered, its
    connection errors are retried like any transient failure.
    """

    session: requests.Session
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    #: origin() of the hosts that have answered at least once.
    reached: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._retry = SourceRetry.of(self.policy, self.reached)
        adapter = requests.adapters.HTTPAdapter(max_retries=self._retry, pool_connections=4,
                                                pool_maxsize=4)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = JSON_TIMEOUT,
        stream: bool = False,
        check: Callable[[requests.Response], None] | None = None,
        observe: Callable[[requests.Response, list[int]], None] | None = None,
        final: Callable[[requests.Response], bool] | None = None,
    ) -> requests.Response:
        """The first acceptable response; raises a SourceError subclass otherwise.

        `observe` sees every response, errors included (e.g. to read rate-limit headers),
        with the statuses of the answers the adapter retried before it. A response `final`
        accepts is the service's answer to this request, returned unchecked and never
        retried, whatever its status (APOD's own 500 is its scraper failing on one date's
        page: retrying it only spends the gateway's budget).
        """
        attempts: Retry = self._retry  # the client's own retries of what the adapter returned
        body_retries = 0
        while True:
            try:
                response = self.session.get(url, params=params, headers=headers,
                                            timeout=timeout, stream=stream)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise self._connection_failure(url, exc) from exc
            parts = urlsplit(response.url)
            self.reached.add(origin(parts.scheme, parts.hostname, parts.port))
            if observe is not None:
                observe(response, [entry.status for entry in _retried(response)
                                   if entry.status is not None])
            try:
                if final is not None and final(response):
                    return response
                failure = self._assess(response, check)
            except UnexpectedBodyError as exc:
                response.close()
                if exc.rate_limited:
                    # The limiter's page: the whole job waits (the DAG reschedules it),
                    # neither this request in a worker slot nor as a bad body.
                    raise self.policy.deferred(f"{url} answered the rate limiter's page",
                                               url, exc.status) from exc
                if not exc.transient:
                    body_retries += 1
                    if body_retries > self.policy.max_body_retries:
                        raise
                failure = exc
            except SourceError:
                response.close()
                raise
            if failure is None:
                return response
            response.close()
            try:
                attempts = attempts.increment("GET", url, error=failure)
            except MaxRetryError:
                if isinstance(failure, MissingFileError) or (
                        isinstance(failure, UnexpectedBodyError) and not failure.transient):
                    raise failure from None
                raise UnavailableError(f"gave up on {url} after {len(attempts.history) + 1} "
                                       f"attempt(s); last failure: {failure}", url=url,
                                       status=failure.status) from failure
            log.warning("retrying %s (attempt %d): %s", url, len(attempts.history) + 1, failure)
            attempts.sleep()

    def _assess(self, response: requests.Response,
                check: Callable[[requests.Response], None] | None) -> SourceError | None:
        """None for a good response; the failure of one the client retries itself (a JSON
        5xx worth retrying, raised by `check` as a wrong body); raises what is final."""
        status, url = response.status_code, response.url
        if status in RETRYABLE_STATUS:
            wait = self._retry.retry_after(response.raw)
            if wait is not None and wait > self.policy.max_retry_after:
                raise RetryLaterError(
                    f"HTTP {status} from {url} asks to wait {wait:.0f} s, more than the "
                    f"{self.policy.max_retry_after:.0f} s we sleep",
                    retry_at=self.policy.now() + timedelta(seconds=wait), url=url,
                    status=status)
            payload = json_or_none(response)
            errno = helioviewer_errno(payload)
            if errno in MISSING_FILE_ERRNOS:
                return client_error(response)
            if errno is not None and errno not in RETRYABLE_ERRNOS:
                raise client_error(response)
            failure = UnavailableError(f"HTTP {status} from {url}: {describe_body(response)}",
                                       url=url, status=status)
            if status >= 500 and payload is not None:
                return failure  # the service's own error, never retried by the adapter
            attempts = len(_retried(response)) + 1
            if status == 429:
                # Still rate limited without saying for how long: not a failure of the
                # source, so the job defers (the DAG reschedules it) instead of giving up.
                raise self.policy.deferred(f"{url} still answers 429 after {attempts} "
                                           "attempt(s)", url, 429)
            raise UnavailableError(f"gave up on {url} after {attempts} attempt(s); last "
                                   f"failure: {failure}", url=url, status=status)
        if status >= 300:
            raise client_error(response)
        if check is not None:
            check(response)
        return None

    def _connection_failure(self, url: str, exc: BaseException) -> UnavailableError:
        """UnreachableSourceError if `url`'s host never answered and cannot be reached,
        else the UnavailableError of a connection that failed beyond its retries."""
        parts = urlsplit(url)
        reason = unreachable_reason(exc)
        if reason is not None and origin(parts.scheme, parts.hostname,
                                         parts.port) not in self.reached:
            return UnreachableSourceError(
                f"source {parts.netloc} is unreachable: {reason}; check the network and the "
                f"source's URL setting (GET {url})", host=parts.netloc, url=url)
        return UnavailableError(
            f"gave up on {url} after {self.policy.max_attempts} attempt(s); expected a "
            f"response, got {type(exc).__name__}: {exc}", url=url)
