"""The parameter-message contract: one definition, used by the producer, `nasaflow tail`
and the sink.

A message is a band of cells of one image's parameter grid, keyed by the image id. The
rules live here once: `message_schema(version)` builds the JSON Schema of each version from
the library's parameter names (nasaflow.parameters.PARAMETER_NAMES, the only list of
them), and `check_record` applies it together with the rules a schema cannot state. The
producer checks every message before sending it, so whatever it can emit the sink accepts;
`tail` and the sink give the same answer, with the same reason, for any record.

Versions:

* 1: parameter values are numbers or null; nothing says how they were computed. Still
  accepted, since v1 messages may wait in Kafka.
* 2 (what the producer sends): adds `convention` (the statistical convention, "toolkit"
  or "published") and `calculator_version` (nasaflow.parameters.CALCULATOR_VERSION), so
  values computed under different rules are never mixed silently; null stands for a value
  the lab's definition leaves undefined (e.g. the skewness of a constant cell).

Beyond the schema: part < parts, every cell inside the declared grid, numbers finite
(non-finite values travel as null), text PostgreSQL can store (no NUL, no lone surrogate),
date-times in RFC 3339 with seconds and a zone, and the record's key equal to the image id.

Speed: running jsonschema over every cell costs about 55 us a cell (18k cells/s on one
core), which would make validation the slowest step of the sink. So jsonschema validates
the envelope with the first cell only, and every cell then goes through a check compiled
from the schema's cell definition. When that quick check finds a fault, the full
validation runs and its error becomes the reason; the compiled check refuses to compile
a keyword it does not understand, so it can never be looser than the schema.

The JSON files in nasaflow/schemas/ are generated from `message_schema` for readers
outside the code (`python -m nasaflow.messaging.contract` rewrites them; a test checks
they are current).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasaflow.parameters import CALCULATOR_VERSION, PARAMETER_NAMES
from nasaflow.parameters.conventions import CONVENTIONS

if TYPE_CHECKING:
    import jsonschema

#: Every version the contract accepts; the producer writes the last one.
SCHEMA_VERSIONS: tuple[int, ...] = (1, 2)
CURRENT_SCHEMA_VERSION = SCHEMA_VERSIONS[-1]
#: Where the generated JSON Schema files live.
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
#: Image sources a message may name.
SOURCES: tuple[str, ...] = ("helioviewer", "apod")
#: Longest image id, in characters.
IMAGE_ID_MAX_CHARS = 200
#: A calculator version: a short token such as "2" or "2026.12-1".
CALCULATOR_VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,39}$"
#: PostgreSQL integer columns (patch_size, cell_row, cell_col) hold at most this.
INT4_MAX = 2**31 - 1
#: Largest finite double: a number outside +-this cannot be a finite float8.
FLOAT8_MAX = 1.7976931348623157e308

#: Reason categories, stored at the start of dead_letters.reason.
NOT_JSON = "not_json"
SCHEMA_VIOLATION = "schema_violation"
WRONG_TYPE = "wrong_type"
KEY_MISMATCH = "key_mismatch"
#: Longest detail kept in a reason (an error can quote a whole offending value).
DETAIL_MAX_CHARS = 400

_TEXT_PATTERN = "^[^\\u0000]*$"  # PostgreSQL text cannot hold NUL
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
_INTEGER_FIELDS = ("schema_version", "patch_size", "part", "parts")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,), "number": (int, float), "null": (type(None),),
}


class ContractViolation(ValueError):
    """A message the contract refuses; `reason` is "<category>: <detail>"."""

    def __init__(self, category: str, detail: str) -> None:
        if len(detail) > DETAIL_MAX_CHARS:
            detail = detail[: DETAIL_MAX_CHARS - 3] + "..."
        # Reasons are stored as PostgreSQL text: no NUL, no lone surrogates.
        detail = detail.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()
        super().__init__(f"{category}: {detail}")
        self.category = category
        self.reason = f"{category}: {detail}"


@cache
def message_schema(version: int) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a version `version` message."""
    if version not in SCHEMA_VERSIONS:
        raise ValueError(f"no message schema version {version}; known: {SCHEMA_VERSIONS}")
    text = {"type": "string", "minLength": 1, "pattern": _TEXT_PATTERN}
    count = {"type": "integer", "minimum": 1, "maximum": INT4_MAX}
    index = {"type": "integer", "minimum": 0, "maximum": INT4_MAX}
    when = {"type": "string", "format": "date-time"}
    properties: dict[str, Any] = {
        "schema_version": {"const": version},
        "image_id": {**text, "maxLength": IMAGE_ID_MAX_CHARS},
        "source": {"type": "string", "enum": list(SOURCES)},
        "instrument": text,
        "wavelength": text,
        "observed_at": {**when, "description": "UTC observation time, RFC 3339 with seconds"},
        "patch_size": count,
        "grid": {"type": "object", "additionalProperties": False, "required": ["rows", "cols"],
                 "properties": {"rows": count, "cols": count}},
        "part": index,
        "parts": count,
        "published_at": when,
    }
    description = ("One Kafka message on topic image-parameters: a band of consecutive cell "
                   "rows of one image's parameter grid. Key: the image id (UTF-8), so every "
                   "part of an image lands in one partition, in order. An image is complete "
                   "when parts 0..parts-1 have landed, i.e. rows*cols cells for (image_id, "
                   "patch_size). Parameter values are numbers, or null where undefined.")
    if version >= 2:
        properties["convention"] = {
            "type": "string", "enum": list(CONVENTIONS),
            "description": "the statistical convention the values were computed in"}
        properties["calculator_version"] = {
            "type": "string", "pattern": CALCULATOR_VERSION_PATTERN,
            "description": "version of the parameter calculators that produced the values"}
    properties["cells"] = {
        "type": "array", "minItems": 1,
        "items": {
            "type": "object", "additionalProperties": False,
            "required": ["row", "col", *PARAMETER_NAMES],
            "properties": {"row": index, "col": index,
                           **{name: {"type": ["number", "null"]} for name in PARAMETER_NAMES}},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://nasaflow.invalid/schemas/{schema_file_name(version)}",
        "title": f"image-parameters message, version {version}",
        "description": description,
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }


def schema_file_name(version: int) -> str:
    """File name of the generated JSON Schema of `version`."""
    return f"image-parameters.v{version}.json"


def schema_file_text(version: int) -> str:
    """The text of the generated JSON Schema file of `version`."""
    return json.dumps(message_schema(version), indent=2, ensure_ascii=True) + "\n"


def write_schema_files(directory: Path = SCHEMA_DIR) -> list[Path]:
    """(Re)write the JSON Schema file of every version; returns their paths."""
    paths = []
    for version in SCHEMA_VERSIONS:
        path = directory / schema_file_name(version)
        path.write_text(schema_file_text(version), encoding="utf-8")
        paths.append(path)
    return paths


def message_header(convention: str) -> dict[str, Any]:
    """The fields saying how a message's values were made, as the producer writes them:
    the current schema version, the statistical convention, the calculators' version."""
    return {"schema_version": CURRENT_SCHEMA_VERSION, "convention": convention,
            "calculator_version": CALCULATOR_VERSION}


def parse_datetime(text: str) -> datetime:
    """An RFC 3339 date-time (as the contract accepts) as an aware datetime."""
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
        return json.loads(bytes(value).decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise ContractViolation(NOT_JSON, f"not UTF-8: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ContractViolation(NOT_JSON, str(exc)) from exc


def check_record(key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """The message of a Kafka record, checked against the contract, key included.

    Raises:
        ContractViolation: why the record is refused (see `check_message`, `check_key`).
    """
    message = check_message(decode(value))
    check_key(key, message["image_id"])
    return message


def check_message(document: Any) -> dict[str, Any]:
    """`document` if it is a valid message of a known version; integral floats in integer
    fields (which JSON Schema accepts) come back as ints.

    Raises:
        ContractViolation(WRONG_TYPE): a field has a type the schema does not allow.
        ContractViolation(SCHEMA_VIOLATION): any other breach of the contract.
    """
    version = _version_of(document)
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list) or not cells:
        _raise_first_error(version, document)
        raise AssertionError("the schema requires a non-empty cells array")
    _raise_first_error(version, {**document, "cells": cells[:1]})
    document = _checked_envelope(document)
    grid = document["grid"]
    if not _cells_ok(version, cells, grid["rows"], grid["cols"]):
        _raise_first_error(version, document)
        document = {**document, "cells": [_checked_cell(index, cell, grid)
                                          for index, cell in enumerate(cells)]}
    return document


def check_key(key: bytes | None, image_id: str) -> None:
    """Raise ContractViolation(KEY_MISMATCH) unless `key` is `image_id` in UTF-8.

    A record whose key names another image would sit in the wrong partition's order and
    could overwrite or be overwritten out of sequence.
    """
    if key is None:
        raise ContractViolation(KEY_MISMATCH, f"the record has no key (image_id {image_id!r})")
    try:
        text = bytes(key).decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text != image_id:
        shown = repr(text) if text is not None else repr(bytes(key))
        raise ContractViolation(KEY_MISMATCH,
                                f"key {shown} is not the message's image_id {image_id!r}")


def _version_of(document: Any) -> int:
    """The schema version a document claims; the current one when it claims none, so
    that the reason names what is missing or wrong against today's contract."""
    if not isinstance(document, dict) or "schema_version" not in document:
        return CURRENT_SCHEMA_VERSION
    claimed = document["schema_version"]
    if type(claimed) in (int, float) and claimed in SCHEMA_VERSIONS:
        return int(claimed)
    raise ContractViolation(
        SCHEMA_VIOLATION,
        f"schema_version: {claimed!r} is not one of {list(SCHEMA_VERSIONS)}")


def _raise_first_error(version: int, document: Any) -> None:
    """Raise the most relevant jsonschema error of `document`, if it has any."""
    import jsonschema

    errors = itertools.islice(_validator(version).iter_errors(document), 50)
    error = jsonschema.exceptions.best_match(errors)
    if error is None:
        return
    where = "/".join(str(step) for step in error.absolute_path) or "message"
    category = WRONG_TYPE if error.validator == "type" else SCHEMA_VIOLATION
    raise ContractViolation(category, f"{where}: {error.message}")


def _checked_envelope(document: dict[str, Any]) -> dict[str, Any]:
    """Rules on the envelope that the schema cannot state; integers normalised to int."""
    for name, value in document.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ContractViolation(SCHEMA_VIOLATION,
                                        f"{name}: not valid Unicode ({exc.reason})") from None
    if document["part"] >= document["parts"]:
        raise ContractViolation(
            SCHEMA_VIOLATION, f"part: {document['part']} is not below parts ({document['parts']})")
    grid = document["grid"]
    return {**document, **{name: int(document[name]) for name in _INTEGER_FIELDS},
            "grid": {"rows": int(grid["rows"]), "cols": int(grid["cols"])}}


def _checked_cell(index: int, cell: dict[str, Any], grid: Mapping[str, int]) -> dict[str, Any]:
    """A schema-valid cell that the quick check refused: explain why, or normalise it."""
    row, col = int(cell["row"]), int(cell["col"])
    if row >= grid["rows"] or col >= grid["cols"]:
        raise ContractViolation(
            SCHEMA_VIOLATION,
            f"cells/{index}: cell ({row}, {col}) is outside the {grid['rows']}x{grid['cols']} grid")
    for name in PARAMETER_NAMES:
        value = cell[name]
        if value is not None and not -FLOAT8_MAX <= value <= FLOAT8_MAX:
            raise ContractViolation(
                SCHEMA_VIOLATION, f"cells/{index}/{name}: {value!r} is not a finite number")
    return {**cell, "row": row, "col": col}


def _cells_ok(version: int, cells: list[Any], rows: int, cols: int) -> bool:
    """True when every cell passes the compiled check and lies inside the grid."""
    cell_ok = _compiled_cell_check(version)
    for cell in cells:
        if not cell_ok(cell):
            return False
        if cell["row"] >= rows or cell["col"] >= cols:
            return False
    return True


@cache
def _compiled_cell_check(version: int) -> Callable[[Any], bool]:
    return compile_cell_check(message_schema(version)["properties"]["cells"]["items"])


def compile_cell_check(cell_schema: Mapping[str, Any]) -> Callable[[Any], bool]:
    """A fast predicate equivalent to (or stricter than) `cell_schema`, plus finiteness.

    Understands exactly the keywords the cell uses: an object with additionalProperties
    false, required, and properties made of type (integer, number, null, or a list of
    them), minimum and maximum. Stricter than JSON Schema in two ways, both settled by the
    full validation: integral floats are not taken as integers, and numbers must be finite.

    Raises:
        ValueError: the schema uses a keyword this compiler does not understand, so a
            changed contract can never be checked more loosely than it says.
    """
    _require_keywords(cell_schema, {"type", "additionalProperties", "required", "properties"})
    if cell_schema.get("type") != "object" or cell_schema.get("additionalProperties") is not False:
        raise ValueError("the cell must be an object with additionalProperties false")
    required = frozenset(cell_schema.get("required", ()))
    allowed = frozenset(cell_schema["properties"])
    fields: list[tuple[str, tuple[type, ...], float | None, float | None, bool]] = []
    for name, spec in cell_schema["properties"].items():
        _require_keywords(spec, {"type", "minimum", "maximum"})
        names = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        types = tuple(itertools.chain.from_iterable(_JSON_TYPES[kind] for kind in names))
        fields.append((name, types, spec.get("minimum"), spec.get("maximum"), "number" in names))

    def check(cell: Any) -> bool:
        if type(cell) is not dict:
            return False
        keys = cell.keys()
        if not (required <= keys and keys <= allowed):
            return False
        for name, types, minimum, maximum, finite in fields:
            if name not in cell:
                continue
            value = cell[name]
            if type(value) not in types:
                return False
            if value is None:
                continue
            if minimum is not None and value < minimum:
                return False
            if maximum is not None and value > maximum:
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


@cache
def _validator(version: int) -> jsonschema.protocols.Validator:
    import jsonschema

    schema = message_schema(version)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_is_rfc3339)
    return validator_class(schema, format_checker=checker)


def _is_rfc3339(value: object) -> bool:
    """RFC 3339 date-time: seconds and a zone (Z or +hh:mm) required; non-strings are left
    to the type keyword."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    parse_datetime(value)
    return True


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (non-finite values must be sent as null)")


if __name__ == "__main__":
    for written in write_schema_files():
        print(f"wrote {written}")
