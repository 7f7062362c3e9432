"""The job manifest: JSON Lines of image records, read back exactly as written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nasaflow.manifest import ImageRecord, ManifestError, read_manifest, write_manifest


def record(image_id: str = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193") -> ImageRecord:
    return ImageRecord(id=image_id, source="helioviewer", instrument="AIA", wavelength="193",
                       observed_at=datetime(2022, 1, 1, 0, 3, 52, 835000, tzinfo=UTC),
                       path=f"/images/{image_id}.jp2", width=4096, height=4096)


def test_records_round_trip_through_a_manifest_file(tmp_path: Path) -> None:
    records = [record("a"), record("b")]
    path = tmp_path / "manifest.jsonl"
    assert write_manifest(path, records) == 2
    assert read_manifest(path) == records
    assert len(path.read_text().splitlines()) == 2
    assert not list(tmp_path.glob(".*.tmp"))


def test_observed_at_is_written_as_utc_with_z() -> None:
    data = record().to_dict()
    assert data["observed_at"] == "2022-01-01T00:03:52.835000Z"
    assert ImageRecord.from_dict(data) == record()


def test_an_offset_timestamp_is_converted_to_utc() -> None:
    data = {**record().to_dict(), "observed_at": "2022-01-01T02:03:52.835+02:00"}
    assert ImageRecord.from_dict(data).observed_at == record().observed_at
    assert ImageRecord.from_dict(data).observed_at.utcoffset() == timedelta(0)


def test_unknown_keys_are_ignored_and_numeric_wavelengths_become_text() -> None:
    data = {**record().to_dict(), "sha256": "0" * 64, "wavelength": 193}
    assert ImageRecord.from_dict(data) == record()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "missing keys: id"),
        ({"observed_at": "2022-01-01T00:03:52"}, "no timezone"),
        ({"observed_at": "noon"}, "not ISO-8601"),
        ({"width": 0}, "width must be a positive integer"),
        ({"height": "4096"}, "height must be a positive integer"),
        ({"path": ""}, "path must be a non-empty string"),
    ],
)
def test_bad_records_are_refused_with_the_reason(change: dict, reason: str) -> None:
    data = {**record().to_dict(), **change}
    data = {key: value for key, value in data.items() if value is not None}
    with pytest.raises(ManifestError, match=reason):
        ImageRecord.from_dict(data)


def test_a_bad_line_is_named_by_file_and_number(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    path.write_text(json.dumps(record().to_dict()) + "\n\n{oops\n")
    with pytest.raises(ManifestError, match=r"manifest\.jsonl:3: "):
        read_manifest(path)


def test_a_repeated_image_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    line = json.dumps(record().to_dict())
    path.write_text(f"{line}\n{line}\n")
    with pytest.raises(ManifestError, match="already on line 1"):
        read_manifest(path)
