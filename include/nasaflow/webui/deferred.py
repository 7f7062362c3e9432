"""An ASGI app that builds the real one on its first request.

Airflow imports every plugin module in the scheduler, the dag-processor and each task
runner, not only in the api-server that serves the plugin's app. Building the nasaflow app
at import would load FastAPI, psycopg, numpy and Jinja into all of them (about a second of
CPU per task start on this machine). The plugin registers this wrapper instead: it imports
nothing heavy, and only the api-server, on the first request, pays for the real app.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class DeferredApp:
    """ASGI app delegating to `factory()` ("module:function"), called on the first request."""

    def __init__(self, factory: str) -> None:
        module, _, function = factory.partition(":")
        if not module or not function:
            raise ValueError(f"expected 'package.module:function', got {factory!r}")
        self.factory = factory
        self._app: ASGIApp | None = None

    @property
    def app(self) -> ASGIApp:
        """The real app, built on first use."""
        if self._app is None:
            module, _, function = self.factory.partition(":")
            self._app = getattr(importlib.import_module(module), function)()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
