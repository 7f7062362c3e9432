"""register_images and quarantine upsert into PostgreSQL (needs the platform's database)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from nasaflow.ingest import DownloadedImage, QuarantinedImage, quarantine, register_images

pytestmark = pytest.mark.services


@pytest.fixture()
def conn(db_conn: psycopg.Connection) -> psycopg.Connection:
    """The platform's data database (tests/conftest.py); fails, never skips, without it."""
    return db_conn


@pytest.fixture()
def prefix(conn) -> Iterator[str]:
    marker = f"test-{uuid.uuid4().hex[:10]}-"
    yield marker
    conn.execute("DELETE FROM images WHERE id LIKE %s", (marker + "%",))
    conn.execute("DELETE FROM quarantined_images WHERE id LIKE %s", (marker + "%",))


def _image(image_id: str, sha: str = "a" * 64) -> DownloadedImage:
    return DownloadedImage(image_id, "helioviewer", "AIA", "193",
                           datetime(2022, 1, 1, 0, 3, 52, 835_000, tzinfo=UTC),
                           4096, 4096, sha, f"/data/{image_id}.jp2", 1077976,
                           {"image_id": "571095952"})


def test_register_images_upserts_by_id(conn, prefix: str) -> None:
    first = _image(prefix + "a")
    assert register_images(conn, [first, _image(prefix + "b").to_dict()]) == 2
    registered_at = conn.execute("SELECT registered_at FROM images WHERE id = %s",
                                 (first.id,)).fetchone()[0]
    register_images(conn, [first])
    register_images(conn, [_image(prefix + "a", sha="b" * 64)])
    rows = conn.execute("SELECT id, sha256, observed_at, source_ref, registered_at FROM images "
                        "WHERE id LIKE %s ORDER BY id", (prefix + "%",)).fetchall()
    assert [row[0] for row in rows] == [prefix + "a", prefix + "b"]
    assert rows[0][1] == "b" * 64 and rows[0][4] == registered_at
    assert rows[0][2] == first.observed_at and rows[0][3] == {"image_id": "571095952"}


def test_quarantine_records_the_reason(conn, prefix: str) -> None:
    record = QuarantinedImage(prefix + "bad", "helioviewer",
                              "JP2: expected signature 0000000c6a5020200d0a870a, got 0000",
                              "/data/quarantine/x.bad", {"url": "http://127.0.0.1/x"})
    quarantine(conn, [record])
    quarantine(conn, [record.to_dict()])
    rows = conn.execute("SELECT reason, path, request FROM quarantined_images WHERE id = %s",
                        (record.id,)).fetchall()
    assert rows == [(record.reason, record.path, record.request)]
