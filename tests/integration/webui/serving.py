"""The nasaflow app served from the test process on the suite's settings.

The api-server of the user's platform shows the user's data, which tests must not write
to: page tests serve the app themselves, mounted at /nasaflow like the plugin does, with
Airflow's configured auth manager checking tokens the running api-server issues.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nasaflow.settings import Settings


@contextmanager
def serve_pages(settings: Settings, cache_dir: Path, listener: socket.socket) -> Iterator[None]:
    """The app on `settings`' database, caching under `cache_dir`, listening on
    `listener`, until the block ends."""
    import uvicorn
    from airflow.api_fastapi.app import init_auth_manager
    from fastapi import FastAPI

    from nasaflow.webui.app import create_app

    init_auth_manager()
    site = FastAPI()
    site.mount("/nasaflow", create_app(settings, cache_dir=cache_dir))
    server = uvicorn.Server(uvicorn.Config(site, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the app did not start"
        time.sleep(0.1)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)



def served_pages_fixture(cache_dir: Path, listener: socket.socket
                         ) -> Callable[[Settings], Iterator[None]]:
    """A module's autouse fixture serving the app on the test database for the module, at
    `listener`, with its render cache in `cache_dir` (removed afterwards)."""
    @pytest.fixture(scope="module", autouse=True)
    def served_pages(settings: Settings) -> Iterator[None]:
        with serve_pages(settings, cache_dir, listener):
            yield
        shutil.rmtree(cache_dir, ignore_errors=True)

    return served_pages
