"""Monthly partitions of image_cells, kept ahead of the data by pg_partman.

Cells are stored in one partition per month of their image's observation (include/sql/007).
pg_partman creates the months up to `premake` (6) ahead when asked to run its maintenance;
nothing here runs it in the background (its background worker needs a PostgreSQL restart
with shared_preload_libraries), so `nasaflow migrate`, which every `make up` runs, calls
`maintain_partitions` after the migrations, and `nasaflow partitions` does it on demand
(e.g. from a daily schedule). A row whose month has no partition yet is not lost: it lands
in the default partition, where it is unique and upserted like any other.
"""

from __future__ import annotations

import argparse

import psycopg
from psycopg import sql

from nasaflow.settings import get_settings

#: The partitioned table of cells.
CELLS_TABLE = "image_cells"


def partman_parent(conn: psycopg.Connection) -> str | None:
    """`schema.image_cells` of the connection's current schema when pg_partman manages it
    (i.e. migration 007 ran there), else None."""
    row = conn.execute(
        "SELECT format('%%I.%%I', current_schema(), %s::text),"
        " to_regclass('partman.part_config') IS NOT NULL", (CELLS_TABLE,)).fetchone()
    if row is None or not row[1]:
        return None
    parent = row[0]
    configured = conn.execute("SELECT 1 FROM partman.part_config WHERE parent_table = %s",
                              (parent,)).fetchone()
    return parent if configured else None


def maintain_partitions(conn: psycopg.Connection) -> list[str]:
    """Create the months pg_partman keeps ahead of today for image_cells (if it manages
    the table in the current schema); returns the partitions created by this call."""
    parent = partman_parent(conn)
    if parent is None:
        return []
    before = set(partition_names(conn, parent))
    with conn.transaction():
        conn.execute("SELECT partman.run_maintenance(p_parent_table := %s, p_jobmon := false)",
                     (parent,))
    return sorted(set(partition_names(conn, parent)) - before)


def partition_names(conn: psycopg.Connection, parent: str) -> list[str]:
    """The partitions of `parent` (schema-qualified), default partition included."""
    return [f"{schema}.{table}" for schema, table in conn.execute(
        "SELECT partition_schemaname, partition_tablename FROM partman.show_partitions("
        "p_parent_table := %s, p_include_default := true)", (parent,)).fetchall()]


def forget_partitioning(conn: psycopg.Connection, schema: str) -> None:
    """Drop pg_partman's configuration and template tables of `schema`'s tables, after
    `schema` was dropped (a test's or benchmark's private schema): pg_partman keeps them in
    its own schema, which dropping `schema` leaves alone, and its maintenance would then
    look for tables that are gone."""
    if conn.execute("SELECT to_regclass('partman.part_config')").fetchone() == (None,):
        return
    templates = conn.execute(
        "DELETE FROM partman.part_config WHERE split_part(parent_table, '.', 1) = %s"
        " RETURNING template_table", (schema,)).fetchall()
    for (template,) in templates:
        if template:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                sql.Identifier(*template.split(".", 1))))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`nasaflow partitions [--db-url URL]`."""
    parser.add_argument("--db-url", help="postgresql:// URL (default: NASAFLOW_DB_URL)")


def run(args: argparse.Namespace) -> int:
    from nasaflow.db import connect

    with connect(args.db_url or get_settings().db_url, autocommit=True) as conn:
        created = maintain_partitions(conn)
    print(f"created: {', '.join(created)}" if created else "partitions up to date")
    return 0
