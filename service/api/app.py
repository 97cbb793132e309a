"""The FastAPI app: its lifespan, its middleware, its error answers and its routers.

The lifespan runs the components the service's role needs (service/components.py:
store, hub, a crash's recovery, the club's part, the broker, the live pipeline),
started in order and closed in reverse.
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
from ..components import Component, Registry, running
from ..config import Settings
from ..cues.mqtt import mqtt_out
from ..errors import Conflict, Invalid, NotFound
from ..hub import Hub
from ..live import Live
from ..live.session import recover_interrupted
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
    hub = Hub(settings.live.queue_size)
    mqtt = mqtt_out(settings)
    pipeline = Live(settings, store, hub, mqtt)
    app.state.store, app.state.hub, app.state.live = store, hub, pipeline
    app.state.club = _club(settings, store, hub, pipeline)
    app.state.components = _components(settings, store, hub, mqtt, pipeline, app.state.club)
    app.state.registry = metrics.registry_for(pipeline, hub)
    # Closed in reverse: the live pipeline first (it stops a session under way and
    # stores it whole), then the broker (a last rep summary may be on its way), then the
    # club's part (after the last session is stored: its upload), the hub, the store.
    async with running(app.state.components):
        log.info("service ready on %s:%d", settings.server.host, settings.server.port)
        yield


def _components(settings: Settings, store: Store, hub: Hub, mqtt, pipeline: Live, club):
    """The components of this service's role, in start order (service/components.py)."""
    reg = Registry()
    reg.add(Component("store", health.database(store), store.open, store.close))
    reg.add(Component("hub", health.one("websocket", hub.health), close=hub.close))
    # Sessions a crash left recording, settled from their samples before anything can
    # read them: a lane's uploader must send the settled steps, not the ones before.
    reg.add(Component("recovery", _no_parts, start=lambda: recover_interrupted(store)))
    if club is not None:  # the centre's consumer is its job; a lane runs without uploads
        central = settings.club.role == "central"
        club_health = health.one("club", club.health)
        reg.add(Component("club", club_health, club.start, club.close, required=central))
    if mqtt is not None:

        async def close_mqtt() -> None:
            await mqtt.close(drain_s=1.0)

        mqtt_health = health.one("mqtt", mqtt.health)
        reg.add(Component("mqtt", mqtt_health, mqtt.start, close_mqtt, required=False))
    reg.add(Component("live", health.live(pipeline), pipeline.start, pipeline.close))
    return reg


async def _no_parts() -> dict[str, dict]:
    return {}


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
