"""APOD client against the replay gateway: keys, budgets, media types (§2, §6.4 tests 7-8)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from nasaflow.ingest import download_images, plan_images
from nasaflow.sources.apod import ApodClient
from nasaflow.sources.errors import (
    ApiKeyError,
    DateOutOfRangeError,
    MissingApiKeyError,
    NoImageError,
    RetryLaterError,
    UnavailableError,
)

APOD = "/planetary/apod"


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
         ) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_video_and_other_are_skipped_with_a_reason_and_never_downloaded(replay, clients,
                                                                        tmp_path) -> None:
    plan = plan_images(_utc(2024, 2, 7), _utc(2024, 2, 10), ["apod"], [], 60, clients=clients)
    assert [(p.status, p.source_ref.get("media_type")) for p in plan] == [
        ("skipped", "video"), ("skipped", "other"), ("gap", None)]
    assert "media_type 'video'" in (plan[0].reason or "")
    assert "media_type 'other' is not an image" in (plan[1].reason or "")
    assert "2024-02-09: no APOD that day" in (plan[2].reason or "")
    report = download_images(plan, clients=clients, data_dir=tmp_path)
    assert report.images == [] and replay.downloads() == []
    assert not any(tmp_path.rglob("apod_*"))


def test_images_are_downloaded_and_verified_by_format(clients, tmp_path) -> None:
    plan = plan_images(_utc(2024, 2, 5), _utc(2024, 2, 7), ["apod"], [], 60, clients=clients)
    report = download_images(plan, clients=clients, data_dir=tmp_path)
    assert [(i.id, i.width) for i in report.images] == [("apod_2024-02-05", 512),
                                                        ("apod_2024-02-06", 512)]
    assert report.images[1].path.endswith("apod/2024/02/apod_2024-02-06.png")
    assert report.images[0].source_ref["copyright"] == "NASA/SDO; AIA Science Team"


def test_missing_key_is_a_clear_error_before_any_request(replay, clients) -> None:
    clients.apod_api_key = ""
    with pytest.raises(MissingApiKeyError, match="NASAFLOW_APOD_API_KEY"):
        plan_images(_utc(2024, 2, 5), _utc(2024, 2, 6), ["helioviewer", "apod"], ["193"], 60,
                    clients=clients)
    assert replay.requests() == []


def test_key_travels_in_the_header_never_in_the_url(replay, http, api_key) -> None:
    ApodClient(replay.url, api_key, http).entry(date(2024, 2, 5))
    [request] = replay.requests(APOD)
    assert request["query"] == "date=2024-02-05"


def test_key_is_not_in_the_clients_repr(replay, http, api_key) -> None:
    assert api_key not in repr(ApodClient(replay.url, api_key, http))


def test_rejected_key_is_an_api_key_error(replay, http) -> None:
    with pytest.raises(ApiKeyError, match="API_KEY_INVALID"):
        ApodClient(replay.url, "wrong-key", http).entry(date(2024, 2, 5))
    assert len(replay.requests(APOD)) == 1


@pytest.mark.parametrize("day,message", [(date(1995, 6, 1), "before the first APOD"),
                                         (date(2100, 1, 1), "in the future")])
def test_impossible_dates_fail_before_any_request(replay, http, api_key, day: date,
                                                  message: str) -> None:
    with pytest.raises(DateOutOfRangeError, match=message):
        ApodClient(replay.url, api_key, http).entry(day)
    assert replay.requests(APOD) == []


def test_demo_key_budget_of_30_stops_before_the_31st_request(replay, http) -> None:
    client = ApodClient(replay.url, "DEMO_KEY", http, reserve_fraction=0.0)
    started = datetime.now(UTC)
    with pytest.raises(RetryLaterError) as caught:
        for _ in range(40):
            client.entry(date(2024, 2, 5))
    sent = replay.requests(APOD)
    assert len(sent) == 30
    assert all(entry["status"] == 200 for entry in sent)
    assert abs((caught.value.retry_at - (started + timedelta(hours=1))).total_seconds()) < 5


def test_default_reserve_keeps_five_percent_of_the_budget(replay, http) -> None:
    client = ApodClient(replay.url, "DEMO_KEY", http)
    with pytest.raises(RetryLaterError, match="reserve is 1"):
        for _ in range(40):
            client.entry(date(2024, 2, 5))
    assert len(replay.requests(APOD)) == 29


def test_budget_counts_error_answers_too(replay, http) -> None:
    client = ApodClient(replay.url, "DEMO_KEY", http, reserve_fraction=0.0)
    with pytest.raises(RetryLaterError):
        for _ in range(40):
            with pytest.raises(NoImageError):
                client.entry(date(2024, 2, 9))  # 404: no APOD that day
    sent = replay.requests(APOD)
    assert len(sent) == 30 and {entry["status"] for entry in sent} == {404}


def test_backfill_asks_one_range_request_per_30_days(replay, clients) -> None:
    plan = plan_images(_utc(2024, 1, 1), _utc(2024, 2, 11), ["apod"], [], 60, clients=clients)
    assert [r["query"] for r in replay.requests(APOD)] == [
        "start_date=2024-01-01&end_date=2024-01-30", "start_date=2024-01-31&end_date=2024-02-10"]
    assert len(plan) == 41
    assert [p.id for p in plan if p.status == "download"] == [
        "apod_2024-02-05", "apod_2024-02-06", "apod_2024-02-10"]


def test_failing_page_is_skipped_with_the_reason_and_its_neighbours_planned(replay, clients,
                                                                           sleeps) -> None:
    plan = plan_images(_utc(2024, 2, 5), _utc(2024, 2, 12), ["apod"], [], 60, clients=clients)
    by_day = {p.requested_at[0].date(): p for p in plan}
    skipped = by_day[date(2024, 2, 11)]
    assert skipped.status == "skipped"
    assert "APOD 2024-02-11: the service answered HTTP 500 'Internal Service Error'" in (
        skipped.reason or "")
    assert [by_day[date(2024, 2, day)].status for day in (5, 6, 10)] == ["download"] * 3
    # The failing span is halved down to the failing date; no request is repeated.
    assert [r["query"] for r in replay.requests(APOD)] == [
        "start_date=2024-02-05&end_date=2024-02-11", "start_date=2024-02-05&end_date=2024-02-08",
        "start_date=2024-02-09&end_date=2024-02-11", "start_date=2024-02-09&end_date=2024-02-10",
        "date=2024-02-11"]
    assert sleeps == []


def test_a_failing_apod_date_leaves_the_helioviewer_plan_intact(replay, clients) -> None:
    plan = plan_images(_utc(2024, 2, 11), _utc(2024, 2, 12), ["helioviewer", "apod"], ["193"],
                       360, clients=clients)
    assert [p.status for p in plan if p.source == "apod"] == ["skipped"]
    assert len([p for p in plan if p.source == "helioviewer"]) == 4
    assert [r["query"] for r in replay.requests(APOD)] == ["date=2024-02-11"]


def test_service_failing_on_every_date_is_retried_later_not_skipped(replay, clients,
                                                                   monkeypatch) -> None:
    calendar = replay.server.state.apod.calendar
    monkeypatch.setattr(calendar, "unreadable",
                        {date(2024, 2, 1) + timedelta(days=n) for n in range(10)})
    with pytest.raises(UnavailableError, match="the service is failing, not one date's page"):
        plan_images(_utc(2024, 2, 1), _utc(2024, 2, 11), ["apod"], [], 60, clients=clients)
    # Halved down to three dates failing alone, then given up: 7 requests, not 19.
    assert len(replay.requests(APOD)) == 7
