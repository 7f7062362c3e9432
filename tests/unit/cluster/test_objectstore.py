"""Locations of stored images: local paths and file:// URIs read, write and delete on the
local disk; s3:// URIs need the store's endpoint and name a bucket and a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasaflow import objectstore
from nasaflow.settings import Settings


def test_a_local_file_is_put_read_sized_and_deleted(tmp_path: Path) -> None:
    source = tmp_path / "source.jp2"
    source.write_bytes(b"\x00jp2 bytes")
    target = str(tmp_path / "store" / "a" / "b.jp2")
    objectstore.put_file(source, target)
    assert objectstore.read_bytes(target) == b"\x00jp2 bytes"
    assert objectstore.read_bytes(f"file://{target}") == b"\x00jp2 bytes"
    assert objectstore.size_of(target) == len(b"\x00jp2 bytes")
    objectstore.delete(target)
    objectstore.delete(target)  # nothing there is not an error
    assert objectstore.size_of(target) is None
    with pytest.raises(FileNotFoundError):
        objectstore.read_bytes(target)


def test_uris_join_with_slashes_and_paths_as_paths() -> None:
    assert objectstore.join("s3://nasaflow/images/", "helioviewer", "/AIA/x.jp2") \
        == "s3://nasaflow/images/helioviewer/AIA/x.jp2"
    assert objectstore.join("/data/images", "a", "b.jp2") == "/data/images/a/b.jp2"
    assert objectstore.is_remote("s3a://nasaflow/checkpoints")
    assert not objectstore.is_remote("/data/images") and not objectstore.is_remote("file:///x")


def test_an_s3_location_without_an_endpoint_is_refused_clearly() -> None:
    with pytest.raises(objectstore.StoreError, match="NASAFLOW_STORE_ENDPOINT"):
        objectstore.read_bytes("s3://nasaflow/images/x.jp2", Settings(store_endpoint=""))


@pytest.mark.parametrize("location", ["s3://nasaflow", "s3:///key-without-bucket"])
def test_an_s3_location_needs_a_bucket_and_a_key(location: str) -> None:
    settings = Settings(store_endpoint="http://127.0.0.1:1")
    with pytest.raises(objectstore.StoreError, match="expected s3://<bucket>/<key>"):
        objectstore.resolve(location, settings)


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(objectstore.StoreError, match="unsupported scheme 'hdfs'"):
        objectstore.resolve("hdfs://namenode/images/x.jp2")


def test_the_store_secret_never_shows_in_settings() -> None:
    shown = repr(Settings(store_endpoint="http://127.0.0.1:8333", store_access_key="ak",
                          store_secret_key="very-secret"))
    assert "very-secret" not in shown and "store_secret_key='***'" in shown
