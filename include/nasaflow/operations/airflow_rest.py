"""A small client of Airflow 3's REST API (v2): log in, unpause, trigger, wait, read logs.

The demo and the end-to-end tests drive the platform the way a user's script would,
through the public API rather than Airflow's internals; each `airflow` CLI call costs
seconds of start-up, a REST call milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

#: Run states after which nothing changes.
FINISHED = {"success", "failed"}


class AirflowError(RuntimeError):
    """The API refused a call; the message carries the status and Airflow's detail."""


class AirflowRestClient:
    """Logged-in session against one api-server.

    Args:
        base_url: the api-server, e.g. http://127.0.0.1:8080.
        username, password: an Airflow user of the FAB auth manager (the .env admin,
            operator or viewer); what the session may do is that user's role's.
        token: instead of logging in, act with this JWT (e.g. the one a page request
            came with, so the call has exactly that user's rights).
    """

    def __init__(self, base_url: str, username: str = "", password: str = "",
                 timeout: float = 30, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if token is None:
            response = self.session.post(f"{self.base_url}/auth/token",
                                         json={"username": username, "password": password},
                                         timeout=timeout)
            if response.status_code != 201 and response.status_code != 200:
                raise AirflowError(f"login as {username} failed: {response.status_code} "
                                   f"{response.text[:200]}")
            token = response.json()["access_token"]
        self.token = token
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A raw call to /api/v2<path>; the caller checks the status."""
        return self.session.request(method, f"{self.base_url}/api/v2{path}",
                                    timeout=self.timeout, **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call that must succeed; returns the decoded JSON body."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AirflowError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params or None)

    def wait_until_healthy(self, timeout: float = 300) -> None:
        """Wait until the metadata database, scheduler, triggerer and dag-processor report
        healthy (they restart on their own after an outage of the metadata database)."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.session.get(f"{self.base_url}/api/v2/monitor/health",
                                      timeout=self.timeout).json()
            unhealthy = {name: part.get("status") for name, part in health.items()
                         if isinstance(part, dict) and part.get("status") != "healthy"}
            if not unhealthy:
                return
            if time.monotonic() > deadline:
                raise AirflowError(f"Airflow unhealthy after {timeout:.0f} s: {unhealthy}")
            time.sleep(3)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Wait until the dag-processor has parsed `dag_id` (new files take a while)."""
        deadline = time.monotonic() + timeout
        while self.request("GET", f"/dags/{dag_id}").status_code == 404:
            if time.monotonic() > deadline:
                raise AirflowError(f"DAG {dag_id} not parsed within {timeout:.0f} s")
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict[str, Any], logical_date: str | None = None,
                run_id: str | None = None) -> str:
        """Trigger a run; returns its run id."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf}
        if run_id:
            body["dag_run_id"] = run_id
        return self.call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900,
                     on_progress: Callable[[list[dict[str, Any]]], None] | None = None,
                     poll: float = 3) -> str:
        """Poll until the run finishes; returns its final state (success or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.run(dag_id, run_id)["state"]
            if on_progress is not None:
                on_progress(self.task_instances(dag_id, run_id))
            if state in FINISHED:
                return state
            if time.monotonic() > deadline:
                raise AirflowError(f"{dag_id} run {run_id} still {state} after {timeout:.0f} s")
            time.sleep(poll)

    def wait_for_running_task(self, dag_id: str, timeout: float = 180) -> str:
        """Wait until a run of `dag_id` has a running task (a long-running job started);
        returns that run's id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run in self.get(f"/dags/{dag_id}/dagRuns", state="running")["dag_runs"]:
                states = {ti["state"] for ti in self.task_instances(dag_id, run["dag_run_id"])}
                if "running" in states:
                    return run["dag_run_id"]
            time.sleep(3)
        raise AirflowError(f"no task of {dag_id} started running within {timeout:.0f} s")

    def ensure_running(self, dag_id: str, task_id: str, timeout: float = 300) -> str:
        """Unpause a long-running DAG and make sure its task runs; a task waiting out a
        retry delay is cleared so it starts now. Returns the run id."""
        self.wait_for_dag(dag_id)
        self.set_paused(dag_id, False)
        try:
            return self.wait_for_running_task(dag_id, timeout=60)
        except AirflowError:
            for run in self.get(f"/dags/{dag_id}/dagRuns", state="running")["dag_runs"]:
                self.clear_task(dag_id, run["dag_run_id"], task_id)
            return self.wait_for_running_task(dag_id, timeout=timeout)

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Clear a task instance so it runs again now (e.g. restart a stream waiting out
        its retry delay)."""
        self.call("POST", f"/dags/{dag_id}/clearTaskInstances",
                  json={"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id],
                        "only_failed": False, "reset_dag_runs": True})

    def task_log_records(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1,
                         map_index: int = -1) -> list[Any]:
        """One task attempt's log as Airflow's structured records (dicts with event, level
        and, for an exception, error_detail); a plain-text log is one string per line."""
        response = self.call(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index, "full_content": True},
            headers={"Accept": "application/json"})
        content = response.get("content", "")
        return content if isinstance(content, list) else str(content).splitlines()

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1,
                 map_index: int = -1) -> str:
        """The text of one task attempt's log."""
        return "\n".join(_log_line(item) for item in self.task_log_records(
            dag_id, run_id, task_id, try_number, map_index))


def _log_line(item: Any) -> str:
    """One structured log record as text, with the exception it carries (if any)."""
    if not isinstance(item, dict):
        return str(item)
    errors = [f"{error.get('exc_type')}: {error.get('exc_value')}"
              for error in item.get("error_detail") or [] if isinstance(error, dict)]
    return " ".join([str(item.get("event", "")), *errors])
