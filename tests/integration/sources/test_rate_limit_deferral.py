"""A source that says "retry later" defers the work instead of failing it: a 429 without
Retry-After that persists becomes RetryLaterError with a time, and the DAG's plan step
turns any RetryLaterError into a reschedule to that time (no try spent, no worker slot
held) instead of a failure retried on Airflow's own delay."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nasaflow.ingest import steps
from nasaflow.settings import get_settings
from nasaflow.sources.errors import RetryLaterError

STATUS = "/v2/getStatus/"
PARAMS = {"target": "platform", "date": "2022-01-01", "sources": ["helioviewer"],
          "wavelengths": ["193"], "cadence_minutes": 360, "patch_size": 64}


def test_a_persistent_429_without_retry_after_defers_with_a_time(replay, http, sleeps) -> None:
    replay.arm(STATUS, "429", count=-1)
    with pytest.raises(RetryLaterError, match="still answers 429") as caught:
        http.get(replay.url + STATUS)
    # The pause plus its jitter, at the jitter's upper bound (a quarter) in these tests.
    expected = datetime.now(UTC) + timedelta(seconds=http.policy.rate_limit_pause * 1.25)
    assert abs((caught.value.retry_at - expected).total_seconds()) < 5
    # Retried (the first at once, then with backoff), then deferred.
    assert len(replay.requests(STATUS)) == http.policy.max_attempts and len(sleeps) == 3


def test_the_plan_is_rescheduled_to_the_time_the_source_names(
        replay, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from airflow.sdk.exceptions import AirflowRescheduleException

    replay.arm("/v2/getDataSources/", "429;retry-after=3600", count=-1)
    monkeypatch.setenv("AIRFLOW_CONN_NASA_HELIOVIEWER",
                       json.dumps({"conn_type": "http", "host": replay.url}))
    settings = replace(get_settings(), data_dir=str(tmp_path))
    with pytest.raises(AirflowRescheduleException) as caught:
        steps.plan(settings, PARAMS, "manual__rate_limited", None, None)
    expected = datetime.now(UTC) + timedelta(seconds=3600)
    assert abs((caught.value.reschedule_date - expected).total_seconds()) < 5
