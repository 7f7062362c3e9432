"""The filtered image list, the time-series page and its Parquet download, on PostgreSQL.

Three days of two channels, an image every three hours, are landed in the test database:
4 x 4 cells of 64 px on a 256 x 256 image whose header puts the solar disk over every cell
but the four corners, and one on-disk cell of each image with a null skewness. The cells
land before their images are registered, so registering them computes their full-disk
summaries (include/sql/009), as it does for a stream that ran ahead of the registry. The
statistics the page reads are compared with the same statistics computed here with numpy.
"""

from __future__ import annotations

import io
import json
import re
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import psycopg
import pyarrow.parquet as pq
import pytest
import requests

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import Settings
from nasaflow.webui import app as webui_app
from nasaflow.webui.timeseries import CellRange, SeriesRequest, fetch_series

from tests.integration.webui.serving import served_pages_fixture

pytestmark = pytest.mark.services

LISTENER = socket.create_server(("127.0.0.1", 0))
PAGES = f"http://127.0.0.1:{LISTENER.getsockname()[1]}/nasaflow"
CACHE_DIR = Path(tempfile.mkdtemp(prefix="nasaflow-timeseries-test-"))
FIRST_DAY = date(2021, 3, 1)
DAYS, PER_DAY, GRID, PATCH = 3, 8, 4, 64
CORNERS = {(0, 0), (0, 3), (3, 0), (3, 3)}
ON_DISK = [(r, c) for r in range(GRID) for c in range(GRID) if (r, c) not in CORNERS]
#: The on-disk cell whose skewness is null (undefined) in every image.
NULL_CELL = (1, 1)
METADATA = {"refPixelX": 128.5, "refPixelY": 128.5, "rsun": 110.0, "width": 256,
            "height": 256}


@dataclass(frozen=True)
class Archive:
    """What the module landed: channel names (unique to the run) and image ids by channel,
    oldest first."""

    channels: tuple[str, str]
    images: dict[str, list[str]]
    observed: dict[str, datetime]


def value(image_index: int, row: int, col: int, parameter: int) -> float:
    """The value of a parameter of a cell: distinct per image, cell and parameter."""
    return image_index * 0.5 + row * 10.0 + col + parameter / 100


#: The app on the test database, at PAGES, for the module.
served_pages = served_pages_fixture(CACHE_DIR, LISTENER)


@pytest.fixture(scope="module")
def archive(settings: Settings) -> Iterator[Archive]:
    tag = uuid.uuid4().hex[:6]
    channels = (f"ts{tag}a", f"ts{tag}b")
    images: dict[str, list[str]] = {channel: [] for channel in channels}
    observed: dict[str, datetime] = {}
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, 1, tzinfo=UTC)
    columns = ", ".join(PARAMETER_NAMES)
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        for channel in channels:
            for index in range(DAYS * PER_DAY):
                image = f"webui-ts-{tag}-{channel}-{index:02d}"
                moment = start + timedelta(hours=3 * index)
                images[channel].append(image)
                observed[image] = moment
                with conn.cursor() as cursor, cursor.copy(
                        f"COPY image_parameters (image_id, patch_size, cell_row, cell_col,"
                        f" {columns}, schema_version, observed_at) FROM STDIN") as copy:
                    for row in range(GRID):
                        for col in range(GRID):
                            values: list[float | None] = [
                                value(index, row, col, k) for k in range(len(PARAMETER_NAMES))]
                            if (row, col) == NULL_CELL:
                                values[PARAMETER_NAMES.index("skewness")] = None
                            copy.write_row((image, PATCH, row, col, *values, 1, moment))
        for channel in channels:
            for image in images[channel]:
                conn.execute(
                    "INSERT INTO images (id, source, instrument, wavelength, observed_at,"
                    " width, height, sha256, path, size_bytes, source_ref) VALUES (%s,"
                    " 'helioviewer', 'AIA', %s, %s, 256, 256, %s, 'missing.jp2', 1, %s)",
                    (image, channel, observed[image], uuid.uuid4().hex * 2,
                     json.dumps({"metadata": METADATA})))
        yield Archive(channels, images, observed)
        every = [image for channel in channels for image in images[channel]]
        conn.execute("DELETE FROM image_parameter_summary WHERE image_key IN"
                     " (SELECT image_key FROM image_keys WHERE image_id = ANY(%s))", (every,))
        conn.execute("DELETE FROM image_cells AS c USING image_keys AS k"
                     " WHERE c.image_key = k.image_key AND k.image_id = ANY(%s)", (every,))
        conn.execute("DELETE FROM image_keys WHERE image_id = ANY(%s)", (every,))
        conn.execute("DELETE FROM images WHERE id = ANY(%s)", (every,))


