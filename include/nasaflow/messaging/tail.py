"""`nasaflow tail`: watch parameter messages go by, one line each, storing nothing.

The console view of the topic, for a person checking that images flow: it reads every
partition directly (no consumer group, so no committed offsets and no effect on any
other reader), checks each record against the message contract (the same check as the
sink's, key included) and prints what it carries, or why the sink would refuse it,
without stopping.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nasaflow.messaging.contract import ContractViolation, check_record
from nasaflow.settings import get_settings

#: How long to wait for the broker at start-up, in seconds.
CONNECT_TIMEOUT_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    settings = get_settings()
    parser.add_argument("--from-beginning", action="store_true",
                        help="start at the oldest message instead of new ones only")
    parser.add_argument("--topic", default=settings.kafka_topic,
                        help="topic to follow (default %(default)s)")
    parser.add_argument("--bootstrap", default=settings.kafka_bootstrap,
                        help="Kafka bootstrap servers (default %(default)s)")
    parser.add_argument("--max-messages", type=int, default=None, metavar="N",
                        help="stop after N messages")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="stop after S seconds without a message (default: follow)")


def run(args: argparse.Namespace) -> int:
    """Print one line per message until interrupted, N messages, or S idle seconds."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(
            bootstrap_servers=args.bootstrap,
            client_id="nasaflow-tail",
            group_id=None,
            enable_auto_commit=False,
            allow_auto_create_topics=False,
            bootstrap_timeout_ms=int(CONNECT_TIMEOUT_S * 1000),
            consumer_timeout_ms=(float("inf") if args.timeout is None
                                 else int(args.timeout * 1000)),
        )
    except KafkaError as exc:
        print(f"error: Kafka at {args.bootstrap} is unreachable: {exc}", file=sys.stderr)
        return 1
    try:
        partitions = sorted(consumer.partitions_for_topic(args.topic))
        if not partitions:
            print(f"error: topic {args.topic!r} does not exist at {args.bootstrap}",
                  file=sys.stderr)
            return 1
        assigned = [TopicPartition(args.topic, number) for number in partitions]
        consumer.assign(assigned)
        if args.from_beginning:
            consumer.seek_to_beginning(*assigned)
        else:
            consumer.seek_to_end(*assigned)
        for count, message in enumerate(consumer, start=1):
            print(describe(message.value, message.key, message.partition, message.offset),
                  flush=True)
            if args.max_messages is not None and count >= args.max_messages:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close(autocommit=False)
    return 0


def describe(value: bytes | None, key: bytes | None, partition: int, offset: int) -> str:
    """One line for one message: what it carries and how it was computed (v1 messages do
    not say), or `invalid: <reason>` with the sink's reason."""
    where = f"[p{partition}@{offset}]"
    try:
        message = check_record(key, value)
    except ContractViolation as exc:
        shown_key = key.decode("utf-8", "replace") if key is not None else None
        return f"invalid: {exc.reason} (key {shown_key!r}) {where}"
    cells = message["cells"]
    rows = sorted({cell["row"] for cell in cells})
    return (
        f"{message['image_id']} part {message['part'] + 1} of {message['parts']}: "
        f"{len(cells)} cells, rows {rows[0]}-{rows[-1]}, "
        f"mean {_value_range(cells, 'mean')}, entropy {_value_range(cells, 'entropy')}, "
        f"{_provenance(message)} {where}"
    )


def _value_range(cells: list[dict[str, Any]], name: str) -> str:
    values = [cell[name] for cell in cells if cell[name] is not None]
    nulls = len(cells) - len(values)
    text = f"{min(values):.2f}..{max(values):.2f}" if values else "all null"
    return text + (f" ({nulls} null)" if nulls and values else "")


def _provenance(message: dict[str, Any]) -> str:
    if message["schema_version"] == 1:
        return "v1 (convention not recorded)"
    return (f"v{message['schema_version']} {message['convention']} "
            f"calculators {message['calculator_version']}")
