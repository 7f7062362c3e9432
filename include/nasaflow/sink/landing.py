"""Has every cell of these images reached PostgreSQL? The ingest DAG's landing check.

Publishing to Kafka only means the stream will get to it; an image counts as done when
image_parameters holds all rows x cols of its cells. When a message of an image was
refused, waiting longer will not help: `rejected_messages` names those images and why, so
the check can fail at once instead of timing out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import psycopg


def landed_cells(conn: psycopg.Connection, image_ids: Sequence[str],
                 patch_size: int) -> dict[str, int]:
    """Cells in image_parameters per image id (ids with none are left out)."""
    rows = conn.execute(
        """SELECT image_id, count(*) FROM image_parameters
            WHERE image_id = ANY(%s) AND patch_size = %s GROUP BY image_id""",
        (list(image_ids), patch_size)).fetchall()
    return {image_id: count for image_id, count in rows}


def missing_cells(conn: psycopg.Connection, image_ids: Sequence[str], patch_size: int,
                  expected: Mapping[str, int]) -> dict[str, int]:
    """How many cells of each image have not landed yet; complete images are left out, so
    an empty result means everything landed.

    Args:
        conn: a connection to the data database.
        image_ids: the images to check.
        patch_size: the cell side the cells were computed with.
        expected: cells per image (grid rows x cols), for every id in `image_ids`.

    Raises:
        KeyError: an id of `image_ids` has no entry in `expected`.
    """
    landed = landed_cells(conn, image_ids, patch_size)
    missing = {image_id: expected[image_id] - landed.get(image_id, 0) for image_id in image_ids}
    return {image_id: count for image_id, count in missing.items() if count > 0}


def rejected_messages(conn: psycopg.Connection, image_ids: Sequence[str],
                      since: datetime | None = None) -> dict[str, list[str]]:
    """Reasons of the dead letters keyed by each of `image_ids` (ids with none left out).

    Args:
        since: only dead letters received at or after this time (e.g. the start of the
            run that published the images), so an old refusal of an image published again
            since does not count against it.
    """
    rows = conn.execute(
        """SELECT convert_from(message_key, 'UTF8'), reason FROM dead_letters
            WHERE message_key = ANY(%s) AND (%s::timestamptz IS NULL OR received_at >= %s)
            ORDER BY kafka_partition, kafka_offset""",
        ([image_id.encode() for image_id in image_ids], since, since)).fetchall()
    reasons: dict[str, list[str]] = {}
    for image_id, reason in rows:
        reasons.setdefault(image_id, []).append(reason)
    return reasons
