"""The replay server's fault language and its armed-fault board."""

from __future__ import annotations

import pytest

from nasaflow.replay.faults import ESCAPE_DIR, NAME_KINDS, FaultBoard, hostile_name, parse_fault


def test_status_fault_with_retry_after() -> None:
    fault = parse_fault("429;retry-after=2")
    assert fault.status == 429
    assert fault.params == {"retry-after": "2"}
    assert fault.text() == "429;retry-after=2"


def test_named_fault_has_no_status() -> None:
    fault = parse_fault("truncate;bytes=1000")
    assert fault.status is None and fault.params["bytes"] == "1000"


@pytest.mark.parametrize("text,message", [
    ("", "empty"), ("explode", "fault kind"), ("429;retry=2", "parameters"),
    ("500;errno=ten", "number"), ("700", "fault kind")])
def test_bad_faults_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault(text)


def test_armed_fault_is_used_count_times_then_disarmed() -> None:
    board = FaultBoard()
    board.arm({"route": "/v2/getJP2Image/", "fault": "503", "count": 2})
    taken = [board.take("/v2/getJP2Image/?id=1") for _ in range(3)]
    assert [f.status if f else None for f in taken] == [503, 503, None]
    assert board.listing() == []


def test_armed_fault_only_hits_its_route_and_match() -> None:
    board = FaultBoard()
    board.arm({"route": "/v2/getJP2Image/", "fault": "corrupt", "count": -1, "match": "id=7"})
    assert board.take("/v2/getClosestImage/?id=7") is None
    assert board.take("/v2/getJP2Image/?id=8") is None
    for _ in range(2):
        taken = board.take("/v2/getJP2Image/?id=7")
        assert taken is not None and taken.kind == "corrupt"


@pytest.mark.parametrize("spec", [{"route": "*"}, {"fault": "503", "count": 0},
                                  {"fault": "503", "count": "x"}])
def test_bad_arm_requests_are_refused(spec: dict) -> None:
    with pytest.raises(ValueError):
        FaultBoard().arm(spec)


PATH = "AIA/2022/01/01/193/2022_01_01__00_03_52_835__SDO_AIA_AIA_193.jp2"


def test_hostile_name_faults_parse_and_rename_what_an_answer_names() -> None:
    assert all(parse_fault(kind).kind == kind for kind in NAME_KINDS)
    name = PATH.rpartition("/")[2]
    assert hostile_name("name-absolute", PATH) == f"/tmp/{ESCAPE_DIR}/{name}"
    assert hostile_name("name-dotdot", PATH) == \
        f"AIA/2022/01/01/193/{'../' * 8}{ESCAPE_DIR}/{name}"
    assert hostile_name("name-nul", PATH) == f"AIA/2022/01/01/193/2022\x00{name[4:]}"
    long = hostile_name("name-long", PATH).rpartition("/")[2]
    assert len(long) == len(name) + 300 and long.endswith("__" + "X" * 300 + "SDO_AIA_AIA_193.jp2")
    assert hostile_name("name-absolute", "123") == f"/tmp/{ESCAPE_DIR}/123"
