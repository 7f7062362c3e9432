"""On-disk cache of rendered pictures, shared by all api-server workers, kept across restarts.

An entry is a directory whose path names everything its content depends on: the image and
patch size plus the version of the landed data, or the image's sha256. An entry therefore
never goes stale: new data gets a new name, and writing it deletes the entries it
replaces. Entries are rendered into a scratch directory and renamed into place, so readers
see a complete entry or none; inside one process, concurrent requests for the same missing
entry wait for a single render instead of each doing it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nasaflow.settings import LOCAL_DIR

#: Default cache root, under the ignored local state folder.
CACHE_DIR = LOCAL_DIR / "cache" / "plugin"

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class Entry:
    """A cache entry's directory, and whether it was already there (hit) or just rendered."""

    path: Path
    hit: bool


def safe_name(text: str) -> str:
    """`text` as one path component: unchanged when it is already a plain file name,
    otherwise its plain characters plus a digest of the whole (so names stay distinct)."""
    if _SAFE_NAME.fullmatch(text) and text not in (".", ".."):
        return text
    plain = re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64]
    return f"{plain}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


class RenderCache:
    """Directories of rendered files under `root`, keyed by tuples of path components.

    The last component of a key is the version: entries that differ only in it replace
    each other.
    """

    def __init__(self, root: Path, lock_stripes: int = 64) -> None:
        self.root = root
        self._locks = [threading.Lock() for _ in range(lock_stripes)]

    def find(self, key: Sequence[str]) -> Path | None:
        """The entry's directory if it exists; None if not (or if `key` is not valid)."""
        if not key or not all(_SAFE_NAME.fullmatch(part) for part in key):
            return None
        path = self.root.joinpath(*key)
        return path if path.is_dir() else None

    def fill(self, key: Sequence[str], render: Callable[[Path], object]) -> Entry:
        """The entry for `key`, calling render(directory) to write it when it is missing.

        Raises:
            ValueError: a key component is not a plain file name (see `safe_name`).
        """
        bad = [part for part in key if not _SAFE_NAME.fullmatch(part)]
        if bad or not key:
            raise ValueError(f"cache key components must be plain file names, got {list(key)}")
        with self._locks[hash(tuple(key)) % len(self._locks)]:
            found = self.find(key)
            if found is not None:
                return Entry(found, hit=True)
            target = self.root.joinpath(*key)
            target.parent.mkdir(parents=True, exist_ok=True)
            scratch = target.parent / f".render-{uuid.uuid4().hex}"
            scratch.mkdir()
            try:
                render(scratch)
                os.rename(scratch, target)
            except OSError:
                shutil.rmtree(scratch, ignore_errors=True)
                if not target.is_dir():
                    raise
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            self._drop_other_versions(target)
            return Entry(target, hit=False)

    @staticmethod
    def _drop_other_versions(target: Path) -> None:
        for sibling in target.parent.iterdir():
            if sibling.name != target.name and not sibling.name.startswith("."):
                shutil.rmtree(sibling, ignore_errors=True)
