"""`nasaflow tail` lines: what a valid message carries, why an invalid one is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from nasaflow.manifest import ImageRecord
from nasaflow.messaging.schema import band_messages, plan_parts
from nasaflow.messaging.tail import describe
from nasaflow.parameters import PARAMETER_NAMES, ParameterGrid


def test_a_valid_message_line_names_image_part_cells_and_value_ranges() -> None:
    image = ImageRecord(id="img", source="helioviewer", instrument="AIA", wavelength="193",
                        observed_at=datetime(2022, 1, 1, tzinfo=UTC), path="/x.jp2",
                        width=256, height=128)
    values = {name: np.arange(8, dtype=float).reshape(2, 4) for name in PARAMETER_NAMES}
    values["entropy"][0, 0] = np.nan
    layout = plan_parts(image, 64, 2, 4)
    grid = ParameterGrid(patch_size=64, rows=2, cols=4, values=values)
    payload = next(band_messages(image, grid, layout, [0]))[2]
    line = describe(payload, b"img", partition=1, offset=42)
    assert line == ("img part 1 of 1: 8 cells, rows 0-1, mean 0.00..7.00, "
                    "entropy 1.00..7.00 (1 null) [p1@42]")


def test_an_invalid_message_line_gives_the_reason() -> None:
    line = describe(b"hello", b"img", partition=0, offset=7)
    assert line.startswith("invalid: not JSON: ")
    assert line.endswith("(key 'img') [p0@7]")
