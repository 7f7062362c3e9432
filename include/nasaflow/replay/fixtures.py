"""What the replay server serves: the bundled SDO JP2 samples and a small APOD calendar.

Helioviewer's answers (ids, times, sizes, metadata, datasource ranges) are derived from
the JP2 files themselves, so adding a sample to the folder is all it takes to serve it.
APOD has no bundled data, so a handful of entries is built here at start-up, covering the
cases a client must handle: a JPEG with hdurl, a PNG without, a video, an `other` entry
and a missing day; their images are rendered from the SDO samples with Pillow.
"""

from __future__ import annotations

import hashlib
import io
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from nasaflow.images.fits_header import fits_keys, helioviewer_metadata
from nasaflow.images.jp2 import jp2_xml
from nasaflow.images.verify import verify_image
from nasaflow.sources.helioviewer import (
    FILENAME,
    SDO_SOURCES,
    SOURCES_BY_ID,
    SdoSource,
    parse_filename,
)

log = logging.getLogger(__name__)

class ServedImage(Protocol):
    """What the Helioviewer actions need of an image, bundled or synthetic (read-only:
    served images are frozen dataclasses)."""

    @property
    def id(self) -> str: ...

    @property
    def source(self) -> SdoSource: ...

    @property
    def observed_at(self) -> datetime: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def date(self) -> datetime: ...

    @property
    def rel_path(self) -> str: ...

    @property
    def xml(self) -> bytes: ...

    def read(self) -> bytes:
        """The JP2 bytes."""
        ...

    def closest_image_json(self) -> dict[str, Any]:
        """The getClosestImage body."""
        ...


class ArchiveLocation(ABC):
    """Date and path every served image derives from its source, time and file name."""

    source: SdoSource
    observed_at: datetime

    @property
    @abstractmethod
    def name(self) -> str:
        """The Helioviewer file name: a bundled file's own, or made from the time."""

    @property
    def date(self) -> datetime:
        """Observation time rounded to whole seconds, as getClosestImage reports it."""
        rounded = self.observed_at.replace(microsecond=0)
        if self.observed_at.microsecond >= 500_000:
            rounded += timedelta(seconds=1)
        return rounded

    @property
    def rel_path(self) -> str:
        """Archive-relative path: <instrument>/<YYYY>/<MM>/<DD>/<measurement>/<file>."""
        return (f"{self.source.instrument}/{self.observed_at:%Y/%m/%d}/"
                f"{self.source.measurement}/{self.name}")


def closest_image_json(image: ServedImage, fits: dict[str, str]) -> dict[str, Any]:
    """The getClosestImage body of an image with FITS keys `fits` (§1.3): its id, date and
    datasource name, then the header's metadata as Helioviewer computes it (width and
    height are NAXIS1/NAXIS2, whatever the JP2's pixel size)."""
    return {
        "id": image.id,
        "date": image.date.strftime("%Y-%m-%d %H:%M:%S"),
        "name": image.source.nickname,
        **helioviewer_metadata(fits),
        "sunCenterOffsetParams": [],
        "layeringOrder": 1,
    }


@dataclass(frozen=True)
class SampleImage(ArchiveLocation):
    """One JP2 sample as Helioviewer would index it."""

    id: str
    source: SdoSource
    path: Path
    observed_at: datetime
    width: int
    height: int
    size: int
    xml: bytes
    fits: dict[str, str]

    @property
    def name(self) -> str:
        """The Helioviewer file name."""
        return self.path.name

    def read(self) -> bytes:
        """The file's bytes."""
        return self.path.read_bytes()

    def closest_image_json(self) -> dict[str, Any]:
        """The getClosestImage body for this image (§1.3)."""
        return closest_image_json(self, self.fits)


def _sample_id(name: str) -> str:
    """A stable 9-digit id per file name (ids are per-server in Helioviewer too)."""
    return str(100_000_000 + int(hashlib.sha256(name.encode()).hexdigest()[:12], 16)
               % 900_000_000)


def load_samples(directory: Path) -> list[SampleImage]:
    """Every Helioviewer-named JP2 in `directory` whose datasource is known, oldest first."""
    samples = []
    for path in sorted(directory.glob("*.jp2")):
        if not FILENAME.match(path.name):
            log.warning("skipping %s: not a Helioviewer file name", path.name)
            continue
        observed, instrument, measurement = parse_filename(path.name)
        source = SDO_SOURCES.get(measurement)
        if source is None or source.instrument != instrument:
            log.warning("skipping %s: unknown datasource %s %s", path.name, instrument,
                        measurement)
            continue
        data = path.read_bytes()
        info = verify_image(data, "jp2")
        xml = jp2_xml(data) or b""
        samples.append(SampleImage(_sample_id(path.name), source, path, observed, info.width,
                                   info.height, len(data), xml, fits_keys(xml)))
    return sorted(samples, key=lambda s: (s.observed_at, s.name))