@pytest.fixture(scope="module")
def reader(settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection as the reader role, the page's."""
    with psycopg.connect(settings.db_reader_url, autocommit=True) as conn:
        yield conn


def expected(image_index: int, parameter: str, cells: list[tuple[int, int]]
             ) -> tuple[float, float, float, int, int]:
    """(mean, p10, p90, values, nulls) of `parameter` over `cells` of an image."""
    k = PARAMETER_NAMES.index(parameter)
    values = [value(image_index, r, c, k) for r, c in cells
              if not (parameter == "skewness" and (r, c) == NULL_CELL)]
    return (float(np.mean(values)), float(np.percentile(values, 10)),
            float(np.percentile(values, 90)), len(values), len(cells) - len(values))


def links(html: str, pattern: str) -> list[str]:
    return [href.replace("&amp;", "&") for href in re.findall(pattern, html)]


def ids_on(html: str, archive: Archive) -> list[str]:
    every = {image for ids in archive.images.values() for image in ids}
    return [image for image in re.findall(r'class="title" href="[^"]+">([^<]+)</a>', html)
            if image in every]


@pytest.mark.parametrize("parameter", ["mean", "skewness"])
def test_the_full_disk_series_is_each_images_statistic_over_its_disk(
        reader: psycopg.Connection, archive: Archive, parameter: str) -> None:
    request = SeriesRequest(parameter, archive.channels, FIRST_DAY,
                            FIRST_DAY + timedelta(days=DAYS - 1), PATCH)
    series = fetch_series(reader, request)
    assert [s.wavelength for s in series] == list(archive.channels)
    for one in series:
        assert [p.observed_at for p in one.points] == [
            archive.observed[image] for image in archive.images[one.wavelength]]
        for index, point in enumerate(one.points):
            assert (point.mean, point.low, point.high, point.values, point.nulls) == (
                pytest.approx(expected(index, parameter, ON_DISK)))
    nulls = sum(s.nulls for s in series)
    assert nulls == (2 * DAYS * PER_DAY if parameter == "skewness" else 0)


def test_a_cell_range_series_covers_exactly_its_cells_corners_included(
        reader: psycopg.Connection, archive: Archive) -> None:
    picked = [(r, c) for r in (0, 1) for c in (0, 1, 2)]  # (0, 0) is off the disk
    request = SeriesRequest("skewness", archive.channels[:1], FIRST_DAY + timedelta(days=1),
                            FIRST_DAY + timedelta(days=1), PATCH, CellRange((0, 1), (0, 2)))
    (series,) = fetch_series(reader, request)
    assert len(series.points) == PER_DAY
    for offset, point in enumerate(series.points):
        assert (point.mean, point.low, point.high, point.values, point.nulls) == (
            pytest.approx(expected(PER_DAY + offset, "skewness", picked)))


def test_the_list_filters_by_channel_and_days_and_pages_by_key(
        web: requests.Session, archive: Archive) -> None:
    first, _ = archive.channels
    day = FIRST_DAY + timedelta(days=1)
    html = web.get(f"{PAGES}/", params=[("wavelength", first), ("start", day.isoformat()),
                                        ("end", day.isoformat())], timeout=30).text
    assert ids_on(html, archive) == archive.images[first][PER_DAY:2 * PER_DAY][::-1]
    # The whole channel: 24 images on two pages, newest first, the second reached by key.
    html = web.get(f"{PAGES}/", params={"wavelength": first}, timeout=30).text
    first_page = ids_on(html, archive)
    (older,) = links(html, r'href="(/nasaflow/\?[^"]*after=[^"]*)"')
    assert "offset" not in older.lower()
    assert dict(parse_qsl(urlsplit(older).query))["wavelength"] == first
    second = web.get(f"http://{urlsplit(PAGES).netloc}{older}", timeout=30).text
    assert first_page + ids_on(second, archive) == archive.images[first][::-1]
    assert "page 2 of 2" in second
    assert not links(second, r'href="(/nasaflow/\?[^"]*after=[^"]*)"')
    (newer,) = links(second, r'href="(/nasaflow/\?[^"]*before=[^"]*)"')
    back = web.get(f"http://{urlsplit(PAGES).netloc}{newer}", timeout=30).text
    assert ids_on(back, archive) == first_page


def test_a_bad_filter_is_a_400_that_names_it(web: requests.Session) -> None:
    response = web.get(f"{PAGES}/", params={"start": "2021-02-30"}, timeout=30)
    assert response.status_code == 400 and "start: expected a date" in response.text


def test_the_page_charts_each_channel_with_its_null_count_and_offers_the_cells(
        web: requests.Session, archive: Archive) -> None:
    last = FIRST_DAY + timedelta(days=DAYS - 1)
    params: list[tuple[str, str | int]] = [
        ("parameter", "skewness"), *(("wavelength", c) for c in archive.channels),
              ("start", FIRST_DAY.isoformat()), ("end", last.isoformat()),
              ("patch_size", PATCH)]
    html = web.get(f"{PAGES}/timeseries", params=params, timeout=30).text
    for channel in archive.channels:
        row = re.search(rf'class="channel-row" data-wavelength="{channel}">(.*?)</tr>', html,
                        re.S)
        assert row is not None, html[:3000]
        cells = re.findall(r"<td[^>]*>(?:<span[^>]*></span>)?([^<]+)</td>", row.group(1))
        images = DAYS * PER_DAY
        assert cells == [channel, str(images), f"{images * (len(ON_DISK) - 1):,}",
                         str(images)]
    assert html.count("<polyline") == 2
    (download,) = links(html, r'href="([^"]*/timeseries/export\.parquet[^"]*)"')
    response = web.get(f"http://{urlsplit(PAGES).netloc}{download}", timeout=60)
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.content))
    assert table.num_rows == 2 * DAYS * PER_DAY * GRID * GRID
    assert table.column_names[-1] == "skewness"
    assert set(table.column("wavelength").to_pylist()) == set(archive.channels)
    assert table.column("skewness").null_count == 2 * DAYS * PER_DAY


