"""Helioviewer API v2 client: which SDO image is nearest a time, and where its bytes are.

Helioviewer answers getClosestImage with the nearest image however far away it is (§1.3),
so this client checks the returned time against a tolerance; it fixes a file's identity
through the JPIP URI before downloading (the race-free recipe of §5.5); and it knows the
SDO sourceIds (§1.8) so an unknown wavelength fails before any request is made.

Names in answers are untrusted input: an image id must be a number, a file must sit where
the archive keeps it (<instrument>/<YYYY>/<MM>/<DD>/<measurement>/<name>, §1.7) under a
name of the archive's pattern, or the image is refused (UnsafeNameError).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from nasaflow.sources.answers import errno_error, helioviewer_errno
from nasaflow.sources.errors import (
    OutOfToleranceError,
    SourceError,
    UnexpectedBodyError,
    UnknownWavelengthError,
    UnsafeNameError,
)
from nasaflow.sources.http import JSON_TIMEOUT, HttpClient


@dataclass(frozen=True)
class SdoSource:
    """One SDO datasource as Helioviewer names it."""

    source_id: int
    nickname: str
    instrument: str
    measurement: str

    @property
    def file_suffix(self) -> str:
        """The end of every file name of this source, e.g. SDO_AIA_AIA_193."""
        return f"SDO_{self.instrument}_{self.instrument}_{self.measurement}"


def _catalog() -> dict[str, SdoSource]:
    aia = {"94": 8, "131": 9, "171": 10, "193": 11, "211": 12, "304": 13, "335": 14,
           "1600": 15, "1700": 16, "4500": 17}
    sources = {wl: SdoSource(sid, f"AIA {wl}", "AIA", wl) for wl, sid in aia.items()}
    sources["continuum"] = SdoSource(18, "HMI Int", "HMI", "continuum")
    sources["magnetogram"] = SdoSource(19, "HMI Mag", "HMI", "magnetogram")
    return sources


#: Wavelength (AIA channel in Å, or HMI product) -> SDO datasource (§1.8).
SDO_SOURCES: dict[str, SdoSource] = _catalog()
SOURCES_BY_ID: dict[int, SdoSource] = {s.source_id: s for s in SDO_SOURCES.values()}

#: Helioviewer JP2 file name (§1.7); sub-second digits are a decimal fraction.
FILENAME = re.compile(
    r"^(\d{4})_(\d{2})_(\d{2})__(\d{2})_(\d{2})_(\d{2})_(\d{2,3})__"
    r"([A-Za-z0-9-]+)_([A-Za-z0-9-]+)_([A-Za-z0-9-]+)_([A-Za-z0-9-]+)\.jp2$"
)
_RESPONSE_TIME = "%Y-%m-%d %H:%M:%S"
#: Longest file name most file systems accept, in bytes.
MAX_NAME_BYTES = 255
#: An image id as Helioviewer gives it: a decimal integer.
_IMAGE_ID = re.compile(r"[0-9]{1,19}")
#: A datasource label such as "AIA 193" or "HMI Mag".
_LABEL = re.compile(r"[A-Za-z0-9 ._+-]{1,64}")


def source_for(wavelength: str) -> SdoSource:
    """The SDO datasource of a wavelength such as "193" or "magnetogram"."""
    key = str(wavelength).strip().lower()
    source = SDO_SOURCES.get(key)
    if source is None:
        raise UnknownWavelengthError(
            f"unknown wavelength {wavelength!r}: expected one of {', '.join(SDO_SOURCES)}"
        )
    return source


def format_time(moment: datetime) -> str:
    """A request time in Helioviewer's format, e.g. 2022-01-01T00:03:52.835Z."""
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {moment.isoformat()}")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_response_time(text: str) -> datetime:
    """A Helioviewer response time ("YYYY-MM-DD HH:MM:SS", UTC) as an aware datetime."""
    return datetime.strptime(text, _RESPONSE_TIME).replace(tzinfo=UTC)


def shown(text: str, limit: int = 120) -> str:
    """`text` quoted for a message: control characters escaped, long text cut."""
    quoted = repr(text)
    return quoted if len(quoted) <= limit else f"{quoted[:limit]}... ({len(text)} characters)"


