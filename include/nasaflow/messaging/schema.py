"""Version 1 parameter messages: how an image's grid is cut into messages, built, checked.

The JSON Schema file next to the package (schemas/image-parameters.v1.json) is the
contract between the parameter job and the stream that lands messages in PostgreSQL; this
module is the only code that writes that format, and the one place that reads it back
with reasons a person can act on.

An image's grid is cut into parts: bands of consecutive cell rows, as many rows per part
as fit a byte budget well under Kafka's 1 MB default message limit, whatever the values.
The cut depends only on the image record and the grid, never on how the work is spread
over Spark tasks, so a re-run publishes exactly the same keys, parts and cell ids.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasaflow.manifest import ImageRecord

if TYPE_CHECKING:
    import jsonschema

    from nasaflow.parameters import ParameterGrid

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "image-parameters.v1.json"
SCHEMA_VERSION = 1
#: Kafka's default limit on one message (broker message.max.bytes, producer
#: max.request.size), in bytes.
KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_576
#: Upper bound on one encoded message: a quarter of Kafka's default, so a message never
#: nears the limit even with headers, batching overhead or a longer image id.
MESSAGE_BYTE_BUDGET = 256 * 1024
#: The longest JSON a float64 can encode to (shortest round-trip repr), e.g.
#: -2.2250738585072014e-308: used to bound a cell's encoded size.
_LONGEST_FLOAT = -2.2250738585072014e-308
_SEPARATORS = (",", ":")


class InvalidMessageError(ValueError):
    """A payload that is not a valid version 1 message; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The version 1 JSON Schema, parsed once per process."""
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=1)
def parameter_names() -> tuple[str, ...]:
    """The parameter fields of a cell, in the schema's order (all cell keys but row, col)."""
    required = load_schema()["properties"]["cells"]["items"]["required"]
    return tuple(name for name in required if name not in ("row", "col"))


