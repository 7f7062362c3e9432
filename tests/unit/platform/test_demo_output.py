"""What the demo prints: where the admin password is (never the password itself), what
landed even when nothing did, and why a run failed (never a traceback)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from types import ModuleType

import pytest

from nasaflow.operations.run_failures import TaskFailure
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import PROJECT_ROOT

UNREACHABLE = TaskFailure("plan", "failed", 1, "source api.helioviewer.org is unreachable: "
                                               "its name does not resolve")


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", PROJECT_ROOT / "ops" / "demo.py")
    assert spec is not None and spec.loader is not None, "ops/demo.py is missing"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_login_hint_names_the_env_key_not_the_password(monkeypatch, demo) -> None:
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "pw-that-must-not-print")
    hint = demo.login_hint("admin")
    assert "pw-that-must-not-print" not in hint
    assert "admin" in hint and "AIRFLOW_ADMIN_PASSWORD in .env" in hint


def test_a_run_with_no_cells_prints_no_parameter_ranges(demo) -> None:
    """The aggregate over no rows: count 0, every min and max NULL."""
    no_cells = (0, *[None] * (2 * len(PARAMETER_NAMES)))
    assert demo.cell_lines(no_cells, 64) == ["cells: none landed at 64-pixel cells"]


def test_landed_cells_print_each_parameters_range(demo) -> None:
    ranges = (256, *[value for n in range(len(PARAMETER_NAMES)) for value in (n, n + 0.5)])
    lines = demo.cell_lines(ranges, 64)
    assert lines[0] == "cells: 256 at 64-pixel cells; parameter ranges:"
    assert len(lines) == 1 + len(PARAMETER_NAMES)
    assert lines[2].split() == [PARAMETER_NAMES[1], "1", "..", "1.5"]


def test_a_stream_without_batches_says_so(demo) -> None:
    assert demo.stream_line(0, 0, None, None, 0) == (
        "stream: no micro-batch committed yet; dead letters: 0")
    last = datetime(2026, 12, 1, 6, 0, 5, tzinfo=UTC)
    assert demo.stream_line(3, 1024, last, 0.5, 1) == (
        "stream: 3 micro-batches, 1024 rows in all, median batch 0.50 s, last at 06:00:05Z; "
        "dead letters: 1")


def test_a_failed_run_names_the_failing_task_and_its_reason(demo) -> None:
    assert demo.failure_lines("manual__1", [UNREACHABLE]) == [
        "[demo] run manual__1 failed at plan: source api.helioviewer.org is unreachable: its "
        "name does not resolve"]
    assert "without a failed task" in demo.failure_lines("manual__1", [])[0]


def test_a_failed_try_is_explained_as_it_happens(demo, capsys) -> None:
    asked = []

    def explain(instance: dict) -> TaskFailure:
        asked.append(instance["task_id"])
        return UNREACHABLE

    progress = demo.Progress(0.0, explain)
    plan = {"task_id": "plan", "map_index": -1, "start_date": "2026-12-01T06:00:00Z"}
    progress([{**plan, "state": "running"}])
    progress([{**plan, "state": "failed"}])
    progress([{**plan, "state": "failed"}])
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].strip() == f"reason: {UNREACHABLE.reason}"
    assert asked == ["plan"], "a state already reported must not be explained again"
