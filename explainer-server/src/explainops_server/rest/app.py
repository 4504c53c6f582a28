"""The FastAPI application factory. Nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from explainops_server.rest.errors import install_error_handlers
from explainops_server.rest.hot_routes import HotRoutes, hot_path
from explainops_server.rest.middleware import RequestGuard
from explainops_server.rest.openapi import complete_schemas, install_offline_docs
from explainops_server.rest.routes import BODY_OPERATIONS, build_router
from explainops_server.service.dataplane import DataPlane
from explainops_server.settings import ServerSettings


def console_directory() -> Path | None:
    path = Path(str(files("explainops_server") / "console"))
    return path if path.is_dir() else None


class ExplainOpsApp(FastAPI):
    """FastAPI, except that the request-heavy routes matched by `hot_routes` skip the framework."""

    hot_routes: HotRoutes | None = None
    hot_app: RequestGuard | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot_routes is not None and self.hot_app is not None:
            matched = self.hot_routes.match(scope)
            if matched is not None:
                scope["explainops.hot_route"] = matched
                await self.hot_app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = get_openapi(
                title=self.title, version=self.version, description=self.description, routes=self.routes
            )
            self.openapi_schema = complete_schemas(document, [op.request for op in BODY_OPERATIONS])
        return self.openapi_schema


def create_app(settings: ServerSettings, dataplane: DataPlane | None = None) -> FastAPI:
    """Build the app. Without a `dataplane`, one is built and loaded here (may raise ExplainOpsError)."""
    if dataplane is None:
        dataplane = DataPlane(settings)
        dataplane.load()
    plane = dataplane

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await plane.aclose()

    from explainops_server import __version__

    app = ExplainOpsApp(
        title="ExplainOps server",
        version=__version__,
        description="KServe V1/V2 predict, Alibi explanations and a durable feedback API for one model.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by install_offline_docs, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.dataplane = plane
    install_error_handlers(app)
    app.include_router(build_router(settings))
    install_offline_docs(app)
    console = console_directory()
    if console is not None and plane.records:
        app.mount("/console", StaticFiles(directory=console, html=True), name="console")
    app.add_middleware(RequestGuard, max_body=settings.max_body_bytes)
    app.hot_routes, app.hot_app = hot_path(plane, settings)
    return app