def test_a_download_over_the_limit_is_refused_with_the_way_out(
        web: requests.Session, archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webui_app, "EXPORT_MAX_CELLS", 100)
    response = web.get(f"{PAGES}/timeseries/export.parquet", params=[
        ("parameter", "mean"), ("wavelength", archive.channels[0]),
        ("start", FIRST_DAY.isoformat()), ("end", FIRST_DAY.isoformat()),
        ("patch_size", PATCH)], timeout=30)
    assert response.status_code == 413
    assert "over the page's limit of 100" in response.text
    assert "nasaflow export" in response.text


def test_the_image_page_opens_a_cell_range_series_of_its_channel_around_its_day(
        web: requests.Session, archive: Archive) -> None:
    image = archive.images[archive.channels[1]][PER_DAY]
    html = web.get(f"{PAGES}/images/{image}", timeout=30).text
    form = re.search(r'<form class="cells"(.*?)</form>', html, re.S)
    assert form is not None
    fields = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]+)"', form.group(1)))
    assert fields == {"wavelength": archive.channels[1], "start": "2021-02-27",
                      "end": "2021-03-05", "patch_size": str(PATCH)}
    picked = web.get(f"{PAGES}/timeseries", params={
        **fields, "parameter": "mean", "row_from": 1, "row_to": 2, "col_from": 1,
        "col_to": 2}, timeout=30).text
    assert "cells rows 1–2, cols 1–2" in picked
    row = re.search(rf'class="channel-row" data-wavelength="{archive.channels[1]}">(.*?)</tr>',
                    picked, re.S)
    assert row is not None and f">{DAYS * PER_DAY}<" in row.group(1)
