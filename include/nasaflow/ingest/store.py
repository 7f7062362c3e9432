"""Where an image lives in the image store: <data_dir>/images/<source>/<directory>/<name>.

The path is derived only from checked parts of the planned image (its source, instrument,
measurement, observation date, and a file name of the source's own pattern that agrees
with them), never from a path a server sent, and the resolved result must still lie inside
the store (a symbolic link inside the store cannot lead out of it). The layout is the
archive's: Helioviewer files under <instrument>/<YYYY>/<MM>/<DD>/<measurement>/, APOD
files under <YYYY>/<MM>/.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from nasaflow import objectstore
from nasaflow.images.verify import EXTENSIONS
from nasaflow.ingest.records import PlannedImage
from nasaflow.sources.errors import UnknownWavelengthError, UnsafeNameError
from nasaflow.sources.helioviewer import archive_directory, parse_filename, shown, source_for

#: Format -> the extension an APOD file is stored under: the format's first (.jpeg files
#: are stored as .jpg).
APOD_EXTENSIONS: dict[str, str] = {form: ext for ext, form in reversed(EXTENSIONS.items())}


def apod_filename(day: date, file_format: str) -> str:
    """The store's name of the APOD of `day` in `file_format`, e.g. apod_2024-02-05.jpg."""
    return f"apod_{day.isoformat()}{APOD_EXTENSIONS[file_format]}"


def store_path(planned: PlannedImage, data_dir: Path) -> Path:
    """Where `planned` lives in the image store rooted at `data_dir`.

    Raises:
        UnsafeNameError: a part is not what its source allows, or the path resolves
            outside the store.
        ValueError: `planned` is not a planned download (no file name or time).
    """
    if planned.filename is None or planned.observed_at is None:
        raise ValueError(f"expected a planned image with filename and observed_at, got "
                         f"{planned}")
    root = Path(data_dir) / "images"
    path = root / planned.source / _directory(planned, planned.observed_at) / planned.filename
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise UnsafeNameError(f"{planned.filename}: the image store path {path} resolves to "
                              f"{resolved}, outside the store {root.resolve()}")
    return path


def _directory(planned: PlannedImage, observed: datetime) -> str:
    """The directory below images/<source>/, after checking the name against the parts."""
    name = planned.filename or ""
    if planned.source == "helioviewer":
        try:
            source = source_for(planned.wavelength)
            named_at, instrument, measurement = parse_filename(name)
        except (UnknownWavelengthError, ValueError) as exc:
            raise UnsafeNameError(f"refused to store {shown(name)}: {exc}") from exc
        named = (planned.instrument, instrument, measurement, named_at)
        if named != (source.instrument, source.instrument, source.measurement, observed):
            raise UnsafeNameError(f"refused to store {shown(name)}: expected a "
                                  f"{source.file_suffix} file observed at "
                                  f"{observed.isoformat()}")
        return archive_directory(source, observed)
    if planned.source == "apod":
        expected = (apod_filename(observed.date(), planned.format)
                    if planned.format in APOD_EXTENSIONS else None)
        if name != expected:
            raise UnsafeNameError(f"refused to store {shown(name)}: expected the APOD name "
                                  f"of {observed.date()} as {planned.format!r}")
        return f"{observed:%Y/%m}"
    raise UnsafeNameError(f"refused to store {shown(name)}: unknown source "
                          f"{shown(planned.source)}")


def publish(local: Path, data_dir: Path, image_store: str) -> str:
    """Put the verified image at `local` (inside <data_dir>/images) into the object store
    `image_store` under the same relative key, unless an object of its size is already
    there (a re-run of the day uploads nothing); returns its URI, the path the Spark
    executors read. The local copy stays, as the ingest worker's cache."""
    key = local.relative_to(Path(data_dir) / "images").as_posix()
    location = objectstore.join(image_store, key)
    if objectstore.size_of(location) != local.stat().st_size:
        objectstore.put_file(local, location)
    return location