@dataclass
class ApodCalendar:
    """APOD entries by date and the image files they link to (path -> bytes), and the dates
    whose page the service's scraper cannot read (it answers 500 for them)."""

    entries: dict[date, dict[str, Any]] = field(default_factory=dict)
    unreadable: set[date] = field(default_factory=set)
    images: dict[str, bytes] = field(default_factory=dict)
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))


def _render(sample: SampleImage | None, side: int, fmt: str) -> bytes:
    """An image of the Sun (or a plain gradient without samples) of `side` pixels."""
    if sample is None:
        picture = Image.linear_gradient("L").resize((side, side))
    else:
        with Image.open(sample.path) as source:
            levels = 0
            width = sample.width
            while width // 2 >= side and levels < 5:
                width //= 2
                levels += 1
            # Pillow's JPEG 2000 plugin reads `reduce` as an int (decode at 1/2**n), an
            # attribute that shadows Image.reduce() in the type stubs.
            source.reduce = levels  # type: ignore[assignment, method-assign]
            source.load()
            picture = source.convert("L").resize((side, side))
    buffer = io.BytesIO()
    options = {"quality": 85} if fmt == "JPEG" else {}
    picture.save(buffer, fmt, **options)
    return buffer.getvalue()


def build_apod_calendar(samples: list[SampleImage]) -> ApodCalendar:
    """The fixture entries; `url`/`hdurl` hold server-relative paths made absolute per request.

    2024-02-09 is deliberately absent (a day without APOD gives 404); 2024-02-11's page is
    one the scraper fails on (500 for that date and for every range holding it).
    """
    def pick(measurement: str) -> SampleImage | None:
        matching = [s for s in samples if s.source.measurement == measurement]
        smallest = sorted(matching or samples, key=lambda s: s.size)
        return smallest[0] if smallest else None

    calendar = ApodCalendar()
    aia193, aia304, hmi = pick("193"), pick("304"), pick("magnetogram")
    calendar.images = {
        "/apod/image/2402/SunCorona193_512.jpg": _render(aia193, 512, "JPEG"),
        "/apod/image/2402/SunCorona193_1024.jpg": _render(aia193, 1024, "JPEG"),
        "/apod/image/2402/SunChromosphere304_512.png": _render(aia304, 512, "PNG"),
        "/apod/image/2402/SunMagnetogram_384.jpg": _render(hmi, 384, "JPEG"),
        "/apod/image/2402/SolarCycle_thumb.jpg": _render(aia193, 120, "JPEG"),
    }
    entries: list[dict[str, Any]] = [
        {"date": "2024-02-05", "media_type": "image", "title": "The Corona at 193 Angstroms",
         "explanation": "Iron ions at about a million degrees outline the Sun's corona.",
         "copyright": "\nNASA/SDO;\nAIA Science Team \n",
         "url": "/apod/image/2402/SunCorona193_512.jpg",
         "hdurl": "/apod/image/2402/SunCorona193_1024.jpg"},
        {"date": "2024-02-06", "media_type": "image", "title": "Chromosphere in Helium Light",
         "explanation": "Helium II emission at 304 Angstroms shows the chromosphere.",
         "url": "/apod/image/2402/SunChromosphere304_512.png"},
        {"date": "2024-02-07", "media_type": "video", "title": "A Solar Cycle in Motion",
         "explanation": "Ten years of the Sun in a few minutes.",
         "url": "https://www.youtube.com/embed/n0aslKx4OcE?rel=0",
         "thumbnail_url": "/apod/image/2402/SolarCycle_thumb.jpg"},
        {"date": "2024-02-08", "media_type": "other", "title": "An Interactive Sun",
         "explanation": "This day's page holds an interactive viewer, not an image."},
        {"date": "2024-02-10", "media_type": "image", "title": "The Sun's Magnetic Field",
         "explanation": "An HMI magnetogram: white and black mark opposite polarities.",
         "url": "/apod/image/2402/SunMagnetogram_384.jpg"},
    ]
    for entry in entries:
        entry["service_version"] = "v1"
        calendar.entries[date.fromisoformat(entry["date"])] = entry
    calendar.unreadable = {date(2024, 2, 11)}
    return calendar


def source_name(source_id: int) -> str:
    """Nickname of a sourceId as the server's error messages show it ("" if unknown)."""
    source = SOURCES_BY_ID.get(source_id)
    return source.nickname if source else _OTHER_SOURCES.get(source_id, "")


#: Non-SDO nicknames the replay can name (switchSources targets) although it holds no data.
_OTHER_SOURCES = {0: "EIT 171", 1: "EIT 195", 2: "EIT 284", 3: "EIT 304", 6: "MDI Mag",
                  7: "MDI Int"}

