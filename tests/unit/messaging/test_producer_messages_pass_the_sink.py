"""Every message the producer can emit passes the sink, with its values intact: hypothesis
over the producer's inputs (image record, grid, values including NaN and infinities,
convention). A record the contract refuses is refused when planning, before any work."""

from __future__ import annotations

import math
from datetime import UTC

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nasaflow.manifest import ImageRecord
from nasaflow.messaging.contract import ContractViolation
from nasaflow.messaging.schema import band_messages, plan_parts
from nasaflow.parameters import CALCULATOR_VERSION, PARAMETER_NAMES, ParameterGrid
from nasaflow.parameters.conventions import CONVENTIONS
from nasaflow.sink.records import CELL_COLUMNS, cell_rows

text = st.text(min_size=1, max_size=30)
records = st.builds(
    ImageRecord,
    id=st.one_of(st.from_regex(r"[0-9A-Za-z_]{1,60}", fullmatch=True), text,
                 st.text(min_size=190, max_size=210)),
    source=st.sampled_from(["helioviewer", "apod", "hubble"]),
    instrument=text, wavelength=text,
    observed_at=st.datetimes(timezones=st.just(UTC)),
    path=st.just("/images/x.jp2"), width=st.just(64), height=st.just(64),
)
values = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def grids(draw: st.DrawFn) -> ParameterGrid:
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    arrays_ = {name: draw(arrays(np.float64, (rows, cols), elements=values))
               for name in PARAMETER_NAMES}
    return ParameterGrid(patch_size=draw(st.sampled_from([1, 16, 64, 1024])), rows=rows,
                         cols=cols, values=arrays_, convention=draw(st.sampled_from(CONVENTIONS)))


@settings(max_examples=300, deadline=None)
@given(record=records, grid=grids(), budget=st.sampled_from([2048, 256 * 1024]))
def test_every_message_the_producer_emits_passes_the_sink(record: ImageRecord,
                                                         grid: ParameterGrid,
                                                         budget: int) -> None:
    assert grid.patch_size is not None  # grids() always draws a cell size
    try:
        layout = plan_parts(record, grid.patch_size, grid.rows, grid.cols, budget)
    except ContractViolation:
        # refused before any work: the producer emits nothing for this record
        return
    except ValueError as exc:
        assert "more than the message budget" in str(exc)
        return
    landed: dict[tuple[int, int], dict[str, object]] = {}
    for _, count, payload in band_messages(record, grid, layout, range(layout.parts)):
        rows = cell_rows(record.id.encode("utf-8"), payload)  # raises if the sink refuses
        assert len(rows) == count
        for values in rows:
            cell = dict(zip(CELL_COLUMNS, values, strict=True))
            landed[cell["cell_row"], cell["cell_col"]] = cell
    assert len(landed) == grid.rows * grid.cols
    for (row, col), cell in landed.items():
        assert (cell["image_id"], cell["schema_version"]) == (record.id, 2)
        assert (cell["convention"], cell["calculator_version"]) == (grid.convention,
                                                                    CALCULATOR_VERSION)
        for name in PARAMETER_NAMES:
            sent = float(grid.values[name][row, col])
            assert cell[name] == (sent if math.isfinite(sent) else None)


@settings(max_examples=100, deadline=None)
@given(record=records)
def test_a_record_is_refused_at_planning_exactly_when_the_sink_would_refuse_it(
        record: ImageRecord) -> None:
    acceptable = (record.source != "hubble" and len(record.id) <= 200
                  and all("\x00" not in field and _encodable(field)
                          for field in (record.id, record.instrument, record.wavelength)))
    try:
        plan_parts(record, 64, 1, 1)
    except ContractViolation:
        assert not acceptable
    else:
        assert acceptable


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
