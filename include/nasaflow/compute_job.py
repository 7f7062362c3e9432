"""The parameter job without Spark: plan tasks, publish a partition, summarise the run.

spark_jobs/compute_parameters.py only ships these functions to executors, so everything
that decides what a run does lives here and is testable in one process: which
(image, cell-row range) tasks exist, how they are grouped into partitions so both cores
stay busy, and how one partition computes and publishes its tasks with one producer.
nasaflow.compute_report turns the small per-task statuses into the run's report.

Failures are data, not exceptions: an image that cannot be read or computed yields a
failed status naming it and the run goes on; a broker that stays unreachable yields
statuses marked as Kafka failures.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from nasaflow.manifest import ImageRecord
from nasaflow.messaging.contract import check_record
from nasaflow.messaging.publisher import DEFAULT_TIMEOUT_S, PublishError, Publisher
from nasaflow.messaging.schema import MESSAGE_BYTE_BUDGET, PartLayout, band_messages, plan_parts

#: At most this many partitions per core. Up to that, every task is its own partition, so
#: the scheduler hands work to whichever core is free and a run never waits long on its
#: last partition; beyond it, tasks are grouped so that the per-partition costs (a Spark
#: task, a Kafka producer: tens of milliseconds) stay small against seconds per image.
PARTITIONS_PER_CORE = 32


@dataclass(frozen=True)
class JobConfig:
    """What every partition needs to know; shipped to executors with the closure.

    Attributes:
        bootstrap: Kafka bootstrap servers.
        topic: the parameter topic.
        patch_size: cell side in pixels.
        kafka_timeout_s: bound on each Kafka wait (see `Publisher`).
    """

    bootstrap: str
    topic: str
    patch_size: int
    kafka_timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class Task:
    """Compute and publish parts first_part..stop_part-1 of one image."""

    record: ImageRecord
    layout: PartLayout
    first_part: int
    stop_part: int

    @property
    def row_range(self) -> tuple[int, int]:
        """The cell rows this task computes."""
        return (self.layout.row_range(self.first_part)[0],
                self.layout.row_range(self.stop_part - 1)[1])

    @property
    def weight(self) -> int:
        """Relative cost in pixels: the whole image is decoded, then the task's rows
        computed."""
        start, stop = self.row_range
        computed = (stop - start) * self.layout.cols * self.layout.patch_size ** 2
        return self.record.width * self.record.height + computed


@dataclass(frozen=True)
class TaskStatus:
    """What a task reports back to the driver: small, whatever the image size.

    Attributes:
        image_id: the image.
        parts: parts acknowledged by Kafka.
        cells: cells in those parts.
        error: why the task failed, or None.
        kafka_error: True when the failure is Kafka's, not the image's.
        seconds: wall time of the task.
    """

    image_id: str
    parts: int = 0
    cells: int = 0
    error: str | None = None
    kafka_error: bool = False
    seconds: float = 0.0


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


def warm_up(_: object) -> None:
    """Import the image and parameter libraries in a worker process.

    Run once per core before the real work, so the run's report separates the fixed
    start-up cost (worker processes, imports, the JVM's own warm-up) from the time per
    image.
    """
    import nasaflow.imageio  # noqa: F401
    import nasaflow.parameters.compute  # noqa: F401


def publish_partition(groups: Iterable[list[Task]], config: JobConfig) -> list[TaskStatus]:
    """Compute and publish every task of a partition with one producer.

    Each task's messages are flushed before its status is reported, so a published
    status means Kafka acknowledged every part. An image that fails is reported and the
    next task runs; once Kafka fails, the remaining tasks are reported as Kafka failures
    without computing them.
    """
    tasks = [task for group in groups for task in group]
    if not tasks:
        return []
    try:
        publisher = Publisher(config.bootstrap, config.topic, timeout_s=config.kafka_timeout_s)
    except PublishError as exc:
        return [TaskStatus(task.record.id, error=str(exc), kafka_error=True) for task in tasks]
    statuses: list[TaskStatus] = []
    with publisher:
        for index, task in enumerate(tasks):
            try:
                statuses.append(publish_task(task, publisher, config.patch_size))
            except PublishError as exc:
                statuses.extend(TaskStatus(left.record.id, error=str(exc), kafka_error=True)
                                for left in tasks[index:])
                break
    return statuses


def publish_task(task: Task, publisher: Publisher, patch_size: int) -> TaskStatus:
    """Decode the image, compute the task's cell rows, check every part against the
    message contract, publish them and flush.

    Nothing of an image is sent unless all its parts pass the check the sink applies, so
    the sink never dead-letters what the producer emits. Returns a failed status if the
    image cannot be read or computed, or a part breaks the contract.

    Raises:
        PublishError: Kafka did not take or acknowledge the parts.
    """
    started = time.perf_counter()
    record = task.record
    try:
        messages = list(_encoded_parts(task, patch_size))
        for _, _, payload in messages:
            check_record(record.id.encode("utf-8"), payload)
    except Exception as exc:  # any fault of this image fails it alone; the run goes on
        return TaskStatus(record.id, error=f"{type(exc).__name__}: {exc}",
                          seconds=time.perf_counter() - started)
    for _, _, payload in messages:
        publisher.send(record.id, payload)
    publisher.flush()
    return TaskStatus(record.id, parts=len(messages), cells=sum(m[1] for m in messages),
                      seconds=time.perf_counter() - started)


def _encoded_parts(task: Task, patch_size: int) -> Iterator[tuple[int, int, bytes]]:
    from nasaflow.imageio import load_image
    from nasaflow.parameters import compute_parameters

    record = task.record
    image = load_image(record.path)
    if image.shape != (record.height, record.width):
        raise ValueError(
            f"{record.path} is {image.shape[1]}x{image.shape[0]} pixels, the manifest says "
            f"{record.width}x{record.height}"
        )
    grid = compute_parameters(image, patch_size, row_range=task.row_range)
    return band_messages(record, grid, task.layout, range(task.first_part, task.stop_part))
