"""Athletes: the registry, each one's cue policy and own baseline."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response

from .. import schemas
from ..engine import Baseline
from ..errors import Invalid
from ..store import queries
from .deps import Admin, Id, Offset, StoreDep, Viewer, limit

router = APIRouter(tags=["athletes"])
BASELINE_MIN_STEPS = 8  # fewer rep steps give no usable spread


@router.get("/api/athletes", response_model=list[schemas.AthleteOut])
async def list_athletes(
    store: StoreDep,
    _: Viewer,
    limit: limit(1000) = 100,
    offset: Offset = 0,
):
    return await queries.athletes(store, limit, offset)


@router.post("/api/athletes", status_code=201, response_model=schemas.AthleteOut)
async def create_athlete(store: StoreDep, body: schemas.AthleteIn, _: Admin):
    data = body.model_dump()
    data["cue_policy"] = body.cue_policy.changes() if body.cue_policy else None
    return await queries.add_athlete(store, data)


@router.get("/api/athletes/{athlete_id}", response_model=schemas.AthleteOut)
async def get_athlete(store: StoreDep, athlete_id: Id, _: Viewer):
    return await queries.athlete(store, athlete_id)


@router.patch("/api/athletes/{athlete_id}", response_model=schemas.AthleteOut)
async def patch_athlete(store: StoreDep, athlete_id: Id, body: schemas.AthletePatch, _: Admin):
    """Changes apply to sessions started from now on (a session keeps what it began with)."""
    changes = body.model_dump(exclude_unset=True)
    if "cue_policy" in changes:  # null: back to the default policy
        changes["cue_policy"] = body.cue_policy.changes() if body.cue_policy else None
    nulls = [k for k, v in changes.items() if v is None and k != "cue_policy"]
    if nulls:
        await queries.athlete(store, athlete_id)  # no such athlete: 404 first
        raise Invalid(f"{nulls[0]}: may not be null")
    return await queries.update_athlete(store, athlete_id, changes)


@router.delete("/api/athletes/{athlete_id}", status_code=204)
async def delete_athlete(store: StoreDep, athlete_id: Id, _: Admin):
    await queries.delete_athlete(store, athlete_id)
    return Response(status_code=204)


@router.post(
    "/api/athletes/{athlete_id}/baseline",
    response_model=schemas.AthleteOut,
    responses={404: {"model": schemas.Problem}},
)
async def learn_baseline(store: StoreDep, athlete_id: Id, body: schemas.BaselineIn, _: Admin):
    """The athlete's own baseline from the rep steps of these sessions (the coach picks
    sessions of the athlete's normal, good running); sessions started from now on
    score against it."""
    steps = await queries.rep_steps_of(store, athlete_id, set(body.session_ids))
    if len(steps) < BASELINE_MIN_STEPS:
        raise Invalid(
            f"these sessions hold {len(steps)} rep steps;"
            f" a baseline needs at least {BASELINE_MIN_STEPS}"
        )
    baseline = Baseline.from_steps(steps).as_dict()
    # Where it came from, for the coach (the engine reads only the references).
    learnt = {"learnt_at": datetime.now(UTC).isoformat(), "from_sessions": sorted(body.session_ids)}
    return await queries.update_athlete(store, athlete_id, {"baseline": {**baseline, **learnt}})


@router.delete("/api/athletes/{athlete_id}/baseline", response_model=schemas.AthleteOut)
async def forget_baseline(store: StoreDep, athlete_id: Id, _: Admin):
    """Back to the population defaults."""
    return await queries.update_athlete(store, athlete_id, {"baseline": None})
