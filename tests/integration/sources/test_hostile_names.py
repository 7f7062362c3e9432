"""Names in Helioviewer's answers never choose where files go: the replay server sends
hostile names (absolute paths, `..` segments, a NUL byte, overlong names) in getJP2Image and
getClosestImage answers; the image is refused with the reason, quarantined, never fetched,
and nothing is written outside the image store."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nasaflow.ingest import download_images, plan_images
from nasaflow.replay.faults import ESCAPE_DIR, NAME_KINDS

JP2 = "/v2/getJP2Image/"
CLOSEST = "/v2/getClosestImage/"
NAME = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"
#: What each refusal says, per fault and answer.
REASONS = {
    (JP2, "name-absolute"): f"getJP2Image placed {NAME} at '/tmp/{ESCAPE_DIR}/{NAME}', "
                            f"expected AIA/2022/01/01/193/{NAME}",
    (JP2, "name-dotdot"): f"getJP2Image placed {NAME} at 'AIA/2022/01/01/193/../../../../../../"
                          f"../../{ESCAPE_DIR}/{NAME}', expected AIA/2022/01/01/193/{NAME}",
    (JP2, "name-nul"): "getJP2Image named the file 'AIA/2022/01/01/193/2022\\x00_01_01__00_03_52"
                       "_835__SDO_AIA_AIA_193.jp2': expected a Helioviewer JP2 name like",
    (JP2, "name-long"): "expected a file name of at most 255 bytes, got 345",
    (CLOSEST, "name-absolute"): f"expected a numeric image id, got '/tmp/{ESCAPE_DIR}/",
    (CLOSEST, "name-dotdot"): f"expected a numeric image id, got '../../../../../../../../"
                              f"{ESCAPE_DIR}/",
    (CLOSEST, "name-nul"): "expected a numeric image id, got '",
    (CLOSEST, "name-long"): "expected a numeric image id, got 'XXXXXXXX",
}


@pytest.fixture()
def escape(tmp_path: Path) -> Iterator[list[Path]]:
    """The places a hostile name aims at; whatever a test finds there is removed after."""
    places = [Path("/tmp") / ESCAPE_DIR, tmp_path / ESCAPE_DIR]
    assert not any(place.exists() for place in places), "left over from an earlier run"
    yield places
    for place in places:
        shutil.rmtree(place, ignore_errors=True)


@pytest.mark.parametrize("route", [JP2, CLOSEST])
@pytest.mark.parametrize("kind", sorted(NAME_KINDS))
def test_a_hostile_name_is_refused_with_the_reason_and_nothing_is_written_outside_the_store(
        replay, clients, tmp_path: Path, escape: list[Path], route: str, kind: str) -> None:
    replay.arm(route, kind, count=-1, match="jpip=true" if route == JP2 else "")
    store = tmp_path / "store"
    plan = plan_images(datetime(2022, 1, 1, 0, 3, tzinfo=UTC),
                       datetime(2022, 1, 1, 0, 9, tzinfo=UTC), ["helioviewer"],
                       ["193"], 6, clients=clients)
    report = download_images(plan, clients=clients, data_dir=store)
    assert report.images == []
    [record] = report.quarantined
    assert record.id == "refused_2022_01_01__00_03_00__SDO_AIA_AIA_193"
    assert REASONS[route, kind] in record.reason
    assert record.path is None
    assert "\\u0000" not in json.dumps(record.to_dict()) and len(record.reason) < 400
    assert replay.downloads() == []
    assert [place for place in escape if place.exists()] == []
    assert not store.exists() or [path for path in store.rglob("*") if path.is_file()] == []


def test_an_answer_without_hostile_names_still_downloads_into_the_archive_layout(
        replay, clients, tmp_path: Path) -> None:
    plan = plan_images(datetime(2022, 1, 1, 0, 3, tzinfo=UTC),
                       datetime(2022, 1, 1, 0, 9, tzinfo=UTC), ["helioviewer"],
                       ["193"], 6, clients=clients)
    [image] = download_images(plan, clients=clients, data_dir=tmp_path).images
    assert Path(image.path) == tmp_path / "images/helioviewer/AIA/2022/01/01/193" / NAME
