"""Apply include/sql/NNN_*.sql in order, each once, recorded in schema_migrations.

`make up` runs it on every start; a migration already applied is skipped, so the call is
idempotent. Each file runs in its own transaction under an advisory lock, so two
concurrent runs cannot interleave. Migrations run as the owner role (NASAFLOW_DB_OWNER_URL);
the writer and reader role names are handed to them as the session settings
nasaflow.writer_role and nasaflow.reader_role (006_roles.sql grants them their rights).
Then the monthly partitions of the cells are brought up to date (nasaflow.db.partitions),
so every start creates the months ahead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nasaflow.settings import SQL_DIR, Settings, get_settings, url_user

#: Arbitrary constant identifying the migration lock among advisory locks.
MIGRATION_LOCK_ID = 0x6E617361


def pending_migrations(applied: set[str], sql_dir: Path = SQL_DIR) -> list[Path]:
    """SQL files not yet recorded as applied, in name order."""
    return [path for path in sorted(sql_dir.glob("[0-9]*.sql")) if path.stem not in applied]


def migrate(owner_url: str, writer_role: str, reader_role: str,
            sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations as the owner; returns the names applied by this call."""
    from nasaflow.db import connect
    from nasaflow.db.partitions import maintain_partitions

    applied_now: list[str] = []
    with connect(owner_url, autocommit=True) as conn:
        conn.execute("SELECT set_config('nasaflow.writer_role', %s, false),"
                     " set_config('nasaflow.reader_role', %s, false)",
                     (writer_role, reader_role))
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for path in pending_migrations(applied, sql_dir):
            with conn.transaction():
                conn.execute(path.read_text())
                conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES (%s) ON CONFLICT DO NOTHING",
                    (path.stem,),
                )
            applied_now.append(path.stem)
        maintain_partitions(conn)
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    return applied_now


def migrate_settings(settings: Settings) -> list[str]:
    """Apply pending migrations to the database of `settings`, with its three roles."""
    return migrate(settings.db_owner_url, url_user(settings.db_url),
                   url_user(settings.db_reader_url))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`nasaflow migrate`: the database and roles of NASAFLOW_DB_*_URL."""


def run(args: argparse.Namespace) -> int:
    applied = migrate_settings(get_settings())
    print(f"applied: {', '.join(applied)}" if applied else "schema up to date")
    return 0
