"""One Kafka record -> the image_parameters rows it carries, or the reason it carries none.

A message is a band of cells of one image, keyed by the image id (so every part of an
image travels through one partition, in order). The key is checked against the body:
a record whose key names another image would sit in the wrong partition's order and
could overwrite or be overwritten out of sequence, so it is refused like a broken body.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, NamedTuple

from nasaflow.sink.contract import (
    KEY_MISMATCH,
    ContractViolation,
    check_message,
    decode,
    parameter_names,
    parse_datetime,
)

#: Columns of one cell row, in the order `cell_rows` yields them; the same names as in
#: image_parameters.
CELL_COLUMNS: tuple[str, ...] = (
    "image_id", "patch_size", "cell_row", "cell_col", *parameter_names(),
    "schema_version", "published_at",
)
_CELL_FIELDS = itemgetter("row", "col", *parameter_names())


class KafkaRecord(NamedTuple):
    """The fields of a Kafka record the sink uses (the order the Spark job selects them).

    `timestamp` is the record's Kafka timestamp in seconds since the epoch.
    """

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp: float


#: Spark SQL expressions selecting a Kafka source row as a KafkaRecord's fields.
KAFKA_SELECT: tuple[str, ...] = tuple(
    "CAST(timestamp AS DOUBLE) AS timestamp" if name == "timestamp" else name
    for name in KafkaRecord._fields)


def cell_rows(key: bytes | None, value: bytes | None) -> list[tuple[Any, ...]]:
    """The image_parameters rows (columns as `CELL_COLUMNS`) of one record.

    Raises:
        ContractViolation: the record is not a valid version 1 message, or its key is not
            the message's image id.
    """
    message = check_message(decode(value))
    image_id = message["image_id"]
    check_key(key, image_id)
    head = (image_id, message["patch_size"])
    tail = (message["schema_version"], parse_datetime(message["published_at"]))
    return [head + _CELL_FIELDS(cell) + tail for cell in message["cells"]]


def check_key(key: bytes | None, image_id: str) -> None:
    """Raise ContractViolation(KEY_MISMATCH) unless `key` is `image_id` in UTF-8."""
    if key is None:
        raise ContractViolation(KEY_MISMATCH, f"the record has no key (image_id {image_id!r})")
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text != image_id:
        shown = repr(text) if text is not None else repr(bytes(key))
        raise ContractViolation(KEY_MISMATCH,
                                f"key {shown} is not the message's image_id {image_id!r}")
