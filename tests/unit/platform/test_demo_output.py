"""The demo tells where the admin password is, never the password itself."""

from __future__ import annotations

import importlib.util

from nasaflow.settings import PROJECT_ROOT


def test_the_login_hint_names_the_env_key_not_the_password(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "pw-that-must-not-print")
    spec = importlib.util.spec_from_file_location("demo", PROJECT_ROOT / "ops" / "demo.py")
    assert spec is not None and spec.loader is not None, "ops/demo.py is missing"
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    hint = demo.login_hint("admin")
    assert "pw-that-must-not-print" not in hint
    assert "admin" in hint and "AIRFLOW_ADMIN_PASSWORD in .env" in hint
