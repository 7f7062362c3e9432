"""The compiled cell check: a shortcut that never lets through what the schema refuses."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasaflow.sink.contract import compile_cell_check, load_schema, parameter_names

CELL_SCHEMA = load_schema()["properties"]["cells"]["items"]
FIELDS = ["row", "col", *parameter_names()]

values = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**40), st.floats(),
                   st.text(max_size=3), st.lists(st.integers(), max_size=2))
cells = st.one_of(
    st.dictionaries(st.sampled_from([*FIELDS, "extra"]), values, max_size=len(FIELDS) + 1),
    st.fixed_dictionaries({name: values for name in FIELDS}),
    st.fixed_dictionaries({"row": st.integers(0, 99), "col": st.integers(0, 99),
                           **dict.fromkeys(parameter_names(), st.one_of(st.none(), st.floats()))}),
    values,
)


@settings(max_examples=400, deadline=None)
@given(cells)
def test_compiled_check_never_accepts_a_cell_the_schema_refuses(cell: Any) -> None:
    if compile_cell_check(CELL_SCHEMA)(cell):
        assert jsonschema.Draft202012Validator(CELL_SCHEMA).is_valid(cell)


def test_compiled_check_accepts_a_typical_cell() -> None:
    cell = {"row": 3, "col": 0, **dict.fromkeys(parameter_names(), 0.5)}
    assert compile_cell_check(CELL_SCHEMA)(cell)


@pytest.mark.parametrize("change", [
    {"pattern": "^a"},                                   # unknown keyword on the cell
    {"properties": {"row": {"type": "integer", "maximum": 9}}},  # unknown on a field
])
def test_compiler_refuses_keywords_it_does_not_understand(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not understood"):
        compile_cell_check({**CELL_SCHEMA, **change})
