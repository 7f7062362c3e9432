"""Downloads are verified, atomic and idempotent; bad bytes never land under a final name
(conformance tests 2, 3, 5 and 6 of §6.4, plus quarantine)."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nasaflow.ingest import (
    PlannedImage,
    SourceClients,
    download_image,
    download_images,
    plan_images,
    store_path,
)
from nasaflow.settings import SAMPLES_DIR
from nasaflow.sources.download import MANIFEST_NAME
from nasaflow.sources.errors import CorruptImageError, MissingFileError, UnavailableError
from nasaflow.sources.helioviewer import HelioviewerClient
from nasaflow.sources.http import HttpClient, make_session

JP2 = "/v2/getJP2Image/"
SAMPLE_193 = SAMPLES_DIR / "2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
         ) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _plan_193(clients) -> PlannedImage:
    plan = plan_images(_utc(2022, 1, 1, 0, 0), _utc(2022, 1, 1, 0, 12), ["helioviewer"],
                       ["193"], 6, clients=clients)
    [image] = [p for p in plan if p.status == "download"]
    return image


def _plan_304(clients) -> list[PlannedImage]:
    """The 2024-04-16 11:15 AIA 304 sample, planned."""
    return [p for p in plan_images(_utc(2024, 4, 16, 11), _utc(2024, 4, 16, 12),
                                   ["helioviewer"], ["304"], 30, clients=clients)
            if p.status == "download"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".part")]


def test_download_is_verified_hashed_and_recorded_in_the_manifest(clients, tmp_path) -> None:
    image = download_image(_plan_193(clients), clients=clients, data_dir=tmp_path)
    path = Path(image.path)
    assert path == store_path(_plan_193(clients), tmp_path)
    assert image.id == path.stem == "2022_01_01__00_03_52_835__SDO_AIA_AIA_193"
    assert image.sha256 == _sha256(SAMPLE_193) == _sha256(path)
    assert (image.width, image.height, image.size_bytes) == (4096, 4096, SAMPLE_193.stat().st_size)
    [entry] = [json.loads(line) for line in (path.parent / MANIFEST_NAME).read_text().splitlines()]
    assert entry["sha256"] == image.sha256 and entry["size"] == image.size_bytes
    assert entry["headers"]["Content-Type"] == "image/jp2"
    assert _leftovers(tmp_path) == []


def test_html_on_200_never_lands_under_a_jp2_name(replay, clients, tmp_path) -> None:
    planned = _plan_193(clients)
    replay.arm(JP2, "html", count=-1, match="id=")
    with pytest.raises(CorruptImageError, match="expected image/jp2, got text/html") as caught:
        download_image(planned, clients=clients, data_dir=tmp_path)
    assert list(tmp_path.rglob("*.jp2")) == [] and _leftovers(tmp_path) == []
    assert caught.value.quarantined_path is None  # the page was never written to disk
    assert len(replay.downloads()) == 3  # first try plus two body retries


def test_truncated_download_leaves_no_final_file(replay, clients, tmp_path) -> None:
    planned = _plan_193(clients)
    replay.arm(JP2, "truncate;bytes=300000", count=-1)
    with pytest.raises(UnavailableError, match="the transfer broke after"):
        download_image(planned, clients=clients, data_dir=tmp_path)
    assert not store_path(planned, tmp_path).exists() and _leftovers(tmp_path) == []


def test_truncated_download_is_retried_from_zero_and_succeeds(replay, clients, tmp_path,
                                                              sleeps) -> None:
    planned = _plan_193(clients)
    replay.arm(JP2, "truncate;bytes=300000", count=1)
    image = download_image(planned, clients=clients, data_dir=tmp_path)
    assert image.sha256 == _sha256(SAMPLE_193)
    assert len(replay.downloads()) == 2 and sleeps == []  # the first retry at once
    assert _leftovers(tmp_path) == []


def test_parallel_downloads_of_one_file_never_tear_it(replay, clients, tmp_path) -> None:
    planned = _plan_193(clients)
    workers = 6
    barrier = threading.Barrier(workers)
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        http = HttpClient(make_session("nasaflow-tests"), clients.http.policy)
        own = SourceClients(http, HelioviewerClient(replay.url, http), replay.url, "")
        barrier.wait()
        try:
            results.append(download_image(planned, clients=own, data_dir=tmp_path).sha256)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(results) == {_sha256(SAMPLE_193)}
    assert _sha256(store_path(planned, tmp_path)) == _sha256(SAMPLE_193)
    assert _leftovers(tmp_path) == []
    manifest = store_path(planned, tmp_path).parent / MANIFEST_NAME
    assert all(json.loads(line)["sha256"] == _sha256(SAMPLE_193)
               for line in manifest.read_text().splitlines())


def test_rerun_with_a_populated_manifest_downloads_nothing(replay, clients, tmp_path) -> None:
    plan = plan_images(_utc(2022, 1, 1), _utc(2022, 1, 1, 1), ["helioviewer"], ["193"], 6,
                       clients=clients)
    plan += plan_images(_utc(2024, 2, 5), _utc(2024, 2, 7), ["apod"], [], 6, clients=clients)
    first = download_images(plan, clients=clients, data_dir=tmp_path)
    before = len(replay.downloads())
    second = download_images(plan, clients=clients, data_dir=tmp_path)
    assert before == len(first.images) == 3  # one JP2, a JPEG and a PNG
    assert len(replay.downloads()) == before
    assert [i.downloaded for i in second.images] == [False] * 3
    assert [i.sha256 for i in second.images] == [i.sha256 for i in first.images]


def test_file_damaged_on_disk_is_quarantined_and_fetched_again(replay, clients,
                                                               tmp_path) -> None:
    planned = _plan_193(clients)
    path = Path(download_image(planned, clients=clients, data_dir=tmp_path).path)
    data = bytearray(path.read_bytes())
    data[500_000:500_010] = b"\x00" * 10
    path.write_bytes(bytes(data))
    again = download_image(planned, clients=clients, data_dir=tmp_path)
    assert again.downloaded and _sha256(path) == _sha256(SAMPLE_193)
    [note] = (tmp_path / "quarantine").glob("*.json")
    assert "sha256" in json.loads(note.read_text())["reason"]


def test_corrupt_image_is_quarantined_with_reason_while_others_proceed(replay, clients,
                                                                       tmp_path) -> None:
    bad = _plan_193(clients)
    good = _plan_304(clients)
    replay.arm(JP2, "corrupt", count=-1, match=f"id={bad.source_ref['image_id']}")
    report = download_images([bad, *good], clients=clients, data_dir=tmp_path)
    assert [i.id for i in report.images] == ["2024_04_16__11_15_41_129__SDO_AIA_AIA_304"]
    [quarantined] = report.quarantined
    assert quarantined.id == bad.id and quarantined.source == "helioviewer"
    assert "expected signature" in quarantined.reason
    assert quarantined.request["url"] == bad.url
    kept = Path(quarantined.path or "")
    assert kept.parent == tmp_path / "quarantine" and kept.suffix == ".bad"
    note = json.loads(kept.with_name(kept.name + ".json").read_text())
    assert "expected signature" in note["reason"]
    assert not store_path(bad, tmp_path).exists()


def test_gap_entries_are_not_downloadable(clients, tmp_path) -> None:
    plan = plan_images(_utc(2022, 1, 1, 12), _utc(2022, 1, 1, 12, 6), ["helioviewer"], ["193"],
                       6, clients=clients)
    [gap] = plan
    with pytest.raises(ValueError, match="status 'download', got status 'gap'"):
        download_image(gap, clients=clients, data_dir=tmp_path)


def test_file_not_found_on_200_is_a_missing_image_not_a_quarantine(replay, clients,
                                                                   tmp_path) -> None:
    # Helioviewer's getJP2Image for an indexed image whose file is gone: 200, image/jp2,
    # body "File not found.". The image is recorded as missing; the others proceed.
    missing = _plan_193(clients)
    good = _plan_304(clients)
    replay.arm(JP2, "file-not-found", count=-1, match=f"id={missing.source_ref['image_id']}")
    report = download_images([missing, *good], clients=clients, data_dir=tmp_path)
    assert [i.id for i in report.images] == ["2024_04_16__11_15_41_129__SDO_AIA_AIA_304"]
    assert report.quarantined == []
    assert "File not found." in report.missing[missing.id or ""]
    assert not (tmp_path / "quarantine").exists()
    assert not store_path(missing, tmp_path).exists() and _leftovers(tmp_path) == []
    with pytest.raises(MissingFileError, match="File not found"):
        download_image(missing, clients=clients, data_dir=tmp_path)


def test_a_jp2_smaller_than_its_announced_naxis_downloads_at_its_own_size(clients,
                                                                        tmp_path) -> None:
    # getClosestImage announces 4096x4096 (NAXIS) for the 410 px sample; its header
    # declares that NAXIS, so it is a scaled image, stored with its pixel size.
    [planned] = [p for p in plan_images(_utc(2013, 6, 24, 17, 30), _utc(2013, 6, 24, 17, 36),
                                        ["helioviewer"], ["193"], 6, clients=clients)
                 if p.status == "download"]
    assert (planned.width, planned.height) == (4096, 4096)
    image = download_image(planned, clients=clients, data_dir=tmp_path)
    assert (image.width, image.height) == (410, 410)
    assert not (tmp_path / "quarantine").exists()
