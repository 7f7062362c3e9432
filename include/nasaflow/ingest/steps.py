"""The steps of a nasa_ingest run, one function per task of dags/nasa_ingest.py.

The DAG file only wires: each task body calls one function here with its params and the
run's context values. These functions turn the library's results into XCom values and its
refusals into Airflow's outcomes (AirflowFailException for what no retry can fix), which
is why this module, like nasaflow.ingest.targets, imports Airflow (lazily, so the rest of
the library stays importable without it).

A run: `plan` asks the sources and cuts the downloads into chunks; each `download_chunk`
downloads, verifies and registers its images and feeds the run's manifest folder, which
the Spark job follows from the start; `close_downloads` closes the folder once every chunk
has ended and gathers what the run expects; `check_landing` polls PostgreSQL; `finish`
fails the run naming what went wrong.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasaflow import objectstore
from nasaflow.ingest.chunks import ChunkDownloadError, ChunkResult, chunk_plan, ingest_chunk
from nasaflow.ingest.clients import SourceClients
from nasaflow.ingest.landed_assets import landed_asset, landed_partitions
from nasaflow.ingest.pause import RunPause
from nasaflow.ingest.plan import day_to_ingest, plan_images, plan_slots
from nasaflow.ingest.records import ABSENT, DOWNLOAD, MISSING, PENDING, PlannedImage
from nasaflow.ingest.slots import pending_slots, record_slots
from nasaflow.ingest.targets import (
    reader_connection,
    run_settings,
    target_suffix,
    writer_connection,
)
from nasaflow.manifest import close_manifest, file_safe
from nasaflow.settings import Settings
from nasaflow.sink.landing import missing_cells, rejected_messages
from nasaflow.sources.errors import (
    ApiKeyError,
    BadRequestError,
    NoImageError,
    RetryLaterError,
    UnreachableSourceError,
)

if TYPE_CHECKING:
    from airflow.sdk import PokeReturnValue


def manifest_folder(settings: Settings, target: str, run_id: str) -> Path:
    """The run's manifest folder in the target's image store (run id made file-safe); the
    chunks write it, the compute task's arguments name it (a DAG macro)."""
    return Path(settings.data_dir + target_suffix(target)) / "manifests" / file_safe(run_id)


