"""Create the parameter topic with enough partitions; used by `make up` and tests."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Mapping

from nasaflow.settings import get_settings

#: Partitions of the parameter topic (architecture.md: at least 2), as `make up` creates it
#: in both profiles.
DEFAULT_PARTITIONS = 2


def ensure_topic(bootstrap: str, topic: str, partitions: int = DEFAULT_PARTITIONS,
                 replication: int = 1, configs: Mapping[str, str] | None = None) -> int:
    """Create `topic` if absent, grow it to `partitions` if smaller; returns its partitions.
    `replication` and the topic `configs` (e.g. min.insync.replicas) apply at creation:
    an existing topic keeps its own."""
    from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
    from kafka.errors import InvalidPartitionsError, TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="nasaflow-admin")
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic, partitions, replication,
                                          topic_configs=dict(configs or {}))])
        described = admin.describe_topics([topic])[0]
        current = len(described["partitions"])
        if current < partitions:
            # Metadata of a topic just created can lag behind it: the broker then refuses
            # the growth because the topic already has its partitions.
            with contextlib.suppress(InvalidPartitionsError):
                admin.create_partitions({topic: NewPartitions(total_count=partitions)})
            current = partitions
        return current
    finally:
        admin.close()


def recreate_topic(bootstrap: str, topic: str, partitions: int = DEFAULT_PARTITIONS,
                   timeout_s: float = 60) -> None:
    """Delete `topic` if it exists and create it empty. Deletion is asynchronous: creation
    waits until the broker no longer lists the old one.

    Raises:
        TimeoutError: the broker still lists the topic after `timeout_s`.
    """
    from kafka.admin import KafkaAdminClient
    from kafka.errors import UnknownTopicOrPartitionError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="nasaflow-admin")
    try:
        with contextlib.suppress(UnknownTopicOrPartitionError):
            admin.delete_topics([topic])
        deadline = time.monotonic() + timeout_s
        while topic in admin.list_topics():
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} not deleted after {timeout_s:.0f} s")
            time.sleep(0.5)
    finally:
        admin.close()
    ensure_topic(bootstrap, topic, partitions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    args = parser.parse_args()
    settings = get_settings()
    count = ensure_topic(settings.kafka_bootstrap, settings.kafka_topic, args.partitions)
    print(f"topic {settings.kafka_topic}: {count} partitions")


if __name__ == "__main__":
    main()
