"""The parameter job's report: one entry per image, and the exit code Airflow sees.

Executors send back only small per-task statuses; this module folds them into what the
DAG and a person need: which images were published completely (every part acknowledged),
which failed and why, and whether Kafka failed the whole run. The exit code makes the
Airflow task fail, naming the images, whenever anything was not published.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasaflow.compute.plan import Plan
from nasaflow.compute.publish import TaskStatus
from nasaflow.manifest import ImageRecord

EXIT_OK = 0
#: At least one image failed; the others were published.
EXIT_IMAGES_FAILED = 1
#: Kafka did not take the messages within the bounded retries.
EXIT_KAFKA_UNREACHABLE = 3


@dataclass(frozen=True)
class Report:
    """The outcome of a run, per image; written as JSON for the DAG and people.

    Attributes:
        images: one dict per manifest image, in manifest order: id, status ("published"
            or "failed"), tasks (how many bands it was computed in), parts and cells
            published, seconds of task time, and error when failed.
        kafka_error: the Kafka failure, if Kafka failed the run.
        run: what the run was asked (topic, bootstrap, patch size) and its timings.
    """

    images: list[dict[str, Any]]
    kafka_error: str | None
    run: dict[str, Any]

    @property
    def failed(self) -> list[str]:
        """Ids of the images that were not completely published."""
        return [image["id"] for image in self.images if image["status"] != "published"]

    @property
    def exit_code(self) -> int:
        """EXIT_KAFKA_UNREACHABLE, else EXIT_IMAGES_FAILED if any image failed, else 0."""
        if self.kafka_error is not None:
            return EXIT_KAFKA_UNREACHABLE
        return EXIT_IMAGES_FAILED if self.failed else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: the run's settings, counts, then the images."""
        return {**self.run, "published": len(self.images) - len(self.failed),
                "failed": self.failed, "kafka_error": self.kafka_error, "images": self.images}

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the report as indented JSON (temporary file + rename)."""
        target = Path(path)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, target)

    def lines(self) -> list[str]:
        """One human-readable line per image, then a summary line."""
        out = []
        for image in self.images:
            if image["status"] == "published":
                out.append(f"published {image['id']}: {image['parts']} parts, "
                           f"{image['cells']} cells")
            else:
                out.append(f"FAILED {image['id']}: {image['error']}")
        summary = f"{len(self.images) - len(self.failed)} of {len(self.images)} images published"
        if self.failed:
            summary += f"; failed: {', '.join(self.failed)}"
        if self.kafka_error is not None:
            summary += f"; Kafka failed the run: {self.kafka_error}"
        out.append(summary)
        return out


def summarize(records: Sequence[ImageRecord], plan: Plan, statuses: Iterable[TaskStatus],
              run: dict[str, Any]) -> Report:
    """Fold the per-task statuses into one entry per image, in manifest order.

    An image is published only when every one of its parts was acknowledged and none of
    its tasks failed.
    """
    by_image: dict[str, list[TaskStatus]] = {record.id: [] for record in records}
    tasks = Counter(task.record.id for task in plan.tasks)
    for status in [*plan.refused, *statuses]:
        by_image[status.image_id].append(status)
    images: list[dict[str, Any]] = []
    kafka_error: str | None = None
    for record in records:
        mine = by_image[record.id]
        parts, cells = sum(s.parts for s in mine), sum(s.cells for s in mine)
        errors = list(dict.fromkeys(s.error for s in mine if s.error is not None))
        kafka_error = kafka_error or next((s.error for s in mine if s.kafka_error), None)
        expected = plan.layouts[record.id].parts if record.id in plan.layouts else None
        if not errors and parts != expected:
            errors = [f"{parts} of {expected} parts reported"]
        entry: dict[str, Any] = {"id": record.id,
                                 "status": "failed" if errors else "published",
                                 "tasks": tasks[record.id], "parts": parts, "cells": cells,
                                 "seconds": round(sum(s.seconds for s in mine), 3)}
        if errors:
            entry["error"] = "; ".join(errors)
        images.append(entry)
    return Report(images, kafka_error, run)
