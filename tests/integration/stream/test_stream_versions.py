"""Versions 1 and 2 through the Spark stream: a v1 message still in Kafka and the producer's
v2 messages with undefined values land side by side, nulls as NULL and each cell with its
provenance. Real Kafka (a fresh topic), Spark, and PostgreSQL (a private schema)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest

from nasaflow.manifest import ImageRecord
from nasaflow.messaging.schema import band_messages, plan_parts
from nasaflow.parameters import CALCULATOR_VERSION, PARAMETER_NAMES, ParameterGrid
from nasaflow.settings import SQL_DIR, Settings

from tests.integration.stream.private_schema import private_schemas  # noqa: F401 (fixture)
from tests.integration.stream.streamkit import Driver, Producer, band, driver_args

pytestmark = pytest.mark.services


def test_v1_and_v2_messages_land_side_by_side_with_nulls_and_provenance(
        settings: Settings, private_schemas: Callable[[Path], str],  # noqa: F811
        fresh_topic: Callable[..., str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = private_schemas(SQL_DIR)
    monkeypatch.setenv("NASAFLOW_DB_URL", url)  # the driver and its executors write there
    token = uuid.uuid4().hex[:8]
    old, new = f"test-versions-{token}-v1", f"test-versions-{token}-v2"
    record = ImageRecord(id=new, source="helioviewer", instrument="AIA", wavelength="193",
                         observed_at=datetime(2022, 1, 1, tzinfo=UTC),
                         path="/unused.jp2", width=128, height=64)
    values = {name: np.array([[0.25, 0.5]]) for name in PARAMETER_NAMES}
    for name in ("skewness", "kurtosis", "tamura_contrast"):  # a constant cell
        values[name][0, 0] = np.nan
    grid = ParameterGrid(patch_size=64, rows=1, cols=2, values=values, convention="published")
    layout = plan_parts(record, 64, 1, 2)
    topic = fresh_topic()
    producer = Producer(settings, topic)
    producer.send_all([(old.encode(), band(old, 0, 1, 1, 2)),
                       *((new.encode(), payload) for _, _, payload
                         in band_messages(record, grid, layout, range(layout.parts)))])

    checkpoint = tmp_path / "checkpoint"
    driver = Driver(settings, driver_args(topic, f"test-versions-{token}", checkpoint,
                                          "--available-now"), tmp_path / "driver.log")
    assert driver.wait(timeout=300) == 0, driver.log()[-3000:]

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT image_id, cell_col, skewness, kurtosis, tamura_contrast, mean,"
            " schema_version, convention, calculator_version FROM image_parameters"
            " ORDER BY image_id, cell_col").fetchall()
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert dead == (0,)
    assert [row[:2] + row[6:] for row in rows] == [
        (old, 0, 1, None, None), (old, 1, 1, None, None),
        (new, 0, 2, "published", CALCULATOR_VERSION), (new, 1, 2, "published", CALCULATOR_VERSION)]
    assert rows[2][2:6] == (None, None, None, 0.25)
    assert rows[3][2:6] == (0.5, 0.5, 0.5, 0.5)
