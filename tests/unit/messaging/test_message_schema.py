"""Encoding parameter messages: part layout, size budget, values, nulls and provenance."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from nasaflow.manifest import ImageRecord
from nasaflow.messaging.contract import ContractViolation, check_message, decode
from nasaflow.messaging.schema import (
    KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
    MESSAGE_BYTE_BUDGET,
    PartLayout,
    band_messages,
    plan_parts,
)
from nasaflow.parameters import CALCULATOR_VERSION, PARAMETER_NAMES, ParameterGrid

PUBLISHED = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def record(**overrides: object) -> ImageRecord:
    fields = dict(id="2022_01_01__00_03_52_835__SDO_AIA_AIA_193", source="helioviewer",
                  instrument="AIA", wavelength="193",
                  observed_at=datetime(2022, 1, 1, 0, 3, 52, 835000, tzinfo=UTC),
                  path="/images/a.jp2", width=4096, height=4096)
    fields.update(overrides)
    return ImageRecord(**fields)  # type: ignore[arg-type]


def grid_of(values: dict[str, np.ndarray], row_offset: int = 0,
            convention: str = "toolkit") -> ParameterGrid:
    rows, cols = next(iter(values.values())).shape
    return ParameterGrid(patch_size=64, rows=rows, cols=cols, values=values,
                         row_offset=row_offset, convention=convention)


def validate_message(payload: bytes) -> dict:
    return check_message(decode(payload))


def random_values(rows: int, cols: int, seed: int = 1) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(seed)
    return {name: generator.normal(size=(rows, cols)) * 1e3 for name in PARAMETER_NAMES}


def messages(image: ImageRecord, grid: ParameterGrid, layout: PartLayout) -> list[dict]:
    return [validate_message(payload) for _, _, payload
            in band_messages(image, grid, layout, range(layout.parts), PUBLISHED)]


def test_full_size_grid_with_longest_values_stays_within_the_budget_and_under_1_mb() -> None:
    image = record()
    layout = plan_parts(image, 64, 64, 64)
    longest = {name: np.full((64, 64), -2.2250738585072014e-308) for name in PARAMETER_NAMES}
    sizes = [len(payload) for _, _, payload
             in band_messages(image, grid_of(longest), layout, range(layout.parts))]
    assert len(sizes) == layout.parts > 1
    assert max(sizes) <= MESSAGE_BYTE_BUDGET < KAFKA_DEFAULT_MAX_MESSAGE_BYTES
    # the bound is tight enough that parts are not needlessly small
    assert max(sizes) > MESSAGE_BYTE_BUDGET // 2


def test_rows_are_spread_evenly_over_the_fewest_parts() -> None:
    layout = plan_parts(record(), 64, 64, 64)
    heights = [stop - start for start, stop in map(layout.row_range, range(layout.parts))]
    assert sum(heights) == 64
    assert max(heights) - min(heights) <= 1
    assert layout.parts == -(-64 // plan_parts(record(), 64, 64, 64).rows_per_part)


def test_a_smaller_budget_gives_more_parts_each_within_it() -> None:
    image = record()
    layout = plan_parts(image, 64, 64, 64, budget=64 * 1024)
    sizes = [len(payload) for _, _, payload in
             band_messages(image, grid_of(random_values(64, 64)), layout, range(layout.parts))]
    assert layout.parts > plan_parts(image, 64, 64, 64).parts
    assert max(sizes) <= 64 * 1024


def test_a_budget_below_one_row_of_cells_is_refused() -> None:
    with pytest.raises(ValueError, match="more than the message budget"):
        plan_parts(record(), 64, 64, 64, budget=4096)


def test_parts_carry_every_cell_once_with_header_and_part_numbers() -> None:
    image = record()
    values = random_values(64, 64)
    layout = plan_parts(image, 64, 64, 64)
    decoded = messages(image, grid_of(values), layout)
    assert [m["part"] for m in decoded] == list(range(layout.parts))
    assert {m["parts"] for m in decoded} == {layout.parts}
    first = decoded[0]
    assert first["image_id"] == image.id
    assert first["observed_at"] == "2022-01-01T00:03:52.835000Z"
    assert first["published_at"] == "2026-11-27T12:00:00.000Z"
    assert first["grid"] == {"rows": 64, "cols": 64}
    assert first["patch_size"] == 64 and first["schema_version"] == 2
    assert (first["convention"], first["calculator_version"]) == ("toolkit", CALCULATOR_VERSION)
    cells = [cell for m in decoded for cell in m["cells"]]
    assert [(c["row"], c["col"]) for c in cells] == [(r, c) for r in range(64) for c in range(64)]
    for name in PARAMETER_NAMES:
        got = np.array([c[name] for c in cells]).reshape(64, 64)
        np.testing.assert_array_equal(got, values[name])  # floats survive JSON exactly


def test_nan_and_infinities_are_encoded_as_null() -> None:
    image = record(width=256, height=128)
    values = random_values(2, 4)
    values["skewness"][0, 1] = np.nan
    values["kurtosis"][1, 2] = np.inf
    values["tamura_contrast"][1, 3] = -np.inf
    layout = plan_parts(image, 64, 2, 4)
    payload = next(band_messages(image, grid_of(values), layout, [0]))[2]
    assert b"NaN" not in payload and b"Infinity" not in payload
    cells = {(c["row"], c["col"]): c for c in validate_message(payload)["cells"]}
    assert cells[0, 1]["skewness"] is None
    assert cells[1, 2]["kurtosis"] is None
    assert cells[1, 3]["tamura_contrast"] is None
    assert cells[0, 0]["skewness"] == values["skewness"][0, 0]


def test_a_band_grid_gives_the_same_parts_as_the_full_grid() -> None:
    image = record()
    values = random_values(64, 64)
    layout = plan_parts(image, 64, 64, 64)
    start, _ = layout.row_range(2)
    _, stop = layout.row_range(4)
    band = grid_of({name: array[start:stop].copy() for name, array in values.items()},
                   row_offset=start)
    from_band = list(band_messages(image, band, layout, [2, 3, 4], PUBLISHED))
    from_full = list(band_messages(image, grid_of(values), layout, [2, 3, 4], PUBLISHED))
    assert from_band == from_full


def test_a_part_outside_the_band_is_refused() -> None:
    image = record()
    layout = plan_parts(image, 64, 64, 64)
    band = grid_of(random_values(8, 64), row_offset=8)
    with pytest.raises(ValueError, match="the grid holds rows 8..15"):
        list(band_messages(image, band, layout, [0]))


def test_a_published_convention_grid_says_so_and_fits_the_planned_budget() -> None:
    image = record()
    layout = plan_parts(image, 64, 64, 64)
    longest = {name: np.full((64, 64), -2.2250738585072014e-308) for name in PARAMETER_NAMES}
    payloads = [payload for _, _, payload in band_messages(
        image, grid_of(longest, convention="published"), layout, range(layout.parts))]
    assert max(map(len, payloads)) <= MESSAGE_BYTE_BUDGET
    assert {validate_message(p)["convention"] for p in payloads} == {"published"}


def test_a_record_the_contract_refuses_is_refused_when_planning() -> None:
    with pytest.raises(ContractViolation, match="source"):
        plan_parts(record(source="hubble"), 64, 64, 64)