@dataclass(frozen=True)
class PartLayout:
    """How one image's grid of rows x cols cells of side patch_size is cut into messages.

    Part p holds cell rows p * rows_per_part .. min((p + 1) * rows_per_part, rows) - 1,
    all columns.
    """

    patch_size: int
    rows: int
    cols: int
    rows_per_part: int

    @property
    def parts(self) -> int:
        """Number of messages for the whole image."""
        return -(-self.rows // self.rows_per_part)

    def row_range(self, part: int) -> tuple[int, int]:
        """(first, stop) cell rows of `part`."""
        if not 0 <= part < self.parts:
            raise ValueError(f"part {part} outside 0..{self.parts - 1}")
        start = part * self.rows_per_part
        return start, min(start + self.rows_per_part, self.rows)


def plan_parts(
    record: ImageRecord, patch_size: int, rows: int, cols: int,
    budget: int = MESSAGE_BYTE_BUDGET,
) -> PartLayout:
    """The part layout of `record`'s grid: the fewest messages `budget` allows, with
    rows spread evenly over them.

    The bound is computed for the worst case (every value the longest float, the largest
    row, column and part numbers), so no message of this image can exceed `budget`.

    Args:
        record: the image (its header fields take room in every message).
        patch_size: cell side in pixels.
        rows, cols: the grid's shape in cells.
        budget: maximum bytes of one encoded message.

    Raises:
        InvalidMessageError: the record cannot make a valid message (e.g. an unknown
            source or an over-long id).
        ValueError: not even one row of cells fits `budget`.
    """
    worst_cell: dict[str, float] = {"row": rows - 1, "col": cols - 1}
    worst_cell.update(dict.fromkeys(parameter_names(), _LONGEST_FLOAT))
    header = _header(record, patch_size, rows, cols, rows, rows, _format_published(None))
    validate_document({**header, "part": 0, "parts": 1, "cells": [worst_cell]})
    header_bytes = len(_encode({**header, "cells": []}))
    cell_bytes = len(_encode(worst_cell)) + 1  # and its separating comma
    max_rows = (budget - header_bytes) // (cols * cell_bytes)
    if max_rows < 1:
        raise ValueError(
            f"one row of {cols} cells needs up to {header_bytes + cols * cell_bytes} bytes, "
            f"more than the message budget of {budget} bytes"
        )
    parts = -(-rows // max_rows)
    return PartLayout(patch_size, rows, cols, -(-rows // parts))


def band_messages(
    record: ImageRecord, grid: ParameterGrid, layout: PartLayout, parts: Sequence[int],
    published_at: datetime | None = None,
) -> Iterator[tuple[int, int, bytes]]:
    """Encode `parts` of `record` from a grid that holds their cell rows.

    Args:
        record: the image the values belong to.
        grid: the computed parameters; it must hold every cell row of `parts` (a full
            grid, or one computed for a row range covering them: rows are placed by
            its row_offset).
        layout: the image's part layout (from `plan_parts`).
        parts: which parts to encode.
        published_at: the time stamped on the messages (default: now).

    Yields:
        (part, number of cells, UTF-8 JSON payload) per part, in the order given.
    """
    if grid.cols != layout.cols:
        raise ValueError(f"grid has {grid.cols} cell columns, the layout {layout.cols}")
    header = _header(record, layout.patch_size, layout.rows, layout.cols, 0, layout.parts,
                     _format_published(published_at))
    for part in parts:
        start, stop = layout.row_range(part)
        if start < grid.row_offset or stop > grid.row_offset + grid.rows:
            raise ValueError(
                f"part {part} needs cell rows {start}..{stop - 1}, the grid holds rows "
                f"{grid.row_offset}..{grid.row_offset + grid.rows - 1}"
            )
        cells = _cells(grid.values, start, stop - start, grid.row_offset, layout.cols)
        yield part, len(cells), _encode({**header, "part": part, "cells": cells})


def validate_message(payload: bytes) -> dict[str, Any]:
    """The message in `payload`, checked against the version 1 contract.

    Besides the JSON Schema, checks what a schema cannot say: part < parts, and every cell
    inside the grid.

    Raises:
        InvalidMessageError: not UTF-8, not JSON (NaN and Infinity included), or breaks the
            contract; `reason` names the offending field.
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessageError(f"not UTF-8: {exc}") from exc
    except AttributeError as exc:
        raise InvalidMessageError(f"expected bytes, got {type(payload).__name__}") from exc
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise InvalidMessageError(f"not JSON: {exc}") from exc
    validate_document(document)
    return document


def validate_document(document: Any) -> None:
    """Check a decoded message against the contract (see `validate_message`)."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if error is not None:
        where = "/".join(str(step) for step in error.absolute_path) or "message"
        raise InvalidMessageError(f"{where}: {error.message}")
    if document["part"] >= document["parts"]:
        raise InvalidMessageError(
            f"part: {document['part']} is not below parts ({document['parts']})"
        )
    rows, cols = document["grid"]["rows"], document["grid"]["cols"]
    for index, cell in enumerate(document["cells"]):
        if cell["row"] >= rows or cell["col"] >= cols:
            raise InvalidMessageError(
                f"cells/{index}: cell ({cell['row']}, {cell['col']}) is outside the "
                f"{rows}x{cols} grid"
            )


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_is_datetime)
    schema = load_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=checker)


def _is_datetime(value: object) -> bool:
    """RFC 3339 date-time: date, 'T', time and a zone (Z or an offset)."""
    if not isinstance(value, str):
        return True  # the type keyword reports non-strings
    if len(value) < 20 or value[10] not in "Tt":
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no timezone")
    return True


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed (non-finite values must be null)")


def _header(
    record: ImageRecord, patch_size: int, rows: int, cols: int, part: int, parts: int,
    published_at: str,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "image_id": record.id,
        "source": record.source,
        "instrument": record.instrument,
        "wavelength": record.wavelength,
        "observed_at": record.observed_at_iso,
        "patch_size": patch_size,
        "grid": {"rows": rows, "cols": cols},
        "part": part,
        "parts": parts,
        "published_at": published_at,
    }


def _format_published(moment: datetime | None) -> str:
    """Millisecond UTC time with Z: fixed length, so the size bound holds for any time."""
    moment = datetime.now(UTC) if moment is None else moment
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def _cells(
    values: Mapping[str, Any], start: int, count: int, offset: int, cols: int
) -> list[dict[str, Any]]:
    """Cell dicts of grid rows start..start+count-1 (array row = grid row - offset),
    row-major; NaN and infinities become None."""
    names = parameter_names()
    first = start - offset
    columns = [_finite_or_none(values[name][first : first + count].ravel().tolist())
               for name in names]
    cells: list[dict[str, Any]] = []
    for index, row_values in enumerate(zip(*columns, strict=True)):
        cell: dict[str, Any] = {"row": start + index // cols, "col": index % cols}
        cell.update(zip(names, row_values, strict=True))
        cells.append(cell)
    return cells


def _finite_or_none(values: list[float]) -> list[float | None]:
    return [value if math.isfinite(value) else None for value in values]


def _encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=_SEPARATORS, allow_nan=False).encode("utf-8")
