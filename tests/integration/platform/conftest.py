"""The platform layer's own ordering: a test marked `last_in_layer` stops and restarts
the whole platform, so it runs after every other test of its layer (tests/<layer>/)."""

from __future__ import annotations

import pytest

MARKER = "last_in_layer"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: run after every other test of the same "
                                       "tests/<layer>/ folder (it restarts the platform)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move each marked test behind the last unmarked test of its layer."""
    def layer(item: pytest.Item) -> str:
        parts = item.nodeid.split("/")
        return parts[1] if len(parts) > 2 and parts[0] == "tests" else ""

    marked = [item for item in items if item.get_closest_marker(MARKER)]
    for item in marked:
        items.remove(item)
        same = [index for index, other in enumerate(items) if layer(other) == layer(item)]
        items.insert(same[-1] + 1 if same else len(items), item)
