"""The export's selection: validation, its SQL, the Arrow schema, and the command's errors."""

from __future__ import annotations

from datetime import date

import pytest

from nasaflow.cli import main
from nasaflow.export import ExportError, Selection, selection_query


def make(**changes: object) -> Selection:
    fields: dict[str, object] = {"start": date(2022, 1, 1), "end": date(2022, 1, 31),
                                 "wavelengths": ("304",), "parameters": ("entropy",),
                                 "patch_size": 64}
    fields.update(changes)
    return Selection(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "message"), [
    ({"end": date(2021, 12, 31)}, "is before --from"),
    ({"parameters": ("entropy", "colour")}, "unknown parameter.*colour"),
    ({"parameters": ()}, "no parameter"),
    ({"patch_size": 0}, "at least 1"),
])
def test_bad_selections_are_refused_with_the_reason(changes: dict[str, object],
                                                    message: str) -> None:
    with pytest.raises(ExportError, match=message):
        make(**changes)


def test_the_range_ends_after_its_last_day_and_channels_filter_only_when_given() -> None:
    _, params = selection_query(make())
    assert params["stop"] == date(2022, 2, 1)
    assert params["wavelengths"] == ["304"]
    query, _ = selection_query(make(wavelengths=()))
    assert "wavelength = ANY" not in query.as_string(None)
    assert "wavelength = ANY" in selection_query(make())[0].as_string(None)


def test_the_schema_lists_the_asked_parameters_in_order_after_the_image_and_cell() -> None:
    schema = make(parameters=("mean", "entropy")).schema()
    assert schema.names[-2:] == ["mean", "entropy"]
    assert schema.names[:5] == ["image_id", "source", "instrument", "wavelength", "observed_at"]


@pytest.mark.parametrize(("arguments", "message"), [
    (["--from", "2022-01-02", "--to", "2022-01-01"], "is before --from"),
    (["--from", "2022-01-01", "--to", "2022-01-01", "--params", "nope"], "unknown parameter"),
])
def test_the_command_names_a_bad_selection_and_exits_2(
        arguments: list[str], message: str, tmp_path: object,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", *arguments, "-o", f"{tmp_path}/out.parquet"]) == 2
    assert message in capsys.readouterr().err


def test_the_command_refuses_a_date_that_is_not_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--from", "2022-13-01", "--to", "2022-01-01", "-o", "x.parquet"])
    assert exit_info.value.code == 2
    assert "not a date" in capsys.readouterr().err
