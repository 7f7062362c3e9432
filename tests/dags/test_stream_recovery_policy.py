"""The stream DAG's recovery policy: back within a minute of a crash at every retry, and
no retry loop on a configuration error."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nasaflow.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def stream_dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "stream_to_postgres.py")).get_dag(
        "stream_to_postgres")


def test_stream_task_retries_after_a_short_fixed_delay(stream_dag) -> None:
    task = stream_dag.get_task("stream")
    assert not task.retry_exponential_backoff, "a growing delay keeps the stream down"
    assert task.retry_delay <= timedelta(seconds=15)
    assert task.max_retry_delay is None or task.max_retry_delay <= timedelta(seconds=15)
    assert task.retries >= 10


def test_stream_task_restarts_crashed_drivers_itself_after_a_short_pause(stream_dag) -> None:
    task = stream_dag.get_task("stream")
    assert 0 < task.restart_seconds <= 10


def test_a_failed_stream_run_pauses_the_dag_instead_of_starting_another(stream_dag) -> None:
    """A run fails only when retrying cannot help (configuration error): the @continuous
    schedule would otherwise start failing runs back to back."""
    assert stream_dag.max_consecutive_failed_dag_runs == 1