def parse_filename(name: str) -> tuple[datetime, str, str]:
    """(observation time, instrument, measurement) of a Helioviewer JP2 file name.

    Raises:
        ValueError: the whole of `name` is not such a name (a trailing newline or a path
            included), or it is longer than MAX_NAME_BYTES.
    """
    match = FILENAME.fullmatch(name)
    if match is None:
        raise ValueError(f"expected a Helioviewer JP2 name like "
                         f"2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2, got {shown(name)}")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"expected a file name of at most {MAX_NAME_BYTES} bytes, got "
                         f"{len(name.encode())}: {shown(name)}")
    year, month, day, hour, minute, second, fraction = match.groups()[:7]
    micro = int(round(float(f"0.{fraction}") * 1_000_000))
    observed = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        micro, tzinfo=UTC)
    return observed, match.group(9), match.group(11)


def archive_directory(source: SdoSource, observed: datetime) -> str:
    """Where the archive keeps the images of `source` observed at `observed` (§1.7), e.g.
    AIA/2022/01/01/193; the image store uses the same layout."""
    return f"{source.instrument}/{observed:%Y/%m/%d}/{source.measurement}"


@dataclass(frozen=True)
class ArchiveFile:
    """A JP2 file as a getJP2Image URI names it, checked: its name and observation time."""

    filename: str
    observed_at: datetime


def archive_file(uri: str, source: SdoSource) -> ArchiveFile:
    """The file a JPIP URI names, if it is a `source` file where the archive keeps it.

    Raises:
        UnsafeNameError: the URI names no such file, or another place than
            `archive_directory` (absolute paths, `..`, control characters, overlong names).
    """
    relative = archive_path(uri)
    filename = relative.rpartition("/")[2]
    try:
        observed, instrument, measurement = parse_filename(filename)
    except ValueError as exc:
        raise UnsafeNameError(f"getJP2Image named the file {shown(relative)}: {exc}") from exc
    if (instrument, measurement) != (source.instrument, source.measurement):
        raise UnsafeNameError(f"expected a {source.file_suffix} file, getJP2Image named "
                              f"{shown(filename)}")
    expected = f"{archive_directory(source, observed)}/{filename}"
    if relative != expected:
        raise UnsafeNameError(f"getJP2Image placed {filename} at {shown(relative)}, expected "
                              f"{expected}")
    return ArchiveFile(filename, observed)


@dataclass(frozen=True)
class DataSource:
    """A datasource leaf of getDataSources: its queryable range on this server."""

    source_id: int
    nickname: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ClosestImage:
    """The getClosestImage answer: image id (a string), its time and size, raw metadata."""

    id: str
    date: datetime
    name: str
    width: int
    height: int
    metadata: dict[str, Any]


def _expect_json(response: requests.Response) -> None:
    """Reject success responses that are not a JSON payload (or are a JSON error)."""
    content_type = response.headers.get("Content-Type", "")
    text = response.text
    if "json" not in content_type:
        raise UnexpectedBodyError(
            f"expected JSON from {response.url}, got {content_type or 'no Content-Type'}: "
            f"{text[:120]!r}",
            url=response.url, status=response.status_code, rate_limited="Limit of" in text,
        )
    try:
        payload = response.json()
    except ValueError as exc:
        raise UnexpectedBodyError(f"expected JSON from {response.url}, got unparsable "
                                  f"{text[:120]!r}", url=response.url,
                                  status=response.status_code) from exc
    errno = helioviewer_errno(payload)
    if errno is not None:
        # The legacy error form: a runtime error with status 200.
        error = errno_error(errno, str(payload.get("error")), url=response.url,
                            status=response.status_code)
        if errno in (1, 2, 255):
            raise UnexpectedBodyError(str(error), url=response.url, status=response.status_code)
        raise error


