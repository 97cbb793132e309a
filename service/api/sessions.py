"""Sessions: start and stop, marks, the stored steps and reps, and rescoring."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from .. import export, schemas
from ..analysis import repcard
from ..engine import MODEL_VERSION
from ..errors import Conflict, Invalid, NotFound
from ..recorder import rescore_stored
from ..store import Mark, Session, SessionStream, Store, queries
from ..store.writes import MarkMade
from ..timebase import relative
from . import heavy
from .deps import Admin, Id, LiveDep, Offset, StoreDep, Viewer, limit

router = APIRouter(tags=["sessions"])
MODEL_VERSIONS = (MODEL_VERSION,)  # the scoring models this engine can run
CONFLICT = {409: {"model": schemas.Problem}}


@router.get("/api/sessions", response_model=list[schemas.SessionOut])
async def list_sessions(
    store: StoreDep,
    _: Viewer,
    athlete_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="only this athlete's sessions")
    ] = None,
    status: Annotated[
        Literal["recording", "stopped", "interrupted"] | None,
        Query(description="only sessions in this state"),
    ] = None,
    limit: limit(1000) = 100,
    offset: Offset = 0,
):
    return await queries.sessions(store, athlete_id, status, limit, offset)


@router.post(
    "/api/sessions",
    status_code=201,
    response_model=schemas.SessionOut,
    responses={**CONFLICT, 404: {"model": schemas.Problem}},
)
async def start_session(live: LiveDep, body: schemas.SessionStart, _: Admin):
    """Start recording: the engine runs for this athlete until the session is stopped."""
    return await live.start_session(
        body.athlete_id, body.notes, body.cues.changes() if body.cues else None
    )


@router.post(
    "/api/sessions/{session_id}/stop", response_model=schemas.SessionOut, responses=CONFLICT
)
async def stop_session(store: StoreDep, live: LiveDep, session_id: Id, _: Admin):
    if not live.is_recording(session_id):
        await queries.session(store, session_id)  # 404 if there is no such session
        raise Conflict(f"session {session_id} is not recording")
    return await live.stop_session()


@router.get("/api/sessions/{session_id}", response_model=schemas.SessionDetail)
async def get_session(store: StoreDep, session_id: Id, _: Viewer):
    return await session_detail(store, session_id)


@router.delete("/api/sessions/{session_id}", status_code=204, responses=CONFLICT)
async def delete_session(store: StoreDep, live: LiveDep, session_id: Id, _: Admin):
    live.refuse_if_recording(session_id)
    await queries.delete_session(store, session_id)
    return Response(status_code=204)


@router.post(
    "/api/sessions/{session_id}/marks",
    status_code=201,
    response_model=schemas.MarkOut,
    responses=CONFLICT,
)
async def mark(store: StoreDep, live: LiveDep, session_id: Id, body: schemas.MarkIn, _: Admin):
    """Mark this moment of the session under way ('rep 3: flying 30 m')."""
    row = await queries.session(store, session_id)
    return mark_json(await live.add_mark(session_id, body.label), row.clock_origin_s)


@router.get("/api/sessions/{session_id}/marks", response_model=list[schemas.MarkOut])
async def marks(store: StoreDep, session_id: Id, _: Viewer):
    """The session's marks; times since the session started."""
    row = await queries.session(store, session_id)
    return [mark_json(m, row.clock_origin_s) for m in await queries.marks(store, session_id)]


@router.get("/api/sessions/{session_id}/reps", response_model=list[schemas.RepOut])
async def reps(store: StoreDep, session_id: Id, _: Viewer):
    """The session's reps; times since the session started."""
    row = await queries.session(store, session_id)
    return [relative(r, row.clock_origin_s) for r in await queries.reps(store, session_id)]


@router.get(
    "/api/sessions/{session_id}/reps/{rep}/card",
    response_model=schemas.RepCard,
    responses={
        200: {"content": {"text/csv": {}}, "description": "the card (JSON, or CSV rows)"},
        404: {"model": schemas.Problem},
    },
)
async def rep_card(
    store: StoreDep,
    session_id: Id,
    rep: Annotated[int, PathParam(ge=1, le=100_000, description="the rep's number")],
    _: Viewer,
    format: Annotated[
        Literal["json", "csv"], Query(description="json, or csv: section,name,value,unit rows")
    ] = "json",
):
    """A rep's card: splits, velocity curve and model, profile per kg, phases, feet,
    verdict shares (docs/progress.md)."""
    row = await queries.session(store, session_id)
    found = [r for r in await queries.reps(store, session_id) if r["rep"] == rep]
    if not found:
        raise NotFound(f"session {session_id} has no rep {rep}")
    card = await card_of(store, row, found[0])
    if format == "json":
        return card
    text = export.csv_rows([("section", "name", "value", "unit"), *repcard.card_rows(card)])
    name = f"stridesync-session-{session_id}-rep-{rep}-card.csv"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(text, media_type="text/csv", headers=disposition)


