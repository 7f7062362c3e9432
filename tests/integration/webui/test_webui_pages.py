"""The nasaflow pages on rows the tests land in the test database.

The app is served from this process (the api-server of the user's platform shows the
user's data, which tests must not write to): mounted at /nasaflow like the plugin does, on
the suite's settings and a cache folder of its own, with Airflow's configured auth manager
checking tokens the running api-server issues. That the running api-server mounts the
plugin and refuses anonymous callers is checked against it directly.
"""

from __future__ import annotations

import io
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jwt
import psycopg
import pytest
import requests
from PIL import Image

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import SAMPLES_DIR, Settings
from nasaflow.webui.cache import safe_name

from tests.conftest import AIRFLOW_URL
from tests.integration.webui.serving import served_pages_fixture

pytestmark = pytest.mark.services

#: The socket the module's app listens on (bound now, so its URL is known at import).
LISTENER = socket.create_server(("127.0.0.1", 0))
SITE = f"http://127.0.0.1:{LISTENER.getsockname()[1]}"
PAGES = f"{SITE}/nasaflow"
#: The render cache of the module's app.
CACHE_DIR = Path(tempfile.mkdtemp(prefix="nasaflow-webui-test-"))
SAMPLE = SAMPLES_DIR / "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"  # 410 x 410
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Landed:
    """What the module's fixture registered."""

    full: str        # the bundled sample, patch 41: all 10 x 10 cells landed
    partial: str     # a 640 x 384 image, patch 64: 40 of its 6 x 10 cells landed
    query: str       # stream query name of three micro-batches


def register_image(conn: psycopg.Connection, image_id: str, path: Path,
                   size: tuple[int, int]) -> None:
    conn.execute(
        "INSERT INTO images (id, source, instrument, wavelength, observed_at, width, height,"
        " sha256, path, size_bytes) VALUES (%s, 'helioviewer', 'AIA', '193', now(), %s, %s,"
        " %s, %s, %s)", (image_id, size[0], size[1], uuid.uuid4().hex * 2, str(path),
                         path.stat().st_size))


def land_cells(conn: psycopg.Connection, image_id: str, patch_size: int,
               cells: list[tuple[int, int]]) -> None:
    columns = ", ".join(PARAMETER_NAMES)
    with conn.cursor() as cursor, cursor.copy(
            f"COPY image_parameters (image_id, patch_size, cell_row, cell_col, {columns},"
            " schema_version) FROM STDIN") as copy:
        for row, col in cells:
            copy.write_row((image_id, patch_size, row, col,
                            *[row * 10.0 + col + k for k in range(len(PARAMETER_NAMES))], 1))


def grid_cells(rows: int, cols: int) -> list[tuple[int, int]]:
    return [(r, c) for r in range(rows) for c in range(cols)]


def forget(conn: psycopg.Connection, image_id: str) -> None:
    conn.execute("DELETE FROM image_parameters WHERE image_id = %s", (image_id,))
    conn.execute("DELETE FROM images WHERE id = %s", (image_id,))
    for kind in ("heatmaps", "thumbnails"):
        shutil.rmtree(CACHE_DIR / kind / safe_name(image_id), ignore_errors=True)


#: The app on the test database, at PAGES, for the module.
served_pages = served_pages_fixture(CACHE_DIR, LISTENER)


