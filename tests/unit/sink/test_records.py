"""Kafka record -> image_parameters rows, or the reason a record is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from nasaflow.messaging.contract import (
    KEY_MISMATCH,
    NOT_JSON,
    SCHEMA_VIOLATION,
    WRONG_TYPE,
    ContractViolation,
)
from nasaflow.parameters import CALCULATOR_VERSION, PARAMETER_NAMES
from nasaflow.sink.records import CELL_COLUMNS, cell_rows

IMAGE = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193"


def message(**changes: Any) -> dict[str, Any]:
    """A valid part 1 of 2 of a 4 x 3 grid (cell rows 2 and 3), with `changes` applied."""
    cells = [{"row": row, "col": col,
              **{name: row * 10.0 + col + index / 100
                 for index, name in enumerate(PARAMETER_NAMES)}}
             for row in (2, 3) for col in range(3)]
    document = {
        "schema_version": 1, "image_id": IMAGE, "source": "helioviewer", "instrument": "AIA",
        "wavelength": "193", "observed_at": "2022-01-01T00:03:52Z", "patch_size": 64,
        "grid": {"rows": 4, "cols": 3}, "part": 1, "parts": 2,
        "published_at": "2026-11-27T10:00:00.250Z", "cells": cells,
    }
    document.update(changes)
    return document


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def refusal(value: bytes | None, key: bytes | None = IMAGE.encode()) -> ContractViolation:
    with pytest.raises(ContractViolation) as caught:
        cell_rows(key, value)
    return caught.value


def with_cell(index: int, **changes: Any) -> dict[str, Any]:
    document = message()
    document["cells"][index] = {**document["cells"][index], **changes}
    return document


def test_valid_message_gives_one_row_per_cell_in_column_order() -> None:
    rows = cell_rows(IMAGE.encode(), encode(message()))
    assert len(rows) == 6
    first = dict(zip(CELL_COLUMNS, rows[0], strict=True))
    assert (first["image_id"], first["patch_size"], first["cell_row"], first["cell_col"]) == (
        IMAGE, 64, 2, 0)
    assert [first[name] for name in PARAMETER_NAMES] == [
        20.0 + index / 100 for index in range(len(PARAMETER_NAMES))]
    assert (first["schema_version"], first["convention"], first["calculator_version"]) == (
        1, None, None)
    assert first["published_at"] == datetime(2026, 11, 27, 10, 0, 0, 250000, UTC)


def test_a_version_2_row_records_its_convention_and_calculator_version() -> None:
    document = message(schema_version=2, convention="published",
                       calculator_version=CALCULATOR_VERSION)
    row = dict(zip(CELL_COLUMNS, cell_rows(IMAGE.encode(), encode(document))[0], strict=True))
    assert (row["schema_version"], row["convention"], row["calculator_version"]) == (
        2, "published", CALCULATOR_VERSION)


def test_null_parameters_are_accepted_as_missing_values() -> None:
    rows = cell_rows(IMAGE.encode(), encode(with_cell(0, entropy=None)))
    assert dict(zip(CELL_COLUMNS, rows[0], strict=True))["entropy"] is None


def test_integral_floats_count_as_integers_like_json_schema_says() -> None:
    rows = cell_rows(IMAGE.encode(), encode(with_cell(4, row=3.0, col=1.0)))
    row = dict(zip(CELL_COLUMNS, rows[4], strict=True))
    assert (row["cell_row"], row["cell_col"]) == (3, 1)
    assert type(row["cell_row"]) is int


def test_integral_floats_in_the_envelope_come_out_as_integers() -> None:
    document = message(patch_size=64.0, part=1.0, parts=2.0, schema_version=1.0,
                       grid={"rows": 4.0, "cols": 3.0})
    row = dict(zip(CELL_COLUMNS, cell_rows(IMAGE.encode(), encode(document))[0], strict=True))
    assert (row["patch_size"], row["schema_version"]) == (64, 1)
    assert (type(row["patch_size"]), type(row["schema_version"])) == (int, int)


@pytest.mark.parametrize("value, detail", [
    (b"not json at all", "Expecting value"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"mean": NaN}', "NaN is not JSON"),
    (None, "no value"),
])
def test_undecodable_values_are_not_json(value: bytes | None, detail: str) -> None:
    violation = refusal(value)
    assert violation.category == NOT_JSON
    assert detail in violation.reason


@pytest.mark.parametrize("document, fragment", [
    ({k: v for k, v in message().items() if k != "published_at"}, "'published_at' is a required"),
    (message(schema_version=3), "schema_version: 3 is not one of [1, 2]"),
    (message(convention="toolkit"), "Additional properties are not allowed ('convention'"),
    (message(source="soho"), "source: 'soho' is not one of"),
    (message(cells=[]), "cells: [] should be non-empty"),
    (message(published_at="yesterday"), "published_at: 'yesterday' is not a 'date-time'"),
    (message(extra=1), "Additional properties are not allowed ('extra' was unexpected)"),
    (with_cell(5, colour="red"), "cells/5: Additional properties are not allowed"),
    (with_cell(1, row=-1), "cells/1/row: -1 is less than the minimum of 0"),
    (message(grid={"rows": 2**31, "cols": 3}), "grid/rows: 2147483648 is greater than the max"),
    (message(image_id="bad\x00id"), "image_id: 'bad\\x00id' does not match"),
])
def test_schema_violations_name_the_offending_field(document: dict[str, Any],
                                                    fragment: str) -> None:
    violation = refusal(encode(document))
    assert violation.category == SCHEMA_VIOLATION
    assert fragment in violation.reason


@pytest.mark.parametrize("document, fragment", [
    (with_cell(4, mean="7.5"), "cells/4/mean: '7.5' is not of type 'number', 'null'"),
    (with_cell(2, col=True), "cells/2/col: True is not of type 'integer'"),
    (with_cell(3, row=2.5), "cells/3/row: 2.5 is not of type 'integer'"),
    (message(image_id=42), "image_id: 42 is not of type 'string'"),
    (message(grid=[4, 3]), "grid: [4, 3] is not of type 'object'"),
    ([1, 2], "message: [1, 2] is not of type 'object'"),
])
def test_wrong_types_are_reported_as_such(document: Any, fragment: str) -> None:
    violation = refusal(encode(document))
    assert violation.category == WRONG_TYPE
    assert fragment in violation.reason


@pytest.mark.parametrize("document, fragment", [
    (message(part=2), "part: 2 is not below parts (2)"),
    (with_cell(5, row=4), "cells/5: cell (4, 2) is outside the 4x3 grid"),
    (with_cell(0, col=3), "cells/0: cell (2, 3) is outside the 4x3 grid"),
])
def test_rules_beyond_the_schema_are_enforced(document: dict[str, Any], fragment: str) -> None:
    key = document["image_id"].encode()
    violation = refusal(encode(document), key=key)
    assert violation.category == SCHEMA_VIOLATION
    assert fragment in violation.reason


def test_an_image_id_postgresql_cannot_store_is_refused() -> None:
    value = encode(message()).replace(IMAGE.encode(), b"img\\ud800")
    violation = refusal(value, key=b"img")
    assert violation.category == SCHEMA_VIOLATION
    assert "image_id: not valid Unicode (surrogates not allowed)" in violation.reason


def test_numbers_too_large_for_a_double_are_refused() -> None:
    value = encode(message()).replace(b'"mean": 21.01', b'"mean": 1e400')
    violation = refusal(value)
    assert violation.category == SCHEMA_VIOLATION
    assert "cells/1/mean: inf is not a finite number" in violation.reason


@pytest.mark.parametrize("key, fragment", [
    (b"another-image", "key 'another-image' is not the message's image_id"),
    (None, "the record has no key"),
    (b"\xff\xff", "key b'\\xff\\xff' is not the message's image_id"),
])
def test_key_must_be_the_image_id(key: bytes | None, fragment: str) -> None:
    violation = refusal(encode(message()), key=key)
    assert violation.category == KEY_MISMATCH
    assert fragment in violation.reason


def test_reason_details_are_bounded() -> None:
    violation = refusal(encode(message(source="x" * 5000)))
    assert len(violation.reason) < 450
    assert violation.reason.endswith("...")
