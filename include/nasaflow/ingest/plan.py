"""Which images a run's data interval should ingest.

Helioviewer has no "list images between t1 and t2" endpoint (§1.9), so the plan steps
through the interval at the requested cadence, asks for the nearest image of each
wavelength, keeps it only within half a cadence of the request, and deduplicates by image
id. A request with nothing near it is a gap: recorded, not a failure (the archive has
outages). APOD contributes one entry per date, asked for in ranges; a date whose page
the APOD service fails on, or not yet published in US Eastern time, is skipped with the
reason while the rest of the plan goes on. Inputs that can never work (unknown
wavelength, future interval, a date before the source exists, a missing api key) raise
before anything is planned, naming the bad input. An image whose id or file the server
names unsafely is planned as refused, with the reason and no name of the server's, so the
download step quarantines it and the other images go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePosixPath

from nasaflow.images.verify import EXTENSIONS
from nasaflow.ingest.clients import SourceClients
from nasaflow.ingest.records import (
    ABSENT,
    DOWNLOAD,
    GAP,
    MISSING,
    PENDING,
    SKIPPED,
    PlannedImage,
)
from nasaflow.ingest.slots import PendingSlot
from nasaflow.ingest.store import apod_filename
from nasaflow.sources.apod import ApodClient, ApodDays
from nasaflow.sources.errors import (
    BadRequestError,
    DateOutOfRangeError,
    MissingFileError,
    NoImageError,
    OutOfToleranceError,
    UnsafeNameError,
)
from nasaflow.sources.helioviewer import (
    HelioviewerClient,
    SdoSource,
    archive_file,
    source_for,
)

SOURCES = ("helioviewer", "apod")
#: A source whose newest indexed image is at most this old is catching up: the times after
#: it are pending (waited for), not gaps.
LAGGING_SOURCE = timedelta(hours=48)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def day_to_ingest(date_param: str | None, interval_start: datetime | None,
                  interval_end: datetime | None) -> tuple[datetime, datetime]:
    """The interval a run ingests: the UTC day of its *date* param when given (a manual
    run for one day), else its data interval (scheduled runs and backfills).

    Raises:
        ValueError: no date was given and the run has no data interval (a manual run).
    """
    if date_param:
        day = datetime.fromisoformat(date_param).replace(tzinfo=UTC)
        return day, day + timedelta(days=1)
    if interval_start is None or interval_end is None:
        raise ValueError("this run has no data interval: give a date to ingest")
    return interval_start, interval_end


def _check_interval(start: datetime, end: datetime, cadence_minutes: int,
                    now: datetime) -> None:
    for name, value in (("interval_start", start), ("interval_end", end)):
        if value.tzinfo is None:
            raise BadRequestError(f"{name}: expected a timezone-aware datetime, got naive "
                                  f"{value.isoformat()}")
    if end <= start:
        raise BadRequestError(f"expected interval_start < interval_end, got {start.isoformat()}"
                              f" .. {end.isoformat()}")
    if cadence_minutes <= 0:
        raise BadRequestError(f"cadence_minutes: expected a positive number, got "
                              f"{cadence_minutes}")
    if start > now:
        raise DateOutOfRangeError(f"interval_start {start.isoformat()} is in the future "
                                  f"(now is {now.isoformat()})")


def plan_images(
    interval_start: datetime,
    interval_end: datetime,
    sources: Sequence[str],
    wavelengths: Sequence[str],
    cadence_minutes: int,
    *,
    clients: SourceClients | None = None,
    now: Callable[[], datetime] = _utcnow,
) -> list[PlannedImage]:
    """Plan the images of [interval_start, interval_end).

    Args:
        interval_start, interval_end: the run's data interval (timezone-aware).
        sources: any of "helioviewer", "apod".
        wavelengths: Helioviewer wavelengths, e.g. ["193", "304", "magnetogram"]; ignored
            for APOD.
        cadence_minutes: spacing of the Helioviewer request times; an image counts only
            within cadence/2 of a request time.
        clients: the NASA clients (default: built from settings).
        now: the current time (UTC), for the "not in the future" checks.

    Returns:
        PlannedImage entries with status "download" (one per distinct image), "gap",
        "skipped", "missing" (an indexed image whose file the source cannot read: the
        rest of the day goes on) or "pending" (after the source's newest indexed image,
        getDataSources' end), each JSON-serialisable via to_dict().

    Raises:
        BadRequestError (UnknownWavelengthError, DateOutOfRangeError) for bad inputs,
        MissingApiKeyError when APOD is asked for without a key, and SourceError
        subclasses when a service fails beyond its retries.
    """
    current = now()
    _check_interval(interval_start, interval_end, cadence_minutes, current)
    unknown = [name for name in sources if name not in SOURCES]
    if unknown or not sources:
        raise BadRequestError(f"sources: expected some of {', '.join(SOURCES)}, got "
                              f"{list(sources)}")
    wanted = dict.fromkeys(wavelengths) if "helioviewer" in sources else {}
    sdo = [source_for(wavelength) for wavelength in wanted]
    if "helioviewer" in sources and not sdo:
        raise BadRequestError("wavelengths: expected at least one for helioviewer, got none")
    clients = clients or SourceClients.from_settings()
    apod = clients.apod if "apod" in sources else None  # a missing key fails here, first
    plan: list[PlannedImage] = []
    cadence = timedelta(minutes=cadence_minutes)
    for source in sdo:
        end = min(interval_end, current)
        plan.extend(_plan_helioviewer(clients.helioviewer, source,
                                      _request_times(interval_start, end, cadence),
                                      cadence / 2, current, interval=(interval_start, end)))
    if apod is not None:
        plan.extend(_plan_apod(apod, interval_start, interval_end))
    return plan


def _request_times(start: datetime, end: datetime, cadence: timedelta) -> list[datetime]:
    times = []
    moment = start
    while moment < end:
        times.append(moment)
        moment += cadence
    return times


def plan_slots(pending: Sequence[PendingSlot], *, absent_after: timedelta,
               clients: SourceClients | None = None,
               now: Callable[[], datetime] = _utcnow) -> list[PlannedImage]:
    """Ask the source again for slots recorded as pending by earlier runs.

    Returns:
        One entry per distinct image now served within tolerance ("download"), per slot
        whose file the source cannot serve ("missing"), per slot the source is still
        not past or was past for less than `absent_after` ("pending"), and per slot it
        has been past for longer with nothing within tolerance ("absent").
    """
    current = now()
    clients = clients or SourceClients.from_settings()
    channels: dict[tuple[str, timedelta], list[datetime]] = {}
    for slot in pending:
        channels.setdefault((slot.wavelength, slot.tolerance), []).append(slot.slot_at)
    plan: list[PlannedImage] = []
    for (wavelength, tolerance), times in channels.items():
        source = source_for(wavelength)
        available = clients.helioviewer.data_sources().get(source.source_id)
        end = available.end if available is not None else None
        for entry in _plan_helioviewer(clients.helioviewer, source, times, tolerance, current):
            if entry.status == GAP:
                past = end is not None and end - entry.requested_at[0] > absent_after
                entry = replace(entry, status=ABSENT if past else PENDING)
            plan.append(entry)
    return plan


def _plan_helioviewer(client: HelioviewerClient, source: SdoSource, times: Sequence[datetime],
                      tolerance: timedelta, now: datetime,
                      interval: tuple[datetime, datetime] | None = None) -> list[PlannedImage]:
    """One entry per distinct image near the request times, plus one gap per empty time.
    With the run's `interval`, an interval wholly before the source's first image is bad
    input."""
    available = client.data_sources().get(source.source_id)
    if available is None:
        raise NoImageError(f"wavelength {source.measurement} ({source.nickname}, sourceId "
                           f"{source.source_id}): expected it in getDataSources of "
                           f"{client.base_url}, it is not listed")
    if interval is not None and interval[1] <= available.start:
        raise DateOutOfRangeError(
            f"wavelength {source.measurement}: the interval {interval[0].isoformat()} .. "
            f"{interval[1].isoformat()} is before {source.nickname}'s first image at "
            f"{available.start.isoformat()}")
    # A source whose newest image is days old has stopped (or is an archive), it is not
    # lagging: times after it are gaps, not worth waiting for.
    lagging = now - available.end <= LAGGING_SOURCE
    images: dict[str, PlannedImage] = {}
    gaps: list[PlannedImage] = []

    def gap(moment: datetime, reason: str) -> PlannedImage:
        return PlannedImage("helioviewer", GAP, source.instrument, source.measurement,
                            (moment,), reason=reason,
                            source_ref={"sourceId": source.source_id})

    def refused(moment: datetime, exc: UnsafeNameError) -> PlannedImage:
        # Named after the request, not the answer: nothing of the server's names it.
        return PlannedImage("helioviewer", DOWNLOAD, source.instrument, source.measurement,
                            (moment,), id=f"refused_{moment:%Y_%m_%d__%H_%M_%S}__"
                                          f"{source.file_suffix}",
                            format="jp2", refused=exc.reason,
                            source_ref={"provider": "helioviewer", "base_url": client.base_url,
                                        "sourceId": source.source_id})

    for moment in times:
        if moment + tolerance < available.start:
            gaps.append(gap(moment, f"{source.nickname}: before the source's first image at "
                                    f"{available.start.isoformat()}"))
            continue
        if moment - tolerance > available.end and lagging:
            # Not indexed yet: the source trails the clock. Asking now would return its
            # newest image, out of tolerance, and the slot would pass for a gap.
            gaps.append(replace(gap(moment, f"{source.nickname}: not yet available, the "
                                            f"source's newest image is at "
                                            f"{available.end.isoformat()}"), status=PENDING))
            continue
        try:
            image = client.closest_image_within(moment, source, tolerance)
        except (OutOfToleranceError, NoImageError) as exc:
            gaps.append(gap(moment, str(exc)))
            continue
        except MissingFileError as exc:
            gaps.append(replace(gap(moment, str(exc)), status=MISSING))
            continue
        except UnsafeNameError as exc:
            entry = refused(moment, exc)
            images[entry.id or ""] = entry
            continue
        known = images.get(image.id)
        if known is not None:
            images[image.id] = replace(known, requested_at=(*known.requested_at, moment))
            continue
        uri = client.jp2_uri(image.id)
        try:
            located = archive_file(uri, source)
        except UnsafeNameError as exc:
            images[image.id] = refused(moment, exc)
            continue
        url, query = client.jp2_download(image.id)
        images[image.id] = PlannedImage(
            "helioviewer", DOWNLOAD, source.instrument, source.measurement, (moment,),
            id=PurePosixPath(located.filename).stem, observed_at=located.observed_at,
            url=f"{url}?id={query['id']}", filename=located.filename, format="jp2",
            width=image.width, height=image.height,
            source_ref={"provider": "helioviewer", "base_url": client.base_url,
                        "image_id": image.id, "sourceId": source.source_id, "uri": uri,
                        "metadata": image.metadata})
    return [*images.values(), *gaps]


def _dates(start: datetime, end: datetime) -> list[date]:
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _plan_apod(client: ApodClient, start: datetime, end: datetime) -> list[PlannedImage]:
    """One entry per date of the interval: an image, a gap (no APOD that day) or a skip
    with its reason (a video or `other` entry, a date whose page the service fails on, a
    date not yet published: APOD dates are US Eastern)."""
    today = client.today()
    dates = _dates(start, end)
    published = [day for day in dates if day <= today]
    days = client.entries(published[0], published[-1]) if published else ApodDays()
    plan = []
    for day in dates:
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if day > today:
            plan.append(PlannedImage(
                "apod", SKIPPED, "APOD", "apod", (moment,),
                reason=f"APOD {day}: not published yet: APOD dates are US Eastern, where it "
                       f"is still {today}; ingest this day again after midnight Eastern "
                       "(about 05:00 UTC)"))
            continue
        if day in days.failed:
            plan.append(PlannedImage("apod", SKIPPED, "APOD", "apod", (moment,),
                                     reason=days.failed[day],
                                     source_ref={"provider": "apod", "date": day.isoformat()}))
            continue
        if day in days.missing:
            plan.append(PlannedImage("apod", GAP, "APOD", "apod", (moment,),
                                     reason=days.missing[day]))
            continue
        entry = days.entries[day]
        reference = {"provider": "apod", "date": day.isoformat(), "title": entry.title,
                     "media_type": entry.media_type, "url": entry.url, "hdurl": entry.hdurl,
                     "copyright": entry.copyright}
        if entry.skip_reason is not None:
            plan.append(PlannedImage("apod", SKIPPED, "APOD", "apod", (moment,),
                                     reason=entry.skip_reason, source_ref=reference))
            continue
        url = entry.image_url()
        extension = PurePosixPath(url.split("?", 1)[0]).suffix.lower()
        if extension not in EXTENSIONS:
            plan.append(PlannedImage("apod", SKIPPED, "APOD", "apod", (moment,),
                                     reason=f"APOD {day}: expected an image file "
                                            f"({', '.join(EXTENSIONS)}), got {url}",
                                     source_ref=reference))
            continue
        filename = apod_filename(day, EXTENSIONS[extension])
        plan.append(PlannedImage(
            "apod", DOWNLOAD, "APOD", "apod", (moment,), id=PurePosixPath(filename).stem,
            observed_at=moment, url=url, filename=filename, format=EXTENSIONS[extension],
            source_ref=reference))
    return plan
