"""Files by location: a local path, or an object of the cluster's S3 store (s3://bucket/key).

The default profile keeps images on the local disk; the cluster profile keeps them in an
S3-compatible object store every process reaches, so Spark executors on any worker read
an image by its URI instead of from the driver's disk. Every read, write and delete of a
stored image goes through here, on pyarrow's file systems (its S3 client is the AWS SDK's),
so the library has one code path whatever the store is.

The S3 endpoint and keys are settings (NASAFLOW_STORE_ENDPOINT, NASAFLOW_STORE_ACCESS_KEY,
NASAFLOW_STORE_SECRET_KEY), never part of a URI: URIs are recorded in the database and in
manifests, and name an object, not a way to reach it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from nasaflow.settings import Settings, get_settings

if TYPE_CHECKING:  # pyarrow is imported where a store is used: decoding a local file
    from pyarrow import fs as pafs  # (every Spark task) does not pay for its import

#: URI schemes of the object store. s3a:// is Hadoop's name for the same objects (Spark's
#: checkpoints); both resolve to the same bucket and key.
S3_SCHEMES = ("s3", "s3a")


class StoreError(OSError):
    """The store refused or could not complete an operation; the message names the URI."""


def is_remote(location: str) -> bool:
    """True for an s3:// or s3a:// URI, False for a local path or file:// URI."""
    return urlsplit(location).scheme in S3_SCHEMES


def join(base: str, *parts: str) -> str:
    """`base` (a path or URI) with `parts` appended, '/'-separated for URIs."""
    if is_remote(base):
        return "/".join([base.rstrip("/"), *(part.strip("/") for part in parts)])
    return str(Path(base, *parts))


@lru_cache(maxsize=4)
def _s3(endpoint: str, access_key: str, secret_key: str) -> pafs.S3FileSystem:
    """One S3 client per endpoint and key pair, reused by every call of the process."""
    from pyarrow import fs as pafs

    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StoreError(f"NASAFLOW_STORE_ENDPOINT must be an http(s):// URL, got {endpoint!r}")
    return pafs.S3FileSystem(access_key=access_key or None, secret_key=secret_key or None,
                             endpoint_override=parts.netloc, scheme=parts.scheme,
                             region="us-east-1", connect_timeout=5, request_timeout=60,
                             allow_bucket_creation=False, allow_bucket_deletion=False)


def resolve(location: str, settings: Settings | None = None) -> tuple[pafs.FileSystem, str]:
    """The file system holding `location` and the path within it."""
    from pyarrow import fs as pafs

    split = urlsplit(location)
    if split.scheme in S3_SCHEMES:
        settings = settings or get_settings()
        if not settings.store_endpoint:
            raise StoreError(f"{location}: an s3:// location needs NASAFLOW_STORE_ENDPOINT")
        if not split.netloc or not split.path.strip("/"):
            raise StoreError(f"{location}: expected s3://<bucket>/<key>")
        client = _s3(settings.store_endpoint, settings.store_access_key,
                     settings.store_secret_key)
        return client, f"{split.netloc}/{split.path.lstrip('/')}"
    if split.scheme == "file":
        return pafs.LocalFileSystem(), split.path
    if split.scheme:
        raise StoreError(f"{location}: unsupported scheme {split.scheme!r} (expected a "
                         f"path, file:// or s3://)")
    return pafs.LocalFileSystem(), os.path.abspath(location)


def read_bytes(location: str, settings: Settings | None = None) -> bytes:
    """The whole content of `location`.

    Raises:
        FileNotFoundError: nothing is stored there.
        StoreError: the store could not be reached or refused the read.
    """
    if not is_remote(location):
        return Path(location.removeprefix("file://")).read_bytes()
    filesystem, path = resolve(location, settings)
    try:
        with filesystem.open_input_stream(path) as stream:
            return bytes(stream.read())
    except FileNotFoundError:
        raise
    except OSError as exc:
        if "not found" in str(exc).lower() or "NoSuchKey" in str(exc):
            raise FileNotFoundError(f"{location}: not in the store") from exc
        raise StoreError(f"{location}: read failed: {exc}") from exc


def put_file(local_path: str | os.PathLike[str], location: str,
             settings: Settings | None = None) -> None:
    """Copy the local file `local_path` to `location` (one PUT per object on S3, so readers
    see the whole object or none of it)."""
    from pyarrow import fs as pafs

    filesystem, path = resolve(location, settings)
    try:
        if isinstance(filesystem, pafs.LocalFileSystem):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(str(local_path), path, source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=filesystem)
    except OSError as exc:
        raise StoreError(f"{location}: upload of {local_path} failed: {exc}") from exc


def size_of(location: str, settings: Settings | None = None) -> int | None:
    """The size in bytes of the object or file at `location`, None if there is none."""
    from pyarrow import fs as pafs

    filesystem, path = resolve(location, settings)
    try:
        info = filesystem.get_file_info(path)
    except OSError as exc:
        raise StoreError(f"{location}: lookup failed: {exc}") from exc
    return info.size if info.type == pafs.FileType.File else None


def delete(location: str, settings: Settings | None = None) -> None:
    """Remove the object or file at `location`; nothing there is not an error."""
    filesystem, path = resolve(location, settings)
    try:
        filesystem.delete_file(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        if "not found" in str(exc).lower() or "NoSuchKey" in str(exc):
            return
        raise StoreError(f"{location}: delete failed: {exc}") from exc
