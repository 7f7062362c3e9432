"""Record ingested and quarantined images in PostgreSQL (tables of 001_schema.sql).

Upserts on the natural key (the image id), so re-running a task changes nothing already
recorded; an unchanged row is not even rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from nasaflow.ingest.records import DownloadedImage, QuarantinedImage

_UPSERT_IMAGE = """
INSERT INTO images (id, source, instrument, wavelength, observed_at, width, height, sha256,
                    path, size_bytes, source_ref, exposure_s, t_obs, wavelength_a, quality)
VALUES (%(id)s, %(source)s, %(instrument)s, %(wavelength)s, %(observed_at)s, %(width)s,
        %(height)s, %(sha256)s, %(path)s, %(size_bytes)s, %(source_ref)s, %(exposure_s)s,
        %(t_obs)s, %(wavelength_a)s, %(quality)s)
ON CONFLICT (id) DO UPDATE SET
    source = EXCLUDED.source, instrument = EXCLUDED.instrument,
    wavelength = EXCLUDED.wavelength, observed_at = EXCLUDED.observed_at,
    width = EXCLUDED.width, height = EXCLUDED.height, sha256 = EXCLUDED.sha256,
    path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes, source_ref = EXCLUDED.source_ref,
    exposure_s = EXCLUDED.exposure_s, t_obs = EXCLUDED.t_obs,
    wavelength_a = EXCLUDED.wavelength_a, quality = EXCLUDED.quality
WHERE (images.source, images.instrument, images.wavelength, images.observed_at, images.width,
       images.height, images.sha256, images.path, images.size_bytes, images.source_ref,
       images.exposure_s, images.t_obs, images.wavelength_a, images.quality)
      IS DISTINCT FROM
      (EXCLUDED.source, EXCLUDED.instrument, EXCLUDED.wavelength, EXCLUDED.observed_at,
       EXCLUDED.width, EXCLUDED.height, EXCLUDED.sha256, EXCLUDED.path, EXCLUDED.size_bytes,
       EXCLUDED.source_ref, EXCLUDED.exposure_s, EXCLUDED.t_obs, EXCLUDED.wavelength_a,
       EXCLUDED.quality)
"""

_UPSERT_QUARANTINE = """
INSERT INTO quarantined_images (id, source, reason, path, request)
VALUES (%(id)s, %(source)s, %(reason)s, %(path)s, %(request)s)
ON CONFLICT (id) DO UPDATE SET
    source = EXCLUDED.source, reason = EXCLUDED.reason, path = EXCLUDED.path,
    request = EXCLUDED.request, quarantined_at = now()
"""


def register_images(conn: psycopg.Connection[Any],
                    images: Iterable[DownloadedImage | Mapping[str, Any]]) -> int:
    """Upsert images into `images` in one transaction; returns how many were given.

    Args:
        conn: an open psycopg 3 connection to the nasaflow database.
        images: DownloadedImage records or their to_dict() form.
    """
    rows = []
    for image in images:
        record = DownloadedImage.coerce(image)
        row = record.to_dict()
        row.pop("downloaded")
        row["observed_at"] = record.observed_at
        row["t_obs"] = record.t_obs
        row["source_ref"] = Jsonb(record.source_ref)
        rows.append(row)
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(_UPSERT_IMAGE, rows)
    return len(rows)


def quarantine(conn: psycopg.Connection[Any],
               records: Iterable[QuarantinedImage | Mapping[str, Any]]) -> int:
    """Upsert quarantine records into `quarantined_images`; returns how many were given.

    Args:
        conn: an open psycopg 3 connection to the nasaflow database.
        records: QuarantinedImage records (see fetch.quarantined_from) or their dict form.
    """
    rows = []
    for item in records:
        record = QuarantinedImage.coerce(item)
        row = record.to_dict()
        row["request"] = Jsonb(record.request)
        rows.append(row)
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(_UPSERT_QUARANTINE, rows)
    return len(rows)
