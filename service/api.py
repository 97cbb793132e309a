"""The FastAPI app: REST under /api, the live websocket, health, metrics, the dashboard.

The lifespan builds store → bridge and engine (`Live`) → fan-out (`Hub`) and
closes them in reverse. Reference: docs/api.md, and /docs on a running
service (OpenAPI).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from sqlalchemy import and_, func, or_, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import auth, export, httpguard, metrics, schemas
from .config import Settings
from .engine import MODEL_VERSION, AthleteInfo, Baseline
from .hub import Hub
from .live import Conflict, Live, session_json
from .recorder import Rescore, stream_from_json
from .store import Athlete, Mark, RawChunk, Rep, Session, SessionStream, Step, Store

log = logging.getLogger("stridesync.api")

DASHBOARD = Path(__file__).resolve().parent / "dashboard"  # package data: in the wheel
Id = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
MODEL_VERSIONS = (MODEL_VERSION,)  # the scoring models this engine can run
RESCORE_PAGE = 200  # raw chunks a page: about 12 s of the standard rig


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        store = Store(settings.database.url)
        await store.open()
        hub = Hub(settings.live.queue_size)
        live = Live(settings, store, hub)
        await live.start()
        app.state.store, app.state.hub, app.state.live = store, hub, live
        app.state.registry = metrics.registry_for(live, hub)
        log.info("service ready on %s:%d", settings.server.host, settings.server.port)
        try:
            yield
        finally:
            await live.close()  # stops a session under way, stores it whole
            await hub.close()
            await store.close()

    app = FastAPI(
        title="Stridesync",
        version="1",
        summary="Real-time sprint feedback: sessions, steps, reps, raw samples, live feed.",
        lifespan=lifespan,
        docs_url=None,  # served below from vendored assets: no CDN at a track
        redoc_url=None,
        responses={
            401: {"model": schemas.Problem, "description": "no valid token"},
            422: {"model": schemas.Problem, "description": "malformed or out-of-range input"},
        },
    )
    app.state.settings = settings
    app.state.auth = auth.Auth(settings)
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
    _routes(app)
    return app


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

    @app.exception_handler(Conflict)
    async def conflict(_request: Request, exc: Conflict):
        return JSONResponse({"detail": str(exc)}, status_code=409)


def _store(request: Request) -> Store:
    return request.app.state.store


def _live(request: Request) -> Live:
    return request.app.state.live


Viewer = Depends(auth.viewer)
Admin = Depends(auth.admin)


def _routes(app: FastAPI) -> None:
    # --- health, metrics, dashboard ------------------------------------------------------

    @app.get("/healthz", tags=["service"])
    async def healthz(request: Request):
        """Each component's health; 503 when one is failing."""
        live = _live(request)
        store = _store(request)
        db_ok = True
        try:
            async with store.session() as s:
                await s.execute(select(1))
        except Exception as exc:
            db_ok, db_error = False, str(exc).splitlines()[0]
        stats = live.bridge.stats()
        storage = live.storage_health()
        parts = {
            "database": {"ok": db_ok, **({} if db_ok else {"error": db_error})},
            "storage": storage,
            "bridge": {
                "ok": True,
                "devices": len(stats),
                "connected": sum(s.connected for s in stats),
            },
            "engine": {
                "ok": not live.overloaded,
                "recording": live.recording is not None,
                "lag_s": round(live.counters.engine_lag_s, 4),
                "overloaded": live.overloaded,
                "peak_lag_s": round(live.peak_lag_s, 4),
                "overloads": live.counters.overloads,
                "held_s": round(live.merge.held_s(), 3) if live.merge else 0.0,
            },
            "websocket": {"ok": True, "clients": len(live.hub.clients)},
        }
        if live.mqtt is not None:
            parts["mqtt"] = live.mqtt.health()
        # Without its database the service cannot do its job (503); without the broker
        # only the cues stop: reported, not failing.
        ok = parts["database"]["ok"] and parts["storage"]["ok"]
        if storage["behind"]:  # stored late, but stored: degraded, not failing
            parts["storage"] = dict(storage, ok=False)
        degraded = [k for k, p in parts.items() if not p["ok"]]
        status = "failing" if not ok else ("degraded" if degraded else "ok")
        return JSONResponse(
            {"ok": ok, "status": status, "degraded": degraded, "components": parts},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["service"], response_class=Response)
    async def prometheus(request: Request):
        """Prometheus text format."""
        return Response(metrics.render(request.app.state.registry), media_type=metrics.CONTENT_TYPE)

    dash = Path(app.state.settings.server.dashboard_dir or DASHBOARD)

    @app.get("/", include_in_schema=False)
    async def index():
        page = dash / "index.html"
        if not page.is_file():
            return JSONResponse({"detail": "no dashboard installed; the API is at /docs"}, 404)
        return FileResponse(page)

    @app.get("/dashboard/{path:path}", include_in_schema=False)
    async def static(path: str):
        try:  # a NUL byte or an over-long name is not a file either
            f = (dash / path).resolve()
            found = f.is_relative_to(dash.resolve()) and f.is_file()
        except (OSError, ValueError):
            found = False
        if not found:
            raise HTTPException(404, "not found")
        return FileResponse(f)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui():
        vendor = "/dashboard/vendor/swagger-ui"
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="Stridesync API",
            swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
            swagger_css_url=f"{vendor}/swagger-ui.css",
            swagger_favicon_url=f"{vendor}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to a public validator
        )

    # --- status and the websocket ----------------------------------------------------

    @app.get("/api/status", tags=["live"], dependencies=[Viewer])
    async def status(request: Request):
        """Devices, the session under way, storage and clients: as the websocket's status."""
        return _live(request).status()

    @app.post("/api/ws-ticket", tags=["live"], response_model=schemas.Ticket)
    async def ws_ticket(request: Request, role: auth.Role = Viewer):
        """A one-time ticket for /ws/live?ticket=..., for browsers (no headers on websockets)."""
        a: auth.Auth = request.app.state.auth
        return {"ticket": a.issue_ticket(role), "expires_in_s": a.ttl_s, "role": role}

    @app.websocket("/ws/live")
    async def ws_live(ws: WebSocket, ticket: str | None = None):
        a: auth.Auth = ws.app.state.auth
        if not a.origin_ok(ws.headers.get("origin"), ws.headers.get("host"), ws.url.scheme):
            await ws.close(code=1008, reason="origin not allowed")
            return
        token = None
        header = ws.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
        role = a.role(token) if token else a.redeem(ticket)
        if role is None:
            await ws.close(code=1008, reason="a valid token or ticket is required")
            return
        await ws.accept()
        live: Live = ws.app.state.live
        peer = f"{ws.client.host}:{ws.client.port}" if ws.client else "?"
        await live.hub.serve(ws, peer, hello={**live.status(), "type": "hello", "role": role})

    # --- athletes -----------------------------------------------------------------------

    @app.get("/api/athletes", tags=["athletes"], response_model=list[schemas.AthleteOut])
    async def list_athletes(
        request: Request,
        _: auth.Role = Viewer,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    ):
        async with _store(request).session() as s:
            rows = await s.scalars(select(Athlete).order_by(Athlete.id).limit(limit).offset(offset))
            return rows.all()

    @app.post(
        "/api/athletes", tags=["athletes"], status_code=201, response_model=schemas.AthleteOut
    )
    async def create_athlete(request: Request, body: schemas.AthleteIn, _: auth.Role = Admin):
        data = body.model_dump()
        data["cue_policy"] = body.cue_policy.changes() if body.cue_policy else None
        async with _store(request).session() as s, s.begin():
            row = Athlete(**data)
            s.add(row)
        return row

    @app.get("/api/athletes/{athlete_id}", tags=["athletes"], response_model=schemas.AthleteOut)
    async def get_athlete(request: Request, athlete_id: Id, _: auth.Role = Viewer):
        async with _store(request).session() as s:
            return await _athlete(s, athlete_id)

    @app.patch("/api/athletes/{athlete_id}", tags=["athletes"], response_model=schemas.AthleteOut)
    async def patch_athlete(
        request: Request, athlete_id: Id, body: schemas.AthletePatch, _: auth.Role = Admin
    ):
        """Changes apply to sessions started from now on (a session keeps what it began with)."""
        async with _store(request).session() as s, s.begin():
            row = await _athlete(s, athlete_id)
            for k, v in body.model_dump(exclude_unset=True).items():
                if k == "cue_policy":  # null: back to the default policy
                    row.cue_policy = body.cue_policy.changes() if body.cue_policy else None
                    continue
                if v is None:
                    raise HTTPException(422, f"{k}: may not be null")
                setattr(row, k, v)
        return row

    @app.delete("/api/athletes/{athlete_id}", tags=["athletes"], status_code=204)
    async def delete_athlete(request: Request, athlete_id: Id, _: auth.Role = Admin):
        async with _store(request).session() as s, s.begin():
            row = await _athlete(s, athlete_id)
            n = await s.scalar(select(func.count()).where(Session.athlete_id == athlete_id))
            if n:
                raise HTTPException(
                    409, f"athlete {athlete_id} has {n} sessions; delete them first"
                )
            await s.delete(row)
        return Response(status_code=204)

    @app.post(
        "/api/athletes/{athlete_id}/baseline",
        tags=["athletes"],
        response_model=schemas.AthleteOut,
        responses={404: {"model": schemas.Problem}},
    )
    async def learn_baseline(
        request: Request, athlete_id: Id, body: schemas.BaselineIn, _: auth.Role = Admin
    ):
        """The athlete's own baseline from the rep steps of these sessions (the coach picks
        sessions of the athlete's normal, good running); sessions started from now on
        score against it."""
        async with _store(request).session() as s, s.begin():
            row = await _athlete(s, athlete_id)
            ids = set(body.session_ids)
            owned = set(
                await s.scalars(
                    select(Session.id).where(Session.id.in_(ids), Session.athlete_id == athlete_id)
                )
            )
            if owned != ids:
                missing = ", ".join(str(i) for i in sorted(ids - owned))
                raise HTTPException(404, f"athlete {athlete_id} has no session {missing}")
            steps = list(
                await s.scalars(
                    select(Step.data).where(Step.session_id.in_(ids), Step.rep.is_not(None))
                )
            )
            if len(steps) < 8:
                raise HTTPException(
                    422,
                    f"these sessions hold {len(steps)} rep steps; a baseline needs at least 8",
                )
            row.baseline = Baseline.from_steps(steps).as_dict()
        return row

    @app.delete(
        "/api/athletes/{athlete_id}/baseline",
        tags=["athletes"],
        response_model=schemas.AthleteOut,
    )
    async def forget_baseline(request: Request, athlete_id: Id, _: auth.Role = Admin):
        """Back to the population defaults."""
        async with _store(request).session() as s, s.begin():
            row = await _athlete(s, athlete_id)
            row.baseline = None
        return row

    # --- sessions -----------------------------------------------------------------------

    @app.get("/api/sessions", tags=["sessions"], response_model=list[schemas.SessionOut])
    async def list_sessions(
        request: Request,
        _: auth.Role = Viewer,
        athlete_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
        status: Literal["recording", "stopped", "interrupted"] | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    ):
        q = select(Session).order_by(Session.id.desc()).limit(limit).offset(offset)
        if athlete_id is not None:
            q = q.where(Session.athlete_id == athlete_id)
        if status is not None:
            q = q.where(Session.status == status)
        async with _store(request).session() as s:
            return (await s.scalars(q)).all()

    @app.post(
        "/api/sessions",
        tags=["sessions"],
        status_code=201,
        response_model=schemas.SessionOut,
        responses={409: {"model": schemas.Problem}, 404: {"model": schemas.Problem}},
    )
    async def start_session(request: Request, body: schemas.SessionStart, _: auth.Role = Admin):
        """Start recording: the engine runs for this athlete until the session is stopped."""
        try:
            return await _live(request).start_session(
                body.athlete_id, body.notes, body.cues.changes() if body.cues else None
            )
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.post(
        "/api/sessions/{session_id}/stop",
        tags=["sessions"],
        response_model=schemas.SessionOut,
        responses={409: {"model": schemas.Problem}},
    )
    async def stop_session(request: Request, session_id: Id, _: auth.Role = Admin):
        live = _live(request)
        if live.session_row is None or live.session_row.id != session_id:
            await _session(request, session_id)  # 404 if there is no such session
            raise HTTPException(409, f"session {session_id} is not recording")
        return await live.stop_session()

    @app.get("/api/sessions/{session_id}", tags=["sessions"], response_model=schemas.SessionDetail)
    async def get_session(request: Request, session_id: Id, _: auth.Role = Viewer):
        store = _store(request)
        async with store.session() as s:
            row = await _session_in(s, session_id)
            streams = await _streams_of(s, session_id)
            n_steps = await s.scalar(select(func.count()).where(Step.session_id == session_id))
            n_reps = await s.scalar(select(func.count()).where(Rep.session_id == session_id))
        samples, size, span_s = await export.raw_stats(store, session_id)
        return {
            **_session_dict(row),
            "streams": [_stream_dict(st) for st in streams],
            "steps": n_steps,
            "reps": n_reps,
            "raw_samples": samples,
            "raw_bytes": size,
            "raw_span_s": span_s,
        }

    @app.delete(
        "/api/sessions/{session_id}",
        tags=["sessions"],
        status_code=204,
        responses={409: {"model": schemas.Problem}},
    )
    async def delete_session(request: Request, session_id: Id, _: auth.Role = Admin):
        live = _live(request)
        if live.session_row is not None and live.session_row.id == session_id:
            raise HTTPException(409, f"session {session_id} is recording; stop it first")
        async with _store(request).session() as s, s.begin():
            row = await _session_in(s, session_id)
            for table in (RawChunk, Step, Rep, Mark, SessionStream):
                await s.execute(table.__table__.delete().where(table.session_id == session_id))
            await s.delete(row)
        return Response(status_code=204)

    @app.post(
        "/api/sessions/{session_id}/marks",
        tags=["sessions"],
        status_code=201,
        response_model=schemas.MarkOut,
        responses={409: {"model": schemas.Problem}},
    )
    async def mark(request: Request, session_id: Id, body: schemas.MarkIn, _: auth.Role = Admin):
        """Mark this moment of the session under way ('rep 3: flying 30 m')."""
        await _session(request, session_id)
        return await _live(request).add_mark(session_id, body.label)

    @app.get(
        "/api/sessions/{session_id}/marks", tags=["sessions"], response_model=list[schemas.MarkOut]
    )
    async def marks(request: Request, session_id: Id, _: auth.Role = Viewer):
        await _session(request, session_id)
        async with _store(request).session() as s:
            return (
                await s.scalars(select(Mark).where(Mark.session_id == session_id).order_by(Mark.id))
            ).all()

    @app.get(
        "/api/sessions/{session_id}/reps", tags=["sessions"], response_model=list[schemas.RepOut]
    )
    async def reps(request: Request, session_id: Id, _: auth.Role = Viewer):
        await _session(request, session_id)
        return await export.reps(_store(request), session_id)

    @app.get(
        "/api/sessions/{session_id}/steps",
        tags=["sessions"],
        response_model=list[schemas.StepOut],
    )
    async def steps(
        request: Request,
        session_id: Id,
        _: auth.Role = Viewer,
        rep: Annotated[int | None, Query(ge=1, le=100_000)] = None,
        foot: Literal["left", "right"] | None = None,
        limiter: Literal["push", "swing", "torso"] | None = None,
        aligned: bool | None = None,
        source: Literal["force", "imu", "fused"] | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    ):
        await _session(request, session_id)
        q = select(Step.data).where(Step.session_id == session_id)
        for col, value in (
            (Step.rep, rep),
            (Step.foot, foot),
            (Step.limiter, limiter),
            (Step.aligned, aligned),
            (Step.source, source),
        ):
            if value is not None:
                q = q.where(col == value)
        q = q.order_by(Step.seq).limit(limit).offset(offset)
        async with _store(request).session() as s:
            return (await s.scalars(q)).all()

    # --- exports ------------------------------------------------------------------------

    @app.get(
        "/api/sessions/{session_id}/export",
        tags=["exports"],
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {
                    "text/csv": {},
                    "application/json": {},
                    "application/vnd.apache.parquet": {},
                    "application/octet-stream": {},
                },
                "description": "the export, streamed",
            },
            404: {"model": schemas.Problem},
        },
    )
    async def export_session(
        request: Request,
        session_id: Id,
        _: auth.Role = Viewer,
        format: Literal["csv", "json", "parquet", "c3d"] = "csv",
        table: Literal["steps", "reps", "raw", "session"] = "steps",
        stream: Annotated[
            str | None, Query(max_length=40, description="DEVICE:STREAM, for table=raw")
        ] = None,
    ):
        """Steps, reps or one stream's raw samples as CSV or Parquet; the whole session as JSON;
        the force plates as C3D (format=c3d, table=raw).

        Times are seconds since the session started."""
        store = _store(request)
        row = await _session(request, session_id)
        name = f"stridesync-session-{session_id}"
        if format == "json":
            if table not in ("session", "steps"):
                raise HTTPException(422, "JSON exports the whole session (table=session)")
            detail = await get_session(request, session_id, "viewer")
            doc = {"format": "stridesync-session", "version": 1, "session": _jsonable(detail)}
            return _stream(export.session_json(store, row, doc), "application/json", f"{name}.json")
        if table == "session":
            raise HTTPException(422, "table=session exports as JSON (format=json)")
        if format == "c3d":
            if table != "raw":
                raise HTTPException(422, "C3D holds the force plates' raw samples: table=raw")
            async with store.session() as s:
                streams = await _streams_of(s, session_id)
            try:
                data = await export.force_c3d(store, row, streams)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
            return Response(
                data,
                media_type="application/octet-stream",
                headers={"Content-Disposition": f'attachment; filename="{name}-force.c3d"'},
            )
        if format == "parquet" and not export.parquet_available():
            raise HTTPException(
                422, "Parquet export needs the parquet extra: pip install 'stridesync[parquet]'"
            )
        if table == "raw":
            st = await _stream_of(store, session_id, stream)
            fname = f"{name}-{st.device_name}-{st.stream_id}"
            if format == "csv":
                return _stream(export.raw_csv(store, row, st), "text/csv", f"{fname}.csv")
            return _stream(
                export.raw_parquet(store, row, st),
                "application/vnd.apache.parquet",
                f"{fname}.parquet",
            )
        if format == "csv":
            gen = export.steps_csv(store, row) if table == "steps" else export.reps_csv(store, row)
            return _stream(gen, "text/csv", f"{name}-{table}.csv")
        rows, cols = (
            (export.step_rows(store, row), export.STEP_COLUMNS)
            if table == "steps"
            else (export.rep_rows(store, row), export.REP_COLUMNS)
        )
        return _stream(
            export.parquet(rows, cols), "application/vnd.apache.parquet", f"{name}-{table}.parquet"
        )

    # --- rescore ------------------------------------------------------------------------

    @app.post(
        "/api/sessions/{session_id}/rescore",
        tags=["sessions"],
        response_model=schemas.RescoreOut,
        responses={409: {"model": schemas.Problem}, 404: {"model": schemas.Problem}},
    )
    async def rescore_session(
        request: Request, session_id: Id, body: schemas.RescoreIn, _: auth.Role = Viewer
    ):
        """Run the engine again over the stored raw samples (nothing is changed).

        With the session's own model version this reproduces the live steps and reps
        exactly (`identical`)."""
        if body.model_version not in MODEL_VERSIONS:
            raise HTTPException(
                422,
                f"unknown scoring model version {body.model_version!r};"
                f" this engine runs {', '.join(MODEL_VERSIONS)}",
            )
        live = _live(request)
        if live.session_row is not None and live.session_row.id == session_id:
            raise HTTPException(409, f"session {session_id} is recording; stop it first")
        store = _store(request)
        async with store.session() as s:
            row = await _session_in(s, session_id)
            streams = await _streams_of(s, session_id)
        job = Rescore(
            AthleteInfo(**row.athlete_snapshot),
            Baseline.from_dict(row.baseline) if row.baseline else None,
            [
                (
                    int(st.device_id, 16),
                    st.device_name,
                    stream_from_json(st.info),
                    st.expected_at_start,
                )
                for st in streams
            ],
        )
        # Page by page, in a worker thread: an hour of raw samples never sits in memory
        # at once, and the event loop keeps serving the live session.
        last = (-1e300, 0)  # (t_start, id) of the last chunk fed
        while True:
            async with store.session() as s:
                page = (
                    await s.execute(
                        select(
                            RawChunk.id,
                            RawChunk.device_id,
                            RawChunk.stream_id,
                            RawChunk.first_sample,
                            RawChunk.lost_before,
                            RawChunk.data,
                            RawChunk.t_start,
                        )
                        .where(
                            RawChunk.session_id == session_id,
                            # in time order, whatever order they were stored in
                            or_(
                                RawChunk.t_start > last[0],
                                and_(RawChunk.t_start == last[0], RawChunk.id > last[1]),
                            ),
                        )
                        .order_by(RawChunk.t_start, RawChunk.id)
                        .limit(RESCORE_PAGE)
                    )
                ).all()
            if not page:
                break
            last = (page[-1][-1], page[-1][0])
            await asyncio.to_thread(job.feed, [(int(c[1], 16), *c[2:-1]) for c in page])
        events = await asyncio.to_thread(job.finish)
        steps_new = [e for e in events if e["type"] == "step"]
        reps_new = [e for e in events if e["type"] == "rep"]
        steps_old = [d async for d in export.steps(store, session_id)]
        reps_old = await export.reps(store, session_id)
        diffs = _differences(steps_old, steps_new, "step") + _differences(reps_old, reps_new, "rep")
        return {
            "session_id": session_id,
            "model_version": body.model_version,
            "identical": not diffs,
            "steps": steps_new,
            "reps": reps_new,
            "differences": diffs[:20],
        }


