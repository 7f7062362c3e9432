"""APOD client (api.nasa.gov/planetary/apod): Astronomy Pictures of the Day by date.

APOD sits behind the api.data.gov gateway: it needs a key, counts every request against a
rolling hourly budget (DEMO_KEY: 30) and, for DEMO_KEY, a rolling daily one (50 per IP) that
no header shows, and its entries are not always images. The service behind it scrapes
apod.nasa.gov's page of each date: a page it cannot read fails the whole request with 500,
usually for good. Its dates are US Eastern.

So this client sends the key only in the X-Api-Key header (never in a URL, so never in a
log), refuses dates the service would reject before spending budget on them, fetches a
span of dates with `start_date`/`end_date` (one request per 30 days instead of one per
day), narrows a failing span down to the dates that fail and reports those instead of
failing the rest, never retries a 500 (the gateway counts each try), stops before the
hourly budget runs out, counts DEMO_KEY's daily budget across runs, and tells why a video
or `other` entry has no image.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from nasaflow.manifest import file_safe
from nasaflow.sources.errors import (
    BadRequestError,
    DateOutOfRangeError,
    MissingApiKeyError,
    NoImageError,
    RetryLaterError,
    SourceError,
    UnavailableError,
    UnexpectedBodyError,
)
from nasaflow.sources.http import JSON_TIMEOUT, HttpClient

#: The first APOD.
FIRST_DATE = date(1995, 6, 16)
#: apod.nasa.gov's calendar: a date's picture is published around midnight US Eastern, and
#: the service refuses a date after the Eastern "today" (until ~05:00 UTC, the UTC date).
APOD_TIMEZONE = ZoneInfo("America/New_York")
DEMO_KEY = "DEMO_KEY"
#: DEMO_KEY's requests per rolling day and IP; X-RateLimit-* only shows the hourly budget.
DEMO_DAY_LIMIT = 50
#: Days per range request: the service scrapes one page per date inside the request and
#: the gateway gives up after about 60 s, so a span stays short (nasa-apis.md F4).
RANGE_DAYS = 30
#: A range scrapes up to RANGE_DAYS pages: read timeout 90 s, past the gateway's 60 s.
RANGE_TIMEOUT = (JSON_TIMEOUT[0], 90.0)
#: More dates failing one by one in a span means the service fails, not a page.
MAX_FAILED_DATES = 2
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def apod_today(now: datetime) -> date:
    """The APOD date at `now`: the date in US Eastern time."""
    return now.astimezone(APOD_TIMEZONE).date()


@dataclass(frozen=True)
class ApodEntry:
    """One APOD as the service describes it."""

    date: date
    media_type: str
    title: str
    url: str | None
    hdurl: str | None
    copyright: str | None
    metadata: dict[str, Any]

    @property
    def skip_reason(self) -> str | None:
        """Why this entry yields no image to download, or None for an image."""
        if self.media_type == "image" and (self.url or self.hdurl):
            return None
        if self.media_type == "video":
            return (f"APOD {self.date}: media_type 'video' ({self.url or 'no url'}) has no "
                    "image; thumbnails are not requested")
        if self.media_type == "image":
            return f"APOD {self.date}: media_type 'image' without url or hdurl"
        return f"APOD {self.date}: media_type {self.media_type!r} is not an image"

    def image_url(self, hd: bool = False) -> str:
        """The image to download: `hdurl` if asked for and present, else `url`."""
        chosen = (self.hdurl or self.url) if hd else (self.url or self.hdurl)
        if self.skip_reason is not None or chosen is None:
            raise SourceError(f"expected an image entry, got: {self.skip_reason}")
        return chosen


@dataclass
class ApodDays:
    """What the service said about each date of a span: an entry, no APOD that day (the
    reason, a gap), or a failure on that date's page (the reason, a skip)."""

    entries: dict[date, ApodEntry] = field(default_factory=dict)
    missing: dict[date, str] = field(default_factory=dict)
    failed: dict[date, str] = field(default_factory=dict)


class PageFailedError(SourceError):
    """The service answered 500 for one date: its scraper cannot read that day's page."""


def validate_date(day: date, today: date) -> None:
    """Raise DateOutOfRangeError unless FIRST_DATE <= day <= today (an APOD date)."""
    if day < FIRST_DATE:
        raise DateOutOfRangeError(f"APOD date {day.isoformat()} is before the first APOD "
                                  f"({FIRST_DATE.isoformat()})")
    if day > today:
        raise DateOutOfRangeError(f"APOD date {day.isoformat()} is in the future "
                                  f"(today is {today.isoformat()} in US Eastern time, "
                                  "the calendar of APOD)")


