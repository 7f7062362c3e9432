"""The run's shared pause file: the latest time wins, a damaged file is no pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from nasaflow.ingest.pause import RunPause

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _pause(tmp_path: Path) -> RunPause:
    return RunPause(RunPause.of_run(tmp_path, "manual__a/b").path, now=lambda: NOW)


def test_the_latest_retry_at_wins_whatever_the_order(tmp_path: Path) -> None:
    pause = _pause(tmp_path)
    assert pause.until() is None
    assert pause.extend(NOW + timedelta(minutes=5), "429") == NOW + timedelta(minutes=5)
    assert pause.extend(NOW + timedelta(minutes=1), "limiter page") == NOW + timedelta(minutes=5)
    assert _pause(tmp_path).until() == NOW + timedelta(minutes=5)  # another process reads it
    assert [p.name for p in pause.path.parent.iterdir() if p.suffix == ".part"] == []


def test_a_pause_in_the_past_is_no_pause(tmp_path: Path) -> None:
    pause = _pause(tmp_path)
    pause.extend(NOW - timedelta(seconds=1), "429")
    assert pause.until() is None


def test_a_damaged_file_is_no_pause(tmp_path: Path) -> None:
    pause = _pause(tmp_path)
    pause.path.parent.mkdir(parents=True)
    pause.path.write_text("{not json")
    assert pause.until() is None
    pause.extend(NOW + timedelta(minutes=2), "429")
    assert pause.until() == NOW + timedelta(minutes=2)


def test_paused_tasks_resume_within_the_spread_after_the_end(tmp_path: Path) -> None:
    pause = RunPause(tmp_path / "p.json", jitter=lambda upper: upper)
    assert pause.resume_at(NOW) == NOW + timedelta(seconds=10)
