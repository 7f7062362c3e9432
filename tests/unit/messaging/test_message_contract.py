"""The message contract: one answer for the producer, `nasaflow tail` and the sink; the
JSON Schema files generated from the code; versions 1 and 2; the compiled cell check."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasaflow.messaging.contract import (
    CURRENT_SCHEMA_VERSION,
    KEY_MISMATCH,
    SCHEMA_DIR,
    SCHEMA_VERSIONS,
    SCHEMA_VIOLATION,
    WRONG_TYPE,
    ContractViolation,
    check_message,
    check_record,
    compile_cell_check,
    message_schema,
    schema_file_name,
    schema_file_text,
)
from nasaflow.messaging.tail import describe
from nasaflow.parameters import CALCULATOR_VERSION, PARAMETER_NAMES
from nasaflow.sink.records import CELL_COLUMNS, cell_rows

IMAGE = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193"


def message(version: int = 2, **changes: Any) -> dict[str, Any]:
    """A valid part 0 of 1 of a 1 x 2 grid of `version`, with `changes` applied."""
    document: dict[str, Any] = {
        "schema_version": version, "image_id": IMAGE, "source": "helioviewer",
        "instrument": "AIA", "wavelength": "193", "observed_at": "2022-01-01T00:03:52Z",
        "patch_size": 64, "grid": {"rows": 1, "cols": 2}, "part": 0, "parts": 1,
        "published_at": "2026-11-27T10:00:00.250Z",
        "cells": [{"row": 0, "col": col, **{name: col + k / 10
                                             for k, name in enumerate(PARAMETER_NAMES)}}
                  for col in range(2)],
    }
    if version >= 2:
        document.update(convention="toolkit", calculator_version=CALCULATOR_VERSION)
    document.update(changes)
    return document


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def answers(key: bytes | None, value: bytes) -> tuple[str, str, str]:
    """The producer's check, the sink's and tail's verdict on one record."""
    verdicts = []
    for judge in (check_record, cell_rows):
        try:
            judge(key, value)
            verdicts.append("accepted")
        except ContractViolation as violation:
            verdicts.append(violation.reason)
    line = describe(value, key, partition=0, offset=0)
    verdicts.append(line.removeprefix("invalid: ").rsplit(" (key ", 1)[0]
                    if line.startswith("invalid: ") else "accepted")
    return verdicts[0], verdicts[1], verdicts[2]


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_the_schema_files_are_generated_from_the_code(version: int) -> None:
    path = SCHEMA_DIR / schema_file_name(version)
    assert path.read_text(encoding="utf-8") == schema_file_text(version), (
        f"{path} is stale: run python -m nasaflow.messaging.contract")
    cell = json.loads(path.read_text())["properties"]["cells"]["items"]
    assert cell["required"] == ["row", "col", *PARAMETER_NAMES]
    jsonschema.Draft202012Validator.check_schema(message_schema(version))


@pytest.mark.parametrize("change, reason", [
    ({"image_id": "bad\x00id"}, "schema_violation: image_id: 'bad\\x00id' does not match"),
    ({"patch_size": 2**40}, "schema_violation: patch_size: 1099511627776 is greater than the "
                            "maximum of 2147483647"),
    ({"observed_at": "2022-01-01T00:03:52+0100"},
     "schema_violation: observed_at: '2022-01-01T00:03:52+0100' is not a 'date-time'"),
    ({"published_at": "2022-01-01T00:03Z"},
     "schema_violation: published_at: '2022-01-01T00:03Z' is not a 'date-time'"),
])
def test_the_cases_the_old_checkers_disagreed_on_get_one_answer(change: dict[str, Any],
                                                                reason: str) -> None:
    document = message(**change)
    producer, sink, tail = answers(document["image_id"].encode(), encode(document))
    assert producer == sink == tail
    assert producer.startswith(reason), producer


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_both_versions_are_accepted_everywhere(version: int) -> None:
    assert answers(IMAGE.encode(), encode(message(version))) == ("accepted",) * 3


def test_a_version_2_message_says_how_its_values_were_computed() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"convention": "mine"}, "schema_violation: convention: 'mine' is not one of"),
        ({"calculator_version": ""}, "schema_violation: calculator_version: '' does not match"),
    ]
    for change, reason in cases:
        with pytest.raises(ContractViolation) as caught:
            check_message(message(**change))
        assert caught.value.reason.startswith(reason), caught.value.reason
    missing = message()
    del missing["convention"]
    with pytest.raises(ContractViolation, match="'convention' is a required property"):
        check_message(missing)


