"""What the services' answers mean: Helioviewer's errno bodies, the gateway's and the
services' error messages, and the exception each maps to.

The retry layer (nasaflow.sources.http) and the clients read the same bodies; one table
here keeps "errno 13 is a missing file" and "403 is a refused key" in one place.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import requests

from nasaflow.sources.errors import (
    ApiKeyError,
    BadRequestError,
    MissingFileError,
    NoImageError,
    NotFoundError,
    SourceError,
)

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


def json_or_none(response: requests.Response) -> Any:
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def client_error(response: requests.Response) -> SourceError:
    """The exception for a status that must not be retried."""
    status, url = response.status_code, response.url
    errno = helioviewer_errno(json_or_none(response))
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