class HelioviewerClient:
    """Typed access to the Helioviewer actions the pipeline uses."""

    def __init__(self, base_url: str, http: HttpClient) -> None:
        """`base_url` is the host root, e.g. https://api.helioviewer.org (no /v2)."""
        self.base_url = base_url.rstrip("/")
        self.http = http
        self._sources: dict[int, DataSource] | None = None

    def action_url(self, action: str) -> str:
        """The URL of a v2 action; the trailing slash is required by the server's routing."""
        return f"{self.base_url}/v2/{action}/"

    def _get_json(self, action: str, params: dict[str, str]) -> Any:
        response = self.http.get(self.action_url(action), params=params, timeout=JSON_TIMEOUT,
                                 check=_expect_json)
        return response.json()

    def data_sources(self) -> dict[int, DataSource]:
        """Every datasource leaf of getDataSources by sourceId, fetched once per client."""
        if self._sources is None:
            tree = self._get_json("getDataSources", {})
            self._sources = {leaf.source_id: leaf for leaf in _leaves(tree)}
        return self._sources

    def closest_image(self, moment: datetime, source: SdoSource) -> ClosestImage:
        """getClosestImage as the server answers it: nearest, however far (no tolerance).

        Raises:
            UnsafeNameError: the image id is not a number, or its name not a datasource
                label: the answer cannot be trusted to name anything.
        """
        payload = self._get_json("getClosestImage",
                                 {"date": format_time(moment), "sourceId": str(source.source_id)})
        try:
            image = ClosestImage(
                id=str(payload["id"]),
                date=parse_response_time(payload["date"]),
                name=str(payload.get("name", source.nickname)),
                width=int(payload["width"]),
                height=int(payload["height"]),
                metadata=payload,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"getClosestImage: expected id, date, width and height, got "
                              f"{str(payload)[:200]}") from exc
        url = self.action_url("getClosestImage")
        if not _IMAGE_ID.fullmatch(image.id):
            raise UnsafeNameError(f"getClosestImage for {source.nickname} at "
                                  f"{format_time(moment)}: expected a numeric image id, got "
                                  f"{shown(image.id)}", url=url)
        if not _LABEL.fullmatch(image.name) or ".." in image.name:
            raise UnsafeNameError(f"getClosestImage for {source.nickname} at "
                                  f"{format_time(moment)}: expected a datasource name like "
                                  f"{source.nickname!r}, got {shown(image.name)}", url=url)
        return image

    def closest_image_within(self, moment: datetime, source: SdoSource,
                             tolerance: timedelta) -> ClosestImage:
        """The nearest image, or OutOfToleranceError if it is further than `tolerance`."""
        image = self.closest_image(moment, source)
        # The returned date is rounded to whole seconds: allow that half second.
        if abs(image.date - moment) > tolerance + timedelta(seconds=0.5):
            raise OutOfToleranceError(requested=moment, returned=image.date, tolerance=tolerance,
                                      source=source.nickname,
                                      url=self.action_url("getClosestImage"))
        return image

    def jp2_uri(self, image_id: str) -> str:
        """The JPIP URI of an image; its path part is the archive path and file name."""
        payload = self._get_json("getJP2Image", {"id": image_id, "jpip": "true", "json": "true"})
        uri = payload.get("uri") if isinstance(payload, dict) else None
        if not isinstance(uri, str) or not uri.endswith(".jp2"):
            raise SourceError(f"getJP2Image id={image_id}: expected "
                              f"{{\"uri\": \"jpips://...jp2\"}}, got {str(payload)[:200]}")
        return uri

    def jp2_header(self, image_id: str) -> str:
        """The image's XML metadata box, as getJP2Header serves it."""
        def expect_xml(response: requests.Response) -> None:
            if not response.text.lstrip().startswith("<"):
                raise UnexpectedBodyError(f"expected XML from getJP2Header id={image_id}, got "
                                          f"{response.text[:120]!r}", url=response.url)
        response = self.http.get(self.action_url("getJP2Header"), params={"id": image_id},
                                 timeout=JSON_TIMEOUT, check=expect_xml)
        return response.text

    def jp2_download(self, image_id: str) -> tuple[str, dict[str, str]]:
        """(URL, query) that downloads an image's JP2 bytes by id."""
        return self.action_url("getJP2Image"), {"id": image_id}


def archive_path(uri: str) -> str:
    """The archive-relative path of a JPIP URI: what follows host:port/ (unchecked: see
    `archive_file`).

    Raises:
        UnsafeNameError: `uri` is not a JPIP URI of a .jp2 file.
    """
    match = re.fullmatch(r"jpips?://[^/]+/(.+\.jp2)", uri, re.DOTALL)
    if match is None:
        raise UnsafeNameError(f"expected a JPIP URI like jpips://host:8090/AIA/.../x.jp2, got "
                              f"{shown(uri)}")
    return match.group(1)


def _leaves(node: Any) -> list[DataSource]:
    """Flatten the nested getDataSources tree into its leaves."""
    if not isinstance(node, dict):
        return []
    if "sourceId" in node and "start" in node:
        try:
            return [DataSource(int(node["sourceId"]), str(node.get("nickname", "")),
                               parse_response_time(node["start"]),
                               parse_response_time(node["end"]))]
        except (TypeError, ValueError):
            return []
    leaves: list[DataSource] = []
    for child in node.values():
        leaves.extend(_leaves(child))
    return leaves
