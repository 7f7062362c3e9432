"""Airflow's UI as the browser tests use it: the login form (the FAB auth manager's) and
the nasaflow page in its navigation."""

from __future__ import annotations

import re

from playwright.sync_api import FrameLocator, Page, expect

from tests.conftest import AIRFLOW_URL

#: Where the UI sends a browser that is not logged in.
LOGIN_URL = re.compile(r"/auth/login/?(\?|$)")
#: What the form shows after a wrong user name or password.
LOGIN_REFUSED = "Invalid login"
#: The plugin's view is an iframe named after the plugin inside Airflow's page.
PLUGIN_FRAME = 'iframe[title="nasaflow"]'


def sign_in(page: Page, username: str, password: str) -> None:
    """Fill and submit Airflow's login form (the page must show it)."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def open_login_page(page: Page, path: str = "/") -> None:
    """Open `path` of the UI logged out: Airflow sends the browser to its login page."""
    page.goto(f"{AIRFLOW_URL}{path}")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def plugin_frame(page: Page) -> FrameLocator:
    return page.frame_locator(PLUGIN_FRAME)


def open_plugin_from_nav(page: Page) -> FrameLocator:
    """Click "nasaflow" in Airflow's navigation; returns the plugin page's frame."""
    page.goto(f"{AIRFLOW_URL}/")
    nav_entry = page.get_by_role("link", name="nasaflow", exact=True).and_(
        page.locator('a[href$="plugin/nasaflow"]'))
    nav_entry.click()
    expect(page).to_have_url(re.compile(r"/plugin/nasaflow$"))
    frame = plugin_frame(page)
    expect(frame.get_by_role("heading", name=re.compile(r"^Images"))).to_be_visible()
    return frame
