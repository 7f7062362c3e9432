"""The version 1 message contract as the sink enforces it: fast when a message is valid,
exact about why when it is not.

The JSON Schema in nasaflow/schemas/image-parameters.v1.json is the contract. Running the
jsonschema validator over every cell costs about 55 us a cell on this hardware (18k
cells/s on one core), which would make validation, not PostgreSQL, the slowest step of the
sink. So the schema is applied in two parts: jsonschema validates the message with only
its first cell (the envelope), and every cell then goes through a check compiled from the
schema's own cell definition (required fields, types, minimums). When that quick check
finds a fault, the full jsonschema validation runs and its error becomes the reason: the
schema file stays the only authority, the compiled check is only a shortcut for the
common case and refuses to compile a schema keyword it does not understand.

Some rules the schema cannot express are enforced too, because a message breaking them
would either be wrong data or make PostgreSQL refuse the whole batch: part < parts, every
cell inside the declared grid, integers within PostgreSQL's integer range, numbers finite
(non-finite values travel as null), an image id PostgreSQL can store (no NUL, no lone
surrogate).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

#: Reason categories stored at the start of dead_letters.reason.
NOT_JSON = "not_json"
SCHEMA_VIOLATION = "schema_violation"
WRONG_TYPE = "wrong_type"
KEY_MISMATCH = "key_mismatch"

#: Longest detail kept in a reason (an error can quote a whole offending value).
DETAIL_MAX_CHARS = 400
#: PostgreSQL integer columns (patch_size, cell_row, cell_col) hold at most this.
INT4_MAX = 2**31 - 1
#: Largest finite double: a number outside +-this (or NaN) cannot be a finite float8.
FLOAT8_MAX = 1.7976931348623157e308
#: Integer fields of the envelope that end up in PostgreSQL integer columns.
ENVELOPE_INTEGERS = ("patch_size", "part", "parts")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,), "number": (int, float), "null": (type(None),),
}


class ContractViolation(ValueError):
    """A message the sink cannot accept; `reason` is "<category>: <detail>"."""

    def __init__(self, category: str, detail: str) -> None:
        if len(detail) > DETAIL_MAX_CHARS:
            detail = detail[: DETAIL_MAX_CHARS - 3] + "..."
        # Stored as PostgreSQL text: no NUL, no lone surrogates.
        detail = detail.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()
        super().__init__(f"{category}: {detail}")
        self.category = category
        self.reason = f"{category}: {detail}"


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The version 1 JSON Schema shipped with the package."""
    text = resources.files("nasaflow").joinpath("schemas", "image-parameters.v1.json")
    return json.loads(text.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def parameter_names() -> tuple[str, ...]:
    """The cell's parameter fields in schema order: every cell property but row and col."""
    cell = load_schema()["properties"]["cells"]["items"]
    return tuple(name for name in cell["properties"] if name not in ("row", "col"))


def parse_datetime(text: str) -> datetime:
    """An RFC 3339 date-time as an aware datetime (ValueError if it is none)."""
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))


def decode(value: bytes | None) -> Any:
    """The JSON document in a Kafka record value.

    Raises:
        ContractViolation(NOT_JSON): no value, not UTF-8, not JSON, or NaN/Infinity
            literals (not JSON; non-finite values must be sent as null).
    """
    if value is None:
        raise ContractViolation(NOT_JSON, "the record has no value")
    try:
        return json.loads(value.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise ContractViolation(NOT_JSON, f"not UTF-8: {exc}") from exc
    except ValueError as exc:
        raise ContractViolation(NOT_JSON, str(exc)) from exc


def check_message(document: Any) -> dict[str, Any]:
    """`document` if it is a valid version 1 message; integral floats in integer fields
    (which JSON Schema accepts) come back as ints.

    Raises:
        ContractViolation(WRONG_TYPE): a field has a type the schema does not allow.
        ContractViolation(SCHEMA_VIOLATION): any other breach of the contract.
    """
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list) or not cells:
        _raise_first_error(document)
        raise AssertionError("the schema requires a non-empty cells array")
    _raise_first_error({**document, "cells": cells[:1]})
    document = _checked_envelope(document)
    grid = document["grid"]
    if not _cells_ok(cells, grid["rows"], grid["cols"]):
        _raise_first_error(document)
        document = {**document, "cells": [_checked_cell(index, cell, grid)
                                          for index, cell in enumerate(cells)]}
    return document


def _raise_first_error(document: Any) -> None:
    """Raise the most relevant jsonschema error of `document`, if it has any."""
    import jsonschema

    errors = itertools.islice(_validator().iter_errors(document), 50)
    error = jsonschema.exceptions.best_match(errors)
    if error is None:
        return
    where = "/".join(str(step) for step in error.absolute_path) or "message"
    category = WRONG_TYPE if error.validator == "type" else SCHEMA_VIOLATION
    raise ContractViolation(category, f"{where}: {error.message}")


