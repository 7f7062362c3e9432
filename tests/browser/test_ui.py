"""A user's journey through the Airflow UI in headless Chromium.

Log in through Airflow's login page, find both DAGs in the list, trigger nasa_ingest for
2022-08-02 (HMI magnetogram) through the DAG's trigger form, with the data target set to the
suite's own copies ("test"), watch the run succeed on its page, then open the nasaflow
plugin page from the navigation and see an image of the user's platform (the demo's, which
the user-data guard makes sure is there) with its ten parameter heat maps loaded: the page
reads the platform's database, which the suite never writes. Each run saves the plugin page's screenshot to
.local/artifacts/plugin-page.png (docs/plugin-page.png is a copy of one).

Every check reads what the browser shows; the run's state is read from the run's page,
not from the REST API.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, FrameLocator, Locator, Page, Position, expect

from nasaflow.operations.airflow_users import Login

from tests.browser.airflow_ui import (
    LOGIN_REFUSED,
    LOGIN_URL,
    open_login_page,
    open_plugin_from_nav,
    sign_in,
)
from tests.conftest import AIRFLOW_URL

pytestmark = [pytest.mark.services, pytest.mark.slow]

INGEST_DAG = "nasa_ingest"
STREAM_DAG = "stream_to_postgres"
RUN_DATE = "2022-08-02"
WAVELENGTH = "magnetogram"
#: An image of the demo's ingest, on the plugin page (which reads the platform's data).
IMAGE_ID = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193"
IMAGE_LABEL = "AIA 193"
IMAGE_DAY = "2022-01-01"
IMAGE_CHANNEL = "193"
#: The ten parameters as the plugin page names them (the alt text of each heat map).
PARAMETER_LABELS = [
    "Entropy", "Mean", "Standard deviation", "Fractal dimension", "Skewness", "Kurtosis",
    "Uniformity", "Relative smoothness", "Tamura contrast", "Tamura directionality",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / ".local" / "artifacts" / "plugin-page.png"
SCREENSHOT_MAX_BYTES = 500 * 1024
#: How long the run may take from the form's submit to a final state.
RUN_TIMEOUT_S = 600
FINAL_STATE = re.compile(r"^\s*(Success|Failed)\s*$")


# --- helpers -------------------------------------------------------------------------

def run_page_url(run_id: str) -> str:
    return f"{AIRFLOW_URL}/dags/{INGEST_DAG}/runs/{run_id}"


def run_state_badge(page: Page) -> Locator:
    """The state badge in the header of a DAG run's page."""
    return page.get_by_test_id("header-card").get_by_test_id("state-badge")


def wait_for_final_state(page: Page, run_id: str, timeout_s: float) -> str:
    """Watch the run's page until its header shows Success or Failed; returns the state.

    The page polls the server by itself while the run is active; it is also reloaded
    every minute, so a page that stopped refreshing cannot hide the outcome.
    """
    deadline = time.monotonic() + timeout_s
    badge = run_state_badge(page)
    while True:
        page.goto(run_page_url(run_id))
        try:
            expect(page.get_by_role("heading", name=run_id, exact=True)).to_be_visible(
                timeout=15_000)
        except AssertionError:
            # A page whose translations failed to load shows its keys and no heading:
            # load it again, unless the time is up.
            if time.monotonic() >= deadline:
                raise
            continue
        expect(badge).to_be_visible()
        remaining_ms = max(1_000, int((deadline - time.monotonic()) * 1000))
        try:
            expect(badge).to_have_text(FINAL_STATE, timeout=min(60_000, remaining_ms))
            return badge.inner_text().strip()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"run {run_id} still {badge.inner_text().strip()!r} on its page after "
                    f"{timeout_s:.0f} s") from None


def task_states(page: Page, run_id: str) -> list[str]:
    """The rows of the run page's task instance table, as text (for failure messages)."""
    page.goto(run_page_url(run_id))
    rows = page.get_by_role("row")
    expect(rows.nth(1)).to_be_visible()
    return [" ".join(row.split()) for row in rows.all_inner_texts()[1:]]


