"""`make status` fails when the stream is further behind than the setting (the healthy
report is in test_platform.py)."""

from __future__ import annotations

import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from nasaflow.messaging.admin import ensure_topic
from nasaflow.settings import PROJECT_ROOT, Settings
from nasaflow.sink.lock import StreamLock

pytestmark = pytest.mark.services

STREAM_LINE = re.compile(r"^stream\s+(healthy|UNHEALTHY)\s+(.*)$", re.MULTILINE)


def status(*args: str) -> tuple[int, str]:
    """(exit code, the stream's line) of ops/status.sh."""
    result = subprocess.run([str(PROJECT_ROOT / "ops" / "status.sh"), *args], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    found = STREAM_LINE.search(result.stdout)
    assert found, result.stdout + result.stderr
    return result.returncode, found.group(0)


def test_make_status_fails_when_the_stream_is_further_behind_than_the_setting(
        settings: Settings, stream_running: None, tmp_path) -> None:
    """A query of the test's own, whose driver (the test, holding its lock) has committed
    nothing of a topic whose three messages were published two hours ago."""
    from kafka import KafkaProducer

    from tests.integration.stream.streamkit import delete_topic

    token = uuid.uuid4().hex[:10]
    topic, query = f"test-status-{token}", f"test_status_{token}"
    ensure_topic(settings.kafka_bootstrap, topic, 2)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    published = datetime.now(UTC) - timedelta(hours=2)
    for n in range(3):
        producer.send(topic, key=b"k", value=b"{}", partition=n % 2,
                      timestamp_ms=int(published.timestamp() * 1000))
    producer.flush(timeout=30)
    producer.close()
    try:
        with StreamLock(settings.db_url, query, str(tmp_path / "checkpoint")).acquire():
            code, line = status("--stream-query", query, "--stream-topic", topic)
    finally:
        delete_topic(settings, topic)
    print(line)
    assert code == 1, line
    lag = re.search(r"lag 3 messages, (\d+) s \(more than (\d+) s behind\)", line)
    assert lag, line
    assert 7200 <= int(lag.group(1)) < 7300
    assert int(lag.group(2)) == settings.stream_max_lag_seconds
    assert "UNHEALTHY" in line and "no batch committed yet" in line