def _expect_json(response: requests.Response) -> None:
    if "json" not in response.headers.get("Content-Type", ""):
        raise UnexpectedBodyError(
            f"expected JSON from {response.url}, got "
            f"{response.headers.get('Content-Type', 'no Content-Type')}: {response.text[:120]!r}",
            url=response.url, status=response.status_code,
        )


class RateBudget:
    """The gateway's rolling hourly budget as seen from this client.

    Learns limit and remaining from X-RateLimit-* headers (case-insensitive) and refuses a
    request once `remaining` would fall into the reserve, reporting when the oldest of our
    requests leaves the one-hour window.
    """

    def __init__(self, reserve_fraction: float, now: Callable[[], datetime]) -> None:
        self.reserve_fraction = reserve_fraction
        self.now = now
        self.limit: int | None = None
        self.remaining: int | None = None
        self.sent: deque[datetime] = deque()

    def before_request(self) -> None:
        """Record a request about to be sent, or raise RetryLaterError if none is left."""
        now = self.now()
        while self.sent and now - self.sent[0] >= _HOUR:
            self.sent.popleft()
        if self.limit is not None and self.remaining is not None:
            reserve = int(self.limit * self.reserve_fraction)
            if self.remaining <= reserve:
                retry_at = (self.sent[0] if self.sent else now) + _HOUR
                raise RetryLaterError(
                    f"api.nasa.gov budget: {self.remaining} of {self.limit} requests left this "
                    f"hour, reserve is {reserve}; not sending more", retry_at=retry_at,
                )
        self.sent.append(now)

    def after_response(self, response: requests.Response) -> None:
        """Update limit and remaining from the response headers."""
        for attribute, header in (("limit", "X-RateLimit-Limit"),
                                  ("remaining", "X-RateLimit-Remaining")):
            value = response.headers.get(header)
            if value is not None and value.strip().isdigit():
                setattr(self, attribute, int(value))


