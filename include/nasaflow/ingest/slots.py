"""Requested slots without a landed image, kept across runs (table unlanded_slots).

A run that reaches its late-data deadline with slots still not indexed by the source
records them as pending; every later run of the same channels asks the source for them
again (`plan.plan_slots`) and plans what it now serves. The row stays until the slot's
image is registered (`clear_slots`, called as the chunk registers it), so a failed later
run loses nothing, or until the source's newest image has been past the slot for
NASAFLOW_LATE_DATA_ABSENT_HOURS with still nothing within tolerance: then it is absent.
Images the source cannot serve (missing) and images left out for their QUALITY (skipped)
are recorded the same way, with the reason, so `SELECT ... FROM unlanded_slots` tells how
complete any day is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from nasaflow.ingest.records import PlannedImage

_UPSERT = """
INSERT INTO unlanded_slots (source, instrument, wavelength, slot_at, status, reason,
                            tolerance_seconds, image_id, run_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (source, instrument, wavelength, slot_at) DO UPDATE SET
    status = EXCLUDED.status, reason = EXCLUDED.reason,
    image_id = coalesce(EXCLUDED.image_id, unlanded_slots.image_id),
    run_id = coalesce(EXCLUDED.run_id, unlanded_slots.run_id), recorded_at = now()
"""


@dataclass(frozen=True)
class PendingSlot:
    """A slot recorded as pending: the channel, the requested time and its tolerance."""

    source: str
    instrument: str
    wavelength: str
    slot_at: datetime
    tolerance: timedelta


def record_slots(conn: psycopg.Connection[Any], entries: Iterable[PlannedImage], status: str,
                 *, tolerance: timedelta, run_id: str | None,
                 reasons: dict[str, str] | None = None) -> int:
    """Upsert one row per requested time of each entry with `status`; the reason is the
    entry's, or `reasons[entry.id]` when given. A slot already recorded keeps the
    tolerance it was first recorded with (the cadence of the run that asked for it).
    Returns the rows written."""
    rows = []
    for entry in entries:
        reason = (reasons or {}).get(entry.id or "") or entry.reason or status
        rows += [(entry.source, entry.instrument, entry.wavelength, moment, status, reason,
                  int(tolerance.total_seconds()), entry.id, run_id)
                 for moment in entry.requested_at]
    if rows:
        with conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(_UPSERT, rows)
    return len(rows)


def clear_slots(conn: psycopg.Connection[Any], entries: Iterable[PlannedImage]) -> int:
    """Delete the rows of the entries' requested times (their image is registered)."""
    keys = [(entry.source, entry.instrument, entry.wavelength, moment)
            for entry in entries for moment in entry.requested_at]
    if not keys:
        return 0
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany("DELETE FROM unlanded_slots WHERE source = %s AND instrument = %s"
                           " AND wavelength = %s AND slot_at = %s", keys)
        return len(keys)


def pending_slots(conn: psycopg.Connection[Any], wavelengths: Sequence[str],
                  before: datetime) -> list[PendingSlot]:
    """The pending Helioviewer slots of these channels requested before `before`, oldest
    first."""
    rows = conn.execute(
        "SELECT source, instrument, wavelength, slot_at, tolerance_seconds"
        " FROM unlanded_slots WHERE status = 'pending' AND source = 'helioviewer'"
        " AND wavelength = ANY(%s) AND slot_at < %s ORDER BY slot_at",
        (list(wavelengths), before)).fetchall()
    return [PendingSlot(source, instrument, wavelength, slot_at, timedelta(seconds=seconds))
            for source, instrument, wavelength, slot_at, seconds in rows]

