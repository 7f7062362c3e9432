"""How the stream's state reads from what Airflow, PostgreSQL and Kafka said."""

from __future__ import annotations

from datetime import UTC, datetime

from nasaflow.operations.stream_status import Lag, LastBatch, StreamStatus, TaskState

T0 = datetime(2026, 12, 1, 6, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 1, 6, 0, 10, tzinfo=UTC)
BATCH = LastBatch(41, 5120, T0, {0: 10, 1: 12})


NO_LAG = Lag(0, 0.0)


def status(task: TaskState, driver: str | None = "nasaflow-stream q host:1",
           lag: Lag | None = NO_LAG) -> StreamStatus:
    return StreamStatus(600, task, driver, BATCH, lag)


def test_running_with_a_driver_and_little_lag_is_healthy() -> None:
    shown = status(TaskState(False, "running", T0, None, 1))
    assert shown.state == "running" and shown.healthy
    assert shown.summary() == ("running since 2026-12-01 06:00:00 UTC; last batch 41 "
                               "committed at 2026-12-01 06:00:00 UTC (5,120 rows); "
                               "lag 0 messages, 0 s")


def test_a_task_waiting_out_a_retry_delay_is_retrying_with_its_next_try() -> None:
    shown = status(TaskState(False, "up_for_retry", T0, T1, 3), driver=None)
    assert shown.state == "retrying" and not shown.healthy
    assert shown.summary().startswith("retrying since 2026-12-01 06:00:00 UTC, next try at "
                                      "2026-12-01 06:00:10 UTC (try 3);")


def test_a_running_task_without_a_driver_holding_the_lock_is_only_starting() -> None:
    shown = status(TaskState(False, "running", T0, None, 1), driver=None)
    assert shown.state == "starting" and not shown.healthy


def test_further_behind_than_the_setting_is_unhealthy() -> None:
    shown = status(TaskState(False, "running", T0, None, 1), lag=Lag(250, 601.0))
    assert shown.behind and not shown.healthy
    assert "lag 250 messages, 601 s (more than 600 s behind)" in shown.summary()


def test_paused_failed_and_unknown_are_down() -> None:
    assert status(TaskState(True, "running", T0)).state == "paused"
    assert status(TaskState(False, "failed", T0)).state == "down"
    assert status(TaskState(False)).state == "down"
    unknown = StreamStatus(600, None, None, None, None, ("Airflow: ConnectionError: refused",))
    assert unknown.state == "unknown" and not unknown.healthy
    assert unknown.summary().endswith("error: Airflow: ConnectionError: refused")
