"""Private schemas of the platform's database for tests: migrated from include/sql (or a
subset of it), reached through a URL whose search path holds only them, dropped after."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from nasaflow.db.migrate import migrate
from nasaflow.db.partitions import forget_partitioning
from nasaflow.settings import SQL_DIR, Settings, url_user


def migrate_schema(url: str, sql_dir: Path = SQL_DIR,
                   roles: tuple[str, str] | None = None) -> list[str]:
    """Migrate the database or schema of owner URL `url` with the platform's writer and
    reader role names (or `roles`, e.g. on a scratch cluster without them)."""
    if roles is None:
        settings = Settings.from_env()
        roles = (url_user(settings.db_url), url_user(settings.db_reader_url))
    return migrate(url, *roles, sql_dir)


def schema_url(db_url: str, schema: str) -> str:
    """`db_url` with `schema` as the only schema on the search path."""
    separator = "&" if "?" in db_url else "?"
    return f"{db_url}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(scope="module")
def private_schemas() -> Iterator[Callable[[Path], str]]:
    """Makes schemas of the platform's database migrated from a folder of migrations;
    returns their URLs, drops them all at the end."""
    made: list[str] = []
    # Schemas are created and used as the owner: the writer has no DDL rights.
    platform_url = Settings.from_env().db_owner_url

    def make(sql_dir: Path = SQL_DIR) -> str:
        schema = f"test_contract_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(platform_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        made.append(schema)
        url = schema_url(platform_url, schema)
        migrate_schema(url, sql_dir)
        return url

    yield make
    with psycopg.connect(platform_url, autocommit=True) as conn:
        for schema in made:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            forget_partitioning(conn, schema)


def migrations_before(tmp_path: Path, number: str) -> Path:
    """A folder holding the migrations of include/sql numbered below `number`."""
    folder = tmp_path / f"sql-before-{number}"
    folder.mkdir()
    for path in sorted(SQL_DIR.glob("[0-9]*.sql")):
        if path.name < number:
            shutil.copy(path, folder / path.name)
    return folder