def plan(settings: Settings, params: dict[str, Any], run_id: str,
         interval_start: datetime | None, interval_end: datetime | None,
         run_started: datetime | None = None) -> list[dict[str, Any]]:
    """The run's chunks, with its manifest folder made empty; gaps and skips are logged.
    Bad input and an unreachable source fail the task without retries, with the reason; a
    source that asks to be retried later reschedules it to then.

    A cleared run plans again from scratch: the folder of an earlier attempt is removed,
    since the chunks hand every image whose cells are not all landed to the compute again.
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException

    run = run_settings(settings, params["target"])
    clients = SourceClients.from_settings(run)
    try:
        start, end = day_to_ingest(params.get("date"), interval_start, interval_end)
        planned = plan_images(start, end, params["sources"], params["wavelengths"],
                              params["cadence_minutes"], clients=clients)
    except (BadRequestError, ApiKeyError, NoImageError, ValueError) as error:
        raise AirflowFailException(f"bad input: {error}") from error
    except UnreachableSourceError as error:  # no network or a wrong URL: retries won't fix it
        raise AirflowFailException(str(error)) from error
    except RetryLaterError as error:  # rate limited: run again then, holding no worker slot
        raise _plan_deferred(run, run_id, error) from error
    wait_until = wait_for_late_data(settings, planned, run_started)
    if wait_until is not None:
        raise AirflowRescheduleException(wait_until)
    try:
        planned = carry_slots(settings, params, planned, start, run_id, clients)
    except RetryLaterError as error:
        raise _plan_deferred(run, run_id, error) from error
    for entry in planned:
        if entry.status != "download":
            print(f"{entry.status}: {entry.source} {entry.wavelength} "
                  f"{entry.requested_at[0]:%Y-%m-%d %H:%M} - {entry.reason}")
    print(completeness(planned))
    chunks = chunk_plan(planned, settings.ingest_chunks_per_channel)
    folder = manifest_folder(settings, params["target"], run_id)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"{sum(len(chunk.entries) for chunk in chunks)} images to fetch for "
          f"{start:%Y-%m-%d} .. {end:%Y-%m-%d} in {len(chunks)} chunks")
    return [chunk.to_dict() for chunk in chunks]


def _plan_deferred(run: Settings, run_id: str, error: RetryLaterError) -> Exception:
    """The plan's reschedule to the time the source named, recorded as the run's pause
    too, so that its chunks, if any run, stop with it."""
    from airflow.sdk.exceptions import AirflowRescheduleException

    RunPause.of_run(run.data_dir, run_id).extend(error.retry_at, str(error))
    print(f"deferred: {error}")
    return AirflowRescheduleException(error.retry_at)


def wait_for_late_data(settings: Settings, planned: list[PlannedImage],
                       run_started: datetime | None) -> datetime | None:
    """When to plan again because slots are still pending (after the source's newest
    indexed image), or None to go on with what is there.

    The plan task waits in reschedule mode (no worker slot held) until the source has
    caught up, for at most NASAFLOW_LATE_DATA_WAIT_HOURS after the run started; at that
    deadline the pending slots are logged as such, not as gaps.
    """
    pending = [entry for entry in planned if entry.status == PENDING]
    if not pending or run_started is None:
        return None
    now = datetime.now(UTC)
    deadline = run_started + timedelta(hours=settings.late_data_wait_hours)
    if now >= deadline:
        print(f"{len(pending)} slot(s) still not indexed by the source "
              f"{settings.late_data_wait_hours:g} h after the run started: planned without "
              "them")
        return None
    again = min(deadline, now + timedelta(seconds=settings.late_data_poll_seconds))
    print(f"{len(pending)} slot(s) not indexed by the source yet ({pending[0].reason}); "
          f"planning again at {again:%H:%M:%S} UTC, until {deadline:%Y-%m-%d %H:%M} UTC at "
          "most")
    return again


def completeness(planned: list[PlannedImage]) -> str:
    """How complete the run's slots are: those with an image planned, and the others by
    status (gap, pending, missing, absent, skipped)."""
    slots = Counter[str]()
    for entry in planned:
        slots[entry.status] += len(entry.requested_at)
    total = sum(slots.values())
    others = ", ".join(f"{count} {status}" for status, count in sorted(slots.items())
                       if status != DOWNLOAD)
    return (f"completeness: {slots[DOWNLOAD]} of {total} slot(s) have an image planned"
            + (f"; {others}" if others else ""))


def carry_slots(settings: Settings, params: dict[str, Any], planned: list[PlannedImage],
                start: datetime, run_id: str, clients: SourceClients) -> list[PlannedImage]:
    """The plan with the slots earlier runs left pending that the source now serves; this
    run's pending and missing slots recorded (unlanded_slots), and earlier ones the source
    has long been past marked absent. A slot's row goes when its image registers."""
    tolerance = timedelta(minutes=params["cadence_minutes"]) / 2
    with writer_connection(params["target"]) as conn:
        earlier = pending_slots(conn, params["wavelengths"], before=start) \
            if "helioviewer" in params["sources"] else []
        again = plan_slots(earlier, clients=clients,
                           absent_after=timedelta(hours=settings.late_data_absent_hours))
        for status in (PENDING, MISSING, ABSENT):
            record_slots(conn, [entry for entry in [*planned, *again] if entry.status == status],
                         status, tolerance=tolerance, run_id=run_id)
    merged = {entry.id: entry for entry in planned if entry.status == DOWNLOAD and entry.id}
    caught_up = 0
    for entry in again:
        if entry.status != DOWNLOAD or not entry.id:
            continue
        known = merged.get(entry.id)
        if known is not None:  # the same image answers a slot of this run too
            joined = replace(known, requested_at=(*known.requested_at, *entry.requested_at))
            planned[planned.index(known)] = merged[entry.id] = joined
        else:
            planned.append(entry)
            merged[entry.id] = entry
        caught_up += 1
    if earlier:
        print(f"{len(earlier)} slot(s) left pending by earlier runs: {caught_up} served now, "
              f"{sum(entry.status == ABSENT for entry in again)} absent, "
              f"{sum(entry.status == PENDING for entry in again)} still pending")
    return planned


