"""A day's downloads as a few chunks, and one chunk's downloads as they feed the compute.

A day of the archive is 2,400 images; one Airflow task per image would create thousands
of task instances (and a mapping longer than Airflow's max_map_length fails the run at
plan). So the plan is cut into at most `per_channel` chunks per channel, whatever the
cadence, and a chunk downloads its images with a few threads of its own. The shared
politeness limit stays Airflow's `nasa_api` pool: it bounds the chunk tasks running at
once, so calls in flight never exceed pool slots x threads per chunk.

While a chunk downloads, every few verified images are registered in `images` and, if
their cells are not all in PostgreSQL yet, added to the run's manifest folder as a part
(nasaflow.manifest): the Spark job follows that folder, so compute starts on the first
images while the rest still download.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from nasaflow.ingest.clients import SourceClients
from nasaflow.ingest.fetch import ExcludedImageError, download_image, quarantined_from
from nasaflow.ingest.pause import RunPause
from nasaflow.ingest.records import (
    DOWNLOAD,
    MISSING,
    SKIPPED,
    DownloadedImage,
    PlannedImage,
    QuarantinedImage,
)
from nasaflow.ingest.registry import quarantine, register_images
from nasaflow.ingest.slots import clear_slots, record_slots
from nasaflow.manifest import ImageRecord, file_safe, write_manifest_part
from nasaflow.parameters.grid import cell_count
from nasaflow.sink.landing import missing_cells
from nasaflow.sources.errors import (
    CorruptImageError,
    MissingFileError,
    RetryLaterError,
    SourceError,
)

#: Verified images per manifest part: small, so Spark starts within a few downloads.
PART_IMAGES = 4


@dataclass(frozen=True)
class Chunk:
    """Images of one channel for one download task.

    Attributes:
        label: shown in the Airflow UI as the mapped task's name, e.g. "AIA 304 1/2".
        name: the label as a file-name stem, unique in the run (manifest part names).
        entries: the planned images (PlannedImage.to_dict() form, JSON for XCom).
    """

    label: str
    name: str
    entries: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def coerce(cls, value: Chunk | Mapping[str, Any]) -> Chunk:
        return value if isinstance(value, Chunk) else cls(**value)


def chunk_plan(planned: Sequence[PlannedImage], per_channel: int) -> list[Chunk]:
    """The plan's downloads cut into at most `per_channel` chunks per channel (source,
    instrument, wavelength), each a contiguous run of the channel's images in plan
    order, sizes differing by one at most. Gaps and skips are left out."""
    if per_channel < 1:
        raise ValueError(f"chunks per channel must be at least 1, got {per_channel}")
    channels: dict[tuple[str, str, str], list[PlannedImage]] = {}
    for entry in planned:
        if entry.status == DOWNLOAD:
            channels.setdefault((entry.source, entry.instrument, entry.wavelength),
                                []).append(entry)
    chunks = []
    for (source, instrument, wavelength), entries in channels.items():
        count = min(per_channel, len(entries))
        for index in range(count):
            part = entries[index * len(entries) // count:(index + 1) * len(entries) // count]
            channel = instrument if wavelength == instrument or source == "apod" \
                else f"{instrument} {wavelength}"
            label = f"{channel} {index + 1}/{count}"
            name = "-".join((source, instrument, wavelength, str(index + 1))).lower()
            chunks.append(Chunk(label, file_safe(name), [entry.to_dict() for entry in part]))
    return chunks


@dataclass
class ChunkResult:
    """What a chunk ingested: cells expected per verified image, quarantine records, the
    images the source could not serve and those left out for their QUALITY (id ->
    reason), and the file names whose download failed beyond the client's retries."""

    expected: dict[str, int] = field(default_factory=dict)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    to_compute: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Postponed(Exception):
    """A download not started because the run's rate-limit pause is in force."""


