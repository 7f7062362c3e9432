"""The replay server: Helioviewer and APOD on 127.0.0.1, with faults on demand.

Offline runs and tests need the real HTTP behaviour of NASA's services (paths, headers,
error shapes, nearest-image answers, rate-limit headers, cut connections), not mocks. This
is a standard-library HTTP/1.1 server (keep-alive, one thread per connection) routing:

  /v2/<action>/ and /?action=   Helioviewer API v2         (helioviewer_api)
  /jp2/...                      Helioviewer static archive (Range, ETag, index pages)
  /planetary/apod               APOD behind the gateway    (apod_api)
  /apod/image/<YYMM>/<file>     APOD images
  /_replay/...                  control: faults, request log, reset, status

Faults (see faults.py) come from the `X-Replay-Fault` request header or from faults armed
with POST /_replay/faults.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from nasaflow.replay.apod_api import ApodReplay
from nasaflow.replay.archive import ArchiveConfig, ArchiveReplay
from nasaflow.replay.archive_headers import with_header_value
from nasaflow.replay.faults import NAME_KINDS, Fault, FaultBoard, parse_fault
from nasaflow.replay.fixtures import build_apod_calendar, load_samples
from nasaflow.replay.helioviewer_api import HelioviewerReplay
from nasaflow.replay.responses import (
    Reply,
    helioviewer_error_page,
    helioviewer_runtime_error,
    http_date,
    json_reply,
    text_reply,
)
from nasaflow.sources.download import MISSING_FILE_BODY

log = logging.getLogger(__name__)

FAULT_HEADER = "X-Replay-Fault"
_ACTION_PATH = re.compile(r"^/v2/([0-9a-zA-Z]*)/$")
_SECRET = re.compile(r"(api_key=)[^&]*", re.IGNORECASE)
_ERRNO_MESSAGES = {
    1: "Unable to connect to the database.",
    2: "Error executing database query.",
    10: "No data of the requested type () are currently available.",
    13: "Unable to read the JP2 XML header.",
    24: "No image found with id 0.",
    255: "An unexpected error occurred.",
}
_HOME_PAGE = ("<!DOCTYPE html>\n<html lang='en'>\n<head><title>Helioviewer.org - Solar and "
              "heliospheric image visualization tool</title></head>\n<body><div id='loading'>"
              "Loading...</div></body>\n</html>\n")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RequestLog:
    """The last requests served (control endpoints excluded), for tests and operators."""

    def __init__(self, size: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)

    def add(self, entry: dict[str, Any]) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(entry)

    def entries(self, path_prefix: str = "") -> list[dict[str, Any]]:
        """Requests whose path starts with `path_prefix`, oldest first."""
        with self._lock:
            return [e for e in self._entries if e["path"].startswith(path_prefix)]

    def clear(self) -> None:
        """Forget every request."""
        with self._lock:
            self._entries.clear()


class ReplayState:
    """Everything the handlers share."""

    def __init__(self, samples_dir: Path, apod_keys: Iterable[str], demo_key_limit: int,
                 key_limit: int, now: Callable[[], datetime],
                 archive: ArchiveConfig | None = None) -> None:
        samples = load_samples(samples_dir)
        self.helioviewer = (HelioviewerReplay(samples, now) if archive is None
                            else ArchiveReplay(samples, now, archive))
        self.apod = ApodReplay(build_apod_calendar(samples), set(apod_keys),
                               demo_limit=demo_key_limit, key_limit=key_limit, now=now)
        self.faults = FaultBoard()
        self.requests = RequestLog()
        self.now = now

    def reset(self) -> None:
        """Disarm faults, forget requests and rate-limit history."""
        self.faults.clear()
        self.requests.clear()
        self.apod.reset()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], state: ReplayState) -> None:
        super().__init__(address, _Handler)
        self.state = state


def _fault_reply(fault: Fault, path: str, now: datetime) -> Reply | None:
    """The reply replacing the real answer, or None when the fault alters the real one."""
    if fault.kind == "html":
        reply = text_reply(_HOME_PAGE)
    elif fault.kind == "ratelimit-html":
        reply = helioviewer_error_page('Limit of 3000 requests per 60 seconds has been '
                                       'exceeded by identifier: "127.0.0.1".', status=200)
    elif fault.kind == "file-not-found":
        reply = Reply(200, MISSING_FILE_BODY, [("Content-Type", "image/jp2")])
    elif fault.status is None:
        return None
    elif "errno" in fault.params:
        errno = int(float(fault.params["errno"]))
        reply = helioviewer_runtime_error(_ERRNO_MESSAGES.get(errno, "Error."), errno,
                                          fault.status)
    elif fault.status == 429 and path.startswith("/planetary/"):
        reply = json_reply({"error": {"code": "OVER_RATE_LIMIT", "message": (
            "You have exceeded your rate limit. Try again later or contact us at "
            "https://api.nasa.gov:443/contact/ for assistance")}}, 429)
    else:
        reply = text_reply(f"<html><body><h1>HTTP {fault.status}</h1></body></html>",
                           fault.status)
    if "retry-after" in fault.params:
        reply.header("Retry-After", str(int(float(fault.params["retry-after"]))))
    if "retry-after-date" in fault.params:
        later = now + timedelta(seconds=float(fault.params["retry-after-date"]))
        reply.header("Retry-After", http_date(later))
    return reply


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nasaflow-replay"
    # Headers and body go out in separate writes: without TCP_NODELAY every keep-alive
    # response would wait for the client's delayed ACK (about 40 ms).
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s %s", self.address_string(), _SECRET.sub(r"\1***", format % args))

    # -- request flow -----------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        state = self.server.state
        split = urlsplit(self.path)
        path = split.path
        body = self._read_body()
        if path.startswith("/_replay/"):
            self._send(self._control(method, path, body), method)
            return
        try:
            header_fault = self.headers.get(FAULT_HEADER)
            fault = parse_fault(header_fault) if header_fault else state.faults.take(self.path)
        except ValueError as exc:
            self._send(text_reply(f"bad {FAULT_HEADER}: {exc}", 400, "text/plain"), method)
            return
        entry: dict[str, Any] = {"time": state.now().isoformat(), "method": method, "path": path,
                 "query": _SECRET.sub(r"\1***", split.query),
                 "fault": fault.text() if fault else None,
                 "user_agent": self.headers.get("User-Agent")}
        state.requests.add(entry)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "drop":
            entry["status"] = None
            self.close_connection = True
            return
        reply = _fault_reply(fault, path, state.now()) if fault else None
        if reply is None:
            try:
                reply = self._answer(method, path, split.query, body)
            except Exception:  # a bug here must not hang the client: answer 500 and log it
                log.exception("replay failed on %s %s", method, path)
                reply = text_reply("<html><body><h1>Internal Server Error</h1></body></html>",
                                   500)
        entry["status"] = reply.status
        if fault is not None and fault.kind == "corrupt":
            reply.body = b"\x00" * min(16, len(reply.body)) + reply.body[16:]
        if fault is not None and fault.kind == "quality" and reply.status == 200:
            quality = str(int(float(fault.params.get("value", "0"))))
            reply.body = with_header_value(reply.body, "QUALITY", quality)
        if fault is not None and fault.kind in NAME_KINDS:
            state.helioviewer.misname(reply, fault.kind)
        if fault is not None and fault.kind == "truncate":
            keep = int(float(fault.params.get("bytes", len(reply.body) // 2)))
            self._send(reply, method, cut_at=min(keep, len(reply.body)))
            return
        self._send(reply, method)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _params(self, query: str, body: bytes) -> dict[str, str] | Reply:
        params = dict(parse_qsl(query, keep_blank_values=True))
        if not body:
            return params
        content_type = self.headers.get("Content-Type", "")
        if "application/json" in content_type:
            try:
                payload = json.loads(body)
            except ValueError:
                return json_reply({"success": False, "message": "Invalid JSON received.",
                                   "data": []}, 400)
            if isinstance(payload, dict):
                params.update({str(k): str(v) for k, v in payload.items()})
        else:
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    def _answer(self, method: str, path: str, query: str, body: bytes) -> Reply:
        state = self.server.state
        params = self._params(query, body)
        if isinstance(params, Reply):
            return params
        is_api = path in ("/", "/index.php") or path.startswith("/v2/")
        if method == "OPTIONS" and is_api:
            return text_reply("OK", content_type="text/plain")
        action_match = _ACTION_PATH.match(path)
        if action_match and method in ("GET", "HEAD", "POST"):
            return state.helioviewer.handle(action_match.group(1), params, self.headers)
        if path in ("/", "/index.php") and method in ("GET", "HEAD", "POST"):
            return state.helioviewer.handle(params.get("action", ""), params, self.headers)
        if method in ("GET", "HEAD"):
            if path == "/jp2" or path.startswith("/jp2/"):
                return state.helioviewer.static(path[len("/jp2"):], self.headers)
            if path.rstrip("/") == "/planetary/apod":
                bound_host, bound_port = self.server.server_address[:2]
                host = self.headers.get("Host") or f"{str(bound_host)}:{bound_port}"
                return state.apod.handle(params, self.headers, f"http://{host}")
            if path.startswith("/apod/image/"):
                image = state.apod.image(path, self.headers)
                if image is not None:
                    return image
        if path.startswith("/planetary/"):
            return json_reply({"error": {"code": "NOT_FOUND", "message": (
                "The requested URL was not found on this server.")}}, 404)
        return text_reply("<html><body><h1>Not Found</h1></body></html>", 404)

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        state = self.server.state
        if path == "/_replay/faults":
            if method == "GET":
                return json_reply({"faults": state.faults.listing()})
            if method == "DELETE":
                state.faults.clear()
                return json_reply({"faults": []})
            if method == "POST":
                try:
                    specs = json.loads(body or b"null")
                    specs = specs if isinstance(specs, list) else [specs]
                    armed = [state.faults.arm(spec).to_json() for spec in specs]
                except ValueError as exc:
                    return json_reply({"error": str(exc)}, 400)
                return json_reply({"armed": armed}, 201)
        if path == "/_replay/requests" and method == "GET":
            prefix = dict(parse_qsl(urlsplit(self.path).query)).get("path", "")
            return json_reply({"requests": state.requests.entries(prefix)})
        if path == "/_replay/reset" and method == "POST":
            state.reset()
            return json_reply({"reset": True})
        if path == "/_replay/status" and method == "GET":
            return json_reply({"status": "ok",
                               "samples": [s.name for s in state.helioviewer.samples]})
        return json_reply({"error": f"no control endpoint {method} {path}"}, 404)

    def _send(self, reply: Reply, method: str, cut_at: int | None = None) -> None:
        """Write the reply; with `cut_at`, announce the full length, send that many bytes
        and close the connection."""
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if cut_at is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(reply.body if cut_at is None else reply.body[:cut_at])
        self.wfile.flush()


class ReplayServer:
    """The server bound to host:port (port 0 picks a free one); run in a thread or blocking.

    Accepted APOD keys are DEMO_KEY plus `apod_keys`; DEMO_KEY gets `demo_key_limit`
    requests per rolling hour, other keys `key_limit`. With `archive`, Helioviewer
    serves the synthetic archive around the samples (archive.py).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, samples_dir: Path,
                 apod_keys: Iterable[str] = (), demo_key_limit: int = 30,
                 key_limit: int = 1000, now: Callable[[], datetime] = _utcnow,
                 archive: ArchiveConfig | None = None) -> None:
        self.state = ReplayState(samples_dir, apod_keys, demo_key_limit, key_limit, now,
                                 archive)
        self._server = _Server((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8081 (use it for both Helioviewer and APOD)."""
        return f"http://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until stop() is called from another thread (or the process ends)."""
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> ReplayServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="replay-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
