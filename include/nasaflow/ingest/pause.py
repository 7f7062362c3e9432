"""One rate-limit pause shared by every task of a nasa_ingest run.

The download chunks of a run are separate Airflow task instances, possibly running at once
in different processes. When one of them (or the plan) meets the source's rate limit (the
limiter's page, a 429 that persists, a Retry-After too long to sleep), the others must
stop too, rather than each spending requests to discover the limit on its own. So the
pause lives in a small file in the run's part of the image store,
<data_dir>/state/runs/<run id>/rate-limit-pause.json, holding the latest "retry at" any
task of the run was given. Chunks read it before each download; while it is in force they
stop and are rescheduled to its end (a reschedule holds no worker slot), each a few
seconds apart so that they do not all come back in one burst.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nasaflow.manifest import file_safe

#: Chunks resume within this many seconds after the pause ends (uniform jitter).
RESUME_SPREAD = 10.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunPause:
    """The run's shared pause: its file, and the clock and jitter that read it."""

    path: Path
    now: Callable[[], datetime] = _utcnow
    jitter: Callable[[float], float] = lambda upper: random.uniform(0.0, upper)

    @classmethod
    def of_run(cls, data_dir: str | os.PathLike[str], run_id: str) -> RunPause:
        """The pause of run `run_id` in the image store rooted at `data_dir`."""
        return cls(Path(data_dir) / "state" / "runs" / file_safe(run_id)
                   / "rate-limit-pause.json")

    def until(self) -> datetime | None:
        """When the pause ends, while it is in force; None when there is none."""
        recorded = self._read()
        return recorded if recorded is not None and recorded > self.now() else None

    def extend(self, retry_at: datetime, reason: str) -> datetime:
        """Make the pause last until `retry_at` at least (an earlier time never shortens
        it); returns its end. Writers take a lock, so two tasks meeting the limit at once
        keep the later time; readers see the old file or the new one, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            recorded = self._read()
            if recorded is not None and recorded >= retry_at:
                return recorded
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".part")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({"retry_at": retry_at.isoformat(), "reason": reason}, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        return retry_at

    def resume_at(self, end: datetime) -> datetime:
        """When a paused task runs again: the pause's end plus up to RESUME_SPREAD s."""
        return end + timedelta(seconds=self.jitter(RESUME_SPREAD))

    def _read(self) -> datetime | None:
        """The recorded end; None without a file or from a damaged one (no pause rather
        than a run that never resumes)."""
        try:
            moment = datetime.fromisoformat(json.loads(self.path.read_text("utf-8"))["retry_at"])
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return moment if moment.tzinfo is not None else None
