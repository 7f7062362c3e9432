"""APOD client (api.nasa.gov/planetary/apod): one Astronomy Picture of the Day per date.

APOD sits behind the api.data.gov gateway: it needs a key, counts every request against a
rolling hourly budget (DEMO_KEY: 30), and its entries are not always images. This client
sends the key only in the X-Api-Key header (never in a URL, so never in a log), refuses
dates the service would reject before spending budget on them, stops before the budget
runs out instead of collecting 429s, and tells why a video or `other` entry has no image.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from nasaflow.sources.errors import (
    DateOutOfRangeError,
    MissingApiKeyError,
    RetryLaterError,
    SourceError,
    UnexpectedBodyError,
)
from nasaflow.sources.http import JSON_TIMEOUT, HttpClient

#: The first APOD.
FIRST_DATE = date(1995, 6, 16)
_WINDOW = timedelta(hours=1)


def _utc_today() -> date:
    return datetime.now(UTC).date()


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


def validate_date(day: date, today: date) -> None:
    """Raise DateOutOfRangeError unless FIRST_DATE <= day <= today."""
    if day < FIRST_DATE:
        raise DateOutOfRangeError(f"APOD date {day.isoformat()} is before the first APOD "
                                  f"({FIRST_DATE.isoformat()})")
    if day > today:
        raise DateOutOfRangeError(f"APOD date {day.isoformat()} is in the future "
                                  f"(today is {today.isoformat()} UTC)")


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
        while self.sent and now - self.sent[0] >= _WINDOW:
            self.sent.popleft()
        if self.limit is not None and self.remaining is not None:
            reserve = int(self.limit * self.reserve_fraction)
            if self.remaining <= reserve:
                retry_at = (self.sent[0] if self.sent else now) + _WINDOW
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


class ApodClient:
    """Fetch APOD entries by date with an api key kept out of URLs and logs."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        http: HttpClient,
        *,
        reserve_fraction: float = 0.05,
        today: Callable[[], date] = _utc_today,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """`base_url` is the gateway root, e.g. https://api.nasa.gov.

        `reserve_fraction` of the hourly limit is left unused (§5.2: pause at 5 %).
        """
        if not api_key or not api_key.strip():
            raise MissingApiKeyError(
                "APOD needs an api.nasa.gov key: expected NASAFLOW_APOD_API_KEY to be set "
                "(DEMO_KEY allows 30 requests per hour), got an empty value"
            )
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.today = today
        self.budget = RateBudget(reserve_fraction, now or http.policy.now)
        self._api_key = api_key.strip()

    def __repr__(self) -> str:
        return f"ApodClient({self.base_url!r})"

    @property
    def endpoint(self) -> str:
        """The APOD service URL."""
        return f"{self.base_url}/planetary/apod"

    def entry(self, day: date) -> ApodEntry:
        """The APOD of `day`; NoImageError (404) when that date has none."""
        validate_date(day, self.today())
        self.budget.before_request()
        response = self.http.get(self.endpoint, params={"date": day.isoformat()},
                                 headers={"X-Api-Key": self._api_key}, timeout=JSON_TIMEOUT,
                                 check=_expect_json, observe=self.budget.after_response)
        return parse_entry(response.json(), requested=day)


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