async def card_of(store: Store, row: Session, stored_rep: dict) -> dict:
    """The card of a stored rep (host-clock times) of the session `row`."""
    origin = row.clock_origin_s
    r = relative(stored_rep, origin)
    stored = await queries.steps(store, row.id, {"rep": r["rep"]}, 10_000, 0)
    steps = [relative(s, origin) for s in stored]
    first = steps[0]["ic_time_s"] if steps else r["start_s"]
    speed = await export.speed_between(store, row, first - 3.0, r["end_s"] or first + 10.0)
    snapshot = row.athlete_snapshot
    return repcard.rep_card(r, steps, speed, snapshot["body_mass_kg"], snapshot["height_m"])


@router.get("/api/sessions/{session_id}/steps", response_model=list[schemas.StepOut])
async def steps(
    store: StoreDep,
    session_id: Id,
    _: Viewer,
    rep: Annotated[int | None, Query(ge=1, le=100_000, description="only this rep's")] = None,
    foot: Annotated[Literal["left", "right"] | None, Query(description="only this foot's")] = None,
    limiter: Annotated[
        Literal["push", "swing", "torso"] | None, Query(description="only steps it limited")
    ] = None,
    aligned: Annotated[bool | None, Query(description="only (not) aligned steps")] = None,
    source: Annotated[
        Literal["force", "imu", "fused"] | None, Query(description="only steps timed so")
    ] = None,
    limit: limit(10_000) = 1000,
    offset: Offset = 0,
):
    """The session's steps, filtered and paged; times since the session started."""
    row = await queries.session(store, session_id)
    where = {"rep": rep, "foot": foot, "limiter": limiter, "aligned": aligned, "source": source}
    page = await queries.steps(store, session_id, where, limit, offset)
    return [relative(s, row.clock_origin_s) for s in page]


@router.post(
    "/api/sessions/{session_id}/rescore",
    response_model=schemas.RescoreOut,
    responses={**CONFLICT, 404: {"model": schemas.Problem}},
)
async def rescore_session(
    request: Request,
    store: StoreDep,
    live: LiveDep,
    session_id: Id,
    body: schemas.RescoreIn,
    _: Viewer,
):
    """Run the engine again over the stored raw samples (nothing is changed).

    With the session's own model version this reproduces the live steps and reps
    exactly (`identical`)."""
    if body.model_version not in MODEL_VERSIONS:
        raise Invalid(
            f"unknown scoring model version {body.model_version!r};"
            f" this engine runs {', '.join(MODEL_VERSIONS)}"
        )
    live.refuse_if_recording(session_id)
    row = await queries.session(store, session_id)
    async with heavy.one_at_a_time(request):
        events, diffs = await rescore_stored(store, row)
    events = [relative(e, row.clock_origin_s) for e in events]
    return {
        "session_id": session_id,
        "model_version": body.model_version,
        "recorded_with": row.model_version,
        "identical": not diffs,
        "steps": [e for e in events if e["type"] == "step"],
        "reps": [e for e in events if e["type"] == "rep"],
        "differences": diffs[:20],
    }


# --- the session as JSON ----------------------------------------------------------------

SESSION_FIELDS = (
    "id",
    "uuid",
    "node",
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


async def session_detail(store: Store, session_id: int) -> dict:
    """The session with its streams and what it holds (GET /api/sessions/{id})."""
    row = await queries.session(store, session_id)
    streams = await queries.streams(store, session_id)
    n_steps, n_reps = await queries.counts(store, session_id)
    samples, size, span_s = await queries.raw_stats(store, session_id)
    return {
        **session_dict(row),
        "streams": [stream_dict(st) for st in streams],
        "steps": n_steps,
        "reps": n_reps,
        "raw_samples": samples,
        "raw_bytes": size,
        "raw_span_s": span_s,
    }


def mark_json(mark: Mark | MarkMade, origin_s: float) -> dict:
    return {
        "id": mark.id,
        "session_id": mark.session_id,
        "time_s": round(mark.time_s - origin_s, 6),
        "label": mark.label,
    }


def session_dict(row: Session) -> dict:
    return {c: getattr(row, c) for c in SESSION_FIELDS}


def stream_dict(st: SessionStream) -> dict:
    return {
        "device_id": st.device_id,
        "device_name": st.device_name,
        "stream_id": st.stream_id,
        "key": f"{st.device_id}:{st.stream_id}",
        "expected_at_start": st.expected_at_start,
        "info": st.info,
    }
