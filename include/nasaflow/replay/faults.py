"""Switchable faults: the ways the real services misbehave, on demand.

A fault is written `kind[;key=value]...`, e.g. `429;retry-after=2`, `500;errno=10`,
`truncate;bytes=1000`. It can ride on one request (header `X-Replay-Fault`) or be armed on
the server for the next N requests matching a route (POST /_replay/faults), so a client
that cannot add headers, such as the pipeline running under Airflow, can be faulted too.

Kinds:
  <status>         that HTTP status (408, 429, 500, 502, 503, 504, ...) instead of the answer;
                   `errno=N` makes it Helioviewer's JSON runtime error (`200;errno=10` is the
                   legacy form); `retry-after=N` (seconds) or `retry-after-date=N` (an
                   HTTP-date N seconds ahead) adds Retry-After.
  html             status 200 with an HTML page instead of the answer (overload, home page).
  ratelimit-html   status 200 with Helioviewer's "Limit of N requests" page.
  file-not-found   status 200, Content-Type image/jp2, body "File not found.": getJP2Image
                   for an image whose file is missing from the archive.
  truncate         the real headers (full Content-Length), `bytes=K` of the body (default
                   half), then the connection is closed.
  corrupt          the real answer with its first 16 bytes zeroed (same length).
  drop             the connection is closed without a response.
  slow             the real answer after `delay=S` seconds.
  quality          the real JP2 with its header's QUALITY set to `value=N` (decimal, e.g.
                   2147483648 = 0x80000000): an observation the archive flags as bad.
  name-absolute    (Helioviewer) the real answer naming a hostile place: in getJP2Image's
  name-dotdot      JPIP URI the file path, in getClosestImage the image id and name, become
  name-nul         an absolute path, a path climbing out with `..` segments, a name with a
  name-long        NUL byte, or a file name of more than 300 characters (`hostile_name`).
Every kind accepts `delay=S` before anything is sent.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

#: Faults that rename what a real answer names (see `hostile_name`).
NAME_KINDS = frozenset({"name-absolute", "name-dotdot", "name-nul", "name-long"})
KINDS = frozenset({"html", "ratelimit-html", "file-not-found", "truncate", "corrupt", "drop", "slow",
                   "quality", *NAME_KINDS})
#: The folder a hostile name tries to write to: /tmp/<it>/ for an absolute path, and for
#: `..` segments the parent of the image store's root (the client's data directory).
ESCAPE_DIR = "nasaflow-escape"
#: `..` segments that climb from images/helioviewer/<instrument>/<YYYY>/<MM>/<DD>/
#: <measurement>/ above the data directory.
_CLIMB = 8
_PARAMS = frozenset({"retry-after", "retry-after-date", "errno", "bytes", "delay", "value"})


@dataclass(frozen=True)
class Fault:
    """One parsed fault."""

    kind: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int | None:
        """The HTTP status of a status fault, else None."""
        return int(self.kind) if self.kind.isdigit() else None

    @property
    def delay(self) -> float:
        """Seconds to wait before responding."""
        return float(self.params.get("delay", 0))

    def text(self) -> str:
        """The fault in its `kind;key=value` form."""
        return ";".join([self.kind, *(f"{k}={v}" for k, v in self.params.items())])


def hostile_name(kind: str, path: str) -> str:
    """`path` (an archive path dir/.../name, or a bare name) as a hostile server names it
    under fault `kind` (one of NAME_KINDS): the name is kept, so only the place or the
    bytes around it are wrong."""
    directory, _, name = path.rpartition("/")
    prefix = f"{directory}/" if directory else ""
    if kind == "name-absolute":
        return f"/tmp/{ESCAPE_DIR}/{name}"
    if kind == "name-dotdot":
        return f"{prefix}{'../' * _CLIMB}{ESCAPE_DIR}/{name}"
    if kind == "name-nul":
        return f"{prefix}{name[:4]}\x00{name[4:]}"
    if kind == "name-long":
        head, separator, tail = name.rpartition("__")
        return f"{prefix}{head}{separator}{'X' * 300}{tail}"
    raise ValueError(f"expected a fault kind among {sorted(NAME_KINDS)}, got {kind!r}")


def parse_fault(text: str) -> Fault:
    """Parse `kind[;key=value]...`; raise ValueError naming what is wrong."""
    parts = [part.strip() for part in text.split(";") if part.strip()]
    if not parts:
        raise ValueError("expected a fault like '429;retry-after=2', got an empty value")
    kind = parts[0].lower()
    if not (kind in KINDS or (kind.isdigit() and 200 <= int(kind) <= 599)):
        raise ValueError(f"expected a fault kind among {sorted(KINDS)} or an HTTP status, "
                         f"got {parts[0]!r}")
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        key = key.strip().lower()
        if key not in _PARAMS or not value:
            raise ValueError(f"expected parameters among {sorted(_PARAMS)} as key=value, "
                             f"got {part!r}")
        try:
            float(value)
        except ValueError:
            raise ValueError(f"expected a number for {key}, got {value!r}") from None
        params[key] = value.strip()
    return Fault(kind, params)


@dataclass
class ArmedFault:
    """A fault waiting for the next `remaining` requests under `route` (-1: until cleared)
    whose target (path?query) `match` finds, a regular expression (empty: any)."""

    route: str
    fault: Fault
    remaining: int
    match: str = ""

    def to_json(self) -> dict[str, Any]:
        """The control endpoint's view of this fault."""
        return {"route": self.route, "fault": self.fault.text(), "count": self.remaining,
                "match": self.match}


class FaultBoard:
    """Faults armed through the control endpoint; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[ArmedFault] = []

    def arm(self, spec: dict[str, Any]) -> ArmedFault:
        """Arm a fault from `{"route", "fault", "count"=1, "match"=""}`; ValueError if bad."""
        if not isinstance(spec, dict) or "fault" not in spec:
            raise ValueError('expected {"route": "/v2/getJP2Image/", "fault": "503", '
                             f'"count": 1}}, got {spec!r}')
        route = str(spec.get("route") or "*")
        count = spec.get("count", 1)
        if not isinstance(count, int) or count == 0 or count < -1:
            raise ValueError(f"expected count >= 1, or -1 for every request, got {count!r}")
        match = str(spec.get("match") or "")
        try:
            re.compile(match)
        except re.error as error:
            raise ValueError(
                f"match must be a regular expression, got {match!r}: {error}") from error
        armed = ArmedFault(route, parse_fault(str(spec["fault"])), count, match)
        with self._lock:
            self._armed.append(armed)
        return armed

    def take(self, target: str) -> Fault | None:
        """The first armed fault for request target `path?query`, consuming one use."""
        path = target.split("?", 1)[0]
        with self._lock:
            for armed in self._armed:
                if armed.route not in ("*", "") and not path.startswith(armed.route):
                    continue
                if armed.match and not re.search(armed.match, target):
                    continue
                if armed.remaining > 0:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                return armed.fault
        return None

    def listing(self) -> list[dict[str, Any]]:
        """Every armed fault."""
        with self._lock:
            return [armed.to_json() for armed in self._armed]

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._armed.clear()
