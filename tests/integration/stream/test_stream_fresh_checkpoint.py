"""A fresh checkpoint under a query name that already has progress rows (a deleted .local/,
a new clone against the same database, as CI does) lands every message again: its batch ids
restart at 0, but are recorded under the new checkpoint's id, so none of them is taken for
a batch the earlier checkpoint committed and skipped."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import Settings

from tests.integration.stream.streamkit import (
    Driver,
    Producer,
    assert_offsets_processed_once,
    band,
    batches_needed,
    cleanup_rows,
    delete_topic,
    driver_args,
    expected_value,
    fetch,
    topic_end_offsets,
)

pytestmark = pytest.mark.services

IMAGES, PARTS, ROWS_PER_PART, COLS = 6, 2, 2, 8
CELLS = IMAGES * PARTS * ROWS_PER_PART * COLS
THROTTLE = 4  # messages per batch: each drain takes several batches, ids 0, 1, 2...


def drain(settings: Settings, topic: str, query: str, checkpoint: Path) -> str:
    """Run a driver in drain mode to the end of `topic`; the checkpoint id it logged."""
    driver = Driver(settings, driver_args(topic, query, checkpoint, "--available-now",
                                          "--max-offsets-per-trigger", str(THROTTLE)),
                    checkpoint.with_suffix(".log"))
    assert driver.wait(timeout=300) == 0, driver.log()[-3000:]
    logged = re.search(r"checkpoint id (\S+)", driver.log())
    assert logged is not None, driver.log()[-3000:]
    return logged[1]


def landed_cells(settings: Settings, prefix: str) -> dict[tuple[str, int, int], float]:
    """The `mean` of every landed cell of images starting with `prefix`, each checked against
    the value its message carried."""
    mean = PARAMETER_NAMES.index("mean")
    rows = fetch(settings, "SELECT image_id, cell_row, cell_col, mean FROM image_parameters"
                           " WHERE image_id LIKE %s", (prefix + "%",))
    assert all(value == expected_value(row, col, mean) for _, row, col, value in rows)
    return {(image, row, col): value for image, row, col, value in rows}


def test_a_fresh_checkpoint_under_a_used_query_name_lands_every_message_again(
        settings: Settings, fresh_topic: Callable[..., str], tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:10]
    query, prefix = f"test-stream-fresh-{token}", f"test-fresh-{token}-"
    topic = fresh_topic(prefix="test-stream-fresh")
    producer = Producer(settings, topic)
    try:
        images = [f"{prefix}{index:02d}" for index in range(IMAGES)]
        producer.send_all((image.encode(), band(image, part, PARTS, ROWS_PER_PART, COLS))
                          for image in images for part in range(PARTS))
        first = drain(settings, topic, query, tmp_path / "a")
        assert len(landed_cells(settings, prefix)) == CELLS

        with psycopg.connect(settings.db_url, autocommit=True) as conn:
            conn.execute("DELETE FROM image_parameters WHERE image_id LIKE %s",
                         (prefix + "%",))
        second = drain(settings, topic, query, tmp_path / "b")
        landed = landed_cells(settings, prefix)
        assert len(landed) == CELLS
        assert {image for image, _, _ in landed} == set(images)

        recorded = fetch(settings, "SELECT checkpoint_id, batch_id, rows, dead_letters,"
                                   " start_offsets, end_offsets FROM stream_batches"
                                   " WHERE query = %s ORDER BY batch_id", (query,))
        by_checkpoint: dict[str, list[tuple]] = {}
        for checkpoint_id, *batch in recorded:
            by_checkpoint.setdefault(checkpoint_id, []).append(tuple(batch))
        assert first != second
        assert set(by_checkpoint) == {first, second}
        ends = topic_end_offsets(settings, topic)
        for batches in by_checkpoint.values():
            assert batches[0][0] == 0
            assert len(batches) >= batches_needed(IMAGES * PARTS, THROTTLE)
            assert sum(rows for _, rows, *_ in batches) == CELLS
            assert_offsets_processed_once(batches, topic, ends)
    finally:
        producer.close()
        cleanup_rows(settings, prefix, [query])
        delete_topic(settings, topic)
