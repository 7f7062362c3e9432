"""The plugin's app is built on its first request, once, not when the plugin is imported."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from nasaflow.webui.deferred import DeferredApp

BUILT: list[FastAPI] = []


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    def hello() -> dict[str, int]:
        return {"builds": len(BUILT)}

    BUILT.append(app)
    return app


async def _get_twice(app: DeferredApp) -> list[dict[str, int]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://webui") as client:
        return [(await client.get("/")).json() for _ in range(2)]


def test_the_app_is_built_on_the_first_request_only() -> None:
    BUILT.clear()
    deferred = DeferredApp(f"{__name__}:make_app")
    assert BUILT == []
    assert asyncio.run(_get_twice(deferred)) == [{"builds": 1}, {"builds": 1}]
    assert len(BUILT) == 1


def test_the_factory_must_name_module_and_function() -> None:
    with pytest.raises(ValueError, match="package.module:function"):
        DeferredApp("nasaflow.webui.app.create_app")
