"""`nasaflow recompute`: stale images are computed again and published as version 2, the
sink lands them with their provenance, and a second run finds nothing; missing files are
downloaded again and must hash to the stored sha256. Real PostgreSQL (a private schema)
and Kafka (a fresh topic); the sink's path without Spark."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from PIL import Image, ImageOps
from psycopg.types.json import Jsonb

from nasaflow.parameters import CALCULATOR_VERSION
from nasaflow.recompute import StoredImage, recompute, stale_images, verified_file
from nasaflow.settings import SAMPLES_DIR, SQL_DIR, Settings
from nasaflow.sink.commit import commit_batch
from nasaflow.sink.records import KafkaRecord
from nasaflow.sink.staging import stage_partition
from nasaflow.sources.download import sha256_file

from tests.integration.stream.private_schema import private_schemas  # noqa: F401 (fixture)

pytestmark = pytest.mark.services

#: The smallest bundled sample (410 x 410 px: 6 x 6 cells of 64 px).
SAMPLE = SAMPLES_DIR / "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2"
IMAGE_ID = SAMPLE.stem
EVER = (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


@pytest.fixture()
def settings(settings: Settings, private_schemas: Callable[[Path], str],  # noqa: F811
             tmp_path: Path) -> Settings:
    """The platform's settings with a private migrated schema and image store."""
    return dataclasses.replace(settings, db_url=private_schemas(SQL_DIR),
                               data_dir=str(tmp_path / "data"))


def register(settings: Settings, path: Path, source_ref: dict[str, str]) -> None:
    """Register the sample as stored at `path`, with one cell landed from a v1 message."""
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO images (id, source, instrument, wavelength, observed_at, width,"
            " height, sha256, path, size_bytes, source_ref) VALUES (%s, 'helioviewer', 'AIA',"
            " '193', '2013-06-24T17:31:30.084Z', 410, 410, %s, %s, %s, %s)",
            (IMAGE_ID, sha256_file(SAMPLE), str(path), SAMPLE.stat().st_size,
             Jsonb(source_ref)))
        conn.execute("INSERT INTO image_parameters (image_id, patch_size, cell_row, cell_col,"
                     " skewness, schema_version) VALUES (%s, 64, 0, 0, 0.0, 1)", (IMAGE_ID,))


def stored_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / "images" / "helioviewer" / "2013" / "06" / SAMPLE.name


def stale(settings: Settings) -> list[StoredImage]:
    with psycopg.connect(settings.db_url) as conn:
        return stale_images(conn, 64, *EVER, limit=10)


def land_topic(settings: Settings, topic: str) -> int:
    """Run every message of `topic` through the sink's staging and commit; returns how
    many messages there were."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records = [KafkaRecord(m.key, m.value, m.topic, m.partition, m.offset,
                               m.timestamp / 1000) for m in consumer]
    finally:
        consumer.close(autocommit=False)
    staged = [stage_partition(settings.db_url, "test-recompute", "checkpoint", 0, records)]
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        commit_batch(conn, "test-recompute", "checkpoint", 0, staged,
                     datetime.now(UTC))
    return len(records)


def test_stale_images_are_recomputed_as_current_and_a_second_run_finds_nothing(
        settings: Settings, fresh_topic: Callable[..., str]) -> None:
    path = stored_path(settings)
    path.parent.mkdir(parents=True)
    shutil.copy(SAMPLE, path)
    register(settings, path, {})
    topic = fresh_topic()
    assert [image.record.id for image in stale(settings)] == [IMAGE_ID]

    statuses = recompute(stale(settings), settings, 64, topic)
    assert [(s.image_id, s.cells, s.error) for s in statuses] == [(IMAGE_ID, 36, None)]
    assert land_topic(settings, topic) == statuses[0].parts
    with psycopg.connect(settings.db_url) as conn:
        provenance = conn.execute(
            "SELECT schema_version, convention, calculator_version, count(*)"
            " FROM image_parameters GROUP BY 1, 2, 3").fetchall()
    assert provenance == [(2, "toolkit", CALCULATOR_VERSION, 36)]

    assert stale(settings) == []
    assert recompute(stale(settings), settings, 64, topic) == []


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture()
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server serving a folder: (base URL, folder)."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Files, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


def test_a_missing_file_is_downloaded_again_and_must_hash_to_the_stored_sha256(
        settings: Settings, file_server: tuple[str, Path]) -> None:
    base, folder = file_server
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    register(settings, stored_path(settings), {"url": f"{base}/{SAMPLE.name}"})
    [image] = stale(settings)
    assert not stored_path(settings).exists()
    assert verified_file(image, Path(settings.data_dir)) is None
    assert sha256_file(stored_path(settings)) == image.sha256

    with Image.open(SAMPLE) as sample:  # the server now sends other bytes, same size
        ImageOps.invert(sample.convert("L")).save(folder / SAMPLE.name, "JPEG2000")
    stored_path(settings).write_bytes(b"changed on disk")
    problem = verified_file(image, Path(settings.data_dir))
    assert problem is not None and f"is not the stored {image.sha256}" in problem


def test_an_image_without_a_download_url_or_outside_the_store_is_refused(
        settings: Settings, tmp_path: Path) -> None:
    register(settings, stored_path(settings), {})
    [image] = stale(settings)
    assert "no download URL was recorded" in (verified_file(image, Path(settings.data_dir))
                                              or "")
    outside = dataclasses.replace(image, record=dataclasses.replace(
        image.record, path=str(tmp_path / "elsewhere" / SAMPLE.name)),
        source_ref={"url": "http://127.0.0.1:9/x.jp2"})
    problem = verified_file(outside, Path(settings.data_dir))
    assert problem is not None and "is outside the image store" in problem
    assert not (tmp_path / "elsewhere").exists()
    [status] = recompute([image], settings, 64, "unused-topic")
    assert status.image_id == IMAGE_ID and status.parts == 0
    assert (status.error or "").startswith("not recomputed: ")