class DailyLedger:
    """DEMO_KEY's daily budget, counted across runs: the times of our requests of the last
    24 hours.

    The gateway enforces DEMO_KEY's 50 requests per rolling day and IP but shows only the
    hourly budget in X-RateLimit-Remaining, so the only way to stay inside it is to count.
    Every plan is a new process (an Airflow task, the CLI), so the count lives in a small
    JSON file under the data dir, read and rewritten under an exclusive flock so that
    concurrent runs neither lose nor double a request. A file rather than an Airflow
    Variable: the client is library code that also runs without Airflow (tests, the CLI),
    and the file survives restarts and a reset of Airflow's database. Without a path the
    count lives in memory (one process). `check` and `record` are separate steps (only a
    request the gateway let through counts), so runs sending at the same instant may each
    overshoot by one: the reserve covers that.
    """

    def __init__(self, path: Path | None, limit: int, reserve_fraction: float,
                 now: Callable[[], datetime]) -> None:
        self.path = path
        self.limit = limit
        self.reserve = int(limit * reserve_fraction)
        self.now = now
        self._memory: list[datetime] = []

    @staticmethod
    def path_for(data_dir: str | os.PathLike[str], base_url: str) -> Path:
        """The ledger of DEMO_KEY at `base_url`: one per gateway (the live one and a replay
        server keep separate budgets), under `data_dir`/state."""
        return Path(data_dir) / "state" / f"apod-demo-key-{file_safe(base_url)}.json"

    def check(self) -> None:
        """Raise RetryLaterError when the requests of the last 24 hours fill the budget
        less its reserve, naming when the next one is possible."""
        sent = self._update(None)
        allowed = self.limit - self.reserve
        if len(sent) >= allowed:
            retry_at = sent[len(sent) - allowed] + _DAY
            raise RetryLaterError(
                f"APOD: DEMO_KEY's daily budget is spent: api.nasa.gov allows DEMO_KEY "
                f"{self.limit} requests a day per IP (X-RateLimit-Remaining shows only the "
                f"hourly budget) and {len(sent)} were sent in the last 24 hours (reserve "
                f"{self.reserve}); set NASAFLOW_APOD_API_KEY to a key of your own (free at "
                "https://api.nasa.gov, 1,000 requests an hour) to go on now",
                retry_at=retry_at)

    def record(self) -> None:
        """Count one request that reached the gateway."""
        self._update(self.now())

    def _update(self, sent_now: datetime | None) -> list[datetime]:
        """The requests of the last 24 hours, with `sent_now` added and kept if given."""
        cutoff = self.now() - _DAY
        if self.path is None:
            self._memory = [t for t in self._memory if t > cutoff] + (
                [sent_now] if sent_now else [])
            return list(self._memory)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                sent = [moment for moment in _read_ledger(handle.read()) if moment > cutoff]
                if sent_now is not None:
                    sent.append(sent_now)
                    handle.seek(0)
                    handle.truncate()
                    json.dump({"sent": [t.isoformat() for t in sent]}, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return sent


def _read_ledger(text: str) -> list[datetime]:
    """The request times a ledger file holds, oldest first; none from a damaged file (the
    count starts again rather than failing every run)."""
    try:
        stored = json.loads(text or "{}")["sent"]
        moments = sorted(datetime.fromisoformat(value) for value in stored)
        if any(moment.tzinfo is None for moment in moments):
            raise ValueError("naive time in the ledger")
    except (ValueError, TypeError, KeyError):
        return []
    return moments


class ApodClient:
    """Fetch APOD entries by date with an api key kept out of URLs and logs."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        http: HttpClient,
        *,
        reserve_fraction: float = 0.05,
        now: Callable[[], datetime] | None = None,
        ledger: Path | None = None,
    ) -> None:
        """`base_url` is the gateway root, e.g. https://api.nasa.gov.

        `reserve_fraction` of each budget is left unused (§5.2: pause at 5 %). `now` is the
        clock (default: the HTTP policy's). `ledger` is the file counting DEMO_KEY's daily
        requests across runs (DailyLedger.path_for); None counts in memory.
        """
        if not api_key or not api_key.strip():
            raise MissingApiKeyError(
                "APOD needs an api.nasa.gov key: expected NASAFLOW_APOD_API_KEY to be set "
                "(DEMO_KEY allows 30 requests an hour and 50 a day), got an empty value"
            )
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.now = now or http.policy.now
        self.budget = RateBudget(reserve_fraction, self.now)
        self._api_key = api_key.strip()
        self.daily = (DailyLedger(ledger, DEMO_DAY_LIMIT, reserve_fraction, self.now)
                      if self._api_key == DEMO_KEY else None)

    def __repr__(self) -> str:
        return f"ApodClient({self.base_url!r})"

    @property
    def endpoint(self) -> str:
        """The APOD service URL."""
        return f"{self.base_url}/planetary/apod"

    def today(self) -> date:
        """APOD's date now: the US Eastern one; later dates are not published yet."""
        return apod_today(self.now())

    def entry(self, day: date) -> ApodEntry:
        """The APOD of `day`; NoImageError (404) when that date has none, PageFailedError
        when the service fails on that date's page."""
        validate_date(day, self.today())
        payload = self._get({"date": day.isoformat()}, JSON_TIMEOUT)
        return parse_entry(payload, requested=day)

    def entries(self, first: date, last: date) -> ApodDays:
        """Every date of first..last: one range request per RANGE_DAYS days; a span the
        service fails on is halved until the failing dates stand alone, so each costs
        about two requests per halving instead of failing its neighbours.

        Raises:
            DateOutOfRangeError: a date before the first APOD or after the Eastern today.
            UnavailableError: more than MAX_FAILED_DATES dates of one span fail alone (the
                service is failing, not a page).
        """
        today = self.today()
        validate_date(first, today)
        validate_date(last, today)
        if last < first:
            raise BadRequestError(f"expected a first APOD date <= the last, got "
                                  f"{first.isoformat()} .. {last.isoformat()}")
        days = ApodDays()
        start = first
        while start <= last:
            end = min(last, start + timedelta(days=RANGE_DAYS - 1))
            self._collect(start, end, days, span=(start, end))
            start = end + timedelta(days=1)
        return days

    def _collect(self, first: date, last: date, days: ApodDays,
                 span: tuple[date, date]) -> None:
        """first..last into `days`; `span` is the range request it was cut from."""
        if first == last:
            try:
                days.entries[first] = self.entry(first)
            except NoImageError as exc:
                days.missing[first] = str(exc)
            except PageFailedError as exc:
                days.failed[first] = str(exc)
                failed = [day for day in days.failed if span[0] <= day <= span[1]]
                if len(failed) > MAX_FAILED_DATES:
                    raise UnavailableError(
                        f"APOD answered 500 for {len(failed)} dates of {span[0]} .. "
                        f"{span[1]} one by one ({', '.join(map(str, failed))}): the "
                        "service is failing, not one date's page; try again later",
                        url=exc.url, status=exc.status) from exc
            return
        try:
            payload = self._get({"start_date": first.isoformat(),
                                 "end_date": last.isoformat()}, RANGE_TIMEOUT)
        except PageFailedError:
            middle = first + timedelta(days=(last - first).days // 2)
            self._collect(first, middle, days, span)
            self._collect(middle + timedelta(days=1), last, days, span)
            return
        if not isinstance(payload, list):
            raise SourceError(f"APOD {first} .. {last}: expected a list, got "
                              f"{str(payload)[:200]}")
        found = {entry.date: entry for entry in (parse_entry(item, first) for item in payload)
                 if first <= entry.date <= last}
        day = first
        while day <= last:
            if day in found:
                days.entries[day] = found[day]
            else:
                days.missing[day] = (f"APOD {day}: no APOD that day (the service's answer "
                                     f"for {first} .. {last} leaves the date out)")
            day += timedelta(days=1)

    def _get(self, params: dict[str, str], timeout: tuple[float, float]) -> Any:
        """The JSON of one gateway request, within the hourly and daily budgets."""
        if self.daily is not None:
            self.daily.check()
        self.budget.before_request()
        try:
            response = self.http.get(self.endpoint, params=params,
                                     headers={"X-Api-Key": self._api_key}, timeout=timeout,
                                     check=_expect_json, observe=self._observe,
                                     final=_is_page_failure)
        except (RetryLaterError, UnavailableError) as exc:
            if exc.status == 429 and self.daily is not None and self.budget.remaining:
                raise RetryLaterError(
                    f"APOD: the gateway refused DEMO_KEY with {self.budget.remaining} of its "
                    "hourly requests left: DEMO_KEY's daily budget of "
                    f"{DEMO_DAY_LIMIT} requests per IP is spent (by this machine or others "
                    "behind its address); set NASAFLOW_APOD_API_KEY to a key of your own "
                    "(free at https://api.nasa.gov)",
                    retry_at=(exc.retry_at if isinstance(exc, RetryLaterError)
                              else self.now() + _HOUR),
                    url=exc.url, status=exc.status) from exc
            raise
        if response.status_code == 500:
            raise _page_failure(response, params)
        return response.json()

    def _observe(self, response: requests.Response, retried: list[int]) -> None:
        self.budget.after_response(response)
        if self.daily is not None:
            # The gateway counts what it lets through, errors the adapter retried included.
            for status in (*retried, response.status_code):
                if status != 429:
                    self.daily.record()


def _is_page_failure(response: requests.Response) -> bool:
    """The service's own 500 (`{"code": 500, "msg": ...}`): a date's page it cannot read.
    A 500 of anything else (the gateway, a proxy) is retried like any 5xx."""
    if response.status_code != 500 or "json" not in response.headers.get("Content-Type", ""):
        return False
    try:
        payload = response.json()
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("code") == 500


def _page_failure(response: requests.Response, params: dict[str, str]) -> PageFailedError:
    """The error naming the dates of a request the service failed on."""
    what = params.get("date") or f"{params['start_date']} .. {params['end_date']}"
    return PageFailedError(
        f"APOD {what}: the service answered HTTP 500 {response.json().get('msg', '')!r}: "
        "its scraper cannot read that day's page on apod.nasa.gov (usually for good); not "
        "retried, since the gateway counts every try", url=response.url, status=500)


def parse_entry(payload: Any, requested: date) -> ApodEntry:
    """An ApodEntry from the service's JSON object."""
    if not isinstance(payload, dict) or "date" not in payload or "media_type" not in payload:
        raise SourceError(f"APOD {requested}: expected an object with date and media_type, got "
                          f"{str(payload)[:200]}")
    credit = payload.get("copyright")
    return ApodEntry(
        date=date.fromisoformat(payload["date"]),
        media_type=str(payload["media_type"]),
        title=str(payload.get("title", "")),
        url=payload.get("url") or None,
        hdurl=payload.get("hdurl") or None,
        copyright=" ".join(credit.split()) if isinstance(credit, str) else None,
        metadata=payload,
    )