def image_card(frame: FrameLocator, image_id: str) -> Locator:
    """The list entry of `image_id`, paging to older images until it shows."""
    title = frame.get_by_role("link", name=image_id, exact=True)
    older = frame.get_by_role("link", name=re.compile(r"^older"))
    expect(frame.get_by_role("heading", name=re.compile(r"^Images"))).to_be_visible()
    page_number = 1
    while not title.count():
        assert older.count(), f"{image_id} is on no page of the image list"
        older.click()
        page_number += 1
        # The pager names the page shown: wait for the next page, not the one left.
        expect(frame.get_by_text(re.compile(rf"^page {page_number} of \d+$"))).to_be_visible()
    return frame.locator("div.image").filter(has=title)


def expect_loaded(image: Locator) -> int:
    """Scroll a (possibly lazy) <img> into view, wait until it finished loading and
    return its natural width (0 for a broken picture)."""
    image.scroll_into_view_if_needed()
    expect(image).to_have_js_property("complete", True, timeout=90_000)
    return int(image.evaluate("img => img.naturalWidth"))


# --- fixtures ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ui(open_context: Callable[[], BrowserContext],
       admin_credentials: Login) -> Iterator[Page]:
    """A page logged in as the .env admin through the login form, shared by the journey."""
    context = open_context()
    page = context.new_page()
    open_login_page(page)
    sign_in(page, admin_credentials.username, admin_credentials.password)
    expect(page).not_to_have_url(LOGIN_URL)
    yield page
    context.close()


@pytest.fixture(scope="module")
def form_run(ui: Page, ingest_dag: str) -> str:
    """Trigger nasa_ingest through its trigger form for RUN_DATE and WAVELENGTH.

    The run id is typed into the form's Run ID field (Advanced Options), so the test
    knows the run it created without asking the API.
    """
    run_id = f"ui_{RUN_DATE}_{uuid.uuid4().hex[:10]}"
    ui.goto(f"{AIRFLOW_URL}/dags/{ingest_dag}")
    ui.get_by_role("button", name="Trigger Dag").click()
    dialog = ui.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=re.compile(f"Trigger Dag.*{ingest_dag}"))
           ).to_be_visible()
    expect(dialog.get_by_text("Run Parameters")).to_be_visible()
    # The param fields are named element_<param> by Airflow's form; their <label>s are not
    # bound to them, so the name is the stable handle. `date` (format "date") is a date
    # input; `wavelengths` (array of strings) is a text area, one value per line.
    date_field = dialog.locator('input[name="element_date"]')
    date_field.fill(RUN_DATE)
    expect(date_field).to_have_value(RUN_DATE)
    wavelengths = dialog.locator('textarea[name="element_wavelengths"]')
    wavelengths.fill(WAVELENGTH)
    expect(wavelengths).to_have_value(WAVELENGTH)
    # `target` (an enum) is a searchable select: the run writes to the suite's copies.
    dialog.locator("#element_target input[role=combobox]").fill("test")
    ui.keyboard.press("Enter")
    expect(dialog.locator('input[name="element_target"]')).to_have_value("test")
    dialog.get_by_role("button", name="Advanced Options").click()
    run_id_field = dialog.get_by_label("Run ID", exact=True)
    run_id_field.fill(run_id)
    expect(run_id_field).to_have_value(run_id)
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    # The dialog closes once the api-server created the run: seconds on a busy machine.
    expect(dialog).to_be_hidden(timeout=30_000)
    return run_id


@pytest.fixture(scope="module")
def finished_run(ui: Page, form_run: str) -> tuple[str, str]:
    """The form's run and the final state its page showed."""
    return form_run, wait_for_final_state(ui, form_run, RUN_TIMEOUT_S)


@pytest.fixture(scope="module")
def successful_run(ui: Page, finished_run: tuple[str, str]) -> str:
    """The form's run id, once its page showed Success."""
    run_id, state = finished_run
    assert state == "Success", f"run {run_id} ended {state}: {task_states(ui, run_id)}"
    return run_id


# --- tests ---------------------------------------------------------------------------

def test_wrong_password_is_refused_with_a_visible_error(
        fresh_context: BrowserContext, admin_credentials: Login) -> None:
    page = fresh_context.new_page()
    open_login_page(page)
    error = page.get_by_text(LOGIN_REFUSED)
    expect(error).to_have_count(0)
    # Typed into the password field only: a wrong password derived from the real one
    # could show up in a failure report's page snapshot.
    sign_in(page, admin_credentials.username, f"not-the-password-{uuid.uuid4().hex[:8]}")
    expect(error).to_be_visible()
    expect(page).to_have_url(LOGIN_URL)
    assert "_token" not in {cookie["name"] for cookie in fresh_context.cookies()}