@pytest.fixture(scope="module")
def data_db(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def landed(data_db: psycopg.Connection,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Landed]:
    tag = uuid.uuid4().hex[:10]
    wide = tmp_path_factory.mktemp("webui") / "wide.png"
    Image.new("L", (640, 384), 90).save(wide)
    landed = Landed(f"webui-test-{tag}-full", f"webui-test-{tag}-partial", f"webui-test-{tag}")
    register_image(data_db, landed.full, SAMPLE, (410, 410))
    land_cells(data_db, landed.full, 41, grid_cells(10, 10))
    register_image(data_db, landed.partial, wide, (640, 384))
    land_cells(data_db, landed.partial, 64, grid_cells(6, 10)[:40])
    start = datetime.now(UTC) - timedelta(seconds=40)
    for batch in range(3):
        data_db.execute(
            "INSERT INTO stream_batches (query, checkpoint_id, batch_id, rows, dead_letters,"
            " max_lag_seconds, started_at, finished_at) VALUES (%s, %s, %s, %s, 0, %s, %s, %s)",
            (landed.query, f"checkpoint-{tag}", batch, 100 * (batch + 1), 1.5 * batch,
             start + timedelta(seconds=10 * batch), start + timedelta(seconds=10 * batch + 3)))
    yield landed
    data_db.execute("DELETE FROM stream_batches WHERE query = %s", (landed.query,))
    forget(data_db, landed.full)
    forget(data_db, landed.partial)


def heatmap_links(html: str, image_id: str) -> list[str]:
    pattern = rf'src="(/nasaflow/images/{re.escape(quote(image_id, safe=""))}/heatmaps/[^"]+)"'
    return re.findall(pattern, html)


def heatmap_dir(image_id: str, patch_size: int) -> Path:
    return CACHE_DIR / "heatmaps" / safe_name(image_id) / f"p{patch_size}"


def test_plugin_is_registered_with_a_nav_entry(web: requests.Session) -> None:
    plugins = web.get(f"{AIRFLOW_URL}/api/v2/plugins", timeout=30).json()["plugins"]
    plugin = next(p for p in plugins if p["name"] == "nasaflow")
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == ["/nasaflow"]
    view = plugin["external_views"][0]
    assert (view["name"], view["url_route"], view["destination"]) == ("nasaflow", "nasaflow", "nav")


def test_page_lists_the_image_with_its_thumbnail_and_ten_heatmaps(
        web: requests.Session, landed: Landed) -> None:
    response = web.get(f"{PAGES}/", timeout=30)
    assert response.status_code == 200
    assert landed.full in response.text and landed.partial in response.text
    assert f"/nasaflow/images/{landed.full}/thumbnail.png?v=" in response.text
    links = heatmap_links(response.text, landed.full)
    assert [re.findall(r"/(\w+)\.png", link)[0] for link in links] == list(PARAMETER_NAMES)
    assert "41 px: 100 / 100 cells" in response.text


def test_image_page_reports_landed_cells_and_a_legend_per_parameter(
        web: requests.Session, landed: Landed) -> None:
    html = web.get(f"{PAGES}/images/{landed.partial}", timeout=30).text
    assert "40 of 60" in html and "6 × 10 grid of 64 px cells" in html
    assert len(heatmap_links(html, landed.partial)) == len(PARAMETER_NAMES)
    assert html.count('class="legend"') == len(PARAMETER_NAMES)


@pytest.mark.parametrize(("which", "grid"), [("full", (10, 10)), ("partial", (6, 10))])
def test_heatmaps_decode_as_pngs_with_the_grid_aspect(
        web: requests.Session, landed: Landed, which: str, grid: tuple[int, int]) -> None:
    image_id = getattr(landed, which)
    links = heatmap_links(web.get(f"{PAGES}/images/{image_id}", timeout=30).text, image_id)
    for link in links:
        response = web.get(f"{SITE}{link}", timeout=30)
        assert response.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(response.content)) as picture:
            picture.load()
            assert picture.width * grid[0] == picture.height * grid[1], link


def test_second_request_is_served_from_the_cache(web: requests.Session, landed: Landed) -> None:
    shutil.rmtree(CACHE_DIR / "heatmaps" / safe_name(landed.full), ignore_errors=True)
    url = f"{PAGES}/images/{landed.full}/heatmaps/41/entropy.png"
    first = web.get(url, timeout=30)
    assert first.headers["X-Nasaflow-Cache"] == "miss"
    (version_dir,) = heatmap_dir(landed.full, 41).iterdir()
    drawn_at = (version_dir / "entropy.png").stat().st_mtime_ns
    second = web.get(url, timeout=30)
    assert second.headers["X-Nasaflow-Cache"] == "hit"
    assert second.content == first.content
    assert (version_dir / "entropy.png").stat().st_mtime_ns == drawn_at
    other = web.get(url.replace("entropy", "kurtosis"), timeout=30)
    assert other.headers["X-Nasaflow-Cache"] == "hit"  # the set was drawn together


