"""`nasaflow params`: output shapes and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from nasaflow.cli import main
from nasaflow.parameters import PARAMETER_NAMES
from nasaflow.settings import SAMPLES_DIR

SMALL = str(SAMPLES_DIR / "2013_06_24__17_31_30_84__SDO_AIA_AIA_193.jp2")


def test_json_output_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", SMALL, "--patch-size", "128"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {"image", "patch_size", "rows", "cols", "parameters"} <= set(document)
    shape = (document["image"], document["patch_size"], document["rows"], document["cols"])
    assert shape == (SMALL, 128, 3, 3)
    assert list(document["parameters"]) == list(PARAMETER_NAMES)
    for rows in document["parameters"].values():
        assert len(rows) == 3 and all(len(row) == 3 for row in rows)
    assert document["dropped"] == [26, 26]
    assert document["convention"] == "toolkit"


def test_csv_output_has_one_line_per_cell(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", SMALL, "--patch-size", "205", "--params", "mean,entropy", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["row", "col", "entropy", "mean"]
    assert [row[:2] for row in rows[1:]] == [["0", "0"], ["0", "1"], ["1", "0"], ["1", "1"]]
    assert all(float(row[3]) > 0 for row in rows[1:])


def test_histogram_and_convention_options_are_applied(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["params", SMALL, "--patch-size", "full", "--params", "entropy,std"]
    assert main(argv) == 0
    default = json.loads(capsys.readouterr().out)
    assert main([*argv, "--bins", "16", "--range", "0", "256", "--convention", "published"]) == 0
    custom = json.loads(capsys.readouterr().out)
    assert default["patch_size"] is None and default["rows"] == 1
    assert custom["parameters"]["entropy"][0][0] < default["parameters"]["entropy"][0][0] <= 8
    assert custom["parameters"]["std"][0][0] > default["parameters"]["std"][0][0]
    assert custom["convention"] == "published"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--params", "entropy,sharpness"], "unknown parameter(s) 'sharpness'"),
        (["--patch-size", "0"], "patch size must be a positive integer"),
        (["--patch-size", "big"], "patch size must be a positive integer"),
        (["--patch-size", "1000"], "larger than the image"),
        (["--patch-size", "64", "--strict"], "not divisible by patch size 64"),
        (["--bins", "16"], "--bins and --range go together"),
        (["--bins", "16", "--range", "5", "5"], "lo < hi"),
    ],
)
def test_bad_options_give_one_line_and_exit_code_2(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["params", SMALL, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err


@pytest.mark.parametrize("content", [None, b"", b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00"])
def test_unreadable_images_give_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None
) -> None:
    path = tmp_path / "broken.jp2"
    if content is not None:
        path.write_bytes(content)
    assert main(["params", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.jp2" in err


def constant_corner_image(path: Path) -> str:
    """A PNG whose top-left 16 x 16 cell is constant and the others are not."""
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    pixels[:16, :16] = 9
    Image.fromarray(pixels).save(path)
    return str(path)


def test_undefined_values_are_json_null(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = constant_corner_image(tmp_path / "corner.png")
    assert main(["params", image, "--patch-size", "16", "--params", "skewness,kurtosis,std"]) == 0
    out = capsys.readouterr().out
    assert "NaN" not in out
    document = json.loads(out)
    for name in ["skewness", "kurtosis"]:
        values = document["parameters"][name]
        assert values[0][0] is None and all(isinstance(v, float) for v in [values[0][1], *values[1]]), name
    assert document["parameters"]["std"][0][0] == 0.0


def test_undefined_values_are_empty_csv_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = constant_corner_image(tmp_path / "corner.png")
    assert main(["params", image, "--patch-size", "16", "--params", "skewness,std", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["row", "col", "std", "skewness"]
    assert rows[1] == ["0", "0", "0.0", ""]
    assert all(row[3] != "" for row in rows[2:])
