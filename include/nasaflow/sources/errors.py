"""Exceptions raised by the NASA source clients.

The pipeline must tell apart "try again later", "this image does not exist", "the request
was wrong" and "the bytes are bad": Airflow retries the first, records the second as a gap,
fails fast on the third and quarantines the fourth. Every message states what was expected
and what came back, so a task log alone explains the failure.
"""

from __future__ import annotations

from datetime import datetime, timedelta


class SourceError(Exception):
    """Base class: a NASA source could not deliver what was asked for."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class RetryLaterError(SourceError):
    """The server asked us to wait longer than we are willing to sleep; retry at `retry_at`."""

    def __init__(self, message: str, *, retry_at: datetime, url: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(f"{message}; retry at {retry_at.isoformat()}", url=url, status=status)
        self.retry_at = retry_at


class UnavailableError(SourceError):
    """A retryable failure (5xx, connection error, bad body) outlasted every attempt."""


class UnreachableSourceError(UnavailableError):
    """The source's host could not be reached at the first request to it: its name does not
    resolve or it refuses connections. No network, a wrong URL setting or a stopped server
    does not heal within a retry loop, so this is raised at once and names the host; a
    host that has answered before and then refuses (a restart) is retried instead.
    """

    def __init__(self, message: str, *, host: str, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.host = host


class UnexpectedBodyError(SourceError):
    """A success status with the wrong body: HTML, a JSON error, bad magic, truncated bytes.

    `transient` marks failures of the transfer itself (a cut connection), which are retried
    like connection errors; otherwise the body is wrong and is retried only a couple of
    times. `rate_limited` marks Helioviewer's "Limit of N requests" page.
    """

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None,
                 transient: bool = False, rate_limited: bool = False) -> None:
        super().__init__(message, url=url, status=status)
        self.transient = transient
        self.rate_limited = rate_limited


class BadRequestError(SourceError, ValueError):
    """The request itself is invalid: the server said 400, or local validation refused it."""


class UnknownWavelengthError(BadRequestError):
    """A wavelength with no known Helioviewer sourceId."""


class DateOutOfRangeError(BadRequestError):
    """A date in the future or before the source's first image."""


class ApiKeyError(SourceError):
    """The api.nasa.gov gateway refused the api key (403)."""


class MissingApiKeyError(ApiKeyError, ValueError):
    """No api key is configured for a source that needs one."""


class NotFoundError(SourceError):
    """The server has no such item (APOD 404, Helioviewer errno 24)."""


class NoImageError(NotFoundError):
    """The source has no image for the requested date or datasource."""


class MissingFileError(NotFoundError):
    """The source indexes the image but cannot serve its file: Helioviewer's errno 13 from
    getClosestImage (a JP2 missing or unreadable in its archive; also what a swallowed
    database error looks like, so it is retried first) or getJP2Image's 200 image/jp2
    body "File not found.". A per-image outcome: that image is recorded as missing with the
    reason and the rest of the run goes on."""


class OutOfToleranceError(NotFoundError):
    """The nearest image is further from the requested time than the tolerance allows."""

    def __init__(self, *, requested: datetime, returned: datetime, tolerance: timedelta,
                 source: str, url: str | None = None) -> None:
        super().__init__(
            f"{source}: expected an image within {tolerance} of {requested.isoformat()}, "
            f"the nearest is at {returned.isoformat()} ({abs(returned - requested)} away)",
            url=url,
        )
        self.requested = requested
        self.returned = returned
        self.tolerance = tolerance


class CorruptImageError(SourceError):
    """The downloaded bytes are not the image they claim to be.

    `reason` says which check failed; `quarantined_path` is where the bad bytes were moved
    (None when nothing was kept, e.g. an HTML page that was never written to disk).
    """

    def __init__(self, reason: str, *, url: str | None = None, status: int | None = None,
                 quarantined_path: str | None = None) -> None:
        super().__init__(reason, url=url, status=status)
        self.reason = reason
        self.quarantined_path = quarantined_path


class UnsafeNameError(CorruptImageError):
    """The server named an image in a way that cannot be trusted to name a file: an absolute
    path, `..` segments, control characters, an overlong name, or a place the archive does
    not keep that image. Refused before any byte is written and quarantined with the
    reason, like bad bytes: nothing a server says may choose where files are written."""
