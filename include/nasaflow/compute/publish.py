"""Compute and publish the parameter job's tasks: one Kafka producer per partition.

spark_jobs/compute_parameters.py ships these functions to executors, so how one
partition computes and publishes its tasks is testable in one process; nasaflow.compute.plan
cuts a run into those tasks and nasaflow.compute.report turns their small statuses into
the run's report.

Failures are data, not exceptions: an image that cannot be read or computed yields a
failed status naming it and the run goes on; a broker that stays unreachable yields
statuses marked as Kafka failures.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nasaflow.manifest import ImageRecord
from nasaflow.messaging.contract import check_record
from nasaflow.messaging.publisher import DEFAULT_TIMEOUT_S, Publisher, PublishError
from nasaflow.messaging.schema import PartLayout, band_messages


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


def warm_up(_: object) -> None:
    """Import the image and parameter libraries in a worker process.

    Run once per core before the real work, so the run's report separates the fixed
    start-up cost (worker processes, imports, the JVM's own warm-up) from the time per
    image.
    """
    for module in ("nasaflow.images.decode", "nasaflow.parameters.compute"):
        importlib.import_module(module)


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
    from nasaflow.images.decode import load_image
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
