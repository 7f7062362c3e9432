"""The replay server's synthetic archive answers like Helioviewer for any SDO source and time.

A real server on a free port, with a fixed clock, hourly cadences for three channels and
small images so the pool renders in well under a second.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import requests
from PIL import Image

from nasaflow.images.jp2 import iter_boxes, jp2_xml
from nasaflow.images.verify import verify_image
from nasaflow.ingest import plan_images, store_path
from nasaflow.ingest.clients import SourceClients
from nasaflow.replay.archive import ArchiveConfig
from nasaflow.replay.server import ReplayServer
from nasaflow.settings import SAMPLES_DIR
from nasaflow.sources.helioviewer import (
    HelioviewerClient,
    archive_path,
    parse_filename,
    source_for,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DELAY = timedelta(minutes=25)
HOURLY = ("304", "1600", "magnetogram")
POOL = 6
SIDE = 128
DAY = datetime(2025, 3, 10, tzinfo=UTC)


def _archive_server(cache: Path, *, pool: int, side: int,
                    cadences: dict[int, int]) -> ReplayServer:
    config = ArchiveConfig(cadences, DELAY, pool, side, cache)
    return ReplayServer("127.0.0.1", 0, samples_dir=SAMPLES_DIR, now=lambda: NOW,
                        archive=config)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplayServer]:
    cadences = {source_for(wavelength).source_id: 3600 for wavelength in HOURLY}
    with _archive_server(tmp_path_factory.mktemp("archive-pool"), pool=POOL, side=SIDE,
                         cadences=cadences) as server:
        yield server


@pytest.fixture()
def client(archive: ReplayServer, http) -> HelioviewerClient:
    return HelioviewerClient(archive.url, http)


def _get(server: ReplayServer, action: str, **params: str) -> requests.Response:
    return requests.get(f"{server.url}/v2/{action}/", params=params, timeout=10)


def _codestream(data: bytes) -> bytes:
    box = next(box for box in iter_boxes(data) if box.type == b"jp2c")
    return data[box.start:box.end]


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as picture:
        return hashlib.sha256(picture.tobytes()).digest()


def _day(client: HelioviewerClient, server: ReplayServer, wavelength: str) -> list[dict]:
    """Every hour of DAY through the real client, with the image bytes and header."""
    source = source_for(wavelength)
    images = []
    for hour in range(24):
        moment = DAY + timedelta(hours=hour)
        closest = client.closest_image_within(moment, source, timedelta(minutes=30))
        uri = client.jp2_uri(closest.id)
        response = _get(server, "getJP2Image", id=closest.id)
        images.append({"closest": closest, "uri": uri, "response": response,
                       "header": client.jp2_header(closest.id)})
    return images


def test_multi_channel_day_answers_consistently(archive, client) -> None:
    for wavelength in HOURLY:
        source = source_for(wavelength)
        day = _day(client, archive, wavelength)
        ids = {image["closest"].id for image in day}
        assert len(ids) == 24, f"{wavelength}: expected one image per hour"
        times = [image["closest"].date for image in day]
        assert all(timedelta(seconds=3599) <= later - earlier <= timedelta(seconds=3601)
                   for earlier, later in pairwise(times))
        for image in day:
            closest, response = image["closest"], image["response"]
            name = archive_path(image["uri"]).rsplit("/", 1)[1]
            observed, instrument, measurement = parse_filename(name)
            assert (instrument, measurement) == (source.instrument, source.measurement)
            assert archive_path(image["uri"]) == (f"{instrument}/{observed:%Y/%m/%d}/"
                                                  f"{measurement}/{name}")
            assert abs(observed - closest.date) <= timedelta(seconds=0.5)
            assert closest.name == source.nickname
            assert response.headers["Content-Type"] == "image/jp2"
            assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
            info = verify_image(response.content, "jp2")
            assert (info.width, info.height) == (closest.width, closest.height) == (SIDE, SIDE)
            xml = jp2_xml(response.content)
            assert xml is not None, "the served JP2 has no XML box"
            header = xml.decode()
            assert header == image["header"]
            date_obs = observed.strftime("%Y-%m-%dT%H:%M:%S.") + \
                f"{observed.microsecond // 1000:03d}"
            assert f"<DATE-OBS>{date_obs}</DATE-OBS>" in header
            assert f"<NAXIS1>{SIDE}</NAXIS1>" in header


def test_images_are_distinct_jp2s_with_distinct_headers(archive, client) -> None:
    day = _day(client, archive, "304")
    bodies = [image["response"].content for image in day]
    headers = [image["header"] for image in day]
    assert len({hashlib.sha256(body).digest() for body in bodies}) == len(bodies)
    assert len(set(headers)) == len(headers)
    t_obs = {header.split("<T_OBS>")[1].split("</T_OBS>")[0] for header in headers}
    assert len(t_obs) == len(headers)
    # Pixels come from the bounded pool: several contents, never more than the pool holds.
    contents = {_pixels(body) for body in bodies}
    assert 1 < len(contents) <= POOL
    assert len({_codestream(body) for body in bodies}) == len(contents)


def test_a_source_gets_at_least_50_distinct_pixel_contents(tmp_path: Path) -> None:
    with _archive_server(tmp_path, pool=64, side=64, cadences={}) as server:
        source_id = source_for("171").source_id
        contents = set()
        start = DAY
        for step in range(240):  # a day at 6 minutes, the data set's shape
            moment = start + timedelta(minutes=6 * step)
            closest = _get(server, "getClosestImage", sourceId=str(source_id),
                           date=moment.strftime("%Y-%m-%dT%H:%M:%SZ")).json()
            contents.add(_pixels(_get(server, "getJP2Image", id=closest["id"]).content))
        assert len(contents) >= 50
        cached = list((tmp_path / "64px-v1" / str(source_id)).glob("*.jp2"))
        assert len(cached) <= 64


def test_data_sources_end_trails_the_clock_by_the_ingestion_delay(archive, client) -> None:
    sources = client.data_sources()
    assert {source.source_id for source in sources.values()} == set(range(8, 20))
    for source_id, available in sources.items():
        assert available.start.year == 2010
        cadence = timedelta(hours=1) if source_id in (13, 15, 19) else \
            timedelta(seconds={17: 3600, 18: 45, 16: 24}.get(source_id, 12))
        assert NOW - DELAY - cadence - timedelta(seconds=1) <= available.end <= NOW - DELAY
    newest = _get(archive, "getClosestImage", sourceId="13",
                  date="2030-01-01T00:00:00Z").json()
    assert newest["date"] == sources[13].end.strftime("%Y-%m-%d %H:%M:%S")
    # The image after the newest is not published yet: its id is unknown.
    unpublished = str(int(newest["id"]) + 1)
    assert _get(archive, "getJP2Header", id=unpublished).json() == {
        "error": f"No image found with id {unpublished}.", "errno": 24}


def test_before_the_mission_the_first_image_answers(archive) -> None:
    first = _get(archive, "getClosestImage", sourceId="18",
                 date="2005-01-01T00:00:00Z").json()
    assert first["date"] == "2010-12-06 06:53:41"


def test_unknown_source_gives_helioviewers_error(archive) -> None:
    response = _get(archive, "getClosestImage", sourceId="9999", date="2025-03-10T00:00:00Z")
    assert response.status_code == 500
    assert response.json() == {
        "error": "No data of the requested type () are currently available.", "errno": 10}
    by_date = _get(archive, "getJP2Image", sourceId="9999", date="2025-03-10T00:00:00Z")
    assert by_date.json()["errno"] == 10


def test_samples_keep_their_files_ids_and_times(archive, replay) -> None:
    name = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"
    at_sample = _get(archive, "getClosestImage", sourceId="11",
                     date="2022-01-01T00:03:52.835Z").json()
    samples_only = requests.get(f"{replay.url}/v2/getClosestImage/", timeout=10, params={
        "sourceId": "11", "date": "2022-01-01T00:03:52.835Z"}).json()
    assert at_sample == samples_only
    body = _get(archive, "getJP2Image", id=at_sample["id"])
    assert body.content == (SAMPLES_DIR / name).read_bytes()
    # Twelve seconds later the archive answers with its own image.
    later = _get(archive, "getClosestImage", sourceId="11",
                 date="2022-01-01T00:04:05Z").json()
    assert later["id"] != at_sample["id"] and later["width"] == SIDE


def test_faults_still_apply_to_archive_images(archive) -> None:
    closest = _get(archive, "getClosestImage", sourceId="13", date="2025-03-10T06:00:00Z")
    image_id = closest.json()["id"]
    response = requests.get(f"{archive.url}/v2/getJP2Image/", params={"id": image_id},
                            headers={"X-Replay-Fault": "corrupt"}, timeout=10)
    clean = _get(archive, "getJP2Image", id=image_id)
    assert len(response.content) == len(clean.content)
    assert response.content[:16] == b"\x00" * 16 and response.content[16:] == clean.content[16:]


def test_static_archive_serves_archive_files_by_their_uri_path(archive, client) -> None:
    closest = client.closest_image(DAY + timedelta(hours=3), source_for("1600"))
    rel = archive_path(client.jp2_uri(closest.id))
    by_id = _get(archive, "getJP2Image", id=closest.id).content
    static = requests.get(f"{archive.url}/jp2/{rel}", timeout=10)
    assert static.status_code == 200 and static.headers["Accept-Ranges"] == "bytes"
    assert static.content == by_id
    # The same name one millisecond later is a well-formed name of no image.
    folder, name = rel.rsplit("/", 1)
    millis = int(name[21:24])
    off_by_one = f"{folder}/{name[:21]}{(millis + 1) % 1000:03d}{name[24:]}"
    assert parse_filename(off_by_one.rsplit("/", 1)[1])[1:] == ("AIA", "1600")
    assert requests.get(f"{archive.url}/jp2/{off_by_one}", timeout=10).status_code == 404


def test_ingest_plan_of_a_channel_without_samples_has_no_gaps(archive, client, http,
                                                              tmp_path: Path) -> None:
    clients = SourceClients(http, client, archive.url, "unused-key")
    start = DAY + timedelta(hours=1)
    plan = plan_images(start, start + timedelta(hours=2), ["helioviewer"], ["131"], 6,
                       clients=clients)
    assert [p.status for p in plan] == ["download"] * 20
    store = tmp_path / "images" / "helioviewer"
    assert {store_path(p, tmp_path).parent.relative_to(store).as_posix()
            for p in plan} == {"AIA/2025/03/10/131"}
    assert len({p.id for p in plan}) == 20
