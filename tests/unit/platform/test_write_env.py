"""ops/write_env.py: .env is private from its first byte, replaced atomically, and gives
every database role and the PostgreSQL superuser a password of its own."""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path
from types import ModuleType

import pytest

from nasaflow.settings import PROJECT_ROOT, url_user


@pytest.fixture(scope="module")
def write_env() -> ModuleType:
    spec = importlib.util.spec_from_file_location("write_env",
                                                  PROJECT_ROOT / "ops" / "write_env.py")
    assert spec is not None and spec.loader is not None, "ops/write_env.py is missing"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_env_is_private_and_replaced_by_rename_keeping_its_values(write_env: ModuleType,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# mine\nAIRFLOW_ADMIN_PASSWORD=kept-secret\n")
    path.chmod(0o644)
    inode = path.stat().st_ino
    previous = os.umask(0)
    try:
        write_env.main(path)
    finally:
        os.umask(previous)
    assert path.stat().st_ino != inode, "written in place, not renamed over"
    assert mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".env"], "a temporary file was left"
    assert write_env.read_env(path)["AIRFLOW_ADMIN_PASSWORD"] == "kept-secret"
    assert path.read_text().startswith("# mine\n")


def test_each_role_the_superuser_and_redis_get_their_own_password(write_env: ModuleType,
                                                                   tmp_path: Path) -> None:
    write_env.main(tmp_path / ".env")
    values = write_env.read_env(tmp_path / ".env")
    passwords = [values[key] for key in ("POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD",
                                         "NASAFLOW_DB_PASSWORD", "NASAFLOW_DB_WRITER_PASSWORD",
                                         "NASAFLOW_DB_READER_PASSWORD",
                                         "NASAFLOW_REDIS_PASSWORD")]
    assert len(set(passwords)) == len(passwords)
    roles = [url_user(values[key]) for key in ("NASAFLOW_DB_OWNER_URL", "NASAFLOW_DB_URL",
                                               "NASAFLOW_DB_READER_URL")]
    assert roles == ["nasaflow", "nasaflow_writer", "nasaflow_reader"]
    assert f":{values['NASAFLOW_DB_WRITER_PASSWORD']}@" in values["NASAFLOW_DB_URL"]


def test_a_data_url_of_the_owner_role_is_moved_to_the_writer(write_env: ModuleType,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("NASAFLOW_DB_PASSWORD=old\n"
                    "NASAFLOW_DB_URL=postgresql://nasaflow:old@127.0.0.1:5432/nasaflow\n")
    write_env.main(path)
    values = write_env.read_env(path)
    assert url_user(values["NASAFLOW_DB_URL"]) == "nasaflow_writer"
    assert values["NASAFLOW_DB_OWNER_URL"] == "postgresql://nasaflow:old@127.0.0.1:5432/nasaflow"