def _checked_envelope(document: dict[str, Any]) -> dict[str, Any]:
    """Rules on the envelope that the schema cannot state; integers normalised to int."""
    image_id = document["image_id"]
    if "\x00" in image_id:
        raise ContractViolation(SCHEMA_VIOLATION, "image_id: contains a NUL character")
    try:
        image_id.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ContractViolation(SCHEMA_VIOLATION,
                                f"image_id: not valid Unicode ({exc.reason})") from exc
    grid = document["grid"]
    for where, value in [*((name, document[name]) for name in ENVELOPE_INTEGERS),
                         ("grid/rows", grid["rows"]), ("grid/cols", grid["cols"])]:
        if value > INT4_MAX:
            raise ContractViolation(SCHEMA_VIOLATION, f"{where}: {value} exceeds {INT4_MAX}")
    if document["part"] >= document["parts"]:
        raise ContractViolation(
            SCHEMA_VIOLATION, f"part: {document['part']} is not below parts ({document['parts']})")
    return {**document, **{name: int(document[name]) for name in ENVELOPE_INTEGERS},
            "schema_version": int(document["schema_version"]),
            "grid": {"rows": int(grid["rows"]), "cols": int(grid["cols"])}}


def _checked_cell(index: int, cell: dict[str, Any], grid: Mapping[str, int]) -> dict[str, Any]:
    """A schema-valid cell that the quick check refused: explain why, or normalise it."""
    row, col = int(cell["row"]), int(cell["col"])
    if row >= grid["rows"] or col >= grid["cols"]:
        raise ContractViolation(
            SCHEMA_VIOLATION,
            f"cells/{index}: cell ({row}, {col}) is outside the {grid['rows']}x{grid['cols']} grid")
    for name in parameter_names():
        value = cell[name]
        if value is not None and not -FLOAT8_MAX <= value <= FLOAT8_MAX:
            raise ContractViolation(
                SCHEMA_VIOLATION, f"cells/{index}/{name}: {value!r} is not a finite number")
    return {**cell, "row": row, "col": col}


def _cells_ok(cells: list[Any], rows: int, cols: int) -> bool:
    """True when every cell passes the compiled check and lies inside the grid."""
    cell_ok = _compiled_cell_check()
    for cell in cells:
        if not cell_ok(cell):
            return False
        if cell["row"] >= rows or cell["col"] >= cols:
            return False
    return True


@lru_cache(maxsize=1)
def _compiled_cell_check() -> Callable[[Any], bool]:
    return compile_cell_check(load_schema()["properties"]["cells"]["items"])


def compile_cell_check(cell_schema: Mapping[str, Any]) -> Callable[[Any], bool]:
    """A fast predicate equivalent to (or stricter than) `cell_schema`, plus finiteness.

    Understands exactly the keywords the version 1 cell uses: an object with
    additionalProperties false, required, and properties made of type (integer, number,
    null, or a list of them) and minimum. Stricter than JSON Schema in two ways, both
    settled by the full validation: integral floats are not taken as integers, and numbers
    must be finite.

    Raises:
        ValueError: the schema uses a keyword this compiler does not understand, so a
            changed contract can never be checked more loosely than it says.
    """
    _require_keywords(cell_schema, {"type", "additionalProperties", "required", "properties"})
    if cell_schema.get("type") != "object" or cell_schema.get("additionalProperties") is not False:
        raise ValueError("the cell must be an object with additionalProperties false")
    required = frozenset(cell_schema.get("required", ()))
    allowed = frozenset(cell_schema["properties"])
    fields: list[tuple[str, tuple[type, ...], float | None, bool]] = []
    for name, spec in cell_schema["properties"].items():
        _require_keywords(spec, {"type", "minimum"})
        names = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        types = tuple(itertools.chain.from_iterable(_JSON_TYPES[kind] for kind in names))
        fields.append((name, types, spec.get("minimum"), "number" in names))

    def check(cell: Any) -> bool:
        if type(cell) is not dict:
            return False
        keys = cell.keys()
        if not (required <= keys and keys <= allowed):
            return False
        for name, types, minimum, finite in fields:
            if name not in cell:
                continue
            value = cell[name]
            if type(value) not in types:
                return False
            if value is None:
                continue
            if minimum is not None and value < minimum:
                return False
            if finite and not -FLOAT8_MAX <= value <= FLOAT8_MAX:
                return False
        return True

    return check


def _require_keywords(schema: Mapping[str, Any], known: set[str]) -> None:
    unknown = set(schema) - known - {"description", "title"}
    if unknown:
        raise ValueError(f"cell schema keywords {sorted(unknown)} are not understood by the "
                         "compiled check")


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    import jsonschema

    schema = load_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_is_rfc3339)
    return validator_class(schema, format_checker=checker)


def _is_rfc3339(value: object) -> bool:
    """RFC 3339 date-time with a zone; non-strings are left to the type keyword."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    parse_datetime(value)
    return True


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (non-finite values must be sent as null)")
