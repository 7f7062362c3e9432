"""`nasaflow recompute`: compute stored images again under today's calculators.

Every landed cell records how its values were computed (image_parameters.schema_version,
convention, calculator_version; NULL for cells of version 1 messages). When the
calculators change (nasaflow.parameters.CALCULATOR_VERSION), the images whose cells at a
patch size are not all current are recomputed and published again as version 2 messages;
the stream upserts them cell by cell, each cell carrying its new provenance, so a reader
can always tell old values from new ones (`GROUP BY convention, calculator_version`).

Idempotent: an image whose cells are all current is not selected, so running the command
again once the messages landed does nothing; running it again before they landed only
publishes the same values again, which the upsert absorbs.

The images are computed in this process, through the parameter job's own task path
(nasaflow.compute.publish), one core: meant for the images one calculator change leaves
stale, run in chunks with --from/--to and --limit.

Each image's file is checked against the sha256 stored at ingest before it is used. A
file that is missing (an archive may drop files after landing) or changed is downloaded
again from the URL recorded at ingest into its place in the image store, and used only if
the new copy has the stored sha256; otherwise the image is refused with the reason.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import psycopg

from nasaflow.compute.plan import plan_tasks
from nasaflow.compute.publish import JobConfig, TaskStatus, publish_partition
from nasaflow.manifest import ImageRecord
from nasaflow.parameters import CALCULATOR_VERSION
from nasaflow.parameters.conventions import TOOLKIT
from nasaflow.settings import Settings, get_settings

#: The convention the parameter job computes in: what stored cells are recomputed to.
TARGET_CONVENTION = TOOLKIT

_STALE_SQL = """
SELECT i.id, i.source, i.instrument, i.wavelength, i.observed_at, i.path, i.width,
       i.height, i.sha256, i.source_ref
  FROM images i
 WHERE i.observed_at >= %(since)s AND i.observed_at < %(until)s
   AND EXISTS (SELECT 1 FROM image_parameters p
                WHERE p.image_id = i.id AND p.patch_size = %(patch_size)s
                  AND (p.convention IS DISTINCT FROM %(convention)s
                       OR p.calculator_version IS DISTINCT FROM %(calculator_version)s))
 ORDER BY i.observed_at, i.id
 LIMIT %(limit)s
"""


@dataclass(frozen=True)
class StoredImage:
    """An image of the `images` table: what to compute, and what its file must hash to."""

    record: ImageRecord
    sha256: str
    source_ref: dict[str, Any]


def stale_images(conn: psycopg.Connection, patch_size: int, since: datetime,
                 until: datetime, limit: int) -> list[StoredImage]:
    """Images observed in [since, until) having a cell at `patch_size` computed otherwise
    than TARGET_CONVENTION with CALCULATOR_VERSION, oldest first, at most `limit`."""
    rows = conn.execute(_STALE_SQL, {
        "since": since, "until": until, "patch_size": patch_size,
        "convention": TARGET_CONVENTION, "calculator_version": CALCULATOR_VERSION,
        "limit": limit}).fetchall()
    return [StoredImage(ImageRecord(id=row[0], source=row[1], instrument=row[2],
                                    wavelength=row[3], observed_at=row[4], path=row[5],
                                    width=row[6], height=row[7]), row[8], row[9] or {})
            for row in rows]


def verified_file(image: StoredImage, data_dir: Path) -> str | None:
    """None when the image's file holds the stored sha256, after downloading it again if
    it was missing or changed; otherwise why the image cannot be recomputed."""
    from nasaflow.sources.download import sha256_file

    path = Path(image.record.path)
    if path.is_file() and sha256_file(path) == image.sha256:
        return None
    store = (data_dir / "images").resolve()
    if not path.resolve().is_relative_to(store):
        return f"{path} is outside the image store {store}: not downloaded again"
    url = image.source_ref.get("url")
    if not url:
        return f"{path} is missing or changed and no download URL was recorded"
    try:
        downloaded = _download(url, path, image.record, data_dir)
    except Exception as exc:  # any failure of this image refuses it alone
        return f"downloading {url} again failed: {type(exc).__name__}: {exc}"
    if downloaded != image.sha256:
        return (f"downloaded {url} again, sha256 {downloaded} is not the stored "
                f"{image.sha256}")
    return None


def _download(url: str, path: Path, record: ImageRecord, data_dir: Path) -> str:
    """Fetch `url` into `path` (verified like at ingest); returns the file's sha256."""
    from nasaflow.images.verify import EXTENSIONS
    from nasaflow.ingest.clients import SourceClients
    from nasaflow.sources.download import ImageRequest, fetch_image

    extension = path.suffix.lower()
    if extension not in EXTENSIONS:
        raise ValueError(f"unknown image format of {path.name}")
    if path.exists():
        path.unlink()  # changed bytes: fetch_image would quarantine them and download
    request = ImageRequest(url=url, dest=path, format=EXTENSIONS[extension],
                           size=(record.width, record.height))
    return fetch_image(SourceClients.from_settings().http, request,
                       data_dir / "quarantine").sha256


