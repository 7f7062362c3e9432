"""Least privilege in the data database (include/sql/006_roles.sql), on the test database:
the writer changes rows only, the reader only reads, the owner alone changes the schema,
and tables the owner creates later get the same grants."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from nasaflow.settings import Settings, url_user

pytestmark = pytest.mark.services

IMAGE_ROW = ("INSERT INTO images (id, source, instrument, wavelength, observed_at, width,"
             " height, sha256, path, size_bytes) VALUES (%s, 'helioviewer', 'AIA', '193',"
             " now(), 1, 1, repeat('0', 64), '/nowhere', 1)")


@pytest.fixture()
def writer(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture()
def reader(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.db_reader_url, autocommit=True) as conn:
        yield conn


@pytest.fixture()
def owner(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.db_owner_url, autocommit=True) as conn:
        yield conn


def refused(conn: psycopg.Connection, statement: str, params: tuple = ()) -> bool:
    try:
        conn.execute(statement, params)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_three_distinct_logins(settings: Settings, writer: psycopg.Connection,
                               reader: psycopg.Connection, owner: psycopg.Connection) -> None:
    users = [(conn.execute("SELECT current_user").fetchone() or ("",))[0]
             for conn in (owner, writer, reader)]
    assert users == [url_user(settings.db_owner_url), url_user(settings.db_url),
                     url_user(settings.db_reader_url)]
    assert len(set(users)) == 3


def test_the_writer_changes_rows_but_not_the_schema(writer: psycopg.Connection) -> None:
    image_id = f"roles-test-{uuid.uuid4().hex}"
    writer.execute(IMAGE_ROW, (image_id,))
    writer.execute("UPDATE images SET path = '/elsewhere' WHERE id = %s", (image_id,))
    writer.execute("DELETE FROM images WHERE id = %s", (image_id,))
    assert refused(writer, f"CREATE TABLE roles_test_{uuid.uuid4().hex[:8]} (x int)")
    assert refused(writer, "DROP TABLE images")
    assert refused(writer, "ALTER TABLE images ADD COLUMN x int")
    assert refused(writer, "TRUNCATE image_cells")
    assert refused(writer, "INSERT INTO schema_migrations (version) VALUES ('999_forged')")


def test_the_reader_reads_every_table_and_changes_nothing(reader: psycopg.Connection) -> None:
    tables = [row[0] for row in reader.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert {"images", "image_cells", "stream_batches", "schema_migrations"} <= set(tables)
    for table in tables:
        reader.execute(f'SELECT count(*) FROM "{table}"')
    assert refused(reader, IMAGE_ROW, (f"roles-test-{uuid.uuid4().hex}",))
    assert refused(reader, "DELETE FROM image_cells")
    assert refused(reader, "UPDATE stream_batches SET rows = 0")


def test_a_table_the_owner_creates_later_gets_the_same_grants(
        owner: psycopg.Connection, writer: psycopg.Connection,
        reader: psycopg.Connection) -> None:
    table = f"roles_test_{uuid.uuid4().hex[:8]}"
    owner.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, note text)")
    try:
        writer.execute(f"INSERT INTO {table} (note) VALUES ('by the writer')")
        assert reader.execute(f"SELECT note FROM {table}").fetchall() == [("by the writer",)]
        assert refused(reader, f"INSERT INTO {table} (note) VALUES ('by the reader')")
        assert refused(writer, f"DROP TABLE {table}")
    finally:
        owner.execute(f"DROP TABLE {table}")