def test_login_with_the_env_credentials_opens_the_ui(
        fresh_context: BrowserContext, admin_credentials: Login) -> None:
    page = fresh_context.new_page()
    open_login_page(page)
    sign_in(page, admin_credentials.username, admin_credentials.password)
    expect(page).not_to_have_url(LOGIN_URL)
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    expect(page.get_by_role("link", name="Dags", exact=True)).to_be_visible()
    assert "_token" in {cookie["name"] for cookie in fresh_context.cookies()}


def test_dag_list_shows_both_dags(ui: Page) -> None:
    ui.goto(f"{AIRFLOW_URL}/dags")
    for dag_id in (INGEST_DAG, STREAM_DAG):
        expect(ui.get_by_role("link", name=dag_id, exact=True)).to_be_visible()


def test_trigger_form_creates_a_run_with_the_chosen_date_and_wavelength(
        ui: Page, form_run: str) -> None:
    ui.goto(f"{run_page_url(form_run)}/details")
    expect(ui.get_by_role("heading", name=form_run, exact=True)).to_be_visible()
    conf = ui.get_by_role("row").filter(has=ui.get_by_role("cell", name="Conf", exact=True))
    # The conf is shown as highlighted JSON: match it regardless of the spacing.
    expect(conf).to_contain_text(re.compile(rf'"date"\s*:\s*"{RUN_DATE}"'))
    expect(conf).to_contain_text(re.compile(rf'"wavelengths"\s*:\s*\[\s*"{WAVELENGTH}"\s*\]'))
    expect(conf).to_contain_text(re.compile(r'"target"\s*:\s*"test"'))


def test_triggered_run_succeeds_on_its_page(ui: Page, finished_run: tuple[str, str]) -> None:
    run_id, state = finished_run
    assert state == "Success", f"run {run_id} ended {state}: {task_states(ui, run_id)}"
    ui.goto(run_page_url(run_id))
    expect(run_state_badge(ui)).to_have_text(re.compile(r"^\s*Success\s*$"))
    # The task instance table's row of the run's last task shows it succeeded too.
    expect(ui.get_by_role("row").filter(has=ui.get_by_role("link", name="finish", exact=True))
           ).to_contain_text("Success")


def test_plugin_page_lists_the_image_with_its_ten_heat_maps_loaded(
        ui: Page, successful_run: str) -> None:
    card = image_card(open_plugin_from_nav(ui), IMAGE_ID)
    expect(card).to_contain_text(IMAGE_LABEL)
    thumbnail = card.get_by_role("img", name=IMAGE_LABEL, exact=True)
    assert expect_loaded(thumbnail) > 0, "thumbnail did not load"
    maps = card.locator(".strip img")
    expect(maps).to_have_count(len(PARAMETER_LABELS))
    widths = {label: expect_loaded(card.get_by_role("img", name=label, exact=True))
              for label in PARAMETER_LABELS}
    assert all(width > 0 for width in widths.values()), f"heat maps not drawn: {widths}"


def test_image_page_shows_ten_heat_maps_of_an_image(ui: Page, successful_run: str) -> None:
    frame = open_plugin_from_nav(ui)
    image_card(frame, IMAGE_ID).get_by_role("link", name=IMAGE_ID, exact=True).click()
    expect(frame.get_by_role("heading", name=IMAGE_ID, exact=True)).to_be_visible()
    expect(frame.get_by_role("heading", name="Parameter heat maps")).to_be_visible()
    for label in PARAMETER_LABELS:
        expect(frame.get_by_role("heading", name=label, exact=True)).to_be_visible()
    maps = frame.locator(".maps img")
    expect(maps).to_have_count(len(PARAMETER_LABELS))
    widths = [expect_loaded(maps.nth(index)) for index in range(len(PARAMETER_LABELS))]
    assert all(width > 0 for width in widths), f"heat maps not drawn: {widths}"


def test_plugin_page_screenshot_is_saved(ui: Page, successful_run: str) -> None:
    card = image_card(open_plugin_from_nav(ui), IMAGE_ID)
    for label in PARAMETER_LABELS:
        assert expect_loaded(card.get_by_role("img", name=label, exact=True)) > 0
    card.scroll_into_view_if_needed()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    ui.screenshot(path=str(SCREENSHOT))
    assert 0 < SCREENSHOT.stat().st_size < SCREENSHOT_MAX_BYTES
    with Image.open(SCREENSHOT) as picture:
        assert (picture.format, picture.size) == ("PNG", (1400, 1000))


