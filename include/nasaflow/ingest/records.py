"""The records ingestion passes between steps: planned, downloaded and quarantined images.

They travel between Airflow tasks through XCom, so each converts to and from a plain JSON
dict (datetimes as ISO-8601 strings) and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

#: PlannedImage.status values.
DOWNLOAD = "download"
GAP = "gap"
SKIPPED = "skipped"
#: An image the source indexes but cannot serve (MissingFileError); `reason` says why.
MISSING = "missing"
#: A slot after the source's newest indexed image (getDataSources' end): not a gap, the
#: source has not caught up yet.
PENDING = "pending"
#: A pending slot the source has long been past with still nothing within tolerance.
ABSENT = "absent"

_Record = TypeVar("_Record", bound="_JsonRecord")


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_to_json(item) for item in value]
    return value


class _JsonRecord:
    """to_dict/from_dict for the frozen dataclasses below."""

    #: Fields holding a datetime, and fields holding a tuple of datetimes.
    _datetimes: tuple[str, ...] = ()
    _datetime_tuples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        # A mixin of dataclasses: mypy cannot see that `self` is one.
        values = asdict(self)  # type: ignore[call-overload]
        return {key: _to_json(value) for key, value in values.items()}

    @classmethod
    def from_dict(cls: type[_Record], data: Mapping[str, Any]) -> _Record:
        """The record from `to_dict` output; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]  # as in to_dict
        values = {key: value for key, value in data.items() if key in names}
        for key in cls._datetimes:
            if isinstance(values.get(key), str):
                values[key] = datetime.fromisoformat(values[key])
        for key in cls._datetime_tuples:
            if isinstance(values.get(key), list):
                values[key] = tuple(datetime.fromisoformat(v) for v in values[key])
        return cls(**values)

    @classmethod
    def coerce(cls: type[_Record], value: _Record | Mapping[str, Any]) -> _Record:
        """Accept the record itself or its dict form (as XCom hands it back)."""
        # isinstance(value, cls) does not narrow a union holding the TypeVar for mypy.
        return value if isinstance(value, cls) else cls.from_dict(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PlannedImage(_JsonRecord):
    """One planned image, or a recorded gap/skip, for a run's data interval.

    `status` is "download" (fetch it), "gap" (no image near the requested time, or no APOD
    that day), "skipped" (APOD video/other), "missing" (the source indexes an image there
    but cannot serve its file) or "pending" (after the source's newest indexed image: not
    available yet); `reason` explains each of them. A download
    with `refused` set is one the server named unsafely: it carries no server-given name,
    and the download step quarantines it with that reason instead of fetching it.
    """

    source: str
    status: str
    instrument: str
    wavelength: str
    requested_at: tuple[datetime, ...]
    id: str | None = None
    observed_at: datetime | None = None
    url: str | None = None
    filename: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    reason: str | None = None
    source_ref: dict[str, Any] = field(default_factory=dict)
    refused: str | None = None

    _datetimes = ("observed_at",)
    _datetime_tuples = ("requested_at",)


@dataclass(frozen=True)
class DownloadedImage(_JsonRecord):
    """A verified image in the image store; one row of the `images` table."""

    id: str
    source: str
    instrument: str
    wavelength: str
    observed_at: datetime
    width: int
    height: int
    sha256: str
    path: str
    size_bytes: int
    source_ref: dict[str, Any] = field(default_factory=dict)
    #: False when the file was already present and verified (nothing was downloaded).
    downloaded: bool = True
    #: The header's observation keywords (nasaflow.images.fits_header.Observation).
    exposure_s: float | None = None
    t_obs: datetime | None = None
    wavelength_a: float | None = None
    quality: int | None = None

    _datetimes = ("observed_at", "t_obs")


@dataclass(frozen=True)
class QuarantinedImage(_JsonRecord):
    """An image that stayed corrupt after retries; one row of `quarantined_images`."""

    id: str
    source: str
    reason: str
    path: str | None
    request: dict[str, Any] = field(default_factory=dict)
