"""The sink's contract with PostgreSQL: every column it writes exists, checked at start.

The sink's column list comes from the code (nasaflow.sink.records.CELL_COLUMNS, built
from the parameter names), the tables from the migrations in include/sql. When they
drift apart (a parameter added without its migration, a database not migrated) every
micro-batch would fail and the stream be restarted forever. So the driver checks once,
before it starts, and stops with `SchemaDriftError`, which names the migrations to apply
(or says that none creates the columns), and the distinct exit code
`SCHEMA_DRIFT_EXIT_CODE`: a restart cannot fix this, so a scheduler must not retry it.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from nasaflow.db.migrate import pending_migrations
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.sink.records import CELL_COLUMNS
from nasaflow.sink.staging import STAGED_CELLS

#: Exit code of a driver that did not start because the database lacks columns it writes:
#: sysexits' EX_CONFIG. Not transient: the stream DAG must fail the task without retrying
#: (a retry meets the same tables) until someone runs `nasaflow migrate`.
SCHEMA_DRIFT_EXIT_CODE = 78
#: The tables the sink writes cell rows into: image_parameters is, since migration 007, a
#: view over image_cells, whose parameter columns must accept NULL too.
CELL_TABLES: tuple[str, ...] = ("image_parameters", STAGED_CELLS)
STORED_CELLS = "image_cells"
#: The per-image summaries every batch refreshes (include/sql/009).
SUMMARY_TABLE = "image_parameter_summary"


class SchemaDriftError(RuntimeError):
    """The database lacks a column the sink writes, or refuses NULL in a parameter."""


def check_sink_schema(db_url: str) -> None:
    """Raise SchemaDriftError unless every table of CELL_TABLES has every column of
    CELL_COLUMNS and its parameter columns accept NULL (undefined values are null), and
    the per-image summaries each batch refreshes exist.

    Tables are looked up in the connection's current schema.

    Raises:
        SchemaDriftError: what is missing, and the migrations to apply.
        psycopg.OperationalError: PostgreSQL cannot be reached.
    """
    with psycopg.connect(db_url, autocommit=True) as conn:
        faults = _faults(conn)
        if faults:
            raise SchemaDriftError(
                f"{'; '.join(faults)}: {_remedy(_applied_migrations(conn))}")


def _faults(conn: psycopg.Connection) -> list[str]:
    faults: list[str] = []
    for table in (*CELL_TABLES, STORED_CELLS):
        columns: dict[str, bool] = dict(conn.execute(
            "SELECT column_name, is_nullable = 'YES' FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s", (table,)).fetchall())
        if table == STORED_CELLS:
            # Before 007 it does not exist; image_parameters then lacks observed_at.
            not_null = [name for name in PARAMETER_NAMES if columns.get(name) is False]
            if not_null:
                faults.append(f"{table} refuses NULL in {', '.join(not_null)}")
            continue
        if not columns:
            faults.append(f"table {table} does not exist")
            continue
        missing = [name for name in CELL_COLUMNS if name not in columns]
        if missing:
            faults.append(f"{table} lacks column{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(missing)}")
        not_null = [name for name in PARAMETER_NAMES if columns.get(name) is False]
        if not_null:
            faults.append(f"{table} refuses NULL in {', '.join(not_null)}")
    summary = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (SUMMARY_TABLE,)).fetchone()
    if not summary or not summary[0]:
        faults.append(f"table {SUMMARY_TABLE} does not exist")
    return faults


def _applied_migrations(conn: psycopg.Connection) -> set[str]:
    found = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def _remedy(applied: set[str]) -> str:
    pending: Sequence[str] = [path.stem for path in pending_migrations(applied)]
    if pending:
        return (f"apply migration{'s' if len(pending) > 1 else ''} {', '.join(pending)} "
                "(nasaflow migrate)")
    return ("every migration in include/sql is applied, so none creates these columns: "
            "a parameter or column was added to the code without its migration")