def test_plugin_filters_picks_cells_on_a_heat_map_charts_them_and_downloads_the_cells(
        ui: Page, successful_run: str, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    frame = open_plugin_from_nav(ui)
    # Filter the list to the demo image's day and channel.
    filters = frame.get_by_role("form", name="Filter images")
    filters.get_by_label("From (UTC day)").fill(IMAGE_DAY)
    filters.get_by_label("To (UTC day)").fill(IMAGE_DAY)
    filters.get_by_role("checkbox", name=IMAGE_CHANNEL, exact=True).check()
    filters.get_by_role("button", name="Filter").click()
    # The filtered page replaces the list: wait until only that day's channel is shown.
    shown = frame.locator("div.image .meta")
    expect(shown.filter(has_not_text=IMAGE_DAY)).to_have_count(0)
    expect(shown.filter(has_not_text=f"{IMAGE_LABEL} ")).to_have_count(0)
    image_card(frame, IMAGE_ID)
    expect(filters.get_by_role("checkbox", name=IMAGE_CHANNEL, exact=True)).to_be_checked()
    # The full-disk time series of the filtered channel opens from the list.
    frame.get_by_role("link", name="time series →").click()
    series_form = frame.get_by_role("form", name="Time series")
    series_form.get_by_label("From (UTC day)").fill(IMAGE_DAY)
    series_form.get_by_label("To (UTC day)").fill(IMAGE_DAY)
    series_form.get_by_role("button", name="Show").click()
    expect(frame.get_by_role("heading", name=re.compile(r"^Mean over the full solar disk"))
           ).to_be_visible()
    expect(frame.locator(f'tr.channel-row[data-wavelength="{IMAGE_CHANNEL}"]')).to_be_visible()
    # Pick a rectangle of cells on the image's Mean heat map: a click, then a shift-click.
    frame.get_by_role("link", name="← all images").click()
    image_card(frame, IMAGE_ID).get_by_role("link", name=IMAGE_ID, exact=True).click()
    expect(frame.get_by_role("heading", name=IMAGE_ID, exact=True)).to_be_visible()
    heat_map = frame.locator("#mean img")
    assert expect_loaded(heat_map) > 0
    cells = frame.get_by_role("form", name="Cell range")
    rows = int(cells.get_by_label("Row from").get_attribute("max") or "0") + 1
    cols = int(cells.get_by_label("Col from").get_attribute("max") or "0") + 1
    box = heat_map.bounding_box()
    assert box is not None
    # Two cells, clicked at their centres (sub-pixel rounding cannot move a click to a
    # neighbour): a third and two thirds of the way across the grid.
    (row_from, col_from), (row_to, col_to) = ((rows // 3, cols // 3),
                                              (2 * rows // 3, 2 * cols // 3))
    first, second = (Position(x=(col + 0.5) * box["width"] / cols,
                              y=(row + 0.5) * box["height"] / rows)
                     for row, col in ((row_from, col_from), (row_to, col_to)))
    heat_map.click(position=first)
    heat_map.click(position=second, modifiers=["Shift"])
    for label, number in (("Row from", row_from), ("Row to", row_to), ("Col from", col_from),
                          ("Col to", col_to)):
        expect(cells.get_by_label(label)).to_have_value(str(number))
    expect(cells.get_by_label("Parameter")).to_have_value("mean")
    cells.get_by_role("button", name="Time series of these cells").click()
    expect(frame.get_by_role("heading", name=re.compile(
        rf"^Mean over cells rows {row_from}–{row_to}, cols {col_from}–{col_to}"))).to_be_visible()
    legend = frame.locator(f'tr.channel-row[data-wavelength="{IMAGE_CHANNEL}"] td')
    expect(legend.nth(1)).not_to_have_text("0")
    expect(frame.locator(f'g.channel[data-wavelength="{IMAGE_CHANNEL}"] polyline').first
           ).to_be_attached()
    # Download the selection's cells and read them back.
    with ui.expect_download() as download:
        frame.get_by_role("link", name=re.compile(r"^Download the cells")).click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    table = pq.read_table(saved)
    assert saved.suffix == ".parquet" and table.num_rows > 0
    assert set(table.column("wavelength").to_pylist()) == {IMAGE_CHANNEL}
    assert "mean" in table.column_names and IMAGE_ID in set(table.column("image_id").to_pylist())
