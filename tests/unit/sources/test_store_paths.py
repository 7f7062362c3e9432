"""Image store paths come only from checked parts of a planned image and stay inside the
store, whatever names the plan carries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nasaflow.ingest import PlannedImage, store_path
from nasaflow.sources.errors import UnsafeNameError

OBSERVED = datetime(2022, 1, 1, 0, 3, 52, 835_000, tzinfo=UTC)
AIA_193_NAME = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"
AIA_193 = PlannedImage("helioviewer", "download", "AIA", "193", (OBSERVED,),
                       id="2022_01_01__00_03_52_835__SDO_AIA_AIA_193", observed_at=OBSERVED,
                       url="http://127.0.0.1/v2/getJP2Image/?id=1",
                       filename=AIA_193_NAME, format="jp2")
DAY = datetime(2024, 2, 5, tzinfo=UTC)
APOD = PlannedImage("apod", "download", "APOD", "apod", (DAY,), id="apod_2024-02-05",
                    observed_at=DAY, url="http://127.0.0.1/apod/image/2402/a.jpg",
                    filename="apod_2024-02-05.jpg", format="jpeg")


def test_paths_follow_the_archive_layout(tmp_path: Path) -> None:
    assert store_path(AIA_193, tmp_path) == (tmp_path / "images/helioviewer/AIA/2022/01/01/193"
                                             / AIA_193_NAME)
    assert store_path(APOD, tmp_path) == tmp_path / "images/apod/2024/02/apod_2024-02-05.jpg"


@pytest.mark.parametrize("changes", [
    {"filename": "/etc/cron.d/2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"},
    {"filename": "../../../2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"},
    {"filename": "2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2\x00"},
    {"filename": "2022_01_01__00_03_52_835__SDO_AIA_AIA_304.jp2"},
    {"observed_at": datetime(2022, 1, 2, tzinfo=UTC)},
    {"wavelength": "../../etc"},
    {"instrument": "HMI"},
    {"source": "../apod"},
])
def test_a_helioviewer_image_whose_parts_disagree_is_refused(tmp_path: Path,
                                                             changes: dict) -> None:
    with pytest.raises(UnsafeNameError, match="refused to store"):
        store_path(replace(AIA_193, **changes), tmp_path)


@pytest.mark.parametrize("changes", [
    {"filename": "../../../../apod_2024-02-05.jpg"}, {"filename": "apod_2024-02-06.jpg"},
    {"filename": "apod_2024-02-05.png"}, {"format": "tiff"},
])
def test_an_apod_image_not_named_after_its_date_and_format_is_refused(tmp_path: Path,
                                                                     changes: dict) -> None:
    with pytest.raises(UnsafeNameError, match="expected the APOD name of 2024-02-05"):
        store_path(replace(APOD, **changes), tmp_path)


def test_a_link_inside_the_store_cannot_lead_the_path_out(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "store/images/helioviewer").mkdir(parents=True)
    (tmp_path / "store/images/helioviewer/AIA").symlink_to(outside)
    with pytest.raises(UnsafeNameError, match="outside the store"):
        store_path(AIA_193, tmp_path / "store")
