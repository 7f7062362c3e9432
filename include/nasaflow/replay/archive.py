"""A synthetic Helioviewer archive: every SDO source, every image since the mission start.

`nasaflow replay-server --archive` answers getDataSources, getClosestImage, getJP2Image,
getJP2Header and getStatus as if Helioviewer held every image of each source's series
(archive_timeline.py) up to the clock minus an ingestion delay, as the real service lags
its instruments (nasa-apis.md §1.7: AIA ~25 min behind). Image bytes are a pooled
variant's codestream behind the image's own XML header (archive_pool.py,
archive_headers.py). The bundled samples stay exactly what they were: same ids, files and
times. Without `--archive` the server holds the samples alone, as the demo expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from functools import cached_property
from pathlib import Path
from typing import Any

from nasaflow.images.fits_header import fits_keys
from nasaflow.replay.archive_headers import HeaderTemplate, assemble
from nasaflow.replay.archive_pool import VariantPool, base_sample
from nasaflow.replay.archive_timeline import (
    SourceSeries,
    build_series,
    from_ms,
    mix,
    to_ms,
)
from nasaflow.replay.fixtures import (
    ArchiveLocation,
    SampleImage,
    ServedImage,
    closest_image_json,
)
from nasaflow.replay.helioviewer_api import HelioviewerReplay
from nasaflow.replay.responses import Reply, static_reply
from nasaflow.settings import LOCAL_DIR
from nasaflow.sources.helioviewer import SDO_SOURCES, SOURCES_BY_ID, SdoSource, parse_filename

#: Archive image ids: 1 SS KKKKKKKKKK (sourceId, series index), apart from the 9-digit
#: sample ids.
_ID_BASE = 10**12
_ID_SOURCE = 10**10


@dataclass(frozen=True)
class ArchiveConfig:
    """How the synthetic archive is shaped."""

    #: sourceId -> seconds between images, overriding the real cadence.
    cadences: dict[int, int] = field(default_factory=dict)
    #: How far the newest image trails the clock.
    ingestion_delay: timedelta = timedelta(minutes=25)
    #: Distinct pixel contents per source.
    pool_size: int = 64
    #: Image side in pixels.
    side: int = 4096
    #: Folder of the pool cache.
    cache_dir: Path = LOCAL_DIR / "replay-archive"


@dataclass(frozen=True)
class ArchiveImage(ArchiveLocation):
    """Series image `index` of a source: metadata computed, bytes assembled on request."""

    id: str
    source: SdoSource
    observed_at: datetime
    width: int
    height: int
    index: int
    archive: ArchiveReplay = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        """Helioviewer file name, milliseconds in three digits."""
        moment = self.observed_at
        return (f"{moment:%Y_%m_%d__%H_%M_%S}_{moment.microsecond // 1000:03d}__"
                f"{self.source.file_suffix}.jp2")

    @property
    def variant(self) -> int:
        """Which pooled pixel content this image shows."""
        return mix(self.source.source_id, self.index, 1) % self.archive.pool.size

    @property
    def xml(self) -> bytes:
        """The image's own XML header."""
        template = self.archive.headers[self.source.source_id]
        return template.render(self.observed_at, self.index + 1)

    def read(self) -> bytes:
        """The JP2: the variant's codestream behind this image's header."""
        return assemble(self.archive.pool.variant(self.source.source_id, self.variant),
                        self.xml)

    def closest_image_json(self) -> dict[str, Any]:
        """The getClosestImage body."""
        return closest_image_json(self, self.archive.fits[self.source.source_id])


class ArchiveReplay(HelioviewerReplay):
    """The Helioviewer actions over the synthetic archive plus the bundled samples."""

    def __init__(self, samples: list[SampleImage], now: Callable[[], datetime],
                 config: ArchiveConfig) -> None:
        super().__init__(samples, now)
        self.config = config
        self.series: dict[int, SourceSeries] = build_series(
            config.cadences, [(s.source.source_id, s.observed_at) for s in samples])
        self.pool = VariantPool(config.cache_dir, samples, side=config.side,
                                size=config.pool_size)

    @cached_property
    def headers(self) -> dict[int, HeaderTemplate]:
        """Header template per sourceId."""
        return {source_id: HeaderTemplate(source, base_sample(source, self.samples),
                                          self.config.side)
                for source_id, source in SOURCES_BY_ID.items()}

    @cached_property
    def fits(self) -> dict[int, dict[str, str]]:
        """FITS keys every archive image of a source shares (geometry at the served side)."""
        return {source_id: fits_keys(template.render(datetime(2010, 6, 2), 0))
                for source_id, template in self.headers.items()}

    def _last(self, source_id: int) -> int:
        """Newest series index published: taken before the clock minus the delay."""
        published = self.now() - self.config.ingestion_delay
        return self.series[source_id].last_index(to_ms(published))

    def _image(self, source_id: int, index: int) -> ArchiveImage:
        series = self.series[source_id]
        return ArchiveImage(str(_ID_BASE + source_id * _ID_SOURCE + index),
                            SOURCES_BY_ID[source_id], from_ms(series.time_ms(index)),
                            self.config.side, self.config.side, index, self)

    def _find(self, image_id: str) -> ServedImage | None:
        number = int(image_id)
        if not _ID_BASE <= number < 2 * _ID_BASE:
            return super()._find(image_id)
        source_id, index = divmod(number - _ID_BASE, _ID_SOURCE)
        series = self.series.get(source_id)
        if series is None or index > self._last(source_id) or series.shadowed(index):
            return None
        return self._image(source_id, index)

    def _nearest(self, moment: datetime, source_id: int) -> ServedImage | None:
        sample = super()._nearest(moment, source_id)
        series = self.series.get(source_id)
        if series is None:
            return sample
        index = series.nearest(to_ms(moment), self._last(source_id))
        if index is None:
            return sample
        image = self._image(source_id, index)
        if sample is None:
            return image
        return min((image, sample), key=lambda i: (abs(i.observed_at - moment), i.observed_at))

    def _ranges(self) -> dict[int, tuple[ServedImage, ServedImage]]:
        ranges = super()._ranges()
        for source_id, series in self.series.items():
            last = self._last(source_id)
            ends: list[ServedImage] = list(ranges.get(source_id, ()))
            for index in (series.first_unshadowed(last), series.last_unshadowed(last)):
                if index is not None:
                    ends.append(self._image(source_id, index))
            if ends:
                ordered = sorted(ends, key=lambda i: i.observed_at)
                ranges[source_id] = (ordered[0], ordered[-1])
        return dict(sorted(ranges.items()))

    def static(self, rel: str, request_headers: Message) -> Reply:
        """GET /jp2/<rel>: an archive image's file as Apache serves it; other paths (the
        samples, directory pages) as without the archive."""
        name = rel.strip("/").rpartition("/")[2]
        try:
            observed, instrument, measurement = parse_filename(name)
        except ValueError:
            return super().static(rel, request_headers)
        source = SDO_SOURCES.get(measurement)
        image = self._nearest(observed, source.source_id) if source and \
            source.instrument == instrument else None
        if image is None or not isinstance(image, ArchiveImage) or \
                image.rel_path != rel.strip("/"):
            return super().static(rel, request_headers)
        return static_reply(image.read(), "image/jp2", self.modified, request_headers)

    def prerender(self) -> int:
        """Render every missing pool variant now instead of on first use."""
        return self.pool.prerender()
