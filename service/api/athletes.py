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
    baseline = (await _learnt(store, athlete_id, body.session_ids))[0].as_dict()
    # Where it came from, for the coach (the engine reads only the references).
    learnt = {"learnt_at": datetime.now(UTC).isoformat(), "from_sessions": sorted(body.session_ids)}
    return await queries.update_athlete(store, athlete_id, {"baseline": {**baseline, **learnt}})


async def _learnt(store, athlete_id: int, session_ids: list[int]) -> tuple[Baseline, int]:
    steps = await queries.rep_steps_of(store, athlete_id, set(session_ids))
    if len(steps) < BASELINE_MIN_STEPS:
        raise Invalid(
            f"these sessions hold {len(steps)} rep steps;"
            f" a baseline needs at least {BASELINE_MIN_STEPS}"
        )
    return Baseline.from_steps(steps), len(steps)


PREVIEW_M_S = 8.0  # the references are lines in speed: shown at a sprinting speed


@router.post(
    "/api/athletes/{athlete_id}/baseline/preview",
    response_model=schemas.BaselinePreview,
    responses={404: {"model": schemas.Problem}},
)
async def preview_baseline(store: StoreDep, athlete_id: Id, body: schemas.BaselineIn, _: Viewer):
    """What learning from these sessions would set, beside the baseline in force,
    each reference at 8 m/s; nothing is stored."""
    athlete = await queries.athlete(store, athlete_id)
    learnt, n = await _learnt(store, athlete_id, body.session_ids)
    now = Baseline.from_dict(athlete.baseline) if athlete.baseline else None
    return {"steps": n, "at_m_s": PREVIEW_M_S, "now": _refs(now), "learnt": _refs(learnt)}


def _refs(b: Baseline | None) -> dict | None:
    if b is None:
        return None
    v = PREVIEW_M_S
    return {"ratio_of_force": b.rf(v), "swing_lag": b.swing_lag(v),
            "trunk_pitch_rate_rms_deg_s": b.trunk_rate(v)}  # fmt: skip


@router.delete("/api/athletes/{athlete_id}/baseline", response_model=schemas.AthleteOut)
async def forget_baseline(store: StoreDep, athlete_id: Id, _: Admin):
    """Back to the population defaults."""
    return await queries.update_athlete(store, athlete_id, {"baseline": None})
