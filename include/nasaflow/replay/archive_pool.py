"""The synthetic archive's pixels: a bounded pool of pre-encoded variants per source.

Encoding a 4096^2 JPEG 2000 costs about a second, far too slow per request, so each
source owns `size` variants, each encoded once and kept on disk: the bundled sample of
the nearest channel (coronal AIA channels from AIA 193, chromospheric and UV ones from
AIA 304, AIA 4500 from the HMI continuum), rotated about the disk centre, shifted,
given its own tone curve and noise, all seeded by (source, variant) so every run renders
the same pixels. A variant is rendered on first use (or by `prerender`) and written
atomically, so concurrent servers and requests share it. The disk it takes is bounded
by the pool size whatever range of the archive is asked for (`DISK_BUDGET`).
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nasaflow.images.jp2 import iter_boxes
from nasaflow.replay.archive_timeline import mix
from nasaflow.replay.fixtures import SampleImage
from nasaflow.sources.errors import CorruptImageError
from nasaflow.sources.helioviewer import SOURCES_BY_ID, SdoSource

log = logging.getLogger(__name__)

#: Largest disk use of a pool cache, bytes.
DISK_BUDGET = 2 * 10**9
#: Compression ratios of the quality layers: the last (16:1 on 8-bit pixels, about
#: 0.5 bit/px) gives the ~1.05 MB of a real 4096^2 SDO file (nasa-apis.md §1.7).
_LAYER_RATIOS = [256, 128, 64, 32, 16]
#: Bump when rendering changes, so stale variants are not served.
_RENDER_VERSION = 1
#: Measurement of the bundled sample each source's variants derive from.
_BASE_MEASUREMENT = {"94": "193", "131": "193", "171": "193", "193": "193", "211": "193",
                     "335": "193", "304": "304", "1600": "304", "1700": "304",
                     "4500": "continuum", "continuum": "continuum",
                     "magnetogram": "magnetogram"}


def variant_bytes(side: int) -> int:
    """Upper bound of one encoded variant's size (the last layer's rate, plus headers)."""
    return side * side // _LAYER_RATIOS[-1] + 4096


@dataclass(frozen=True)
class Variant:
    """One cached encoding: the JP2 boxes before the codestream, and the codestream box."""

    head: bytes
    codestream: bytes


def base_sample(source: SdoSource, samples: list[SampleImage]) -> SampleImage:
    """The bundled sample a source's variants derive from: the largest file of the nearest
    channel, or of any channel when that one is not bundled."""
    wanted = _BASE_MEASUREMENT[source.measurement]
    matching = [s for s in samples if s.source.measurement == wanted] or samples
    if not matching:
        raise ValueError("the replay archive derives its images from the bundled samples: "
                         "expected at least one Helioviewer JP2 in the samples folder, "
                         "found none")
    return max(matching, key=lambda s: (s.size, s.name))


def _decode(sample: SampleImage, side: int) -> Image.Image:
    """The sample as an 8-bit greyscale image of side x side, decoded at the coarsest
    resolution level that still covers `side`."""
    with Image.open(sample.path) as picture:
        levels, width = 0, sample.width
        while width // 2 >= side and levels < 5:
            width //= 2
            levels += 1
        # Pillow's JPEG 2000 plugin reads `reduce` as an int (decode at 1/2**n), an
        # attribute that shadows Image.reduce() in the type stubs.
        picture.reduce = levels  # type: ignore[assignment, method-assign]
        picture.load()
        grey = picture.convert("L")
    return grey if grey.size == (side, side) else grey.resize((side, side), Image.Resampling.BILINEAR)


def render_variant(base: Image.Image, source_id: int, variant: int) -> Image.Image:
    """Variant `variant` of a source: rotation, shift, tone curve and noise seeded by both."""
    seed = mix(source_id, variant)
    rng = np.random.default_rng(seed)
    side = base.size[0]
    angle = float(rng.uniform(0.0, 360.0))
    shift = side // 128
    dx, dy = (int(v) for v in rng.integers(-shift, shift + 1, size=2))
    turned = base.rotate(angle, resample=Image.Resampling.BILINEAR, translate=(dx, dy))
    gamma = float(rng.uniform(0.8, 1.25)) * (0.9 + 0.02 * (source_id % 10))
    gain = float(rng.uniform(0.85, 1.15))
    curve = np.clip(255.0 * gain * (np.arange(256) / 255.0) ** gamma, 0, 255)
    pixels = curve.astype(np.int16)[np.asarray(turned)]
    pixels += rng.integers(-2, 3, size=pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")


def encode(picture: Image.Image) -> bytes:
    """A JP2 with Helioviewer's codestream shape: irreversible 9/7, 8 decomposition levels
    (at 4096^2), 64x64 code-blocks, RPCL, quality layers up to ~0.5 bit/px."""
    levels = max(1, min(8, picture.size[0].bit_length() - 5))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG2000", irreversible=True, quality_mode="rates",
                 quality_layers=_LAYER_RATIOS, num_resolutions=levels + 1,
                 codeblock_size=(64, 64), progression="RPCL")
    return buffer.getvalue()


def split_codestream(data: bytes) -> Variant:
    """Cut an encoded JP2 before its jp2c box, where the XML box goes."""
    for box in iter_boxes(data):
        if box.type == b"jp2c":
            header = 16 if data[box.start - 16:box.start - 12] == b"\x00\x00\x00\x01" else 8
            return Variant(data[:box.start - header], data[box.start - header:])
    raise ValueError("expected a jp2c box in the encoded JP2, found none")


class VariantPool:
    """Variants of every SDO source at one image side, cached under `directory`."""

    def __init__(self, directory: Path, samples: list[SampleImage], *, side: int,
                 size: int) -> None:
        if size < 1 or side < 64:
            raise ValueError(f"expected a pool of at least 1 variant of at least 64 px, "
                             f"got {size} of {side} px")
        needed = size * len(SOURCES_BY_ID) * variant_bytes(side)
        if needed > DISK_BUDGET:
            raise ValueError(f"a pool of {size} variants of {side} px for "
                             f"{len(SOURCES_BY_ID)} sources needs up to {needed / 1e9:.2f} GB, "
                             f"over the {DISK_BUDGET / 1e9:.2f} GB budget: lower the pool size")
        self.directory = directory / f"{side}px-v{_RENDER_VERSION}"
        self.side = side
        self.size = size
        self._bases = {source_id: base_sample(source, samples)
                       for source_id, source in SOURCES_BY_ID.items()}
        self._lock = threading.Lock()
        self._rendering: dict[tuple[int, int], threading.Lock] = {}
        self._decoded: tuple[Path, Image.Image] | None = None

    def path(self, source_id: int, variant: int) -> Path:
        """Where a variant's JP2 is cached."""
        return self.directory / str(source_id) / f"{variant:04d}.jp2"

    def variant(self, source_id: int, variant: int) -> Variant:
        """A variant's boxes, rendered and cached first if needed."""
        path = self.path(source_id, variant)
        try:
            return split_codestream(path.read_bytes())
        except FileNotFoundError:
            pass
        except (CorruptImageError, ValueError):
            log.warning("re-rendering damaged archive variant %s", path)
            path.unlink(missing_ok=True)
        with self._lock:
            lock = self._rendering.setdefault((source_id, variant), threading.Lock())
        with lock:
            if not path.exists():
                self._render(source_id, variant, path)
        return split_codestream(path.read_bytes())

    def prerender(self) -> int:
        """Render every missing variant of every source; the number rendered."""
        rendered = 0
        for source_id in SOURCES_BY_ID:
            for variant in range(self.size):
                if not self.path(source_id, variant).exists():
                    self.variant(source_id, variant)
                    rendered += 1
        return rendered

    def _base(self, source_id: int) -> Image.Image:
        sample = self._bases[source_id]
        with self._lock:
            cached = self._decoded
        if cached is not None and cached[0] == sample.path:
            return cached[1]
        picture = _decode(sample, self.side)
        with self._lock:
            self._decoded = (sample.path, picture)
        return picture

    def _render(self, source_id: int, variant: int, path: Path) -> None:
        data = encode(render_variant(self._base(source_id), source_id, variant))
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        log.info("rendered archive variant %s/%d (%d bytes)", SOURCES_BY_ID[source_id].nickname,
                 variant, len(data))
