"""When the synthetic archive holds an image: one regular series per SDO source.

Every source has a first image (its start in Helioviewer, nasa-apis.md §1.8) and a
cadence, the instrument's real one by default (JSOC series aia.lev1_euv_12s,
aia.lev1_uv_24s, aia.lev1_vis_1h; HMI's 45 s hmi.*_45s): image k is taken at
start + k x cadence give or take a deterministic sub-second jitter, as real observation
times never fall on whole seconds. Bundled samples take the place of the series images within
half a cadence of them, so a request at a sample's time answers the sample. Everything
is arithmetic in integer milliseconds: nothing is stored whatever range is asked for.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from nasaflow.sources.helioviewer import SDO_SOURCES, SOURCES_BY_ID, source_for

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MASK = (1 << 64) - 1


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


#: sourceId -> first image in Helioviewer (§1.8; AIA without a known second: 00:05:30).
MISSION_STARTS: dict[int, datetime] = {
    8: _utc("2010-06-02 00:05:30"), 9: _utc("2010-06-02 00:05:34"),
    10: _utc("2010-06-02 00:05:36"), 11: _utc("2010-06-02 00:05:31"),
    12: _utc("2010-06-02 00:05:30"), 13: _utc("2010-06-02 00:05:39"),
    14: _utc("2010-06-02 00:05:30"), 15: _utc("2010-06-02 00:05:30"),
    16: _utc("2010-06-02 00:05:30"), 17: _utc("2010-06-02 00:05:30"),
    18: _utc("2010-12-06 06:53:41"), 19: _utc("2010-12-06 06:53:41"),
}

#: sourceId -> seconds between images: AIA EUV 12 s, UV (1600, 1700) 24 s, visible
#: (4500) 1 h, HMI 45 s.
REAL_CADENCES: dict[int, int] = {
    **{SDO_SOURCES[wl].source_id: 12 for wl in ("94", "131", "171", "193", "211", "304",
                                                 "335")},
    SDO_SOURCES["1600"].source_id: 24, SDO_SOURCES["1700"].source_id: 24,
    SDO_SOURCES["4500"].source_id: 3600,
    SDO_SOURCES["continuum"].source_id: 45, SDO_SOURCES["magnetogram"].source_id: 45,
}


def parse_cadences(text: str) -> dict[int, int]:
    """Cadence overrides `WAVELENGTH=SECONDS[,...]` (e.g. `304=360,magnetogram=720`) by
    sourceId; ValueError naming the bad entry."""
    cadences: dict[int, int] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        wavelength, _, seconds = entry.partition("=")
        try:
            source = source_for(wavelength)
            value = int(seconds)
        except Exception:
            raise ValueError(f"expected WAVELENGTH=SECONDS such as 304=360 with a wavelength "
                             f"among {', '.join(SDO_SOURCES)}, got {entry!r}") from None
        if value < 1:
            raise ValueError(f"expected a cadence of at least 1 second, got {entry!r}")
        cadences[source.source_id] = value
    return cadences


def mix(*values: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): stable across runs and platforms,
    unlike hash()."""
    state = 0x9E3779B97F4A7C15
    for value in values:
        state = (state ^ (value & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
        state = (state ^ (state >> 27)) * 0x94D049BB133111EB & _MASK
        state ^= state >> 31
    return state


def to_ms(moment: datetime) -> int:
    """Milliseconds since 1970 of an aware datetime."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of milliseconds since 1970."""
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class SourceSeries:
    """The regular image series of one source, minus the slots bundled samples take."""

    source_id: int
    start_ms: int
    cadence_ms: int
    #: Observation times (ms) of this source's bundled samples, sorted.
    sample_ms: tuple[int, ...] = field(default=())

    @property
    def jitter_span(self) -> int:
        """Sub-second jitter range (ms): under a quarter cadence keeps images ordered."""
        return min(1000, self.cadence_ms // 4)

    def time_ms(self, k: int) -> int:
        """Observation time of series image k: within half a second of start + k x cadence,
        so its whole-second date is exactly that."""
        span = self.jitter_span
        jitter = mix(self.source_id, k) % span - span // 2 if span else 0
        return self.start_ms + k * self.cadence_ms + jitter

    def shadowed(self, k: int) -> bool:
        """Whether a bundled sample stands within half a cadence of image k (and replaces it)."""
        moment = self.time_ms(k)
        at = bisect.bisect_left(self.sample_ms, moment - self.cadence_ms // 2)
        return at < len(self.sample_ms) and self.sample_ms[at] <= moment + self.cadence_ms // 2

    def last_index(self, until_ms: int) -> int:
        """The last image taken at or before `until_ms` (-1 if none yet)."""
        k = (until_ms - self.start_ms) // self.cadence_ms + 1  # + 1: jitter may be early
        while k >= 0 and self.time_ms(k) > until_ms:
            k -= 1
        return k

    def nearest(self, moment_ms: int, last: int) -> int | None:
        """The unshadowed image among 0..last nearest `moment_ms` (ties: the earlier)."""
        if last < 0:
            return None
        centre = min(max(round((moment_ms - self.start_ms) / self.cadence_ms), 0), last)
        best: int | None = None
        reach = 2
        while best is None and reach <= last + 2:
            for k in range(max(0, centre - reach), min(last, centre + reach) + 1):
                if self.shadowed(k):
                    continue
                if best is None or (abs(self.time_ms(k) - moment_ms), k) < (
                        abs(self.time_ms(best) - moment_ms), best):
                    best = k
            reach *= 4
        return best

    def first_unshadowed(self, last: int) -> int | None:
        """The oldest series image that no sample replaces."""
        return next((k for k in range(0, last + 1) if not self.shadowed(k)), None)

    def last_unshadowed(self, last: int) -> int | None:
        """The newest series image up to `last` that no sample replaces."""
        return next((k for k in range(last, -1, -1) if not self.shadowed(k)), None)


def build_series(cadences: dict[int, int],
                 samples: Iterable[tuple[int, datetime]]) -> dict[int, SourceSeries]:
    """Every SDO source's series: real cadences overridden by `cadences` (sourceId ->
    seconds), with the (sourceId, observation time) of each bundled sample."""
    by_source: dict[int, list[int]] = {}
    for source_id, observed in samples:
        by_source.setdefault(source_id, []).append(to_ms(observed))
    series = {}
    for source_id in SOURCES_BY_ID:
        cadence = cadences.get(source_id, REAL_CADENCES[source_id])
        series[source_id] = SourceSeries(source_id, to_ms(MISSION_STARTS[source_id]),
                                         cadence * 1000,
                                         tuple(sorted(by_source.get(source_id, []))))
    return series