def download_chunk(settings: Settings, chunk: dict[str, Any], params: dict[str, Any],
                   run_id: str) -> dict[str, Any]:
    """One chunk downloaded, verified, registered and handed to the compute; the mapped
    task shows the chunk's label and final count in the UI. While the run's rate-limit
    pause is in force (any of its tasks met the source's limit) the chunk sends nothing
    and is rescheduled to the pause's end."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowRescheduleException

    run = run_settings(settings, params["target"])
    pause = RunPause.of_run(run.data_dir, run_id)
    try:
        result = ingest_chunk(chunk, clients=lambda: SourceClients.from_settings(run),
                              data_dir=run.data_dir, image_store=run.image_store,
                              patch_size=params["patch_size"],
                              connect=lambda: writer_connection(params["target"]),
                              manifest_dir=manifest_folder(settings, params["target"], run_id),
                              threads=settings.download_threads, pause=pause)
    except ChunkDownloadError as error:
        if error.retry_at is None:
            raise
        # Only the source's "retry later": the rest is ingested, the chunk runs again then
        # (a reschedule spends no try and holds no worker slot meanwhile).
        print(f"deferred: {error}")
        raise AirflowRescheduleException(pause.resume_at(error.retry_at)) from error
    context = get_current_context()
    # A key of our own for map_index_template, beyond the keys Context declares.
    context["chunk_label"] = (  # type: ignore[typeddict-unknown-key]
        f"{chunk['label']}: {len(result.expected)}/{len(chunk['entries'])} verified")
    return result.to_dict()


def close_downloads(settings: Settings, results: list[dict[str, Any] | None],
                    chunks: list[dict[str, Any]] | None, params: dict[str, Any],
                    run_id: str) -> dict[str, Any]:
    """Close the manifest folder (the Spark job ends after its last part) and gather the
    chunks' results; a chunk that failed for good left no result and is named. After a
    failed plan (no chunks) the task is skipped: the plan's reason is the run's, and a
    second failure with retries would only delay and blur it."""
    from airflow.sdk.exceptions import AirflowSkipException

    close_manifest(manifest_folder(settings, params["target"], run_id))
    if chunks is None:
        raise AirflowSkipException("the plan failed: nothing was downloaded")
    merged = ChunkResult()
    failed_chunks = []
    for chunk, result in zip(chunks, results, strict=True):
        if not result:
            failed_chunks.append(chunk["label"])
            continue
        merged.expected.update(result["expected"])
        merged.quarantined += result["quarantined"]
        merged.missing.update(result["missing"])
        merged.skipped.update(result.get("skipped", {}))
        merged.to_compute += result["to_compute"]
    print(f"{len(merged.expected)} images verified, {merged.to_compute} handed to the "
          f"compute, {len(merged.quarantined)} quarantined, {len(merged.missing)} missing at "
          f"the source, {len(merged.skipped)} skipped for QUALITY, failed chunks: "
          f"{failed_chunks}")
    for image_id, reason in merged.missing.items():
        print(f"missing: {image_id} - {reason}")
    for image_id, reason in merged.skipped.items():
        print(f"skipped: {image_id} - {reason}")
    return {"expected": merged.expected,
            "quarantined": {record["id"]: record["reason"] for record in merged.quarantined},
            "missing": merged.missing, "skipped": merged.skipped,
            "failed_chunks": failed_chunks, "to_compute": merged.to_compute}


def check_landing(closed: dict[str, Any], params: dict[str, Any],
                  since: datetime | None) -> PokeReturnValue:
    """Done (with the cells landed as XCom) when every cell of every verified image is
    queryable.

    Raises:
        AirflowFailException: the stream refused messages of the run's images since
            `since` (dead letters), so waiting longer cannot help.
    """
    from airflow.sdk import PokeReturnValue
    from airflow.sdk.exceptions import AirflowFailException

    expected: dict[str, int] = closed["expected"]
    with reader_connection(params["target"]) as conn:
        missing = missing_cells(conn, list(expected), params["patch_size"], expected)
        rejected = rejected_messages(conn, list(missing), since=since)
    if rejected:
        raise AirflowFailException(f"messages refused by the stream: {rejected}")
    landed = sum(expected.values()) - sum(missing.values())
    print(f"{landed}/{sum(expected.values())} cells landed; still missing: {missing}")
    return PokeReturnValue(is_done=not missing, xcom_value=landed)


def finish(settings: Settings, closed: dict[str, Any], params: dict[str, Any]) -> int:
    """Drop the landed images' files when NASAFLOW_DROP_LANDED_IMAGES is set (their rows
    keep sha256 and path), then fail the run naming quarantined images and failed chunks
    (the other images were ingested); else return the number of images."""
    from airflow.sdk.exceptions import AirflowFailException

    if settings.drop_landed_images and closed["expected"]:
        with reader_connection(params["target"]) as conn:
            paths = [row[0] for row in conn.execute(
                "SELECT path FROM images WHERE id = ANY(%s)", (list(closed["expected"]),))]
        for path in paths:
            objectstore.delete(path)
        print(f"dropped {len(paths)} landed image files (rows keep sha256 and path)")
    problems = []
    if closed["quarantined"]:
        problems.append(f"{len(closed['quarantined'])} image(s) quarantined: "
                        f"{closed['quarantined']}")
    if closed["failed_chunks"]:
        problems.append(f"{len(closed['failed_chunks'])} chunk(s) with downloads failed "
                        f"after retries: {closed['failed_chunks']} (see their logs)")
    if problems:
        raise AirflowFailException("; ".join(problems) + " (the other images were ingested)")
    return len(closed["expected"])


def announce_landed(closed: dict[str, Any], params: dict[str, Any],
                    interval_start: datetime | None, interval_end: datetime | None,
                    outlet_events: Any) -> list[str]:
    """Emit the run's landed (channel, day) partitions on its target's asset; returns
    them. Skipped when nothing landed, so no event says otherwise."""
    from airflow.sdk.exceptions import AirflowSkipException

    day, _ = day_to_ingest(params.get("date"), interval_start, interval_end)
    with reader_connection(params["target"]) as conn:
        channels = [row[0] for row in conn.execute(
            "SELECT DISTINCT wavelength FROM images WHERE id = ANY(%s)",
            (list(closed["expected"]),))]
    partitions = landed_partitions(channels, day.date())
    if not partitions:
        raise AirflowSkipException("no image landed: no partition to announce")
    event = outlet_events[landed_asset(params["target"])]
    event.add_partitions(partitions)
    event.extra = {"images": len(closed["expected"]), "patch_size": params["patch_size"]}
    print(f"announced {len(partitions)} landed partition(s): {', '.join(partitions)}")
    return partitions