# --- helpers ------------------------------------------------------------------------------


async def _athlete(s, athlete_id: int) -> Athlete:
    row = await s.get(Athlete, athlete_id)
    if row is None:
        raise HTTPException(404, f"no athlete {athlete_id}")
    return row


async def _session_in(s, session_id: int) -> Session:
    row = await s.get(Session, session_id)
    if row is None:
        raise HTTPException(404, f"no session {session_id}")
    return row


async def _streams_of(s, session_id: int) -> list[SessionStream]:
    q = select(SessionStream).where(SessionStream.session_id == session_id)
    return list((await s.scalars(q.order_by(SessionStream.id))).all())


async def _session(request: Request, session_id: int) -> Session:
    async with _store(request).session() as s:
        return await _session_in(s, session_id)


async def _stream_of(store: Store, session_id: int, key: str | None) -> SessionStream:
    async with store.session() as s:
        streams = await _streams_of(s, session_id)
    keys = {f"{st.device_id}:{st.stream_id}": st for st in streams}
    if key is None or key not in keys:
        choices = ", ".join(keys) or "none: the session has no raw samples"
        raise HTTPException(422, f"stream: choose one of the session's streams ({choices})")
    return keys[key]


def _session_dict(row: Session) -> dict:
    return {
        c: getattr(row, c)
        for c in (
            "id",
            "athlete_id",
            "status",
            "started_at",
            "stopped_at",
            "clock_origin_s",
            "notes",
            "model_version",
            "athlete_snapshot",
            "baseline",
            "cue_policy",
        )
    }


def _stream_dict(st: SessionStream) -> dict:
    return {
        "device_id": st.device_id,
        "device_name": st.device_name,
        "stream_id": st.stream_id,
        "key": f"{st.device_id}:{st.stream_id}",
        "expected_at_start": st.expected_at_start,
        "info": st.info,
    }


def _jsonable(d: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in d.items()}


def _stream(gen, media_type: str, filename: str) -> StreamingResponse:
    return StreamingResponse(
        gen,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _differences(old: list[dict], new: list[dict], what: str) -> list[str]:
    if len(old) != len(new):
        return [f"{len(old)} {what}s stored, {len(new)} from the rescore"]
    out = []
    for i, (a, b) in enumerate(zip(old, new, strict=True), 1):
        for k in sorted(set(a) | set(b)):
            if not _same(a.get(k), b.get(k)):
                out.append(f"{what} {i}: {k} was {a.get(k)!r}, now {b.get(k)!r}")
    return out


__all__ = ["create_app", "session_json"]