def test_thumbnail_is_drawn_once_from_the_sample(web: requests.Session, landed: Landed) -> None:
    shutil.rmtree(CACHE_DIR / "thumbnails" / safe_name(landed.full), ignore_errors=True)
    url = f"{PAGES}/images/{landed.full}/thumbnail.png"
    first, second = web.get(url, timeout=30), web.get(url, timeout=30)
    assert first.headers["X-Nasaflow-Cache"] == "miss"
    assert second.headers["X-Nasaflow-Cache"] == "hit"
    with Image.open(io.BytesIO(second.content)) as picture:
        assert picture.size == (320, 320)


def test_landing_more_cells_draws_a_new_version(web: requests.Session, landed: Landed,
                                                 data_db: psycopg.Connection) -> None:
    image_id = f"{landed.query}-growing"
    register_image(data_db, image_id, SAMPLE, (410, 410))
    try:
        land_cells(data_db, image_id, 82, grid_cells(5, 5)[:10])
        before = heatmap_links(web.get(f"{PAGES}/images/{image_id}", timeout=30).text, image_id)
        assert web.get(f"{SITE}{before[0]}", timeout=30).status_code == 200
        land_cells(data_db, image_id, 82, grid_cells(5, 5)[10:])
        html = web.get(f"{PAGES}/images/{image_id}", timeout=30).text
        after = heatmap_links(html, image_id)
        assert "25 of 25" in html and after[0] != before[0]
        assert [p.name for p in heatmap_dir(image_id, 82).iterdir()] == [
            "v" + after[0].rsplit("v=", 1)[1]]
    finally:
        forget(data_db, image_id)


def test_stream_batches_are_charted(web: requests.Session, landed: Landed) -> None:
    html = web.get(f"{PAGES}/", timeout=30).text
    for batch, rows in enumerate((100, 200, 300)):
        assert f"<title>{landed.query} batch {batch}: {rows} rows</title>" in html
    assert f"<title>{landed.query} batch 2: 3 s</title>" in html  # duration
    assert f"<title>{landed.query} batch 1: 1.5 s</title>" in html  # lag


def test_unknown_image_is_404(web: requests.Session) -> None:
    assert web.get(f"{PAGES}/images/webui-test-{uuid.uuid4().hex}", timeout=30).status_code == 404


def _anonymous_paths(landed: Landed) -> list[str]:
    return ["/", f"/images/{landed.full}", f"/images/{landed.full}/thumbnail.png",
            f"/images/{landed.full}/heatmaps/41/mean.png", "/icon.svg"]


def test_anonymous_requests_are_refused(landed: Landed) -> None:
    for path in _anonymous_paths(landed):
        response = requests.get(f"{PAGES}{path}", timeout=30)
        assert response.status_code == 401, path
        assert landed.full not in response.text and PNG_SIGNATURE not in response.content


def test_anonymous_browsers_are_sent_to_the_login_page(landed: Landed) -> None:
    response = requests.get(f"{PAGES}/images/{landed.full}", timeout=30, allow_redirects=False,
                            headers={"Accept": "text/html"})
    assert response.status_code == 303
    login = urlsplit(response.headers["location"])
    assert login.path.rstrip("/") == "/auth/login" and login.query.startswith("next=")
    assert quote(f"/nasaflow/images/{landed.full}", safe="") in response.headers["location"]


def test_a_token_airflow_did_not_sign_is_refused(landed: Landed) -> None:
    forged = jwt.encode({"sub": "admin", "role": "ADMIN", "aud": "apache-airflow",
                         "exp": int(time.time()) + 3600}, "not-the-secret-" * 5, algorithm="HS512")
    for token in (forged, "not-a-jwt"):
        attempts: list[dict[str, Any]] = [{"headers": {"Authorization": f"Bearer {token}"}},
                                          {"cookies": {"_token": token}}]
        for credentials in attempts:
            response = requests.get(f"{PAGES}/", timeout=30, **credentials)
            assert response.status_code == 401, credentials


def test_the_running_api_server_refuses_anonymous_page_requests() -> None:
    for path in ("/", "/images/any/thumbnail.png"):
        response = requests.get(f"{AIRFLOW_URL}/nasaflow{path}", timeout=30)
        assert response.status_code == 401, path


def test_the_ui_login_cookie_gives_access(landed: Landed, access_token: str) -> None:
    response = requests.get(f"{PAGES}/", timeout=30, cookies={"_token": access_token})
    assert response.status_code == 200 and landed.full in response.text
