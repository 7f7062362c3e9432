"""Download planned images into the image store, verified; quarantine what stays bad.

Files land under <data_dir>/images/<source>/<archive layout> (see nasaflow.ingest.store),
named by image id (the file stem), so a re-run finds and verifies them instead of
downloading again. An image the server named unsafely is never fetched. One corrupt image
must not stop the others: `download_images` quarantines it and carries on. The same goes
for an image too small for the run's cell size: its parameters would have no cell, so it
is quarantined with the reason instead of passing as an image with nothing to compute.
An SDO image whose header's QUALITY has a bad-data bit of its instrument's mask is left out
(ExcludedImageError, recorded as skipped with the reason); the others keep their header's
observation keywords (exposure, T_OBS, wavelength, QUALITY) for the `images` row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasaflow.images.fits_header import FitsHeaderError, Observation, fits_keys, observation
from nasaflow.images.jp2 import jp2_xml
from nasaflow.images.quality import QualityPolicy
from nasaflow.ingest.clients import SourceClients
from nasaflow.ingest.records import DOWNLOAD, DownloadedImage, PlannedImage, QuarantinedImage
from nasaflow.ingest.store import publish, store_path
from nasaflow.parameters.grid import cell_count
from nasaflow.settings import get_settings
from nasaflow.sources.download import ImageRequest, fetch_image
from nasaflow.sources.errors import CorruptImageError, MissingFileError, UnsafeNameError


class CellSizeError(CorruptImageError):
    """The image is smaller than the run's cell size, so it has no cell to compute. The
    bytes are fine and stay verified in the store (a run with smaller cells uses them); the
    image is quarantined for this run like a bad one, so the run fails naming it."""


class ExcludedImageError(Exception):
    """The verified image's header flags its observation as unfit (QUALITY): it is left
    out with the reason, not quarantined, since the bytes are what the archive holds."""


def quality_policy() -> QualityPolicy:
    """The QUALITY policy of the settings (NASAFLOW_QUALITY_SKIP, _MASK_AIA, _MASK_HMI)."""
    settings = get_settings()
    return QualityPolicy.from_settings(settings.quality_skip, settings.quality_mask_aia,
                                       settings.quality_mask_hmi)


def header_observation(path: Path, image_format: str) -> Observation:
    """The observation keywords of a verified JP2's XML header (all None for other
    formats or a JP2 without one).

    Raises:
        CorruptImageError: the header holds a keyword that is not of its type.
    """
    if image_format != "jp2":
        return Observation(None, None, None, None)
    xml = jp2_xml(path.read_bytes())
    try:
        return observation(fits_keys(xml)) if xml else Observation(None, None, None, None)
    except FitsHeaderError as exc:
        raise CorruptImageError(f"{path.name}: header: {exc}") from exc


def download_image(
    planned: PlannedImage | Mapping[str, Any],
    *,
    clients: SourceClients | None = None,
    data_dir: str | Path | None = None,
    patch_size: int | None = None,
    quality: QualityPolicy | None = None,
    image_store: str = "",
) -> DownloadedImage:
    """Make a planned image present and verified in the image store.

    Args:
        planned: a PlannedImage with status "download" (or its to_dict() form).
        clients: the NASA clients (default: built from settings).
        data_dir: root of the image store (default: settings.data_dir).
        patch_size: the run's cell side; an image it does not fit raises CellSizeError.
        quality: which QUALITY bits leave an image out (default: from settings).
        image_store: the object store the verified image is published to (its URI is
            then the image's path); empty: the file in `data_dir` is the image's path.

    Returns:
        The DownloadedImage (downloaded=False when a verified copy was already there).

    Raises:
        CorruptImageError: the bytes stayed bad after retries; they were moved to
            <data_dir>/quarantine (see `quarantined_from`). CellSizeError: the verified
            image is smaller than `patch_size`, or its header is malformed.
            ExcludedImageError: its QUALITY has a bad-data bit. UnsafeNameError: the plan refused the
            server's name for it, or its store path would leave the store; nothing was
            fetched or written.
        ValueError: the entry is a gap or a skip.
        SourceError subclasses: the service failed beyond its retries (RetryLaterError
            carries retry_at).
    """
    planned = PlannedImage.coerce(planned)
    if planned.status == DOWNLOAD and planned.refused is not None:
        raise UnsafeNameError(planned.refused)
    if planned.status != DOWNLOAD or planned.url is None or planned.format is None \
            or planned.id is None or planned.observed_at is None:
        raise ValueError(f"expected a planned image with status 'download', got status "
                         f"{planned.status!r}: {planned.reason}")
    clients = clients or SourceClients.from_settings()
    root = Path(data_dir or get_settings().data_dir)
    size = (planned.width, planned.height) if planned.width and planned.height else None
    request = ImageRequest(url=planned.url, dest=store_path(planned, root),
                           format=planned.format, size=size,
                           filename=planned.filename if planned.source == "helioviewer" else None,
                           source_time=planned.observed_at)
    result = fetch_image(clients.http, request, root / "quarantine")
    if patch_size is not None:
        try:
            cell_count((result.height, result.width), patch_size)
        except ValueError as exc:
            raise CellSizeError(f"{result.path.name}: no cell to compute: {exc}",
                                url=planned.url) from exc
    observed = header_observation(result.path, result.format)
    rejection = (quality or quality_policy()).rejection(planned.instrument, observed.quality)
    if rejection is not None:
        raise ExcludedImageError(f"{result.path.name}: {rejection}")
    path = publish(result.path, root, image_store) if image_store else str(result.path)
    return DownloadedImage(
        id=planned.id, source=planned.source, instrument=planned.instrument,
        wavelength=planned.wavelength, observed_at=planned.observed_at, width=result.width,
        height=result.height, sha256=result.sha256, path=path,
        size_bytes=result.size, source_ref={**planned.source_ref, "url": planned.url},
        downloaded=result.downloaded, exposure_s=observed.exposure_s, t_obs=observed.t_obs,
        wavelength_a=observed.wavelength_a, quality=observed.quality)


def quarantined_from(planned: PlannedImage | Mapping[str, Any],
                     error: CorruptImageError) -> QuarantinedImage:
    """The quarantine record of a planned image whose download raised CorruptImageError."""
    planned = PlannedImage.coerce(planned)
    return QuarantinedImage(id=planned.id or planned.url or "unknown", source=planned.source,
                            reason=error.reason, path=error.quarantined_path,
                            request=planned.to_dict())


@dataclass
class DownloadReport:
    """Outcome of downloading a plan: verified images, quarantined ones, those the
    source could not serve and those left out for their QUALITY (image id -> reason)."""

    images: list[DownloadedImage] = field(default_factory=list)
    quarantined: list[QuarantinedImage] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)


def download_images(
    plan: Iterable[PlannedImage | Mapping[str, Any]],
    *,
    clients: SourceClients | None = None,
    data_dir: str | Path | None = None,
    patch_size: int | None = None,
) -> DownloadReport:
    """Download every "download" entry of a plan in turn; corrupt ones, and with
    `patch_size` those smaller than the cell, are quarantined, those the source cannot
    serve are recorded as missing, those of bad QUALITY as excluded, and the rest
    proceed. Other failures (service down, retry later) propagate."""
    clients = clients or SourceClients.from_settings()
    report = DownloadReport()
    for entry in plan:
        planned = PlannedImage.coerce(entry)
        if planned.status != DOWNLOAD:
            continue
        try:
            report.images.append(download_image(planned, clients=clients, data_dir=data_dir,
                                                patch_size=patch_size))
        except CorruptImageError as exc:
            report.quarantined.append(quarantined_from(planned, exc))
        except MissingFileError as exc:
            report.missing[planned.id or planned.url or "?"] = str(exc)
        except ExcludedImageError as exc:
            report.excluded[planned.id or planned.url or "?"] = str(exc)
    return report
