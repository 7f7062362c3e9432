"""Browser fixtures: Debian's headless Chromium driven by Playwright.

The browser is launched once per session from /usr/bin/chromium (Playwright's own browser
downloads are not used here); each test module or test opens its own context, so cookies
(the Airflow login) never leak between journeys that must start logged out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Playwright,
    ViewportSize,
    sync_playwright,
)

from nasaflow.operations.airflow_users import ADMIN_ROLE, Login, logins_from_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: Viewport of every page: the size the documentation screenshot is taken at.
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """The Playwright driver process, for the whole session."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the session."""
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def logins() -> dict[str, Login]:
    """The .env logins by role (loaded into the environment by ops/with-env.sh)."""
    return logins_from_env(os.environ)


@pytest.fixture(scope="session")
def admin_credentials(logins: dict[str, Login]) -> Login:
    """The .env admin's login."""
    return logins[ADMIN_ROLE]


@pytest.fixture(scope="session")
def open_context(chromium: Browser) -> Callable[[], BrowserContext]:
    """Opens a fresh, logged-out context at the documentation viewport (UTC, English,
    light colours); the caller closes it."""
    def open_new() -> BrowserContext:
        context = chromium.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC",
                                       color_scheme="light")
        context.set_default_timeout(30_000)
        context.set_default_navigation_timeout(60_000)
        return context

    return open_new


@pytest.fixture()
def fresh_context(open_context: Callable[[], BrowserContext]) -> Iterator[BrowserContext]:
    """A logged-out context of its own for one test."""
    context = open_context()
    yield context
    context.close()
