"""Parameter messages: how an image's grid is cut into messages and encoded.

The contract these messages follow is nasaflow.messaging.contract (one definition for the
producer, `nasaflow tail` and the sink); this module is the only code that writes the
format. Values the calculators leave undefined (NaN) and infinities are sent as null.

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
from typing import TYPE_CHECKING, Any

from nasaflow.manifest import ImageRecord
from nasaflow.messaging.contract import check_message, message_header
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.parameters.conventions import CONVENTIONS

if TYPE_CHECKING:
    from nasaflow.parameters import ParameterGrid

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
    row, column and part numbers, the longest convention name), so no message of this
    image can exceed `budget`.

    Args:
        record: the image (its header fields take room in every message).
        patch_size: cell side in pixels.
        rows, cols: the grid's shape in cells.
        budget: maximum bytes of one encoded message.

    Raises:
        ContractViolation: the record cannot make a valid message (e.g. an unknown
            source or an over-long id).
        ValueError: not even one row of cells fits `budget`.
    """
    worst_cell: dict[str, int | float] = {"row": rows - 1, "col": cols - 1}
    worst_cell.update(dict.fromkeys(PARAMETER_NAMES, _LONGEST_FLOAT))
    header = _header(record, patch_size, rows, cols, rows, rows, _format_published(None),
                     max(CONVENTIONS, key=len))
    check_message({**header, "part": 0, "parts": 1, "cells": [worst_cell]})
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
        (part, number of cells, UTF-8 JSON payload) per part, in the order given; the
        payload says the grid's convention and the calculators' version.
    """
    if grid.cols != layout.cols:
        raise ValueError(f"grid has {grid.cols} cell columns, the layout {layout.cols}")
    header = _header(record, layout.patch_size, layout.rows, layout.cols, 0, layout.parts,
                     _format_published(published_at), grid.convention)
    for part in parts:
        start, stop = layout.row_range(part)
        if start < grid.row_offset or stop > grid.row_offset + grid.rows:
            raise ValueError(
                f"part {part} needs cell rows {start}..{stop - 1}, the grid holds rows "
                f"{grid.row_offset}..{grid.row_offset + grid.rows - 1}"
            )
        cells = _cells(grid.values, start, stop - start, grid.row_offset, layout.cols)
        yield part, len(cells), _encode({**header, "part": part, "cells": cells})


def _header(
    record: ImageRecord, patch_size: int, rows: int, cols: int, part: int, parts: int,
    published_at: str, convention: str,
) -> dict[str, Any]:
    return {
        **message_header(convention),
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
    names = PARAMETER_NAMES
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
