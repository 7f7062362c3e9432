"""The cluster's Kafka and Spark, really started: three brokers and a Spark standalone
master with two workers under a supervisord of their own, in a temporary folder and at a
port offset of their own (never the user's cluster, nor the default profile's broker).

They prove what the cluster is for: the topic is replicated so that an acknowledged
message survives the loss of the broker leading its partition, and a Spark application
gets executors on both workers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from nasaflow.operations.cluster import kafka, spark
from nasaflow.operations.cluster.layout import PORTS, ClusterLayout
from nasaflow.operations.cluster.programs import render_supervisord
from nasaflow.settings import get_settings
from nasaflow.spark_launch import submit_command, submit_env

if TYPE_CHECKING:  # imported inside the tests, so collecting them stays cheap
    from kafka.admin import KafkaAdminClient

pytestmark = pytest.mark.slow

#: Ports of this module's cluster: clear of the user's cluster and of the suite's.
PORT_OFFSET = 21000
COMPONENTS = (kafka, spark)
VENV_BIN = Path(sys.executable).parent
JOB = Path(__file__).with_name("executor_dirs_job.py")


def _supervisorctl(layout: ClusterLayout, *args: str) -> str:
    return subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(_conf(layout)), *args],
                          capture_output=True, text=True, check=False).stdout


def _conf(layout: ClusterLayout) -> Path:
    return layout.run / "supervisord.conf"


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_usable(layout: ClusterLayout, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for component in COMPONENTS:
        while (problem := component.check(layout)) is not None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{component.NAME} not usable after {timeout_s:.0f} s: "
                                     f"{problem}; logs in {layout.logs}")
            time.sleep(1)


def _stop(layout: ClusterLayout, timeout_s: float = 90) -> None:
    """supervisorctl shutdown, then wait for supervisord to exit: it exits once every
    program it runs has stopped."""
    pid = int((layout.run / "supervisord.pid").read_text())
    _supervisorctl(layout, "shutdown")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    raise AssertionError(f"supervisord {pid} still running {timeout_s:.0f} s after shutdown")


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterLayout]:
    """Kafka and Spark of a cluster in a temporary folder, usable and provisioned."""
    layout = ClusterLayout(home=tmp_path_factory.mktemp("engines"), port_offset=PORT_OFFSET)
    busy = [name for name in PORTS if name.startswith(("kafka", "spark"))
            and _port_in_use(layout.port(name))]
    assert not busy, f"ports of the test cluster already in use: {busy}"
    for component in COMPONENTS:
        component.prepare(layout)
    layout.run.mkdir(parents=True, exist_ok=True)
    programs = [program for component in COMPONENTS for program in component.programs(layout)]
    _conf(layout).write_text(render_supervisord(layout, programs))
    subprocess.run([str(VENV_BIN / "supervisord"), "-c", str(_conf(layout))], check=True)
    try:
        _wait_usable(layout, timeout_s=180)
        for component in COMPONENTS:
            component.provision(layout)
        yield layout
    finally:
        _stop(layout)


def _partitions(admin: KafkaAdminClient, topic: str) -> list[dict[str, Any]]:
    """The partitions of `topic` (replica_nodes, leader_id ...), by index."""
    described = admin.describe_topics([topic])[0]
    return sorted(described["partitions"], key=lambda p: p["partition_index"])


def test_platform_topic_has_three_replicas_and_min_insync_two(engines: ClusterLayout) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    topic = get_settings().kafka_topic
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap(engines))
    try:
        partitions = _partitions(admin, topic)
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    assert len(partitions) == 2
    for partition in partitions:
        assert sorted(partition["replica_nodes"]) == [1, 2, 3]
    min_isr = configs["topic"][topic]["min.insync.replicas"]
    # Set on the topic itself, not inherited from the brokers' default.
    assert (min_isr["value"], min_isr["config_source"]) == ("2", "DYNAMIC_TOPIC_CONFIG")


def test_acknowledged_message_survives_sigkill_of_its_leader(engines: ClusterLayout) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient

    topic, bootstrap = get_settings().kafka_topic, kafka.bootstrap(engines)
    payload = os.urandom(16).hex().encode()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        sent = producer.send(topic, value=payload, partition=0).get(timeout=60)
    finally:
        producer.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        leader = _partitions(admin, topic)[0]["leader_id"]
        pid = int(_supervisorctl(engines, "pid", f"kafka-{leader}").strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while (new_leader := _partitions(admin, topic)[0]["leader_id"]) in (leader, -1):
            assert time.monotonic() < deadline, f"partition 0 still led by {new_leader}"
            time.sleep(0.5)
    finally:
        admin.close()

    partition = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        records = consumer.poll(timeout_ms=30000, max_records=1).get(partition, [])
    finally:
        consumer.close()
    assert [record.value for record in records] == [payload]


def test_application_gets_executors_on_both_workers(engines: ClusterLayout) -> None:
    from tests.integration.cluster.executor_dirs_job import MARKER

    settings = replace(get_settings(), spark_master=spark.master_url(engines))
    result = subprocess.run(submit_command(JOB, settings, []), capture_output=True, text=True,
                            env={**os.environ, **submit_env(settings)}, timeout=180,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith(MARKER))
    folders = [Path(folder) for folder in json.loads(line.removeprefix(MARKER))]
    workers = {folder.parent.parent for folder in folders}
    assert workers == {engines.data("spark-worker-1"), engines.data("spark-worker-2")}
    executor_ids = {folder.name for folder in folders}
    assert len(executor_ids) == 2, folders
