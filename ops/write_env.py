"""Write .env: every generated secret and setting as KEY=VALUE, keeping existing keys.

Run by `make setup`. Re-running adds only keys that are missing, so secrets never change
under a running platform; delete a line to have it generated anew. One exception: a
NASAFLOW_DB_URL still logging in as the owner role (as .env files written before the
database had separate roles did) is replaced by the writer's URL.

The file is written to a temporary file created with mode 0600 and renamed over .env, so
no reader ever sees it with wider permissions or half written.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
import tempfile
import uuid
from pathlib import Path


def _token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def _kafka_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _db_url(role: str, password: str) -> str:
    return f"postgresql://{role}:{password}@127.0.0.1:5432/nasaflow"


def defaults(existing: dict[str, str]) -> dict[str, str]:
    """The settings .env must hold; derived values reuse already present secrets."""
    db_password = existing.get("NASAFLOW_DB_PASSWORD") or _token()
    writer_password = existing.get("NASAFLOW_DB_WRITER_PASSWORD") or _token()
    reader_password = existing.get("NASAFLOW_DB_READER_PASSWORD") or _token()
    airflow_db_password = existing.get("AIRFLOW_DB_PASSWORD") or _token()
    return {
        "POSTGRES_PASSWORD": _token(),
        "AIRFLOW_ADMIN_USER": "admin",
        "AIRFLOW_ADMIN_PASSWORD": _token(12),
        "AIRFLOW_OPERATOR_USER": "operator",
        "AIRFLOW_OPERATOR_PASSWORD": _token(12),
        "AIRFLOW_VIEWER_USER": "viewer",
        "AIRFLOW_VIEWER_PASSWORD": _token(12),
        "AIRFLOW_DB_PASSWORD": airflow_db_password,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://airflow:{airflow_db_password}@127.0.0.1:5432/airflow"
        ),
        "AIRFLOW__API_AUTH__JWT_SECRET": _token(32),
        "AIRFLOW__API__SECRET_KEY": _token(32),
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "NASAFLOW_DB_PASSWORD": db_password,
        "NASAFLOW_DB_WRITER_PASSWORD": writer_password,
        "NASAFLOW_DB_READER_PASSWORD": reader_password,
        "NASAFLOW_DB_OWNER_URL": _db_url("nasaflow", db_password),
        "NASAFLOW_DB_URL": _db_url("nasaflow_writer", writer_password),
        "NASAFLOW_DB_READER_URL": _db_url("nasaflow_reader", reader_password),
        "NASAFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "NASAFLOW_KAFKA_TOPIC": "image-parameters",
        "NASAFLOW_APOD_API_KEY": "DEMO_KEY",
        "NASAFLOW_REPLAY_PORT": "8081",
        "KAFKA_CLUSTER_ID": _kafka_cluster_id(),
        # The cluster profile's Celery broker (nasaflow.operations.cluster.airflow).
        "NASAFLOW_REDIS_PASSWORD": _token(),
        # The cluster profile's object store (S3 API): an AWS-shaped key pair, 20 and 40
        # characters, none of them a '/' (S3 signatures split the credential on it).
        "NASAFLOW_STORE_ACCESS_KEY": secrets.token_hex(10).upper(),
        "NASAFLOW_STORE_SECRET_KEY": _token(30),
    }


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an existing .env (comments and blanks ignored)."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key = _key(line)
        if key is not None:
            values[key] = line.split("=", 1)[1].strip()
    return values


def _key(line: str) -> str | None:
    """The KEY of a KEY=VALUE line; None for comments and blanks."""
    if "=" not in line or line.lstrip().startswith("#"):
        return None
    return line.split("=", 1)[0].strip()


def outdated(existing: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    """Keys whose value must be replaced: a data URL still naming the owner role."""
    legacy = _db_url("nasaflow", existing.get("NASAFLOW_DB_PASSWORD", ""))
    if existing.get("NASAFLOW_DB_URL") == legacy:
        return {"NASAFLOW_DB_URL": wanted["NASAFLOW_DB_URL"]}
    return {}


def write_private(path: Path, text: str) -> None:
    """Replace `path` by `text` atomically; the file is mode 0600 from its first byte."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:  # mkstemp creates the file with mode 0600
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(path: Path) -> None:
    existing = read_env(path)
    wanted = defaults(existing)
    missing = {k: v for k, v in wanted.items() if k not in existing}
    replaced = outdated(existing, wanted)
    if not missing and not replaced and path.stat().st_mode & 0o077 == 0:
        return
    lines = path.read_text().splitlines() if path.exists() else [
        "# Generated by make setup. Secrets: never commit."]
    lines = [f"{_key(line)}={replaced[_key(line)]}" if _key(line) in replaced else line
             for line in lines]
    lines += [f"{key}={value}" for key, value in missing.items()]
    write_private(path, "\n".join(lines) + "\n")
    changed = [*missing, *replaced]
    print(f"[nasaflow] .env: wrote {', '.join(changed) or 'mode 0600'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
