"""APOD behind an api.data.gov-like gateway, over the fixture calendar.

Two layers, as in production (§2): the gateway (api-umbrella) checks the key (403 shapes),
keeps rolling per-key budgets (every key one hour, DEMO_KEY: 30; DEMO_KEY also one day: 50),
adds X-RateLimit-* of the hourly budget only to every answer and answers 429 when any budget
is spent, without counting the refused request; the service validates fields, dates and
combinations with the messages of nasa/apod-api and returns sorted-key JSON. Its "today" is
the US Eastern date (apod.nasa.gov's calendar), and a date whose page its scraper cannot
read fails the request with 500 `Internal Service Error`: alone or anywhere inside a range.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from email.message import Message
from typing import Any

from nasaflow.replay.fixtures import ApodCalendar
from nasaflow.replay.responses import Reply, json_reply, static_reply
from nasaflow.sources.apod import FIRST_DATE, apod_today

_ALLOWED = ("concept_tags", "date", "hd", "count", "start_date", "end_date", "thumbs")
_ALLOWED_TEXT = ", ".join(f"'{name}'" for name in _ALLOWED)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_SIGNUP = "https://api.nasa.gov:443"


class _ServiceError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _gateway_error(status: int, code: str, message: str) -> Reply:
    return json_reply({"error": {"code": code, "message": message}}, status)


def _parse_day(raw: str) -> date:
    try:
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise _ServiceError(400, f"time data '{raw}' does not match format '%Y-%m-%d'") from None


class ApodReplay:
    """The gateway and the APOD service; thread-safe."""

    def __init__(self, calendar: ApodCalendar, keys: set[str], *, demo_limit: int,
                 key_limit: int, now: Callable[[], datetime], demo_day_limit: int = 50
                 ) -> None:
        self.calendar = calendar
        self.keys = keys | {"DEMO_KEY"}
        self.demo_limit = demo_limit
        self.demo_day_limit = demo_day_limit
        self.key_limit = key_limit
        self.now = now
        self._lock = threading.Lock()
        self._sent: dict[str, deque[datetime]] = {}

    def reset(self) -> None:
        """Forget every key's request history (fresh budgets)."""
        with self._lock:
            self._sent.clear()

    def handle(self, params: Mapping[str, str], request_headers: Message,
               base_url: str) -> Reply:
        """GET /planetary/apod through the gateway."""
        fields = dict(params)
        key = fields.pop("api_key", None) or request_headers.get("X-Api-Key")
        if not key:
            return _gateway_error(403, "API_KEY_MISSING",
                                  f"No api_key was supplied. Get one at {_SIGNUP}")
        if key not in self.keys:
            return _gateway_error(403, "API_KEY_INVALID",
                                  f"An invalid api_key was supplied. Get one at {_SIGNUP}")
        limit = self.demo_limit if key == "DEMO_KEY" else self.key_limit
        budgets = [(_HOUR, limit)]
        if key == "DEMO_KEY":
            budgets.append((_DAY, self.demo_day_limit))
        now = self.now()
        with self._lock:
            sent = self._sent.setdefault(key, deque())
            while sent and now - sent[0] >= _DAY:
                sent.popleft()
            hourly = sum(1 for moment in sent if now - moment < _HOUR)
            # Capacity returns when the oldest request that fills a spent budget leaves it.
            waits = []
            for window, budget in budgets:
                inside = [moment for moment in sent if now - moment < window]
                if len(inside) >= budget:
                    waits.append(inside[len(inside) - budget] + window - now)
            if waits:
                reply = _gateway_error(
                    429, "OVER_RATE_LIMIT",
                    "You have exceeded your rate limit. Try again later or contact us at "
                    f"{_SIGNUP}/contact/ for assistance")
                # The gateway counts the refused request into the hourly figure it shows,
                # but never records it.
                remaining = max(0, limit - hourly - 1)
                reply.header("Retry-After", str(int(max(waits).total_seconds()) + 1))
            else:
                sent.append(now)
                remaining = limit - hourly - 1
                reply = self._service(fields, base_url)
        reply.header("X-RateLimit-Limit", str(limit))
        reply.header("X-RateLimit-Remaining", str(remaining))
        reply.header("Access-Control-Allow-Origin", "*")
        reply.header("Access-Control-Expose-Headers", "X-RateLimit-Limit, X-RateLimit-Remaining")
        return reply

    def _service(self, fields: dict[str, str], base_url: str) -> Reply:
        try:
            payload = self._answer(fields, base_url)
        except _ServiceError as exc:
            return json_reply({"code": exc.status, "msg": str(exc), "service_version": "v1"},
                              exc.status)
        return json_reply(payload)

    def _answer(self, fields: dict[str, str], base_url: str) -> Any:
        unknown = [name for name in fields if name not in _ALLOWED]
        if unknown:
            raise _ServiceError(400, "Bad Request: incorrect field passed. Allowed request "
                                     f"fields for apod method are {_ALLOWED_TEXT}")
        has = {name for name in ("date", "start_date", "end_date", "count") if name in fields}
        if ("date" in has and len(has) > 1) or ("count" in has and len(has) > 1) or (
                "end_date" in has and "start_date" not in has):
            raise _ServiceError(400, "Bad Request: invalid field combination passed. Allowed "
                                     f"request fields for apod method are {_ALLOWED_TEXT}")
        thumbs = fields.get("thumbs", "").lower() == "true"
        concepts = fields.get("concept_tags", "").lower() == "true"
        today = apod_today(self.now())

        def render(day: date) -> dict[str, Any]:
            return self._entry(day, base_url, thumbs, concepts)

        if "count" in fields:
            try:
                count = int(fields["count"])
            except ValueError:
                raise _ServiceError(400, "invalid literal for int() with base 10: "
                                         f"'{fields['count']}'") from None
            if count <= 0 or count > 100:
                raise _ServiceError(400, "Count must be positive and cannot exceed 100")
            days = sorted(self.calendar.entries)
            chosen = random.Random(count).choices(days, k=count)
            return [render(day) for day in chosen]
        if "start_date" in fields:
            start = self._in_range(_parse_day(fields["start_date"]), today)
            end = self._in_range(_parse_day(fields["end_date"]), today) \
                if "end_date" in fields else today
            if start > end:
                raise _ServiceError(400, "start_date cannot be after end_date")
            if any(start <= day <= end for day in self.calendar.unreadable):
                raise _ServiceError(500, "Internal Service Error")
            return [render(day) for day in sorted(self.calendar.entries) if start <= day <= end]
        if "date" in fields:
            day = self._in_range(_parse_day(fields["date"]), today)
        else:
            published = [day for day in self.calendar.entries if day <= today]
            if not published:
                raise _ServiceError(404, f"No data available for date: {today.isoformat()}")
            day = max(published)
        if day in self.calendar.unreadable:
            raise _ServiceError(500, "Internal Service Error")
        if day not in self.calendar.entries:
            raise _ServiceError(404, f"No data available for date: {day.isoformat()}")
        return render(day)

    @staticmethod
    def _in_range(day: date, today: date) -> date:
        if day < FIRST_DATE or day > today:
            raise _ServiceError(400, f"Date must be between {FIRST_DATE:%b %d, %Y} and "
                                     f"{today:%b %d, %Y}.")
        return day

    def _entry(self, day: date, base_url: str, thumbs: bool, concepts: bool) -> dict[str, Any]:
        entry = dict(self.calendar.entries[day])
        thumbnail = entry.pop("thumbnail_url", None)
        if thumbs and entry["media_type"] == "video":
            entry["thumbnail_url"] = thumbnail or ""
        if concepts:
            entry["concepts"] = "concept_tags functionality turned off in current service"
        for name in ("url", "hdurl", "thumbnail_url"):
            value = entry.get(name)
            if isinstance(value, str) and value.startswith("/"):
                entry[name] = f"{base_url}{value}"
        return dict(sorted(entry.items()))

    def image(self, path: str, request_headers: Message) -> Reply | None:
        """GET /apod/image/<YYMM>/<file> (outside the gateway: no key, no budget)."""
        data = self.calendar.images.get(path)
        if data is None:
            return None
        kind = "image/png" if path.endswith(".png") else "image/jpeg"
        return static_reply(data, kind, self.calendar.modified, request_headers)
