"""One HTTP client for every NASA source, with the retry rules of the API contract (§5).

The services fail in many ways (5xx for days, 429 with hour-long Retry-After, errors sent
with status 200, connections cut mid-body), so retry decisions live in one place instead
of being re-invented per source. The sleep function, the jitter and the clock are
injectable: tests run the real loop over real HTTP without waiting for real backoff.
"""

from __future__ import annotations

import html
import json
import logging
import random
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from nasaflow.sources.errors import (
    ApiKeyError,
    BadRequestError,
    MissingFileError,
    NoImageError,
    NotFoundError,
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

RETRYABLE_STATUS = frozenset({408, 425, 500, 502, 503, 504})
#: Helioviewer runtime errors worth retrying: DB connect, DB query, unexpected.
RETRYABLE_ERRNOS = frozenset({1, 2, 255})
#: Helioviewer errnos meaning "no image there" rather than a fault.
NO_IMAGE_ERRNOS = frozenset({10, 11, 12, 16})
#: Helioviewer errno of an indexed image whose file cannot be read (retried: a database
#: error the server swallowed answers the same).
MISSING_FILE_ERRNOS = frozenset({13})
#: Helioviewer errnos meaning "no such item" / "bad request value".
NOT_FOUND_ERRNOS = frozenset({24})
BAD_REQUEST_ERRNOS = frozenset(range(20, 29)) - NOT_FOUND_ERRNOS

_HTML_ERROR = re.compile(r"<b>\s*Error:\s*</b>\s*(.*?)\s*(?:<|$)", re.IGNORECASE | re.DOTALL)


def _full_jitter(upper: float) -> float:
    return random.uniform(0.0, upper)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry (§5.2).

    Backoff before retry n (1-based) is `jitter(min(backoff_cap, backoff_base * 2**n))`.
    A Retry-After above `max_retry_after` seconds is not slept: RetryLaterError is raised.
    """

    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_after: float = 300.0
    #: Wrong bodies on a success status are retried at most this many times.
    max_body_retries: int = 2
    #: How long a job defers (RetryLaterError) after Helioviewer's "Limit of N requests per
    #: 60 seconds" page or a 429 that persists without Retry-After.
    rate_limit_pause: float = 60.0
    #: Retries allowed over the client's lifetime (one job); None means unlimited.
    retry_budget: int | None = None
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float], float] = _full_jitter
    now: Callable[[], datetime] = _utcnow

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        return self.jitter(min(self.backoff_cap, self.backoff_base * 2 ** retry))


def make_session(user_agent: str) -> requests.Session:
    """A session that identifies the pipeline and never retries on its own."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    adapter = requests.adapters.HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=4)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def describe_body(response: requests.Response, limit: int = 200) -> str:
    """The server's own error message if the body has one, else the start of the body."""
    text = response.text[:4096]
    try:
        payload: Any = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
        for key in ("error", "msg", "message"):
            if isinstance(payload.get(key), str):
                return payload[key]
    match = _HTML_ERROR.search(text)
    if match:
        return html.unescape(re.sub(r"\s+", " ", match.group(1)))
    return re.sub(r"\s+", " ", text[:limit]).strip() or "<empty body>"


def helioviewer_errno(payload: Any) -> int | None:
    """The errno of a Helioviewer runtime error body `{"error":..., "errno":N}`, if it is one."""
    if isinstance(payload, dict) and "error" in payload and isinstance(payload.get("errno"), int):
        return int(payload["errno"])
    return None


def errno_error(errno: int, message: str, *, url: str, status: int) -> SourceError:
    """Map a Helioviewer errno to the exception the pipeline acts on."""
    text = f"Helioviewer error {errno}: {message}"
    if errno in NO_IMAGE_ERRNOS:
        return NoImageError(text, url=url, status=status)
    if errno in MISSING_FILE_ERRNOS:
        return MissingFileError(text, url=url, status=status)
    if errno in NOT_FOUND_ERRNOS:
        return NotFoundError(text, url=url, status=status)
    if errno in BAD_REQUEST_ERRNOS:
        return BadRequestError(text, url=url, status=status)
    return SourceError(text, url=url, status=status)


def _json_or_none(response: requests.Response) -> Any:
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _client_error(response: requests.Response) -> SourceError:
    """The exception for a status that must not be retried."""
    status, url = response.status_code, response.url
    payload = _json_or_none(response)
    errno = helioviewer_errno(payload)
    message = describe_body(response)
    if errno is not None:
        return errno_error(errno, message, url=url, status=status)
    text = f"HTTP {status} from {url}: {message}"
    if status == 403:
        return ApiKeyError(text, url=url, status=status)
    if status == 404:
        if "No data available" in message:
            return NoImageError(text, url=url, status=status)
        return NotFoundError(text, url=url, status=status)
    if 400 <= status < 500:
        return BadRequestError(text, url=url, status=status)
    return SourceError(text, url=url, status=status)


def unreachable_reason(exc: BaseException) -> str | None:
    """Why a connection failed before any byte was exchanged, if the host is unreachable:
    its name does not resolve, or it refuses the connection. None for other failures
    (timeouts, cut connections), which the retry loop handles. requests and urllib3 wrap
    the socket error a few levels deep, so the exception chain is walked."""
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


@dataclass
class HttpClient:
    """GET with the contract's retry loop; one instance per job shares the retry budget.

    `check` validates a success response (and may consume a streamed body); it raises
    UnexpectedBodyError to have the request retried. A host that is unreachable at the
    first request to it fails at once (UnreachableSourceError); once it has answered, its
    connection errors are retried like any transient failure.
    """

    session: requests.Session
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    retries_used: int = 0
    #: Hosts (host:port) that have answered at least once.
    reached: set[str] = field(default_factory=set)

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = JSON_TIMEOUT,
        stream: bool = False,
        check: Callable[[requests.Response], None] | None = None,
        observe: Callable[[requests.Response], None] | None = None,
        final: Callable[[requests.Response], bool] | None = None,
    ) -> requests.Response:
        """The first acceptable response; raises a SourceError subclass otherwise.

        `observe` sees every response, errors included (e.g. to read rate-limit headers).
        A response `final` accepts is the service's answer to this request, returned
        unchecked and never retried, whatever its status (APOD's own 500 is its scraper
        failing on one date's page: retrying it only spends the gateway's budget).
        """
        policy = self.policy
        body_retries = 0
        last: SourceError | None = None
        for attempt in range(1, policy.max_attempts + 1):
            try:
                response = self.session.get(
                    url, params=params, headers=headers, timeout=timeout, stream=stream
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                self._fail_if_unreachable(url, exc)
                last = UnavailableError(
                    f"expected a response from {url}, got {type(exc).__name__}: {exc}", url=url
                )
                wait = policy.backoff(attempt)
            else:
                self.reached.add(urlsplit(url).netloc)
                if observe is not None:
                    observe(response)
                try:
                    wait, last = (0.0, None) if final is not None and final(response) \
                        else self._assess(response, attempt, check)
                except UnexpectedBodyError as exc:
                    response.close()
                    if exc.rate_limited:
                        # The limiter's page: the whole job waits (the DAG reschedules
                        # it), neither this request in a worker slot nor as a bad body.
                        raise self._deferred(f"{url} answered the rate limiter's page", url,
                                             exc.status) from exc
                    if not exc.transient:
                        body_retries += 1
                        if body_retries > policy.max_body_retries:
                            raise
                    last = exc
                    wait = policy.backoff(attempt)
                except SourceError:
                    response.close()
                    raise
                if last is None:
                    return response
                response.close()
            if attempt == policy.max_attempts or not self._spend_retry():
                break
            log.warning("retrying %s in %.1f s (attempt %d): %s", url, wait, attempt + 1, last)
            policy.sleep(wait)
        assert last is not None
        if isinstance(last, MissingFileError) or (isinstance(last, UnexpectedBodyError)
                                                  and not last.transient):
            raise last
        if last.status == 429:
            # Still rate limited without saying for how long: not a failure of the source,
            # so the job defers (the DAG reschedules the task) instead of giving up.
            raise self._deferred(f"{url} still answers 429 after {attempt} attempt(s) "
                                 "without Retry-After", url, 429) from last
        raise UnavailableError(
            f"gave up on {url} after {attempt} attempt(s); last failure: {last}",
            url=url, status=last.status,
        ) from last

    def _assess(
        self,
        response: requests.Response,
        attempt: int,
        check: Callable[[requests.Response], None] | None,
    ) -> tuple[float, SourceError | None]:
        """(seconds to wait, failure) for a retryable response, (0, None) for a good one."""
        status = response.status_code
        url = response.url
        if status == 429:
            wait = self._retry_after(response)
            failure = UnavailableError(
                f"HTTP 429 from {url}: {describe_body(response)}", url=url, status=status
            )
            return (self.policy.backoff(attempt) if wait is None else wait), failure
        if status in RETRYABLE_STATUS:
            errno = helioviewer_errno(_json_or_none(response))
            if errno in MISSING_FILE_ERRNOS:
                return self.policy.backoff(attempt), _client_error(response)
            if errno is not None and errno not in RETRYABLE_ERRNOS:
                raise _client_error(response)
            wait = self._retry_after(response)
            failure = UnavailableError(
                f"HTTP {status} from {url}: {describe_body(response)}", url=url, status=status
            )
            return (self.policy.backoff(attempt) if wait is None else wait), failure
        if status >= 300:
            raise _client_error(response)
        if check is not None:
            check(response)
        return 0.0, None

    def _deferred(self, reason: str, url: str, status: int | None) -> RetryLaterError:
        """The job's "retry later" after a rate limit that named no time: the pause plus up
        to a quarter of it of jitter, so deferred jobs do not all come back at once."""
        policy = self.policy
        pause = policy.rate_limit_pause + policy.jitter(policy.rate_limit_pause / 4)
        return RetryLaterError(reason, retry_at=policy.now() + timedelta(seconds=pause),
                               url=url, status=status)

    def _retry_after(self, response: requests.Response) -> float | None:
        """Seconds to wait from Retry-After (delta-seconds or HTTP-date), within the cap."""
        raw = response.headers.get("Retry-After")
        if raw is None:
            return None
        now = self.policy.now()
        raw = raw.strip()
        if raw.isdigit():
            wait = float(raw)
        else:
            try:
                when = parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                log.warning("ignoring unparsable Retry-After %r from %s", raw, response.url)
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            wait = max(0.0, (when - now).total_seconds())
        if wait > self.policy.max_retry_after:
            raise RetryLaterError(
                f"HTTP {response.status_code} from {response.url} asks to wait {wait:.0f} s, "
                f"more than the {self.policy.max_retry_after:.0f} s we sleep",
                retry_at=now + timedelta(seconds=wait),
                url=response.url,
                status=response.status_code,
            )
        return wait

    def _fail_if_unreachable(self, url: str, exc: BaseException) -> None:
        """Raise UnreachableSourceError if `url`'s host never answered and `exc` says it
        cannot be reached."""
        host = urlsplit(url).netloc
        reason = unreachable_reason(exc)
        if reason is None or host in self.reached:
            return
        raise UnreachableSourceError(
            f"source {host} is unreachable: {reason}; check the network and the source's "
            f"URL setting (GET {url})", host=host, url=url) from exc

    def _spend_retry(self) -> bool:
        budget = self.policy.retry_budget
        if budget is not None and self.retries_used >= budget:
            return False
        self.retries_used += 1
        return True
