"""PostgreSQL access for the data database (psycopg 3)."""

from __future__ import annotations

from typing import Any

import psycopg


def connect(db_url: str, **kwargs: Any) -> psycopg.Connection:
    """Open a connection to the data database; `db_url` is a postgresql:// URL."""
    return psycopg.connect(db_url, **kwargs)
