"""Logins in roles as a browser meets them: anonymous visitors get Airflow's login page
(the FAB auth manager's, not the development-only one), the .env viewer sees the nasaflow
page and is refused a trigger.

The viewer's trigger goes through the DAG's trigger form with a run id of its own; the
admin deletes a run of that id afterwards should one have been created, so even a broken
refusal leaves the platform's runs as they were.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from nasaflow.operations.airflow_rest import AirflowRestClient
from nasaflow.operations.airflow_users import ADMIN_ROLE, VIEWER_ROLE, Login

from tests.browser.airflow_ui import LOGIN_URL, open_login_page, open_plugin_from_nav, sign_in
from tests.conftest import AIRFLOW_URL

pytestmark = pytest.mark.services

INGEST_DAG = "nasa_ingest"
#: The banner of Airflow's development-only login (SimpleAuthManager), which must be gone.
DEVELOPMENT_LOGIN = re.compile(r"intended for development", re.IGNORECASE)


@pytest.fixture(scope="module")
def admin_api(logins: dict[str, Login]) -> AirflowRestClient:
    admin = logins[ADMIN_ROLE]
    return AirflowRestClient(AIRFLOW_URL, admin.username, admin.password)


@pytest.fixture()
def viewer_page(fresh_context: BrowserContext, logins: dict[str, Login]) -> Page:
    """A page logged in as the .env viewer through the login form."""
    page = fresh_context.new_page()
    open_login_page(page)
    sign_in(page, logins[VIEWER_ROLE].username, logins[VIEWER_ROLE].password)
    expect(page).not_to_have_url(LOGIN_URL)
    return page


@pytest.mark.parametrize("path", ["/plugin/nasaflow", "/nasaflow/"])
def test_anonymous_visitors_of_the_nasaflow_page_get_the_login_page(
        fresh_context: BrowserContext, path: str) -> None:
    page = fresh_context.new_page()
    open_login_page(page, path)
    expect(page.get_by_text(DEVELOPMENT_LOGIN)).to_have_count(0)
    expect(page.get_by_role("heading", name=re.compile(r"^Images"))).to_have_count(0)
    assert "_token" not in {cookie["name"] for cookie in fresh_context.cookies()}


def test_login_from_the_nasaflow_page_leads_back_to_it(
        fresh_context: BrowserContext, logins: dict[str, Login]) -> None:
    page = fresh_context.new_page()
    open_login_page(page, "/nasaflow/")
    sign_in(page, logins[VIEWER_ROLE].username, logins[VIEWER_ROLE].password)
    expect(page).to_have_url(re.compile(r"/nasaflow/$"))
    expect(page.get_by_role("heading", name=re.compile(r"^Images"))).to_be_visible()


def test_viewer_sees_the_nasaflow_page_from_the_navigation(viewer_page: Page) -> None:
    frame = open_plugin_from_nav(viewer_page)
    expect(frame.get_by_role("heading", name=re.compile(r"^Images"))).to_be_visible()


def test_viewer_cannot_trigger_a_run(viewer_page: Page, admin_api: AirflowRestClient) -> None:
    admin_api.wait_for_dag(INGEST_DAG)
    run_id = f"viewer_ui_{uuid.uuid4().hex[:10]}"
    run = f"/dags/{INGEST_DAG}/dagRuns/{run_id}"
    viewer_page.goto(f"{AIRFLOW_URL}/dags/{INGEST_DAG}")
    viewer_page.get_by_role("button", name="Trigger Dag").click()
    dialog = viewer_page.get_by_role("dialog")
    expect(dialog.get_by_text("Run Parameters")).to_be_visible()
    dialog.get_by_role("button", name="Advanced Options").click()
    dialog.get_by_label("Run ID", exact=True).fill(run_id)
    try:
        dialog.get_by_role("button", name="Trigger", exact=True).click()
        expect(dialog.get_by_text("403 Forbidden")).to_be_visible()
        expect(dialog).to_be_visible()
        response = admin_api.request("GET", run)
        assert response.status_code == 404, f"the viewer's run exists: {response.text[:200]}"
    finally:
        admin_api.request("DELETE", run)  # a run a broken refusal let through
