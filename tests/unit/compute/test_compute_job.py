"""Planning, partitioning, publishing and reporting the parameter job, without Spark."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nasaflow.compute.plan import PARTITIONS_PER_CORE, Plan, partition_tasks, plan_tasks
from nasaflow.compute.publish import JobConfig, TaskStatus, publish_partition
from nasaflow.compute.report import (
    EXIT_IMAGES_FAILED,
    EXIT_KAFKA_UNREACHABLE,
    EXIT_OK,
    summarize,
)
from nasaflow.manifest import ImageRecord


def record(image_id: str, size: int = 4096) -> ImageRecord:
    return ImageRecord(id=image_id, source="helioviewer", instrument="AIA", wavelength="193",
                       observed_at=datetime(2022, 1, 1, tzinfo=UTC),
                       path=f"/images/{image_id}.jp2", width=size, height=size)


def covered_parts(plan: Plan, image_id: str) -> list[int]:
    return [part for task in plan.tasks if task.record.id == image_id
            for part in range(task.first_part, task.stop_part)]


def test_with_fewer_images_than_cores_an_image_is_split_into_bands() -> None:
    plan = plan_tasks([record("a")], 64, parallelism=2)
    assert len(plan.tasks) == 2
    assert covered_parts(plan, "a") == list(range(plan.layouts["a"].parts))
    assert plan.tasks[0].row_range[0] == 0 and plan.tasks[-1].row_range[1] == 64


def test_with_enough_images_each_image_is_one_task() -> None:
    plan = plan_tasks([record(f"i{n}") for n in range(4)], 64, parallelism=2)
    assert [task.row_range for task in plan.tasks] == [(0, 64)] * 4


def test_band_rows_are_rounded_up_to_whole_parts() -> None:
    plan = plan_tasks([record("a")], 64, parallelism=2, band_rows=10)
    rows_per_part = plan.layouts["a"].rows_per_part
    assert rows_per_part < 10
    heights = {stop - start for start, stop in (task.row_range for task in plan.tasks[:-1])}
    assert heights == {2 * rows_per_part}
    assert covered_parts(plan, "a") == list(range(plan.layouts["a"].parts))


def test_the_part_layout_does_not_depend_on_how_work_is_split() -> None:
    layouts = [plan_tasks([record("a")], 64, parallelism=p, band_rows=b).layouts["a"]
               for p, b in [(1, None), (2, None), (2, 3), (8, 64)]]
    assert len(set(layouts)) == 1


def test_an_image_smaller_than_a_cell_is_refused_by_name() -> None:
    plan = plan_tasks([record("tiny", size=32), record("ok")], 64, parallelism=2)
    assert [status.image_id for status in plan.refused] == ["tiny"]
    assert "larger than the image" in str(plan.refused[0].error)
    assert {task.record.id for task in plan.tasks} == {"ok"}


def test_each_task_is_its_own_partition_heaviest_first_while_few() -> None:
    records = [record(f"small{n}", 410) for n in range(3)] + [record(f"big{n}") for n in range(3)]
    groups = partition_tasks(plan_tasks(records, 64, parallelism=2).tasks, parallelism=2)
    assert [len(group) for group in groups] == [1] * 6
    assert [group[0].record.id for group in groups[:3]] == ["big0", "big1", "big2"]
    assert partition_tasks([], parallelism=2) == []


def test_many_tasks_are_grouped_into_balanced_partitions_bounded_in_number() -> None:
    records = ([record(f"big{n}") for n in range(40)]
               + [record(f"small{n}", 410) for n in range(40)])
    tasks = plan_tasks(records, 64, parallelism=1).tasks
    groups = partition_tasks(tasks, parallelism=1)
    assert len(groups) == PARTITIONS_PER_CORE
    assert sorted(t.record.id for g in groups for t in g) == sorted(r.id for r in records)
    loads = [sum(task.weight for task in group) for group in groups]
    assert loads == sorted(loads, reverse=True)
    assert max(loads) - min(loads) <= max(task.weight for task in tasks)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_partition_reports_kafka_failure_for_every_task_within_the_timeout() -> None:
    port = closed_port()
    plan = plan_tasks([record("a"), record("b")], 64, parallelism=2)
    config = JobConfig(f"127.0.0.1:{port}", "unused", 64, kafka_timeout_s=1.0)
    started = time.monotonic()
    statuses = publish_partition([plan.tasks], config)
    assert time.monotonic() - started < 10
    assert [s.image_id for s in statuses] == ["a", "b"]
    assert all(s.kafka_error and f"127.0.0.1:{port}" in str(s.error) for s in statuses)


def test_the_report_names_failed_images_and_sets_the_exit_code(tmp_path: Path) -> None:
    records = [record("good"), record("bad"), record("tiny", size=32)]
    plan = plan_tasks(records, 64, parallelism=2, band_rows=32)
    good_tasks = [t for t in plan.tasks if t.record.id == "good"]
    statuses = [TaskStatus("good", parts=t.stop_part - t.first_part, cells=64 * 32)
                for t in good_tasks]
    statuses.append(TaskStatus("bad", error="ImageDecodeError: truncated"))
    report = summarize(records, plan, statuses, {"topic": "t"})
    assert report.failed == ["bad", "tiny"]
    assert report.exit_code == EXIT_IMAGES_FAILED
    by_id = {image["id"]: image for image in report.images}
    assert by_id["good"]["status"] == "published"
    assert by_id["good"]["parts"] == plan.layouts["good"].parts
    assert by_id["good"]["cells"] == 4096
    assert by_id["good"]["tasks"] == len(good_tasks) == 2
    assert "truncated" in by_id["bad"]["error"]
    lines = report.lines()
    assert "FAILED bad: ImageDecodeError: truncated" in lines
    assert lines[-1] == "1 of 3 images published; failed: bad, tiny"
    report.write(tmp_path / "report.json")
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["topic"] == "t" and written["failed"] == ["bad", "tiny"]


def test_an_image_missing_parts_is_not_reported_as_published() -> None:
    records = [record("a")]
    plan = plan_tasks(records, 64, parallelism=2)
    report = summarize(records, plan, [TaskStatus("a", parts=1, cells=512)], {})
    assert report.images[0]["status"] == "failed"
    assert report.images[0]["error"] == f"1 of {plan.layouts['a'].parts} parts reported"


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([], EXIT_OK),
        ([TaskStatus("a", error="Kafka at x is unreachable", kafka_error=True)],
         EXIT_KAFKA_UNREACHABLE),
    ],
)
def test_exit_codes(statuses: list[TaskStatus], code: int) -> None:
    records = [record("a")]
    plan = plan_tasks(records, 64, parallelism=1)
    layout = plan.layouts["a"]
    statuses = statuses or [TaskStatus("a", parts=layout.parts, cells=4096)]
    assert summarize(records, plan, statuses, {}).exit_code == code
