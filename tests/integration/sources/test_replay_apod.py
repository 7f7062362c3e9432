"""The replay server answers APOD requests like api.nasa.gov: gateway, service, images (§2)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import requests

from nasaflow.images.verify import verify_image


def _apod(replay, headers: dict | None = None, **params: str) -> requests.Response:
    return requests.get(f"{replay.url}/planetary/apod", params=params, headers=headers,
                        timeout=10)


def test_missing_key_is_the_gateway_403(replay) -> None:
    response = _apod(replay, date="2024-02-05")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "API_KEY_MISSING"


def test_invalid_key_is_the_gateway_403(replay) -> None:
    response = _apod(replay, api_key="not-a-key", date="2024-02-05")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "API_KEY_INVALID"


def test_entry_has_sorted_keys_rate_headers_and_local_image_urls(replay, api_key: str) -> None:
    response = _apod(replay, {"X-Api-Key": api_key}, date="2024-02-05")
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "1000"
    assert response.headers["x-ratelimit-remaining"] == "999"
    body = response.json()
    assert list(body) == sorted(body)
    assert body["media_type"] == "image" and body["service_version"] == "v1"
    assert body["url"].startswith(replay.url + "/apod/image/2402/")
    image = requests.get(body["url"], timeout=10)
    assert image.headers["Content-Type"] == "image/jpeg"
    assert verify_image(image.content, "jpeg").width == 512


def test_unknown_field_is_a_400_naming_the_allowed_ones(replay, api_key: str) -> None:
    response = _apod(replay, api_key=api_key, date="2024-02-05", hd_image="true")
    assert response.status_code == 400
    assert response.json()["msg"].startswith("Bad Request: incorrect field passed.")


def test_malformed_and_out_of_range_dates_are_400(replay, api_key: str) -> None:
    malformed = _apod(replay, api_key=api_key, date="2020-13-45")
    assert malformed.json() == {"code": 400, "service_version": "v1",
                                "msg": "time data '2020-13-45' does not match format '%Y-%m-%d'"}
    today = datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).date()
    future = _apod(replay, api_key=api_key, date="2100-01-01")
    assert future.json()["msg"] == f"Date must be between Jun 16, 1995 and {today:%b %d, %Y}."


def test_day_without_apod_is_404(replay, api_key: str) -> None:
    response = _apod(replay, api_key=api_key, date="2024-02-09")
    assert response.status_code == 404
    assert response.json()["msg"] == "No data available for date: 2024-02-09"


def test_range_skips_missing_days_and_thumbs_adds_video_thumbnails(replay, api_key: str) -> None:
    entries = _apod(replay, api_key=api_key, start_date="2024-02-05", end_date="2024-02-10",
                    thumbs="true").json()
    assert [e["date"] for e in entries] == ["2024-02-05", "2024-02-06", "2024-02-07",
                                            "2024-02-08", "2024-02-10"]
    video = entries[2]
    assert video["media_type"] == "video" and video["thumbnail_url"].endswith("_thumb.jpg")
    assert "url" not in entries[3] and entries[3]["media_type"] == "other"


def test_unreadable_page_is_the_services_500_alone_and_inside_any_range(replay,
                                                                      api_key: str) -> None:
    alone = _apod(replay, api_key=api_key, date="2024-02-11")
    assert alone.status_code == 500
    assert alone.json() == {"code": 500, "msg": "Internal Service Error", "service_version": "v1"}
    inside = _apod(replay, api_key=api_key, start_date="2024-02-05", end_date="2024-02-12")
    assert (inside.status_code, inside.json()["msg"]) == (500, "Internal Service Error")
    assert inside.headers["X-RateLimit-Remaining"] == "998"  # the gateway counted both
    before = _apod(replay, api_key=api_key, start_date="2024-02-05", end_date="2024-02-10")
    assert before.status_code == 200 and len(before.json()) == 5


def test_bad_field_combination_is_400(replay, api_key: str) -> None:
    response = _apod(replay, api_key=api_key, date="2024-02-05", count="2")
    assert "invalid field combination" in response.json()["msg"]


def test_demo_key_budget_ends_in_429_with_retry_after(replay) -> None:
    statuses = [_apod(replay, api_key="DEMO_KEY", date="2024-02-05") for _ in range(31)]
    assert [r.status_code for r in statuses[:30]] == [200] * 30
    assert statuses[29].headers["X-RateLimit-Remaining"] == "0"
    over = statuses[30]
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "OVER_RATE_LIMIT"
    assert 3500 < int(over.headers["Retry-After"]) <= 3601
