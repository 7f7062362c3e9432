"""One Kafka record -> the image_parameters rows it carries, or the reason it carries none.

A message is a band of cells of one image, keyed by the image id; nasaflow.messaging.contract
decides whether a record is valid (the same check the producer ran before sending it).
Every row says how its values were made: the message's schema version and, from version 2,
the statistical convention and the calculators' version (NULL for version 1 messages,
which do not say), so values computed under different rules are never mixed silently.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, NamedTuple

from nasaflow.messaging.contract import check_record, parse_datetime
from nasaflow.parameters import PARAMETER_NAMES

#: Columns of one cell row, in the order `cell_rows` yields them; the same names as in
#: image_parameters (include/sql: 001 creates them, 005 adds the convention columns, 007
#: the image's observation time, which places the cell in its monthly partition).
CELL_COLUMNS: tuple[str, ...] = (
    "image_id", "patch_size", "cell_row", "cell_col", *PARAMETER_NAMES,
    "schema_version", "convention", "calculator_version", "published_at", "observed_at",
)
#: PostgreSQL types of CELL_COLUMNS, for binary COPY.
CELL_COLUMN_TYPES: tuple[str, ...] = (
    "text", "int4", "int4", "int4", *["float8"] * len(PARAMETER_NAMES),
    "int4", "text", "text", "timestamptz", "timestamptz",
)
_CELL_FIELDS = itemgetter("row", "col", *PARAMETER_NAMES)


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
        ContractViolation: the record breaks the message contract (its key included).
    """
    message = check_record(key, value)
    head = (message["image_id"], message["patch_size"])
    tail = (message["schema_version"], message.get("convention"),
            message.get("calculator_version"), parse_datetime(message["published_at"]),
            parse_datetime(message["observed_at"]))
    return [head + _CELL_FIELDS(cell) + tail for cell in message["cells"]]
