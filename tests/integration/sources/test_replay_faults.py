"""Faults switch on per request (X-Replay-Fault) or per route (POST /_replay/faults)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest
import requests

CLOSEST = "/v2/getClosestImage/?date=2022-01-01T00:00:00Z&sourceId=11"
JP2 = "/v2/getJP2Image/?date=2022-01-01T00:00:00Z&sourceId=11"


def _faulted(replay, path: str, fault: str, **kwargs) -> requests.Response:
    return requests.get(replay.url + path, headers={"X-Replay-Fault": fault}, timeout=10,
                        **kwargs)


def test_429_with_retry_after_seconds(replay) -> None:
    response = _faulted(replay, CLOSEST, "429;retry-after=2")
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"


def test_429_with_retry_after_as_http_date(replay) -> None:
    response = _faulted(replay, CLOSEST, "429;retry-after-date=120")
    when = parsedate_to_datetime(response.headers["Retry-After"])
    sent = parsedate_to_datetime(response.headers["Date"])
    assert 118 <= (when - sent).total_seconds() <= 122


def test_runtime_error_with_errno_and_its_legacy_status_200_form(replay) -> None:
    modern = _faulted(replay, CLOSEST, "500;errno=10")
    legacy = _faulted(replay, CLOSEST, "200;errno=10")
    assert modern.status_code == 500 and legacy.status_code == 200
    assert modern.json()["errno"] == legacy.json()["errno"] == 10


def test_html_with_status_200(replay) -> None:
    response = _faulted(replay, JP2, "html")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")


def test_truncated_body_advertises_the_full_length_then_closes(replay) -> None:
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _faulted(replay, JP2, "truncate;bytes=5000")
    response = _faulted(replay, JP2, "truncate;bytes=5000", stream=True)
    assert int(response.headers["Content-Length"]) > 1_000_000
    assert len(response.raw.read(2_000_000, decode_content=False)) == 5000


def test_corrupt_keeps_the_length_and_breaks_the_signature(replay) -> None:
    response = _faulted(replay, JP2, "corrupt")
    assert len(response.content) == int(response.headers["Content-Length"])
    assert response.content[:16] == b"\x00" * 16


def test_drop_closes_without_a_response(replay) -> None:
    with pytest.raises(requests.ConnectionError):
        _faulted(replay, CLOSEST, "drop")


def test_bad_fault_header_is_a_400_explaining_it(replay) -> None:
    response = _faulted(replay, CLOSEST, "explode")
    assert response.status_code == 400 and "fault kind" in response.text


def test_armed_fault_hits_count_requests_of_its_route_only(replay) -> None:
    replay.arm("/v2/getClosestImage/", "503", count=2)
    other = requests.get(replay.url + JP2, timeout=10)
    statuses = [requests.get(replay.url + CLOSEST, timeout=10).status_code for _ in range(3)]
    assert other.status_code == 200
    assert statuses == [503, 503, 200]
    log = replay.requests("/v2/getClosestImage/")
    assert [entry["fault"] for entry in log] == ["503", "503", None]


def test_control_endpoint_lists_and_clears_faults(replay) -> None:
    replay.arm("*", "slow;delay=0.01", count=-1)
    listed = requests.get(f"{replay.url}/_replay/faults", timeout=5).json()["faults"]
    assert listed == [{"route": "*", "fault": "slow;delay=0.01", "count": -1, "match": ""}]
    requests.delete(f"{replay.url}/_replay/faults", timeout=5)
    assert requests.get(f"{replay.url}/_replay/faults", timeout=5).json()["faults"] == []


def test_control_endpoint_refuses_a_bad_fault(replay) -> None:
    response = requests.post(f"{replay.url}/_replay/faults", json={"fault": "nope"}, timeout=5)
    assert response.status_code == 400 and "fault kind" in response.json()["error"]


def test_request_log_hides_api_keys(replay) -> None:
    requests.get(f"{replay.url}/planetary/apod", params={"api_key": "DEMO_KEY"}, timeout=10)
    assert replay.requests("/planetary/apod")[0]["query"] == "api_key=***"
