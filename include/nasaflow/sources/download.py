"""Verified, atomic, idempotent image downloads (§5.4).

An image under its final name must always be complete and checked: the parameter job and
every re-run trust it. So bytes stream into a private `.part` file next to the target,
are hashed while streaming, checked (length, magic, trailer, header, decode), fsynced and
only then renamed into place, and the directory is fsynced. Each directory keeps a JSONL
manifest (name, size, sha256, url, times, headers) so a re-run verifies what it has
instead of downloading again. Bytes that stay bad after retries are moved to the
quarantine folder with a JSON note saying why, for a person to inspect.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import urllib3

from nasaflow.images.verify import CONTENT_TYPES, verify_image
from nasaflow.sources.errors import CorruptImageError, MissingFileError, UnexpectedBodyError
from nasaflow.sources.http import DOWNLOAD_TIMEOUT, HttpClient

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
_CHUNK = 64 * 1024
#: A transfer may take max(_MIN_DEADLINE, size / _MIN_RATE) seconds in total (§5.1).
_MIN_DEADLINE = 120.0
_MIN_RATE = 50_000.0
_KEPT_HEADERS = ("Content-Type", "Content-Length", "Content-Disposition", "ETag",
                 "Last-Modified")
_DISPOSITION = re.compile(r'filename="?([^";]+)"?')


@dataclass(frozen=True)
class DownloadResult:
    """A verified file under its final name."""

    path: Path
    size: int
    sha256: str
    format: str
    width: int
    height: int
    #: False when an already verified file was kept and nothing was downloaded.
    downloaded: bool


@dataclass(frozen=True)
class ImageRequest:
    """What to download and what the result must look like."""

    url: str
    dest: Path
    format: str
    params: dict[str, str] | None = None
    #: (width, height) announced by the API, checked against the file header.
    size: tuple[int, int] | None = None
    #: File name the server must announce in Content-Disposition, if it sends one.
    filename: str | None = None
    source_time: datetime | None = None


class Manifest:
    """The JSONL record of verified files in one directory; appends are locked."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / MANIFEST_NAME

    def lookup(self, name: str) -> dict[str, Any] | None:
        """The newest entry for a file name, or None."""
        found = None
        if not self.path.exists():
            return None
        with self.path.open("r", encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("name") == name:
                    found = entry
        return found

    def append(self, entry: dict[str, Any]) -> None:
        """Add one entry durably, safe against concurrent writers."""
        line = json.dumps(entry, sort_keys=True, default=str) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def quarantine_file(path: Path, quarantine_dir: Path, reason: str,
                    details: dict[str, Any] | None = None) -> Path:
    """Move bad bytes out of the image store, with a `.json` note next to them."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    stem = path.name.removesuffix(".part")
    target = quarantine_dir / f"{stem}.{stamp}.bad"
    os.replace(path, target)
    note = {"reason": reason, "original": str(path), "quarantined_at": stamp, **(details or {})}
    target.with_name(target.name + ".json").write_text(json.dumps(note, indent=2, default=str))
    log.warning("quarantined %s as %s: %s", path.name, target, reason)
    return target


def _reuse(request: ImageRequest, manifest: Manifest) -> DownloadResult | str:
    """The existing file as a result if it verifies, else the reason it does not."""
    dest = request.dest
    size = dest.stat().st_size
    entry = manifest.lookup(dest.name)
    if entry is not None:
        if entry.get("size") != size:
            return f"existing file has {size} bytes, the manifest says {entry.get('size')}"
        digest = sha256_file(dest)
        if entry.get("sha256") != digest:
            return f"existing file has sha256 {digest}, the manifest says {entry.get('sha256')}"
        return DownloadResult(dest, size, digest, entry["format"], int(entry["width"]),
                              int(entry["height"]), downloaded=False)
    try:
        info = verify_image(dest.read_bytes(), request.format, request.size)
    except CorruptImageError as exc:
        return f"existing file without manifest entry fails verification: {exc.reason}"
    digest = sha256_file(dest)
    result = DownloadResult(dest, size, digest, info.format, info.width, info.height,
                            downloaded=False)
    manifest.append(_manifest_entry(result, request, url=None, headers={}))
    return result


def _manifest_entry(result: DownloadResult, request: ImageRequest, url: str | None,
                    headers: dict[str, str]) -> dict[str, Any]:
    entry = asdict(result)
    entry.update(name=result.path.name, path=str(result.path), url=url,
                 source_time=request.source_time, headers=headers,
                 fetched_at=datetime.now(UTC).isoformat())
    entry.pop("downloaded")
    return entry


#: What Helioviewer's getJP2Image sends, as 200 image/jp2, for an indexed image whose file
#: is missing from its archive.
MISSING_FILE_BODY = b"File not found."


class _Receiver:
    """The response check of one download: streams, hashes and verifies each attempt."""

    def __init__(self, request: ImageRequest) -> None:
        self.request = request
        self.result: DownloadResult | None = None
        self.headers: dict[str, str] = {}
        self.url: str | None = None
        #: The newest attempt whose bytes failed verification, kept for quarantine.
        self.failed_part: Path | None = None
        self.failed_reason: str | None = None

    def __call__(self, response: requests.Response) -> None:
        request = self.request
        url = response.url
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        expected_type = CONTENT_TYPES[request.format]
        if content_type.startswith("text/") or content_type.endswith(("json", "xml")):
            # An error page or document: report it, never write it.
            text = next(response.iter_content(65536), b"").decode("utf-8", "replace")
            self._failed(None, f"expected {expected_type}, got {content_type}: "
                               f"{' '.join(text[:160].split())!r}")
            raise UnexpectedBodyError(self.failed_reason or "", url=url,
                                      status=response.status_code,
                                      rate_limited="Limit of" in text)
        if content_type and content_type != expected_type:
            log.warning("%s: expected Content-Type %s, got %s", url, expected_type, content_type)
        announced = _DISPOSITION.search(response.headers.get("Content-Disposition", ""))
        if request.filename and announced and announced.group(1) != request.filename:
            self._failed(None, f"expected file {request.filename}, the server sent "
                               f"{announced.group(1)}")
            raise UnexpectedBodyError(self.failed_reason or "", url=url)
        part = request.dest.with_name(f"{request.dest.name}.{uuid.uuid4().hex[:12]}.part")
        size, digest = self._stream(response, part)
        if size <= len(MISSING_FILE_BODY) + 2 and \
                part.read_bytes().strip() == MISSING_FILE_BODY:
            part.unlink(missing_ok=True)
            raise MissingFileError(f"{request.dest.name}: the source indexes it but answered "
                                   f"{MISSING_FILE_BODY.decode()!r}", url=url,
                                   status=response.status_code)
        try:
            info = verify_image(part.read_bytes(), request.format, request.size)
        except CorruptImageError as exc:
            self._failed(part, exc.reason)
            raise UnexpectedBodyError(exc.reason, url=url, status=response.status_code) from exc
        self.discard_failed()
        os.replace(part, request.dest)
        _fsync_dir(request.dest.parent)
        self.url = url
        self.headers = {k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers}
        self.result = DownloadResult(request.dest, size, digest, info.format, info.width,
                                     info.height, downloaded=True)

    def _stream(self, response: requests.Response, part: Path) -> tuple[int, str]:
        """Write the body to `part`, fsynced; (size, sha256). Cut transfers raise transient."""
        announced = response.headers.get("Content-Length")
        expected = int(announced) if announced and announced.isdigit() else None
        deadline = time.monotonic() + max(_MIN_DEADLINE, (expected or 0) / _MIN_RATE)
        digest = hashlib.sha256()
        size = 0
        try:
            with part.open("wb") as handle:
                for chunk in response.iter_content(_CHUNK):
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if time.monotonic() > deadline:
                        raise UnexpectedBodyError(
                            f"expected the transfer within the deadline, {size} bytes after "
                            f"{_MIN_DEADLINE:.0f} s or more", url=response.url, transient=True)
                handle.flush()
                os.fsync(handle.fileno())
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            part.unlink(missing_ok=True)
            raise UnexpectedBodyError(
                f"expected {expected if expected is not None else 'the whole'} bytes, the "
                f"transfer broke after {size}: {type(exc).__name__}", url=response.url,
                transient=True) from exc
        except UnexpectedBodyError:
            part.unlink(missing_ok=True)
            raise
        if expected is not None and size != expected:
            part.unlink(missing_ok=True)
            raise UnexpectedBodyError(f"expected Content-Length {expected} bytes, got {size}",
                                      url=response.url, transient=True)
        return size, digest.hexdigest()

    def _failed(self, part: Path | None, reason: str) -> None:
        self.discard_failed()
        self.failed_part = part
        self.failed_reason = reason

    def discard_failed(self) -> None:
        """Delete the kept bytes of a failed attempt, if any."""
        if self.failed_part is not None:
            self.failed_part.unlink(missing_ok=True)
            self.failed_part = None


def fetch_image(http: HttpClient, request: ImageRequest, quarantine_dir: Path) -> DownloadResult:
    """Make `request.dest` a verified copy of the image, downloading only if needed.

    Raises CorruptImageError (after quarantining the bytes) when every attempt delivered
    bad content, UnavailableError when the transfer kept failing, RetryLaterError etc. from
    the HTTP layer.
    """
    dest = request.dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(dest.parent)
    if dest.exists():
        reused = _reuse(request, manifest)
        if isinstance(reused, DownloadResult):
            log.info("%s already verified, not downloading", dest.name)
            return reused
        quarantine_file(dest, quarantine_dir, reused, {"url": request.url})
    receiver = _Receiver(request)
    try:
        http.get(request.url, params=request.params, timeout=DOWNLOAD_TIMEOUT, stream=True,
                 check=receiver)
    except UnexpectedBodyError as exc:
        reason = receiver.failed_reason or str(exc)
        quarantined = None
        if receiver.failed_part is not None:
            quarantined = quarantine_file(receiver.failed_part, quarantine_dir, reason,
                                          {"url": exc.url or request.url})
        raise CorruptImageError(f"{dest.name}: {reason}", url=exc.url or request.url,
                                status=exc.status,
                                quarantined_path=str(quarantined) if quarantined else None
                                ) from exc
    except BaseException:
        receiver.discard_failed()
        raise
    assert receiver.result is not None
    manifest.append(_manifest_entry(receiver.result, request, receiver.url, receiver.headers))
    return receiver.result
