"""Response values of the replay server, and the shapes the real services give them.

Routes return a `Reply` instead of writing to the socket, so faults such as truncation or
corruption can be applied to the genuine answer before it is sent.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any


@dataclass
class Reply:
    """Status, headers (in order) and body of one response."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str, value: str) -> Reply:
        """Add a header; returns self for chaining."""
        self.headers.append((name, value))
        return self


def json_reply(payload: Any, status: int = 200,
               content_type: str = "application/json") -> Reply:
    """A JSON body."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, [("Content-Type", content_type)])


def text_reply(text: str, status: int = 200, content_type: str = "text/html") -> Reply:
    """A text body with the given type (UTF-8)."""
    return Reply(status, text.encode(), [("Content-Type", f"{content_type}; charset=UTF-8")])


def helioviewer_error_page(message: str, status: int = 400) -> Reply:
    """Helioviewer's validation error: a full HTML page with `<b>Error:</b> message`."""
    page = ("<!DOCTYPE html>\n<html>\n<head><title>Helioviewer.org API - Error</title></head>\n"
            "<body>\n<div id='content'>\n<h1>Helioviewer.org API</h1>\n"
            f"<b>Error:</b> {html.escape(message, quote=False)}<br />\n</div>\n</body>\n</html>\n")
    return text_reply(page, status)


def helioviewer_runtime_error(message: str, errno: int, status: int = 500) -> Reply:
    """Helioviewer's runtime error `{"error":..., "errno":N}` (status 200 before 2024)."""
    return json_reply({"error": message, "errno": errno}, status,
                      "application/json;charset=UTF-8")


def http_date(moment: datetime) -> str:
    """An RFC 7231 date, e.g. Wed, 07 Feb 2024 10:00:00 GMT."""
    return format_datetime(moment, usegmt=True)


def _modified_since(value: str, modified: datetime) -> bool:
    try:
        return parsedate_to_datetime(value) >= modified.replace(microsecond=0)
    except (TypeError, ValueError):
        return False


def static_reply(data: bytes, content_type: str, modified: datetime,
                 request_headers: Any, extra: list[tuple[str, str]] | None = None) -> Reply:
    """A static file as Apache serves it: ETag, Last-Modified, Range (206/416), If-Range."""
    etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
    headers = [("Content-Type", content_type), ("Accept-Ranges", "bytes"), ("ETag", etag),
               ("Last-Modified", http_date(modified)), *(extra or [])]
    wanted = request_headers.get("Range")
    if_range = request_headers.get("If-Range")
    if wanted and if_range and if_range != etag and not _modified_since(if_range, modified):
        wanted = None
    if not wanted:
        return Reply(200, data, headers)
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", wanted)
    size = len(data)
    if match is None or match.group(1) == match.group(2) == "":
        return Reply(200, data, headers)
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(size - 1, int(last)) if last else size - 1
    if start >= size or start > end:
        return Reply(416, b"", [("Content-Range", f"bytes */{size}"), *headers[1:]])
    return Reply(206, data[start:end + 1],
                 [*headers, ("Content-Range", f"bytes {start}-{end}/{size}")])


def directory_index(path: str, entries: list[str]) -> Reply:
    """An Apache-style directory listing page."""
    title = f"Index of {html.escape(path)}"
    links = "\n".join(f'<li><a href="{html.escape(name)}">{html.escape(name)}</a></li>'
                      for name in ['../', *entries])
    page = (f"<!DOCTYPE HTML>\n<html>\n<head><title>{title}</title></head>\n<body>\n"
            f"<h1>{title}</h1>\n<ul>\n{links}\n</ul>\n</body></html>\n")
    return text_reply(page)
