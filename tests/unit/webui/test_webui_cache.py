"""Render cache: entries drawn once, replaced by newer versions, never seen half-written."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from nasaflow.webui.cache import RenderCache, safe_name


def _writer(calls: list[str], text: str = "drawn") -> Callable[[Path], None]:
    def render(directory: Path) -> None:
        calls.append(directory.name)
        (directory / "picture.png").write_text(text)
    return render


def test_an_entry_is_rendered_once_then_served(tmp_path: Path) -> None:
    cache, calls = RenderCache(tmp_path), list[str]()
    first = cache.fill(("heatmaps", "img", "p64", "v1"), _writer(calls))
    second = cache.fill(("heatmaps", "img", "p64", "v1"), _writer(calls))
    assert (first.hit, second.hit) == (False, True)
    assert first.path == second.path == tmp_path / "heatmaps" / "img" / "p64" / "v1"
    assert len(calls) == 1 and (first.path / "picture.png").read_text() == "drawn"


def test_find_sees_only_complete_entries(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    assert cache.find(("thumbnails", "img", "abc")) is None
    cache.fill(("thumbnails", "img", "abc"), _writer([]))
    assert cache.find(("thumbnails", "img", "abc")) == tmp_path / "thumbnails" / "img" / "abc"


def test_a_new_version_replaces_the_old_one(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    cache.fill(("heatmaps", "img", "p64", "v1"), _writer([]))
    cache.fill(("heatmaps", "img", "p32", "v1"), _writer([]))
    cache.fill(("heatmaps", "img", "p64", "v2"), _writer([]))
    assert sorted(p.name for p in (tmp_path / "heatmaps" / "img" / "p64").iterdir()) == ["v2"]
    assert cache.find(("heatmaps", "img", "p32", "v1")) is not None  # other patch size kept


def test_a_failed_render_leaves_no_entry(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)

    def fail(directory: Path) -> None:
        (directory / "half.png").write_text("half")
        raise RuntimeError("decoder crashed")

    with pytest.raises(RuntimeError, match="decoder crashed"):
        cache.fill(("thumbnails", "img", "abc"), fail)
    assert cache.find(("thumbnails", "img", "abc")) is None
    assert list((tmp_path / "thumbnails" / "img").iterdir()) == []


def test_concurrent_requests_for_a_missing_entry_render_it_once(tmp_path: Path) -> None:
    cache, calls = RenderCache(tmp_path), list[str]()
    start = threading.Barrier(8)
    hits: list[bool] = []

    def request() -> None:
        start.wait()
        hits.append(cache.fill(("heatmaps", "img", "p64", "v1"), _writer(calls)).hit)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and sorted(hits) == [False] + [True] * 7


@pytest.mark.parametrize("key", [("..", "x"), ("heatmaps", "a/b"), ("heatmaps", ".render-1"), ()])
def test_keys_must_be_plain_file_names(tmp_path: Path, key: tuple[str, ...]) -> None:
    cache = RenderCache(tmp_path)
    with pytest.raises(ValueError, match="plain file names"):
        cache.fill(key, _writer([]))
    assert cache.find(key) is None


def test_safe_name_keeps_plain_ids_and_makes_others_distinct_and_plain() -> None:
    plain = "2022_01_01__00_03_52_835__SDO_AIA_AIA_193"
    assert safe_name(plain) == plain
    odd = [safe_name(text) for text in ("a/b", "a b", "a_b/", "..", "a" * 200)]
    assert len(set(odd)) == len(odd)
    assert all("/" not in name and not name.startswith(".") and len(name) <= 128
               for name in odd)
