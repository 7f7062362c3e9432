"""The parameter job's input: which images to compute, one JSON object per line.

The ingest DAG writes a manifest for each run and hands its path to the Spark job, so the
job never queries the database or walks the image store: the manifest alone says which
files to read and what to put in each message's header. JSON Lines keeps it appendable,
diffable, and readable line by line on the driver.

A run's manifest is a folder that grows while the images download: each download chunk
adds part files of a few verified images (`write_manifest_part`, atomic), and closes
nothing; when every chunk has ended the run writes the closing marker
(`close_manifest`). The Spark job follows the folder (`ManifestFollower`), computing each
part as it appears, so compute overlaps the downloads, and stops once the folder is
closed and every part is done.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Keys every manifest line must carry; other keys are ignored, so the writer may add more.
REQUIRED_KEYS = ("id", "source", "instrument", "wavelength", "observed_at", "path",
                 "width", "height")


class ManifestError(ValueError):
    """A manifest line that cannot describe an image; the message names the line."""


@dataclass(frozen=True)
class ImageRecord:
    """One image to compute.

    Attributes:
        id: the image id (file stem); the Kafka key and the database key.
        source: helioviewer or apod.
        instrument: e.g. AIA, HMI.
        wavelength: e.g. 193, continuum.
        observed_at: UTC observation time (timezone-aware).
        path: where the verified image file is.
        width, height: the image's size in pixels, as verified at download.
    """

    id: str
    source: str
    instrument: str
    wavelength: str
    observed_at: datetime
    path: str
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("id", "source", "instrument", "wavelength", "path"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ManifestError(f"{name} must be a non-empty string, got {value!r}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ManifestError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.observed_at, datetime) or self.observed_at.tzinfo is None:
            raise ManifestError(
                f"observed_at must be a timezone-aware datetime, got {self.observed_at!r}"
            )

    @property
    def observed_at_iso(self) -> str:
        """observed_at as ISO-8601 UTC with a Z suffix."""
        return format_utc(self.observed_at)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; observed_at as ISO-8601 with Z."""
        return {
            "id": self.id,
            "source": self.source,
            "instrument": self.instrument,
            "wavelength": self.wavelength,
            "observed_at": self.observed_at_iso,
            "path": self.path,
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageRecord:
        """The record described by `data` (keys as in `to_dict`; unknown keys ignored).

        Raises:
            ManifestError: a required key is missing, or a value has the wrong type, or
                observed_at is not ISO-8601 with a timezone.
        """
        if not isinstance(data, Mapping):
            raise ManifestError(f"expected a JSON object, got {type(data).__name__}")
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:
            raise ManifestError(f"missing keys: {', '.join(missing)}")
        return cls(
            id=data["id"],
            source=data["source"],
            instrument=data["instrument"],
            wavelength=str(data["wavelength"]),
            observed_at=parse_utc(data["observed_at"]),
            path=data["path"],
            width=data["width"],
            height=data["height"],
        )


def parse_utc(text: object) -> datetime:
    """An ISO-8601 timestamp with a timezone, converted to UTC.

    Raises:
        ManifestError: not a string, not ISO-8601, or without a timezone.
    """
    if not isinstance(text, str):
        raise ManifestError(f"observed_at must be an ISO-8601 string, got {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ManifestError(f"observed_at is not ISO-8601: {text!r}") from exc
    if moment.tzinfo is None:
        raise ManifestError(f"observed_at has no timezone (expected e.g. a Z suffix): {text!r}")
    return moment.astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z suffix (microseconds only when not zero)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def read_manifest(path: str | os.PathLike[str]) -> list[ImageRecord]:
    """The records of a JSON Lines manifest, in file order; blank lines are skipped.

    Raises:
        ManifestError: a line is not JSON or not a valid record, or an id repeats; the
            message names the file and line.
    """
    records: list[ImageRecord] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = ImageRecord.from_dict(json.loads(line))
            except (json.JSONDecodeError, ManifestError) as exc:
                raise ManifestError(f"{path}:{number}: {exc}") from exc
            if record.id in seen:
                raise ManifestError(
                    f"{path}:{number}: image id {record.id!r} already on line {seen[record.id]}"
                )
            seen[record.id] = number
            records.append(record)
    return records


def write_manifest(path: str | os.PathLike[str], records: Iterable[ImageRecord]) -> int:
    """Write `records` as JSON Lines, atomically (temporary file + rename); returns the count."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    count = 0
    with open(temporary, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record.to_dict(), separators=(",", ":")) + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return count


#: The marker a run writes into its manifest folder once no part will be added.
CLOSED_MARKER = "_closed"
PART_SUFFIX = ".jsonl"
_PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def file_safe(text: str) -> str:
    """`text` with every character but letters, digits and `-_.` replaced by `_`: run ids
    and chunk names as folder and part names."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def write_manifest_part(directory: str | os.PathLike[str], name: str,
                        records: Iterable[ImageRecord]) -> Path:
    """Add the part `name` (letters, digits, `_.-`) to a run's manifest folder, atomically
    (a reader never sees half a part); returns its path. Rewriting a part (a retried
    chunk) replaces it whole.

    Raises:
        ManifestError: the name could escape the folder or hide as a dotfile, or the
            folder is already closed (a part added then would never be computed).
    """
    if not _PART_NAME.fullmatch(name):
        raise ManifestError(f"manifest part name {name!r}: letters, digits and _.- only")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / CLOSED_MARKER).exists():
        raise ManifestError(f"{folder} is closed: a part added now would not be computed")
    target = folder / f"{name}{PART_SUFFIX}"
    write_manifest(target, records)
    return target


def close_manifest(directory: str | os.PathLike[str]) -> None:
    """Mark a run's manifest folder complete: its follower stops after the last part."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CLOSED_MARKER).touch()


@dataclass
class ManifestFollower:
    """Hands out a growing manifest folder's parts, each once, in name order.

    The closing marker is read before the folder is listed, so a folder seen closed has
    all its parts in that listing: `finished` never drops a part written just before the
    close.
    """

    directory: Path
    taken: set[str] = field(default_factory=set)
    finished: bool = False

    def poll(self) -> list[Path]:
        """The parts not handed out yet; sets `finished` when the folder is closed and
        nothing is left."""
        closed = (self.directory / CLOSED_MARKER).exists()
        fresh = sorted(path for path in self.directory.glob(f"*{PART_SUFFIX}")
                       if not path.name.startswith(".") and path.name not in self.taken)
        self.taken.update(path.name for path in fresh)
        self.finished = closed and not fresh
        return fresh


def follow_manifest(directory: str | os.PathLike[str], *, poll_seconds: float = 1.0,
                    timeout_seconds: float = 12 * 3600,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic,
                    ) -> Iterator[list[ImageRecord]]:
    """The records of each batch of new parts of a manifest folder, until it is closed
    and fully read. An image named again by a later part (a retried chunk) is left out.

    Raises:
        ManifestError: a part is not a valid manifest.
        TimeoutError: the folder was not closed within `timeout_seconds` (the run that
            should close it died); what was read so far has been yielded.
    """
    follower = ManifestFollower(Path(directory))
    seen: set[str] = set()
    deadline = clock() + timeout_seconds
    while True:
        parts = follower.poll()
        if follower.finished:
            return
        fresh = []
        for record in (record for part in parts for record in read_manifest(part)):
            if record.id not in seen:
                seen.add(record.id)
                fresh.append(record)
        if fresh:
            yield fresh
        elif not parts:
            if clock() > deadline:
                raise TimeoutError(f"{directory} not closed after {timeout_seconds:.0f} s")
            sleep(poll_seconds)