class ChunkDownloadError(SourceError):
    """Some downloads of a chunk failed beyond the client's retries; every other image of
    the chunk was ingested first, so a task retry only fetches what is missing.

    `retry_at` is set when every failure was the source asking to retry later
    (RetryLaterError) or a download postponed by the run's pause: when the task should
    run again (the latest time named, the pause's end at least).
    """

    def __init__(self, message: str, *, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


def ingest_chunk(
    chunk: Chunk | Mapping[str, Any],
    *,
    clients: Callable[[], SourceClients],
    data_dir: str | Path,
    patch_size: int,
    connect: Callable[[], psycopg.Connection[Any]],
    manifest_dir: str | Path,
    threads: int,
    pause: RunPause,
    log: Callable[[str], None] = print,
    image_store: str = "",
) -> ChunkResult:
    """Download, verify and register a chunk's images with `threads` threads, adding
    each few verified images whose cells are not all landed to the manifest folder.

    Args:
        chunk: the chunk (or its to_dict() form).
        clients: makes the NASA clients; called once per thread (an HTTP session is not
            shared between threads).
        data_dir: root of the local image store.
        patch_size: the run's cell side (an image without a cell of it is quarantined).
        connect: opens a writer connection to the data database.
        manifest_dir: the run's manifest folder, followed by the Spark job.
        threads: downloads in flight at once.
        pause: the run's shared rate-limit pause: checked before each download, extended
            when a download meets a rate limit.
        log: where progress lines go (the task log).
        image_store: the object store images are published to ("": none, see
            nasaflow.ingest.fetch.download_image).

    Returns:
        The chunk's ChunkResult, when every image was verified or quarantined.

    Raises:
        ChunkDownloadError: downloads failed beyond their retries (named) or were
            postponed by the run's pause; the others were registered and handed to the
            compute before it was raised.
    """
    chunk = Chunk.coerce(chunk)
    result = ChunkResult()
    local = threading.local()
    attempt = uuid.uuid4().hex[:8]
    waiting: list[DownloadedImage] = []
    planned_by_id: dict[str, PlannedImage] = {}
    #: Per failed download, when the source asked to be retried (None: a plain failure).
    later: list[datetime | None] = []
    postponed = 0
    parts = 0
    started = time.monotonic()
    stack = ExitStack()
    opened: list[psycopg.Connection[Any]] = []

    def database() -> psycopg.Connection[Any]:
        """The writer connection, opened at the first write: a chunk the pause stops
        before any image lands needs none."""
        if not opened:
            opened.append(stack.enter_context(connect()))
        return opened[0]

    def download(entry: dict[str, Any]) -> DownloadedImage:
        if pause.until() is not None:
            raise _Postponed
        if not hasattr(local, "clients"):
            local.clients = clients()
        try:
            return download_image(entry, clients=local.clients, data_dir=data_dir,
                                  patch_size=patch_size, image_store=image_store)
        except RetryLaterError as error:
            # The source wants a pause: every download of the run not started yet, in this
            # chunk and the others, pauses with this one (they run when rescheduled).
            pause.extend(error.retry_at, str(error))
            raise

    def hand_over() -> None:
        nonlocal parts
        if not waiting:
            return
        conn = database()
        register_images(conn, waiting)
        clear_slots(conn, [planned_by_id[image.id] for image in waiting
                           if image.id in planned_by_id])
        cells = {image.id: cell_count((image.height, image.width), patch_size)
                 for image in waiting}
        result.expected.update(cells)
        incomplete = missing_cells(conn, list(cells), patch_size, cells)
        records = [ImageRecord.from_dict(image.to_dict()) for image in waiting
                   if image.id in incomplete]
        if records:
            parts += 1
            write_manifest_part(manifest_dir, f"{chunk.name}-{attempt}-{parts:05d}", records)
            result.to_compute += len(records)
        waiting.clear()

    total = len(chunk.entries)
    log(f"{chunk.label}: {total} images to fetch with {threads} threads")
    with stack, ThreadPoolExecutor(max(1, threads)) as pool:
        futures = {pool.submit(download, entry): entry for entry in chunk.entries}
        for done, future in enumerate(as_completed(futures), start=1):
            planned = PlannedImage.coerce(futures[future])
            planned_by_id[planned.id or ""] = planned
            try:
                waiting.append(future.result())
            except CorruptImageError as error:
                record: QuarantinedImage = quarantined_from(planned, error)
                quarantine(database(), [record])
                result.quarantined.append(record.to_dict())
                log(f"quarantined {record.id}: {record.reason}")
            except MissingFileError as error:
                result.missing[planned.id or planned.url or "?"] = str(error)
                record_slots(database(), [planned], MISSING, tolerance=timedelta(0), run_id=None,
                             reasons={planned.id or "": str(error)})
                log(f"missing at the source: {planned.id}: {error}")
            except ExcludedImageError as error:
                result.skipped[planned.id or planned.url or "?"] = str(error)
                record_slots(database(), [planned], SKIPPED, tolerance=timedelta(0), run_id=None,
                             reasons={planned.id or "": str(error)})
                log(f"skipped: {planned.id}: {error}")
            except _Postponed:
                postponed += 1
            except SourceError as error:
                result.failed.append(planned.filename or planned.id or planned.url or "?")
                later.append(error.retry_at if isinstance(error, RetryLaterError) else None)
                log(f"download failed: {planned.filename or planned.id}: {error}")
            if len(waiting) >= PART_IMAGES or done == total:
                hand_over()
                rate = done / max(time.monotonic() - started, 1e-9)
                log(f"{chunk.label}: {done}/{total} images done ({len(result.expected)} "
                    f"verified, {result.to_compute} to compute, {len(result.quarantined)} "
                    f"quarantined, {len(result.missing)} missing at the source, "
                    f"{len(result.skipped)} skipped for QUALITY, {len(result.failed)} failed), "
                    f"{rate:.1f} images/s")
    if result.failed or postponed:
        deferred = [when for when in later if when is not None]
        retry_at = max([*deferred, pause.until() or datetime.now(UTC)]) \
            if len(deferred) == len(later) else None
        raise ChunkDownloadError(f"{chunk.label}: {len(result.failed)} download(s) failed "
                                 f"after retries, {postponed} postponed by the run's "
                                 f"rate-limit pause ({pause.path}): {result.failed}",
                                 retry_at=retry_at)
    return result
