"""The guard make test runs around the suite (tests/user_data_guard.py) notices every kind
of change to a platform's data, and refuses to vouch for a platform holding none. The
"platform" here is a stand-in made of the test database, a fresh topic and fresh folders."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from nasaflow.settings import PROJECT_ROOT, Settings

from tests.user_data_guard import take_snapshot

pytestmark = pytest.mark.services


@pytest.fixture()
def stand_in(settings: Settings, fresh_topic: Callable[..., str],
             tmp_path: Path) -> Iterator[Settings]:
    """Settings of a platform with one image, its cell, its file and one message."""
    from kafka import KafkaProducer

    platform = replace(settings, kafka_topic=fresh_topic(), data_dir=str(tmp_path / "data"),
                       checkpoint_dir=str(tmp_path / "checkpoints"))
    image_id = f"guard-test-{uuid.uuid4().hex}"
    image = Path(platform.data_dir) / "images" / "helioviewer" / f"{image_id}.jp2"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"image bytes")
    (Path(platform.checkpoint_dir) / "offsets").mkdir(parents=True)
    (Path(platform.checkpoint_dir) / "offsets" / "0").write_text("v1")
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO images (id, source, instrument, wavelength, observed_at,"
                     " width, height, sha256, path, size_bytes) VALUES (%s, 'helioviewer',"
                     " 'AIA', '193', now(), 64, 64, repeat('0', 64), %s, 11)",
                     (image_id, str(image)))
        conn.execute("INSERT INTO image_parameters (image_id, patch_size, cell_row, cell_col,"
                     " schema_version) VALUES (%s, 64, 0, 0, 1)", (image_id,))
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    producer.send(platform.kafka_topic, b"one message").get(timeout=30)
    producer.close()
    yield platform
    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM image_parameters WHERE image_id = %s", (image_id,))
        conn.execute("DELETE FROM images WHERE id = %s", (image_id,))


def test_an_untouched_platform_compares_equal(stand_in: Settings) -> None:
    before = take_snapshot(stand_in)
    assert before.missing_data() == []
    assert before.changes_to(take_snapshot(stand_in)) == []


def test_a_changed_row_file_checkpoint_or_offset_is_named(stand_in: Settings) -> None:
    from kafka import KafkaProducer

    before = take_snapshot(stand_in)
    with psycopg.connect(stand_in.db_url, autocommit=True) as conn:
        # image_parameters is a view over image_cells (007): change the stored cells.
        conn.execute("UPDATE image_cells SET entropy = 1.0 WHERE image_key IN"
                     " (SELECT image_key FROM image_keys WHERE image_id LIKE 'guard-test-%')")
    new_file = Path(stand_in.data_dir) / "images" / "apod" / "extra.jpg"
    new_file.parent.mkdir(parents=True)
    new_file.write_bytes(b"x")
    (Path(stand_in.checkpoint_dir) / "offsets" / "0").write_text("v2, longer")
    producer = KafkaProducer(bootstrap_servers=stand_in.kafka_bootstrap)
    producer.send(stand_in.kafka_topic, b"another").get(timeout=30)
    producer.close()
    changes = before.changes_to(take_snapshot(stand_in))
    assert any(line.startswith("table image_cells") for line in changes), changes
    assert any(line.startswith(f"file {new_file}:") for line in changes), changes
    assert any("offsets/0" in line for line in changes), changes
    assert any(line.startswith(f"topic partition {stand_in.kafka_topic}/") for line in changes)
    assert not any(line.startswith("table images:") for line in changes), changes


def test_a_platform_without_data_is_not_vouched_for(settings: Settings,
                                                    tmp_path: Path) -> None:
    # The broker does not create topics on demand: this name stays absent.
    empty = replace(settings, kafka_topic=f"absent-{uuid.uuid4().hex[:12]}",
                    data_dir=str(tmp_path / "d"), checkpoint_dir=str(tmp_path / "c"))
    snapshot = take_snapshot(empty)
    # The test database may hold other tests' rows: empty its tables in the snapshot only.
    bare = replace(snapshot, tables={table: (0, "0") for table in snapshot.tables})
    missing = bare.missing_data()
    for what in ("no image registered", "no cell", "no file", "topic does not exist"):
        assert any(what in line for line in missing), (what, missing)


def test_an_empty_topic_is_compared_and_a_publish_to_it_is_named(
        stand_in: Settings, fresh_topic: Callable[..., str]) -> None:
    """A database that already holds the demo's cells makes the demo skip compute, so a
    fresh Kafka stays empty; the end offsets still show any message the suite adds."""
    from kafka import KafkaProducer

    platform = replace(stand_in, kafka_topic=fresh_topic())
    before = take_snapshot(platform)
    assert before.missing_data() == [] and set(before.offsets.values()) == {0}
    producer = KafkaProducer(bootstrap_servers=platform.kafka_bootstrap)
    producer.send(platform.kafka_topic, b"published by the suite").get(timeout=30)
    producer.close()
    changes = before.changes_to(take_snapshot(platform))
    assert [line for line in changes if line.startswith("topic partition")] != [], changes


SUITE_THAT_WRITES = '''
import psycopg
from nasaflow.settings import Settings

def test_writes_to_the_platform():
    with psycopg.connect(Settings.from_env().db_url, autocommit=True) as conn:
        conn.execute("UPDATE image_cells SET mean = 2.0 WHERE image_key IN"
                     " (SELECT image_key FROM image_keys WHERE image_id LIKE 'guard-test-%')")
'''
SUITE_THAT_READS = '''
import psycopg
from nasaflow.settings import Settings

def test_reads_the_platform_and_changes_nothing():
    with psycopg.connect(Settings.from_env().db_reader_url) as conn:
        row = conn.execute("SELECT count(*) FROM images WHERE id LIKE 'guard-test-%'").fetchone()
    assert row[0] >= 1
'''


@pytest.mark.parametrize(("suite", "code", "verdict"), [
    (SUITE_THAT_WRITES, 1, "[guard] FAILED"),
    (SUITE_THAT_READS, 0, "[guard] the user's rows, files and topic offsets are unchanged"),
])
def test_the_plugin_fails_a_passing_session_that_changed_the_platform(
        stand_in: Settings, tmp_path: Path, suite: str, code: int, verdict: str) -> None:
    test_file = tmp_path / "test_suite_under_guard.py"
    test_file.write_text(suite)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.user_data_guard", "--guard-user-data",
         "-p", "no:cacheprovider", "-q", str(test_file)], cwd=PROJECT_ROOT, timeout=300,
        env={**os.environ, **stand_in.to_env()}, capture_output=True, text=True)
    assert "1 passed" in result.stdout, result.stdout + result.stderr
    assert verdict in result.stdout and result.returncode == code, result.stdout
    # The platform's scheduled runs were asked of its Airflow (none left out otherwise).
    assert "could not ask Airflow" not in result.stdout, result.stdout
