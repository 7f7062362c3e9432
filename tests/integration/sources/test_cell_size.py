"""An image smaller than the run's cell size is quarantined with the reason instead of being
registered with nothing to compute (which let a run pass with no data landed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from nasaflow.ingest import CellSizeError, download_image, download_images, plan_images


def _apod_384(clients) -> list:
    """The plan of 2024-02-10, whose APOD is a 384 x 384 JPEG."""
    return plan_images(datetime(2024, 2, 10, tzinfo=UTC),
                       datetime(2024, 2, 11, tzinfo=UTC), ["apod"], [], 60,
                       clients=clients)


def test_an_image_smaller_than_the_cell_is_quarantined_naming_both_sizes(clients,
                                                                         tmp_path) -> None:
    report = download_images(_apod_384(clients), clients=clients, data_dir=tmp_path,
                             patch_size=512)
    assert report.images == []
    [record] = report.quarantined
    assert record.id == "apod_2024-02-10"
    assert record.reason == ("apod_2024-02-10.jpg: no cell to compute: patch size 512 is "
                             "larger than the image (384x384 pixels)")
    assert record.path is None


def test_the_refused_image_stays_verified_for_a_run_with_smaller_cells(replay, clients,
                                                                       tmp_path) -> None:
    [planned] = _apod_384(clients)
    with pytest.raises(CellSizeError):
        download_image(planned, clients=clients, data_dir=tmp_path, patch_size=1024)
    fetched = len(replay.downloads())
    image = download_image(planned, clients=clients, data_dir=tmp_path, patch_size=128)
    assert (image.width, image.height, image.downloaded) == (384, 384, False)
    assert Path(image.path).is_file() and len(replay.downloads()) == fetched