def test_a_version_1_message_cannot_claim_a_convention() -> None:
    with pytest.raises(ContractViolation, match="Additional properties are not allowed"):
        check_message(message(1, convention="toolkit"))


@pytest.mark.parametrize("claimed", [3, 0, "2", True, None])
def test_an_unknown_schema_version_is_refused(claimed: Any) -> None:
    with pytest.raises(ContractViolation) as caught:
        check_message(message(schema_version=claimed))
    assert caught.value.category == SCHEMA_VIOLATION
    assert caught.value.reason.startswith(f"schema_violation: schema_version: {claimed!r} is "
                                          "not one of [1, 2]")


def test_null_values_are_accepted_and_land_as_null() -> None:
    document = message(cells=[{"row": 0, "col": col, **dict.fromkeys(PARAMETER_NAMES)}
                              for col in range(2)])
    rows = cell_rows(IMAGE.encode(), encode(document))
    assert all(dict(zip(CELL_COLUMNS, row, strict=True))[name] is None
               for row in rows for name in PARAMETER_NAMES)


def test_the_key_is_checked_by_the_producer_check_too() -> None:
    with pytest.raises(ContractViolation) as caught:
        check_record(b"another", encode(message()))
    assert caught.value.category == KEY_MISMATCH


def test_wrong_types_keep_their_category() -> None:
    with pytest.raises(ContractViolation) as caught:
        check_message(message(patch_size="64"))
    assert caught.value.category == WRONG_TYPE


# Documents near the valid ones: each field replaced by assorted JSON values.
json_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**41), st.floats(),
                        st.text(max_size=4), st.sampled_from(
                            ["2022-01-01T00:03:52Z", "2022-01-01T00:03:52+0100",
                             "2022-01-01T00:03Z", "toolkit", "published", "1"]))
fields = st.sampled_from([*message(), "extra"])


@settings(max_examples=300, deadline=None)
@given(version=st.sampled_from(SCHEMA_VERSIONS),
       changes=st.dictionaries(fields, json_values, max_size=3),
       cell_changes=st.dictionaries(st.sampled_from(["row", "col", *PARAMETER_NAMES]),
                                    json_values, max_size=3))
def test_whatever_the_contract_accepts_its_published_schema_accepts(
        version: int, changes: dict[str, Any], cell_changes: dict[str, Any]) -> None:
    document = message(version, **changes)
    if isinstance(document.get("cells"), list):
        document["cells"][0] = {**document["cells"][0], **cell_changes}
    try:
        check_message(json.loads(encode(document)))
    except ContractViolation:
        return
    validator = jsonschema.Draft202012Validator(
        message_schema(version), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert validator.is_valid(json.loads(encode(document)))


def test_the_producer_writes_the_current_version() -> None:
    assert CURRENT_SCHEMA_VERSION == 2 == SCHEMA_VERSIONS[-1]


CELL_SCHEMA = message_schema(CURRENT_SCHEMA_VERSION)["properties"]["cells"]["items"]
CELL_FIELDS = ["row", "col", *PARAMETER_NAMES]
cell_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**40), st.floats(),
                        st.text(max_size=3), st.lists(st.integers(), max_size=2))
cells = st.one_of(
    st.dictionaries(st.sampled_from([*CELL_FIELDS, "extra"]), cell_values,
                    max_size=len(CELL_FIELDS) + 1),
    st.fixed_dictionaries({name: cell_values for name in CELL_FIELDS}),
    st.fixed_dictionaries({"row": st.integers(0, 2**32), "col": st.integers(0, 99),
                           **dict.fromkeys(PARAMETER_NAMES, st.one_of(st.none(), st.floats()))}),
    cell_values,
)


@settings(max_examples=400, deadline=None)
@given(cells)
def test_compiled_check_never_accepts_a_cell_the_schema_refuses(cell: Any) -> None:
    if compile_cell_check(CELL_SCHEMA)(cell):
        assert jsonschema.Draft202012Validator(CELL_SCHEMA).is_valid(cell)


def test_compiled_check_accepts_a_typical_cell_and_refuses_a_row_beyond_int4() -> None:
    cell = {"row": 3, "col": 0, **dict.fromkeys(PARAMETER_NAMES, 0.5)}
    assert compile_cell_check(CELL_SCHEMA)(cell)
    assert not compile_cell_check(CELL_SCHEMA)({**cell, "row": 2**31})


@pytest.mark.parametrize("change", [
    {"pattern": "^a"},                                   # unknown keyword on the cell
    {"properties": {"row": {"type": "integer", "multipleOf": 9}}},  # unknown on a field
])
def test_compiler_refuses_keywords_it_does_not_understand(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not understood"):
        compile_cell_check({**CELL_SCHEMA, **change})
