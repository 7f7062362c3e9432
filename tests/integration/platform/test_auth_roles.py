"""Airflow's logins in roles (FAB auth manager): the .env admin, operator and viewer.

Each gets a REST token from POST /auth/token and holds its role; the viewer reads runs and
the nasaflow pages and is refused every change; the operator triggers runs, backfills and
restarts of the stream (clearing its task) but manages nothing else; a user whose role
lacks the nasaflow permission is refused the pages; the users module `make up` runs
creates users, leaves them alone when nothing changed and brings back a changed role or
password.

Nothing here changes the user's platform for good: the run the operator triggers is due
in 2100 (run_after), so the scheduler never starts it, and the admin deletes it; backfills
and clears are dry runs; refused calls ask for the state that already holds; the users
created (a role without the nasaflow permission, the users module's run) are deleted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import requests

from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.operations.airflow_users import (
    ADMIN_ROLE,
    LOGIN_KEYS,
    OPERATOR_ROLE,
    VIEWER_ROLE,
    Login,
    logins_from_env,
)

from tests.conftest import AIRFLOW_URL

pytestmark = pytest.mark.services

INGEST_DAG = "nasa_ingest"
STREAM_DAG = "stream_to_postgres"
#: A run due then is never started by the scheduler (it only starts runs due by now).
NEVER_DUE = "2100-01-01T00:00:00Z"
BACKFILL = {"dag_id": INGEST_DAG, "from_date": "2022-08-01T00:00:00Z",
            "to_date": "2022-08-02T00:00:00Z", "reprocess_behavior": "none",
            "max_active_runs": 1, "run_backwards": False, "dag_run_conf": {}}
CLEAR_STREAM = {"dry_run": True, "task_ids": ["stream"], "only_failed": False}


@pytest.fixture(scope="module")
def logins() -> dict[str, Login]:
    """The .env logins by role."""
    return logins_from_env(os.environ)


@pytest.fixture(scope="module")
def clients(logins: dict[str, Login]) -> dict[str, AirflowRestClient]:
    """A REST session per role, each logged in through POST /auth/token."""
    return {role: AirflowRestClient(AIRFLOW_URL, login.username, login.password)
            for role, login in logins.items()}


@pytest.fixture(scope="module")
def admin(clients: dict[str, AirflowRestClient]) -> AirflowRestClient:
    return clients[ADMIN_ROLE]


@pytest.fixture(scope="module")
def operator(clients: dict[str, AirflowRestClient]) -> AirflowRestClient:
    return clients[OPERATOR_ROLE]


@pytest.fixture(scope="module")
def viewer(clients: dict[str, AirflowRestClient]) -> AirflowRestClient:
    return clients[VIEWER_ROLE]


@pytest.fixture()
def run_id(admin: AirflowRestClient) -> Iterator[str]:
    """A fresh run id of nasa_ingest; the admin deletes the run afterwards if it exists."""
    admin.wait_for_dag(INGEST_DAG)
    run = f"auth_test_{uuid.uuid4().hex[:12]}"
    yield run
    admin.request("DELETE", f"/dags/{INGEST_DAG}/dagRuns/{run}")


def trigger(client: AirflowRestClient, run_id: str) -> requests.Response:
    """Trigger nasa_ingest with `run_id`, due in 2100 so that it never starts."""
    return client.request("POST", f"/dags/{INGEST_DAG}/dagRuns", json={
        "dag_run_id": run_id, "logical_date": None, "run_after": NEVER_DUE, "conf": {}})


def test_each_env_user_gets_a_token_and_holds_its_role(
        clients: dict[str, AirflowRestClient], admin: AirflowRestClient,
        logins: dict[str, Login]) -> None:
    for role, client in clients.items():
        assert client.token.count(".") == 2, role  # a JWT
        assert "dags" in client.get("/dags"), role
        user = admin.session.get(f"{AIRFLOW_URL}/auth/fab/v1/users/{logins[role].username}",
                                 timeout=30)
        assert user.status_code == 200, user.text
        assert [r["name"] for r in user.json()["roles"]] == [role]


def test_viewer_gets_403_on_trigger_and_no_run_is_created(
        viewer: AirflowRestClient, admin: AirflowRestClient, run_id: str) -> None:
    response = trigger(viewer, run_id)
    assert response.status_code == 403, response.text
    assert admin.request("GET", f"/dags/{INGEST_DAG}/dagRuns/{run_id}").status_code == 404


def test_operator_triggers_a_run(operator: AirflowRestClient, admin: AirflowRestClient,
                                 run_id: str) -> None:
    response = trigger(operator, run_id)
    assert response.status_code == 200, response.text
    run = admin.run(INGEST_DAG, run_id)
    assert run["state"] == "queued" and run["run_after"].startswith("2100-01-01")


def test_operator_may_backfill_and_viewer_may_not(operator: AirflowRestClient,
                                                  viewer: AirflowRestClient) -> None:
    refused = viewer.request("POST", "/backfills/dry_run", json=BACKFILL)
    assert refused.status_code == 403, refused.text
    planned = operator.request("POST", "/backfills/dry_run", json=BACKFILL)
    assert planned.status_code == 200, planned.text
    assert planned.json()["total_entries"] == 2


def test_operator_may_restart_the_stream_and_viewer_may_not(
        operator: AirflowRestClient, viewer: AirflowRestClient) -> None:
    path = f"/dags/{STREAM_DAG}/clearTaskInstances"
    assert viewer.request("POST", path, json=CLEAR_STREAM).status_code == 403
    cleared = operator.request("POST", path, json=CLEAR_STREAM)
    assert cleared.status_code == 200, cleared.text


def test_viewer_may_not_pause_or_unpause(viewer: AirflowRestClient) -> None:
    paused = viewer.get(f"/dags/{INGEST_DAG}")["is_paused"]
    # Asks for the state that holds already: a wrongly allowed call changes nothing.
    response = viewer.request("PATCH", f"/dags/{INGEST_DAG}", json={"is_paused": paused})
    assert response.status_code == 403, response.text


def test_viewer_reads_runs_and_the_nasaflow_pages(viewer: AirflowRestClient) -> None:
    assert "dag_runs" in viewer.get(f"/dags/{INGEST_DAG}/dagRuns")
    page = viewer.session.get(f"{AIRFLOW_URL}/nasaflow/", timeout=30)
    assert page.status_code == 200 and "Images" in page.text
    # The UI's navigation entry for the page comes from the plugin list.
    names = {plugin["name"] for plugin in viewer.get("/plugins")["plugins"]}
    assert "nasaflow" in names


@pytest.mark.parametrize("role", [OPERATOR_ROLE, VIEWER_ROLE])
def test_operator_and_viewer_manage_no_connections_variables_or_users(
        clients: dict[str, AirflowRestClient], role: str) -> None:
    client = clients[role]
    for path in ("/connections", "/variables", "/config"):
        assert client.request("GET", path).status_code == 403, (role, path)
    users = client.session.get(f"{AIRFLOW_URL}/auth/fab/v1/users", timeout=30)
    assert users.status_code == 403, role


def test_a_role_without_the_nasaflow_permission_gets_403(admin: AirflowRestClient) -> None:
    username, password = f"auth_test_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    users = f"{AIRFLOW_URL}/auth/fab/v1/users"
    created = admin.session.post(users, timeout=30, json={
        "username": username, "password": password, "first_name": "auth", "last_name": "test",
        "email": f"{username}@nasaflow.invalid", "roles": [{"name": "Viewer"}]})
    assert created.status_code == 200, created.text
    try:
        stranger = AirflowRestClient(AIRFLOW_URL, username, password)
        assert "dags" in stranger.get("/dags")  # logged in, may read Airflow's pages
        for accept in ("application/json", "text/html"):
            page = stranger.session.get(f"{AIRFLOW_URL}/nasaflow/", timeout=30,
                                        headers={"Accept": accept}, allow_redirects=False)
            assert page.status_code == 403, accept
            assert "may not view nasaflow" in page.text
    finally:
        admin.session.delete(f"{users}/{username}", timeout=30)


def sync_users(env: dict[str, str]) -> list[str]:
    """Run the users module as `make up` does, with `env`; returns its report lines."""
    result = subprocess.run([sys.executable, "-m", "nasaflow.operations.airflow_users"],
                            env=env, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return [line for line in result.stdout.splitlines() if line.startswith("[nasaflow]")]


def test_make_up_creates_users_keeps_them_and_restores_a_changed_role_or_password(
        admin: AirflowRestClient) -> None:
    tag = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    for user_key, password_key, role in LOGIN_KEYS:
        env[user_key], env[password_key] = f"auth_test_{tag}_{role.lower()}", uuid.uuid4().hex
    users = f"{AIRFLOW_URL}/auth/fab/v1/users"
    names = [env[user_key] for user_key, _, _ in LOGIN_KEYS]
    try:
        created = sync_users(env)
        assert sum(line.endswith(": created") for line in created) == 3, created
        viewer_name, operator_name = env["AIRFLOW_VIEWER_USER"], env["AIRFLOW_OPERATOR_USER"]
        drift = [admin.session.patch(f"{users}/{viewer_name}", timeout=30,
                                     json={"roles": [{"name": OPERATOR_ROLE}]}),
                 admin.session.patch(f"{users}/{operator_name}", timeout=30,
                                     json={"password": uuid.uuid4().hex})]
        assert [response.status_code for response in drift] == [200, 200]
        synced = sync_users(env)
        assert sorted(line.rsplit(": ", 1)[1] for line in synced
                      if "Airflow user" in line) == ["unchanged", "updated", "updated"], synced
        assert not any("permissions set" in line for line in synced), synced
        roles = admin.session.get(f"{users}/{viewer_name}", timeout=30).json()["roles"]
        assert [role["name"] for role in roles] == [VIEWER_ROLE]
        AirflowRestClient(AIRFLOW_URL, operator_name, env["AIRFLOW_OPERATOR_PASSWORD"])
    finally:
        for name in names:
            admin.session.delete(f"{users}/{name}", timeout=30)
