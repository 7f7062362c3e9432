"""A failed run's reason, as the demo and `make status` tell it, is read from the failing
task's log record. The records here are the ones Airflow writes: the exception a real
plan step raised, rendered by Airflow's own JSON log processors."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog

from nasaflow.ingest import steps
from nasaflow.manifest import CLOSED_MARKER
from nasaflow.operations.run_failures import (
    FAILURE_EVENT,
    FailedRun,
    TaskFailure,
    failure_reason,
    task_label,
)
from nasaflow.settings import get_settings
from nasaflow.sources.errors import UnreachableSourceError

UNRESOLVABLE = "helioviewer.nasaflow-test.invalid"
PARAMS = {"target": "platform", "date": "2022-01-01", "sources": ["helioviewer"],
          "wavelengths": ["193"], "cadence_minutes": 360, "patch_size": 64}


def logged(event: str, error: BaseException) -> dict[str, Any]:
    """The record a task try's log holds for `error` logged as `event`: Airflow's JSON log
    processors render it in the task process, and its supervisor stores the `exception`
    key as `error_detail` (airflow.sdk.execution_time.supervisor)."""
    from airflow.sdk._shared.logging.structlog import structlog_processors

    processors, _, render = structlog_processors(json_output=True)
    lines = io.StringIO()

    class Sink:
        def error(self, message: bytes) -> None:
            lines.write(message.decode())

    log = structlog.wrap_logger(Sink(), processors=[*processors, render])
    try:
        raise error
    except BaseException:
        log.exception(event)
    record = json.loads(lines.getvalue())
    record["error_detail"] = record.pop("exception")
    return record


def unreachable_plan_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> BaseException:
    """What the plan task raises when Helioviewer's host does not resolve (no network)."""
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("AIRFLOW_CONN_NASA_HELIOVIEWER",
                       json.dumps({"conn_type": "http", "host": f"http://{UNRESOLVABLE}"}))
    monkeypatch.setenv("AIRFLOW_CONN_NASA_APOD",
                       json.dumps({"conn_type": "http", "host": "http://apod.invalid"}))
    settings = replace(get_settings(), data_dir=str(tmp_path))
    with pytest.raises(AirflowFailException) as raised:
        steps.plan(settings, PARAMS, "manual__unreachable", None, None)
    return raised.value


def test_an_unreachable_source_fails_the_plan_without_retry_naming_the_host(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """AirflowFailException: Airflow does not retry the task; the cause is the client's
    UnreachableSourceError, raised at the first request."""
    failure = unreachable_plan_failure(monkeypatch, tmp_path)
    assert isinstance(failure.__cause__, UnreachableSourceError)
    assert f"source {UNRESOLVABLE} is unreachable: its name does not resolve" in str(failure)


def test_after_a_failed_plan_closing_the_downloads_is_skipped_not_a_second_failure(
        tmp_path: Path) -> None:
    """close_downloads runs after every upstream is done, a failed plan included; with no
    chunks it is skipped, so the plan's reason stays the run's only one and the run ends
    without waiting out another task's retries."""
    from airflow.sdk.exceptions import AirflowSkipException

    settings = replace(get_settings(), data_dir=str(tmp_path))
    with pytest.raises(AirflowSkipException, match="the plan failed"):
        steps.close_downloads(settings, [], None, PARAMS, "manual__unreachable")
    folder = steps.manifest_folder(settings, "platform", "manual__unreachable")
    assert (folder / CLOSED_MARKER).exists(), "a compute following the folder must still end"


def test_the_reason_is_the_plan_steps_message_from_its_log_record(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    record = logged(FAILURE_EVENT, unreachable_plan_failure(monkeypatch, tmp_path))
    reason = failure_reason([{"event": "Filling up the DagBag", "level": "info"}, record])
    assert reason is not None and reason.startswith(f"source {UNRESOLVABLE} is unreachable")
    assert "AirflowFailException" not in reason


def test_an_unexpected_exception_is_named_by_its_type() -> None:
    record = logged(FAILURE_EVENT, KeyError("close_downloads"))
    assert failure_reason([record]) == "KeyError: 'close_downloads'"


def test_the_runners_failure_record_wins_over_a_later_listener_error() -> None:
    failed = logged(FAILURE_EVENT, RuntimeError("the task's own failure"))
    listener = logged("error calling listener", ValueError("a plugin's bug"))
    assert failure_reason([failed, listener]) == "RuntimeError: the task's own failure"


def test_a_log_without_an_exception_has_no_reason() -> None:
    assert failure_reason(["plain text line", {"event": "done", "level": "info"}]) is None


def test_a_mapped_task_is_labelled_with_its_chunk() -> None:
    assert task_label({"task_id": "plan", "map_index": -1}) == "plan"
    assert task_label({"task_id": "download_chunk", "map_index": 2,
                       "rendered_map_index": "AIA 193 #3: 4/4 verified"}) == (
        "download_chunk[AIA 193 #3: 4/4 verified]")
    assert task_label({"task_id": "download_chunk", "map_index": 0,
                       "rendered_map_index": None}) == "download_chunk[0]"


def test_the_status_line_names_run_day_task_and_reason() -> None:
    run = FailedRun("manual__2026-12-01T10:00:00+00:00", "2022-01-01",
                    "2026-12-01T10:00:09.123456Z",
                    (TaskFailure("plan", "failed", 1, "source api.helioviewer.org is "
                                 "unreachable: its name does not resolve"),))
    assert run.summary() == (
        "run manual__2026-12-01T10:00:00+00:00 for 2022-01-01 failed at 2026-12-01 10:00:09 "
        "UTC: plan (try 1): source api.helioviewer.org is unreachable: its name does not "
        "resolve")
    assert "no task failed" in FailedRun("r", "2022-01-01", None, ()).summary()
