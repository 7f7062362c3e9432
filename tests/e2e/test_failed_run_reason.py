"""A failed nasa_ingest run tells why, through the REST API the demo and `make status` use:
a source that cannot be reached fails the plan at its first request without Airflow
retries, and the failing task's reason names the host; `make status` lists the latest
failed run as information without changing its exit status.

The unreachable source is the test target's Helioviewer connection (nasa_helioviewer_test,
created through the REST API and deleted afterwards) pointed at a name under the reserved
.invalid TLD, which never resolves; the platform's connections are left alone."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from nasaflow.ingest.targets import TEST
from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.operations.run_failures import latest_failed_run, task_failures
from nasaflow.settings import PROJECT_ROOT

from tests.conftest import PLATFORM_ENVIRON, TEST_CONF

pytestmark = [pytest.mark.services, pytest.mark.slow]

CONNECTION = "nasa_helioviewer_test"
UNRESOLVABLE = "helioviewer.nasaflow-test.invalid"


@pytest.fixture()
def unreachable_helioviewer(airflow_api: AirflowRestClient) -> Iterator[str]:
    """The test target's runs ask an unresolvable Helioviewer host."""
    airflow_api.request("DELETE", f"/connections/{CONNECTION}")
    airflow_api.call("POST", "/connections", json={
        "connection_id": CONNECTION, "conn_type": "http", "host": f"http://{UNRESOLVABLE}"})
    try:
        yield UNRESOLVABLE
    finally:
        airflow_api.request("DELETE", f"/connections/{CONNECTION}")


def test_an_unreachable_source_fails_the_plan_at_once_with_the_host_named(
        airflow_api: AirflowRestClient, ingest_dag: str, unreachable_helioviewer: str) -> None:
    started = time.monotonic()
    run_id = airflow_api.trigger(ingest_dag, {**TEST_CONF, "date": "2022-01-01",
                                              "wavelengths": ["193"]})
    assert airflow_api.wait_for_run(ingest_dag, run_id, timeout=300) == "failed"
    # Before: five attempts with backoff, then two Airflow retries 30 s and 60 s apart.
    assert time.monotonic() - started < 90, "the plan retried an unreachable source"
    failures = task_failures(airflow_api, ingest_dag, run_id)
    assert failures and failures[0].task == "plan" and failures[0].try_number == 1
    assert failures[0].reason.startswith(
        f"source {unreachable_helioviewer} is unreachable: its name does not resolve")

    latest = latest_failed_run(airflow_api, ingest_dag, target=TEST)
    assert latest is not None and latest.run_id == run_id and latest.day == "2022-01-01"
    assert f"plan (try 1): source {unreachable_helioviewer} is unreachable" in latest.summary()


def test_a_bad_input_run_reports_the_plans_message_not_a_traceback(
        airflow_api: AirflowRestClient, ingest_dag: str) -> None:
    run_id = airflow_api.trigger(ingest_dag, {**TEST_CONF, "date": "2099-01-01",
                                              "wavelengths": ["193"]})
    assert airflow_api.wait_for_run(ingest_dag, run_id, timeout=300) == "failed"
    failures = task_failures(airflow_api, ingest_dag, run_id)
    assert [failure.task for failure in failures][:1] == ["plan"]
    assert failures[0].reason.startswith("bad input: ") and "2099-01-01" in failures[0].reason


def test_make_status_lists_the_latest_failed_run_as_information_only() -> None:
    """The ingest line is information: the exit status still says whether every service
    and the stream are healthy, and nothing else."""
    result = subprocess.run([str(PROJECT_ROOT / "ops" / "status.sh")], cwd=PROJECT_ROOT,
                            env=PLATFORM_ENVIRON, capture_output=True, text=True, timeout=120,
                            check=False)
    lines = result.stdout.splitlines()
    assert re.match(r"^ingest\s+info\s+(no failed nasa_ingest run|latest failed nasa_ingest"
                    r" run \S+ for \S+ failed)", lines[-1]), result.stdout + result.stderr
    unhealthy = [line for line in lines if re.match(r"^\S+\s+UNHEALTHY\s", line)]
    assert result.returncode == (1 if unhealthy else 0), result.stdout
