"""A run's manifest folder: parts appear while images download, the Spark job follows
them each once, and stops only once the folder is closed and read to the end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from nasaflow.manifest import (
    ImageRecord,
    ManifestError,
    ManifestFollower,
    close_manifest,
    follow_manifest,
    write_manifest_part,
)


def record(name: str) -> ImageRecord:
    return ImageRecord(name, "helioviewer", "AIA", "304", datetime(2023, 5, 1, tzinfo=UTC),
                       f"/store/{name}.jp2", 64, 64)


def test_each_part_is_handed_out_once_and_the_close_ends_the_follow(tmp_path: Path) -> None:
    follower = ManifestFollower(tmp_path)
    write_manifest_part(tmp_path, "aia-304-1-a-00001", [record("a"), record("b")])
    assert [path.name for path in follower.poll()] == ["aia-304-1-a-00001.jsonl"]
    assert follower.poll() == [] and not follower.finished
    write_manifest_part(tmp_path, "aia-304-1-a-00002", [record("c")])
    close_manifest(tmp_path)
    # A part written before the close is still handed out; only the next poll finishes.
    assert [path.name for path in follower.poll()] == ["aia-304-1-a-00002.jsonl"]
    assert not follower.finished
    assert follower.poll() == [] and follower.finished


def test_follow_yields_batches_skips_repeated_images_and_waits_between_polls(
        tmp_path: Path) -> None:
    write_manifest_part(tmp_path, "p1", [record("a"), record("b")])
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:   # the downloads go on while the job waits
            write_manifest_part(tmp_path, "p2", [record("b"), record("c")])
            write_manifest_part(tmp_path, "p3", [record("c")])
        else:
            close_manifest(tmp_path)

    batches = [[r.id for r in batch]
               for batch in follow_manifest(tmp_path, poll_seconds=0.5, sleep=sleep)]
    assert batches == [["a", "b"], ["c"]]
    assert waits == [0.5, 0.5]


def test_a_folder_never_closed_times_out_after_what_was_read(tmp_path: Path) -> None:
    write_manifest_part(tmp_path, "p1", [record("a")])
    clock = iter(range(0, 1000, 10))
    follow = follow_manifest(tmp_path, timeout_seconds=30, sleep=lambda _: None,
                             clock=lambda: next(clock))
    assert [r.id for r in next(follow)] == ["a"]
    with pytest.raises(TimeoutError, match="not closed"):
        next(follow)


def test_parts_cannot_escape_the_folder_or_be_added_after_the_close(tmp_path: Path) -> None:
    for name in ("../x", "/abs", ".hidden", "a/b", ""):
        with pytest.raises(ManifestError, match="letters, digits"):
            write_manifest_part(tmp_path, name, [record("a")])
    close_manifest(tmp_path)
    with pytest.raises(ManifestError, match="closed"):
        write_manifest_part(tmp_path, "late", [record("a")])


def test_a_bad_part_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "broken.jsonl").write_text("{not json\n")
    close_manifest(tmp_path)
    with pytest.raises(ManifestError, match="broken.jsonl:1"):
        list(follow_manifest(tmp_path))
