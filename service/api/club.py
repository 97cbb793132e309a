"""The centre's club API (docs/club.md): lanes upload finished sessions here, with
their own tokens (`club.node_token_hashes`), and the club page reads the lanes.

Every upload is idempotent and resumable: `PUT` a session's record, `GET` what the
centre holds, then steps and raw chunks in batches from there, and `complete`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam

from .. import auth
from ..club.wire import ChunksUpload, Complete, Held, SessionUpload, StepsUpload
from ..errors import Conflict
from ..live.session import athlete_json
from ..store import ledger, queries
from .deps import StoreDep, Viewer

router = APIRouter(tags=["club"])
Lane = Annotated[str, Depends(auth.lane)]
SessionUuid = Annotated[
    str,
    PathParam(pattern=r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$", description="its UUID"),
]


@router.get("/api/club/lanes")
async def lanes(request: Request, _role: Viewer) -> list[dict]:
    """Every lane the centre has heard of: its link, its session under way, its last
    step and rep (the club page's first view; then the websocket)."""
    return request.app.state.club.lanes()


@router.get("/api/club/athletes")
async def roster(store: StoreDep, _lane: Lane) -> list[dict]:
    """The club's registry, for a lane's cached roster (docs/club.md, "Athletes")."""
    return [athlete_json(a) for a in await queries.athletes(store, 100_000, 0)]


@router.get("/api/club/sessions/{uuid}", response_model=Held)
async def held(uuid: SessionUuid, store: StoreDep, lane: Lane):
    """What the centre holds of the lane's session: it resumes its upload from here."""
    return await ledger.held(store, uuid, lane)


@router.put("/api/club/sessions/{uuid}", response_model=Held)
async def put_session(
    request: Request, uuid: SessionUuid, body: SessionUpload, store: StoreDep, lane: Lane
):
    """A finished session's record (not its steps and chunks): again is harmless."""
    try:
        return await ledger.put_session(store, uuid, lane, body)
    except Conflict as exc:  # shown on the lane's card: a copied SD card says so here
        request.app.state.club.refused(lane, uuid, str(exc))
        raise


@router.post("/api/club/sessions/{uuid}/steps", response_model=Held)
async def steps(uuid: SessionUuid, body: StepsUpload, store: StoreDep, lane: Lane):
    """Steps as the lane stored them; they overwrite the live ones by number."""
    return await ledger.add_steps(store, uuid, lane, body)


@router.post("/api/club/sessions/{uuid}/chunks", response_model=Held)
async def chunks(uuid: SessionUuid, body: ChunksUpload, store: StoreDep, lane: Lane):
    """Raw chunks from index `first`; those the centre has are skipped (409 on a gap)."""
    return await ledger.add_chunks(store, uuid, lane, body)


@router.post("/api/club/sessions/{uuid}/complete", response_model=Held)
async def complete(uuid: SessionUuid, body: Complete, store: StoreDep, lane: Lane):
    """The lane's last word: `complete` is true when the centre holds exactly these."""
    return await ledger.complete(store, uuid, lane, body)
