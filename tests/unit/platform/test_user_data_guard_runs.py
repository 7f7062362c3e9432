"""The guard leaves out exactly the manifest folders of the platform's own scheduled runs
(tests/user_data_guard.py): a suite that crosses midnight UTC meets the daily run."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from nasaflow.ingest.steps import manifest_folder
from nasaflow.ingest.targets import PLATFORM
from nasaflow.settings import Settings

from tests.user_data_guard import Snapshot, platform_run_folders

SINCE = datetime(2026, 12, 1, 23, 50, tzinfo=UTC)


def run(run_id: str, end_date: str | None) -> dict[str, str | None]:
    """A DAG run record as Airflow's REST API lists it (the fields the guard reads)."""
    return {"dag_run_id": run_id, "end_date": end_date, "run_type": "scheduled"}


def test_runs_going_on_or_begun_since_the_first_snapshot_are_the_platforms(
        tmp_path: Path) -> None:
    settings = replace(Settings.from_env(), data_dir=str(tmp_path / "data"))
    folders = platform_run_folders(settings, [
        run("scheduled__2026-12-02T00:00:00+00:00", None),
        run("scheduled__2026-12-01T00:00:00+00:00", "2026-12-01T23:55:02.1+00:00"),
        run("scheduled__2026-11-30T00:00:00+00:00", "2026-11-30T00:01:00+00:00"),
    ], SINCE)
    expected = {f"{manifest_folder(settings, PLATFORM, run_id)}/": run_id
                for run_id in ("scheduled__2026-12-02T00:00:00+00:00",
                               "scheduled__2026-12-01T00:00:00+00:00")}
    assert folders == expected
    assert all(folder.startswith(f"{tmp_path}/data/manifests/scheduled__") for folder in folders)


def test_only_files_below_the_platforms_folders_are_left_out() -> None:
    folder = "/p/data/manifests/scheduled__2026-12-02T00_00_00_00_00/"
    before = Snapshot({"images": (1, "7")}, {"/p/data/images/a.jp2": (3, 1)}, {"t/0": 5})
    after = Snapshot({"images": (1, "7")}, {
        "/p/data/images/a.jp2": (3, 1),
        f"{folder}report.json": (343, 2),
        f"{folder}_closed": (0, 2),
        # Same prefix without the separator: another run's folder, not left out.
        "/p/data/manifests/scheduled__2026-12-02T00_00_00_00_001/report.json": (1, 2),
        "/p/data/images/b.jp2": (4, 2),
    }, {"t/0": 5})
    assert before.changes_to(after, (folder,)) == [
        "file /p/data/images/b.jp2: None -> (4, 2)",
        "file /p/data/manifests/scheduled__2026-12-02T00_00_00_00_001/report.json:"
        " None -> (1, 2)",
    ]
    assert len(before.changes_to(after)) == 4
