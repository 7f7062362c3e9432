"""The suite's cluster's Kafka and Spark: three brokers and a Spark standalone master with
two workers (see tests/cluster/conftest.py).

They prove what the cluster is for: the topic is replicated so that an acknowledged
message survives the loss of the broker leading its partition. (That Spark applications
get executors on the workers, and survive the loss of one, is test_failures'.)
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from nasaflow.operations.cluster import kafka

if TYPE_CHECKING:  # imported inside the tests, so collecting them stays cheap
    from kafka.admin import KafkaAdminClient

from tests.cluster.clusterkit import Cluster
from tests.conftest import PLATFORM_SETTINGS

pytestmark = [pytest.mark.services, pytest.mark.slow]

JOB = Path(__file__).with_name("executor_dirs_job.py")


def _partitions(admin: KafkaAdminClient, topic: str) -> list[dict[str, Any]]:
    """The partitions of `topic` (replica_nodes, leader_id ...), by index."""
    described = admin.describe_topics([topic])[0]
    return sorted(described["partitions"], key=lambda p: p["partition_index"])


def test_platform_topic_has_three_replicas_and_min_insync_two(cluster: Cluster) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    topic = PLATFORM_SETTINGS.kafka_topic
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap(cluster.layout))
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


def test_acknowledged_message_survives_sigkill_of_its_leader(cluster: Cluster) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient

    topic, bootstrap = PLATFORM_SETTINGS.kafka_topic, kafka.bootstrap(cluster.layout)
    payload = os.urandom(16).hex().encode()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        sent = producer.send(topic, value=payload, partition=0).get(timeout=60)
    finally:
        producer.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        leader = _partitions(admin, topic)[0]["leader_id"]
        pid = int(cluster.supervisorctl("pid", f"kafka-{leader}").strip())
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
