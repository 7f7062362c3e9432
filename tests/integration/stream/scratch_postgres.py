"""A throwaway PostgreSQL cluster for the stream's fault tests: its own folder, port and
password, so a test can stop the database under a running stream without touching the
platform's cluster (which also holds Airflow's metadata)."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from nasaflow.db.migrate import migrate

SUPERUSER = "postgres"


def _bin_dir() -> Path:
    """The newest installed PostgreSQL's programs (initdb, pg_ctl)."""
    versions = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))
    return versions[-1] / "bin"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ScratchPostgres:
    """A cluster initialised in a new temporary folder, listening on 127.0.0.1 only.

    initdb refuses to run as root, so the cluster belongs to the system's postgres user;
    its superuser gets a random password (scram) instead of trust authentication.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="nasaflow-test-pg-"))
        shutil.chown(self.folder, SUPERUSER, SUPERUSER)
        self.data = self.folder / "data"
        self.port = _free_port()
        self.password = secrets.token_urlsafe(18)
        password_file = self.folder / "password"
        password_file.write_text(self.password)
        shutil.chown(password_file, SUPERUSER, SUPERUSER)
        self._as_postgres(str(_bin_dir() / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                          "--auth=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8")
        password_file.unlink()

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(["runuser", "-u", SUPERUSER, "--", *command], check=True,
                       capture_output=True, cwd=self.folder)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._as_postgres(str(_bin_dir() / "pg_ctl"), "-D", str(self.data), "-w",
                          "-l", str(self.folder / "server.log"),
                          "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1",
                          "start")

    def stop(self) -> None:
        """Stop the server now (fast mode: open sessions are ended, as in a crash)."""
        self._as_postgres(str(_bin_dir() / "pg_ctl"), "-D", str(self.data), "-w", "-m",
                          "fast", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return (f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/"
                f"{database}")

    def create_database(self, name: str, migrated: bool = True) -> str:
        """Create database `name` (with the project's migrations unless `migrated` is
        False); returns its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if migrated:
            # This cluster has only its superuser: it stands in for the writer and reader.
            migrate(self.url(name), SUPERUSER, SUPERUSER)
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server if it runs and delete the cluster's folder."""
        if self.running():
            subprocess.run(["runuser", "-u", SUPERUSER, "--", str(_bin_dir() / "pg_ctl"),
                            "-D", str(self.data), "-w", "-m", "immediate", "stop"],
                           capture_output=True, cwd=self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)


def environment_for(url: str) -> dict[str, str]:
    """Environment overrides pointing the stream at database `url` (both the task's
    Airflow connection and the settings a manual run reads)."""
    return {"AIRFLOW_CONN_NASAFLOW_DB": url.replace("postgresql://", "postgres://", 1),
            "NASAFLOW_DB_URL": url}

