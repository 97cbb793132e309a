"""The FastAPI app: its lifespan, its middleware, its error answers and its routers.

The lifespan builds store → bridge and engine (`Live`) → fan-out (`Hub`) and
closes them in reverse.
"""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import auth, httpguard, metrics, schemas
from ..club.centre import Centre
from ..club.lane import Uploader
from ..config import Settings
from ..errors import Conflict, Invalid, NotFound
from ..hub import Hub
from ..live import Live
from ..store import Store
from . import athletes, club, exports, health, heavy, live, progress, sessions, site

log = logging.getLogger("stridesync.api")
DATABASE_RETRY_AFTER_S = 5

ROUTERS = (
    health.router,
    site.router,
    live.router,
    athletes.router,
    sessions.router,
    exports.router,
    progress.router,
)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Stridesync",
        version="1",
        summary="Real-time sprint feedback: sessions, steps, reps, raw samples, live feed.",
        lifespan=_lifespan,
        docs_url=None,  # served by site.py from vendored assets: no CDN at a track
        redoc_url=None,
        responses={
            401: {"model": schemas.Problem, "description": "no valid token"},
            422: {"model": schemas.Problem, "description": "malformed or out-of-range input"},
        },
    )
    app.state.settings = settings
    app.state.auth = auth.Auth(settings)
    app.state.heavy = heavy.slots()  # rescores and reports, one at a time (api/heavy.py)
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    # Outermost: a token and the body's size are checked before a byte of body is read.
    app.add_middleware(httpguard.RequestGuard, auth=app.state.auth)
    _errors(app)
    for router in ROUTERS:
        app.include_router(router)
    if settings.club.role == "central":
        app.include_router(club.router)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    store = Store(settings.database.url)
    await store.open()
    hub = Hub(settings.live.queue_size)
    pipeline = Live(settings, store, hub)
    await pipeline.start()
    app.state.store, app.state.hub, app.state.live = store, hub, pipeline
    app.state.club = _club(settings, store, hub, pipeline)
    if app.state.club is not None:
        await app.state.club.start()
    app.state.registry = metrics.registry_for(pipeline, hub)
    log.info("service ready on %s:%d", settings.server.host, settings.server.port)
    try:
        yield
    finally:
        await pipeline.close()  # stops a session under way, stores it whole
        if app.state.club is not None:  # after the last session is stored: its upload
            await app.state.club.close()
        await hub.close()
        await store.close()


def _club(settings: Settings, store: Store, hub: Hub, pipeline: Live):
    """The centre's consumer, a lane's uploader, or nothing (docs/club.md)."""
    if settings.club.role == "central":
        return Centre(settings, store, hub)
    if settings.club.central_url:
        uploader = Uploader(settings, store)
        pipeline.on_stopped.append(uploader.wake.set)
        pipeline.club_health = uploader.health
        return uploader
    return None


def _errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        lines = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"] if p != "body") or "body"
            lines.append(f"{where}: {e['msg']}")
        return JSONResponse({"detail": "; ".join(lines)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    for kind, code in ((NotFound, 404), (Conflict, 409), (Invalid, 422)):
        app.add_exception_handler(kind, _answer(code))

    @app.exception_handler(SQLAlchemyError)
    async def database_error(request: Request, exc: SQLAlchemyError):
        """The database away (a restart, a pulled disk): 503 and a time to come back,
        not a traceback. A database that answers a ping refused the query: a bug, 500."""
        try:
            await request.app.state.store.ping()
        except Exception:
            why = str(exc).splitlines()[0][:200]
            log.warning("%s %s: the database is unavailable: %s", request.method,
                        request.url.path, why)  # fmt: skip
            return JSONResponse(
                {"detail": "the database is unavailable; try again shortly"},
                status_code=503,
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
            )
        raise exc


def _answer(status_code: int):
    async def answer(_request: Request, exc: Exception):
        return JSONResponse({"detail": str(exc)}, status_code=status_code)

    return answer
