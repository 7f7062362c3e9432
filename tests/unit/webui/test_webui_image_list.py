"""The image list's filters and keyset pages: the SQL they build and the links they make."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from nasaflow.webui.forms import FormError, ListView
from nasaflow.webui.queries import ImageFilter, PageKey, page_query

KEY = PageKey(datetime(2022, 1, 2, 3, 4, 5, tzinfo=UTC), "img_b")


def text(where: ImageFilter, limit: int = 13, key: PageKey | None = None) -> tuple[str, dict]:
    query, params = page_query(where, limit, key)
    return " ".join(query.as_string(None).split()), params


def test_days_are_utc_days_with_both_ends_included() -> None:
    clauses, params = ImageFilter(date(2022, 1, 1), date(2022, 1, 3)).where()
    assert [c.as_string(None) for c in clauses] == ["i.observed_at >= %(start)s",
                                                    "i.observed_at < %(stop)s"]
    assert params == {"start": datetime(2022, 1, 1, tzinfo=UTC),
                      "stop": datetime(2022, 1, 4, tzinfo=UTC)}
    assert ImageFilter().where() == ([], {})


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="ends .* before it starts"):
        ImageFilter(date(2022, 1, 3), date(2022, 1, 1))


def test_pages_are_read_by_keyset_never_by_offset() -> None:
    first, params = text(ImageFilter())
    assert "OFFSET" not in first.upper() and "(i.observed_at, i.id)" not in first
    assert "FROM images i ORDER BY i.observed_at DESC, i.id DESC LIMIT %(limit)s" in first
    older, params = text(ImageFilter(), key=KEY)
    assert "WHERE (i.observed_at, i.id) < (%(key_at)s, %(key_id)s)" in older
    assert (params["key_at"], params["key_id"], params["limit"]) == (KEY.observed_at, "img_b", 13)
    newer, _ = text(ImageFilter(), key=PageKey(KEY.observed_at, KEY.image_id, older=False))
    assert "(i.observed_at, i.id) > (%(key_at)s, %(key_id)s)" in newer
    assert newer.endswith("ORDER BY i.observed_at ASC, i.id ASC")


def test_each_channel_is_one_index_range_scan_merged_by_time() -> None:
    query, params = text(ImageFilter(date(2022, 1, 1), None, ("193", "304")), key=KEY)
    # One LATERAL subquery per channel, with every condition inside it (so each is a
    # range of the (wavelength, observed_at, id) index, newest first, LIMIT rows).
    assert "unnest(%(wavelengths)s::text[]) AS w (wavelength) CROSS JOIN LATERAL" in query
    inner = re.search(r"LATERAL \((.*?)\) AS c", query)
    assert inner is not None
    assert inner.group(1) == (
        "SELECT i.* FROM images i WHERE i.wavelength = w.wavelength AND i.observed_at >="
        " %(start)s AND (i.observed_at, i.id) < (%(key_at)s, %(key_id)s) ORDER BY"
        " i.observed_at DESC, i.id DESC LIMIT %(limit)s")
    assert params["wavelengths"] == ["193", "304"]


def test_page_keys_read_back_from_their_token() -> None:
    assert PageKey.parse(KEY.token()) == KEY
    assert PageKey.parse(KEY.token(), older=False).older is False
    assert PageKey.parse("2022-01-02T03:04:05+00:00|id|with|bars").image_id == "id|with|bars"


@pytest.mark.parametrize(("token", "message"), [
    ("2022-01-02T03:04:05+00:00", "expected <ISO time>"),
    ("2022-01-02T03:04:05|img", "UTC offset"),
    ("yesterday|img", "isoformat|Invalid"),
])
def test_bad_page_keys_are_refused(token: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PageKey.parse(token)


def test_the_list_view_reads_its_parameters_and_writes_them_back() -> None:
    view = ListView.parse("2022-01-01", "", ["193", " ", "304", "193"], KEY.token(), None, 3)
    assert view.where == ImageFilter(date(2022, 1, 1), None, ("193", "304"))
    assert view.key == KEY and view.page == 3
    older = PageKey(datetime(2022, 1, 1, tzinfo=UTC), "img_a")
    assert view.page_params(older) == [
        ("start", "2022-01-01"), ("wavelength", "193"), ("wavelength", "304"),
        ("after", older.token()), ("page", 4)]
    newer = PageKey(KEY.observed_at, KEY.image_id, older=False)
    assert view.page_params(newer)[-2:] == [("before", newer.token()), ("page", 2)]
    # Without a key it is the first page, whatever the page number says.
    assert ListView.parse(None, None, [], None, None, 7).page == 1


@pytest.mark.parametrize(("args", "message"), [
    (("2022-13-01", None, [], None, None, 1), "start: expected a date"),
    (("2022-01-02", "2022-01-01", [], None, None, 1), "before it starts"),
    ((None, None, [], "a|b", "c|d", 1), "one page key"),
    ((None, None, [], "nonsense", None, 1), "expected <ISO time>"),
])
def test_bad_list_parameters_are_refused_with_the_reason(args: tuple, message: str) -> None:
    with pytest.raises(FormError, match=message):
        ListView.parse(*args)
