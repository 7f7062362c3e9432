"""Plan the parameter job: cut a run's images into tasks, and tasks into partitions.

A task is a range of whole message parts of one image, so a large image can be spread
over both cores; partitions are balanced by each task's cost, so a run does not wait on
its last partition. Images that cannot be planned are refused here, before any work, as
failed statuses.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from nasaflow.compute.publish import Task, TaskStatus
from nasaflow.manifest import ImageRecord
from nasaflow.messaging.schema import MESSAGE_BYTE_BUDGET, PartLayout, plan_parts

#: At most this many partitions per core. Up to that, every task is its own partition, so
#: the scheduler hands work to whichever core is free and a run never waits long on its
#: last partition; beyond it, tasks are grouped so that the per-partition costs (a Spark
#: task, a Kafka producer: tens of milliseconds) stay small against seconds per image.
PARTITIONS_PER_CORE = 32


@dataclass(frozen=True)
class Plan:
    """The tasks of a run and the images refused before any work (as failed statuses)."""

    tasks: list[Task]
    refused: list[TaskStatus] = field(default_factory=list)
    layouts: dict[str, PartLayout] = field(default_factory=dict)


def plan_tasks(
    records: Sequence[ImageRecord], patch_size: int, parallelism: int,
    band_rows: int | None = None, budget: int = MESSAGE_BYTE_BUDGET,
) -> Plan:
    """Cut the images into (image, cell-row range) tasks made of whole message parts.

    Args:
        records: the images of the run.
        patch_size: cell side in pixels.
        parallelism: cores available; with fewer images than cores and no `band_rows`,
            images are split so every core gets work.
        band_rows: cell rows per task (rounded up to whole parts); None to split an image
            only when there are fewer images than cores, since every task of an image
            decodes the whole file.
        budget: maximum bytes of one message (see `plan_parts`).

    Returns:
        The tasks, and a failed status for each image that cannot be planned (e.g. a
        patch size larger than the image, or a record the message contract refuses).
    """
    from nasaflow.parameters.grid import make_grid

    if band_rows is not None and band_rows < 1:
        raise ValueError(f"band rows must be at least 1, got {band_rows}")
    auto_bands = max(1, math.ceil(parallelism / max(1, len(records))))
    plan = Plan(tasks=[])
    for record in records:
        try:
            grid = make_grid((record.height, record.width), patch_size)
            layout = plan_parts(record, patch_size, grid.rows, grid.cols, budget)
        except ValueError as exc:  # a ContractViolation is a ValueError
            plan.refused.append(TaskStatus(record.id, error=f"not planned: {exc}"))
            continue
        plan.layouts[record.id] = layout
        if band_rows is None:
            parts_per_task = math.ceil(layout.parts / min(auto_bands, layout.parts))
        else:
            parts_per_task = math.ceil(band_rows / layout.rows_per_part)
        for first in range(0, layout.parts, parts_per_task):
            plan.tasks.append(
                Task(record, layout, first, min(first + parts_per_task, layout.parts))
            )
    return plan


def partition_tasks(tasks: Sequence[Task], parallelism: int) -> list[list[Task]]:
    """Group tasks into at most PARTITIONS_PER_CORE * parallelism balanced partitions.

    Heaviest tasks first, each to the lightest partition so far; partitions are returned
    heaviest first, so the scheduler starts the long ones while cores are free.
    """
    count = min(len(tasks), PARTITIONS_PER_CORE * max(1, parallelism))
    if count == 0:
        return []
    heap: list[tuple[int, int]] = [(0, index) for index in range(count)]
    groups: list[list[Task]] = [[] for _ in range(count)]
    for task in sorted(tasks, key=lambda task: task.weight, reverse=True):
        load, index = heapq.heappop(heap)
        groups[index].append(task)
        heapq.heappush(heap, (load + task.weight, index))
    return sorted(groups, key=lambda group: sum(task.weight for task in group), reverse=True)