def recompute(images: Sequence[StoredImage], settings: Settings, patch_size: int,
              topic: str) -> list[TaskStatus]:
    """Check each image's file, then compute and publish the verified ones (in this
    process, one producer); returns one status per image, refused ones included."""
    refused: list[TaskStatus] = []
    records: list[ImageRecord] = []
    for image in images:
        problem = verified_file(image, Path(settings.data_dir))
        if problem is None:
            records.append(image.record)
        else:
            refused.append(TaskStatus(image.record.id, error=f"not recomputed: {problem}"))
    plan = plan_tasks(records, patch_size, parallelism=1)
    config = JobConfig(settings.kafka_bootstrap, topic, patch_size)
    published = publish_partition([plan.tasks], config)
    return [*refused, *plan.refused, *_per_image(published)]


def _per_image(statuses: Sequence[TaskStatus]) -> list[TaskStatus]:
    """One status per image from its tasks' statuses (the first error wins)."""
    merged: dict[str, TaskStatus] = {}
    for status in statuses:
        seen = merged.get(status.image_id)
        merged[status.image_id] = status if seen is None else TaskStatus(
            status.image_id, seen.parts + status.parts, seen.cells + status.cells,
            seen.error or status.error, seen.kafka_error or status.kafka_error,
            seen.seconds + status.seconds)
    return list(merged.values())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`nasaflow recompute [--from DAY] [--to DAY] [--patch-size N] [--limit N] [--dry-run]`."""
    settings = get_settings()
    parser.add_argument("--from", dest="since", type=date.fromisoformat, default=date(1, 1, 1),
                        metavar="YYYY-MM-DD", help="first observation day (default: all)")
    parser.add_argument("--to", dest="until", type=date.fromisoformat, default=None,
                        metavar="YYYY-MM-DD", help="last observation day, included "
                                                   "(default: all)")
    parser.add_argument("--patch-size", type=int, default=settings.patch_size,
                        help="cell size whose cells are recomputed (default %(default)s)")
    parser.add_argument("--limit", type=int, default=1000,
                        help="at most this many images per run (default %(default)s)")
    parser.add_argument("--topic", default=settings.kafka_topic,
                        help="topic to publish to (default %(default)s)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the images that would be recomputed, publish nothing")


def run(args: argparse.Namespace) -> int:
    """List or recompute the stale images; exit 1 when an image was refused or failed."""
    settings = get_settings()
    since = datetime.combine(args.since, time(), UTC)
    until = (datetime.max.replace(tzinfo=UTC) if args.until is None
             else datetime.combine(args.until + timedelta(days=1), time(), UTC))
    with psycopg.connect(settings.db_url) as conn:
        images = stale_images(conn, args.patch_size, since, until, args.limit)
    target = f"{TARGET_CONVENTION} calculators {CALCULATOR_VERSION}"
    if not images:
        print(f"every image's {args.patch_size} px cells are {target}: nothing to recompute")
        return 0
    if args.dry_run:
        for image in images:
            print(f"would recompute {image.record.id}")
        print(f"{len(images)} image(s) have {args.patch_size} px cells not {target}")
        return 0
    statuses = recompute(images, settings, args.patch_size, args.topic)
    for status in statuses:
        outcome = status.error or f"published {status.parts} parts, {status.cells} cells"
        print(f"{status.image_id}: {outcome}")
    failed = [status for status in statuses if status.error]
    print(f"{len(statuses) - len(failed)} of {len(statuses)} image(s) published as {target}; "
          "they are current once the stream has landed them", file=sys.stderr if failed else
          sys.stdout)
    return 1 if failed else 0
