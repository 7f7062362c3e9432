"""`nasaflow tail` lines: what a valid message carries, why an invalid one is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np

from nasaflow.manifest import ImageRecord
from nasaflow.messaging.schema import band_messages, plan_parts
from nasaflow.messaging.tail import describe
from nasaflow.parameters import CALCULATOR_VERSION, PARAMETER_NAMES, ParameterGrid


def produced_payload() -> bytes:
    """Part 0 of a 2 x 4 grid of image "img" as the producer encodes it; entropy (0, 0) NaN."""
    image = ImageRecord(id="img", source="helioviewer", instrument="AIA", wavelength="193",
                        observed_at=datetime(2022, 1, 1, tzinfo=UTC), path="/x.jp2",
                        width=256, height=128)
    values = {name: np.arange(8, dtype=float).reshape(2, 4) for name in PARAMETER_NAMES}
    values["entropy"][0, 0] = np.nan
    layout = plan_parts(image, 64, 2, 4)
    grid = ParameterGrid(patch_size=64, rows=2, cols=4, values=values)
    return next(band_messages(image, grid, layout, [0]))[2]


def test_a_valid_message_line_names_image_part_cells_value_ranges_and_provenance() -> None:
    line = describe(produced_payload(), b"img", partition=1, offset=42)
    assert line == ("img part 1 of 1: 8 cells, rows 0-1, mean 0.00..7.00, "
                    f"entropy 1.00..7.00 (1 null), v2 toolkit calculators {CALCULATOR_VERSION} "
                    "[p1@42]")


def test_a_version_1_line_says_its_convention_was_not_recorded() -> None:
    cells = [{"row": 0, "col": 0, **dict.fromkeys(PARAMETER_NAMES, 1.5)}]
    payload = json.dumps({
        "schema_version": 1, "image_id": "img", "source": "apod", "instrument": "APOD",
        "wavelength": "apod", "observed_at": "2022-01-01T00:00:00Z", "patch_size": 64,
        "grid": {"rows": 1, "cols": 1}, "part": 0, "parts": 1,
        "published_at": "2022-01-01T00:00:01Z", "cells": cells}).encode()
    line = describe(payload, b"img", partition=0, offset=1)
    assert line.endswith("entropy 1.50..1.50, v1 (convention not recorded) [p0@1]")


def test_a_record_the_sink_would_refuse_for_its_key_is_shown_invalid() -> None:
    line = describe(produced_payload(), b"other", partition=0, offset=2)
    assert line.startswith("invalid: key_mismatch: key 'other' is not the message's image_id")


def test_an_invalid_message_line_gives_the_reason() -> None:
    line = describe(b"hello", b"img", partition=0, offset=7)
    assert line.startswith("invalid: not_json: ")
    assert line.endswith("(key 'img') [p0@7]")
