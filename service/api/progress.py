"""Is the training working? An athlete's measures by date, a rep's card, the report."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from .. import report, schemas
from ..analysis.trends import MEASURES, RepRow, athlete_trend, contact_at_speed, rep_kind
from ..store import Store, queries
from . import heavy
from .deps import Id, StoreDep, Viewer
from .sessions import card_of

log = logging.getLogger("stridesync.progress")

router = APIRouter(tags=["progress"])
MeasureName = Literal[tuple(MEASURES)]
Since = Annotated[
    date | None, Query(description="only sessions from this day on (UTC), e.g. 2026-11-01")
]
Until = Annotated[date | None, Query(description="only sessions up to this day (UTC)")]


@router.get(
    "/api/athletes/{athlete_id}/progress",
    response_model=schemas.Progress,
    responses={404: {"model": schemas.Problem}},
)
async def progress(
    store: StoreDep,
    athlete_id: Id,
    _: Viewer,
    measure: Annotated[
        MeasureName, Query(description="the measure: " + ", ".join(MEASURES))
    ] = "f0_n_kg",
    swc: Annotated[
        float | None,
        Query(
            gt=0,
            le=1e6,
            description="the coach's smallest worthwhile change, in the"
            " measure's unit (default: 0.2 x the squad's between-athlete SD)",
        ),
    ] = None,
    confidence: Annotated[
        float, Query(ge=0.5, le=0.99, description="of the change's interval (default 0.90)")
    ] = 0.90,
    kind: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="only reps of this kind: the label of the last mark made before"
            " them (e.g. flying 30)",
        ),
    ] = None,
    speed_m_s: Annotated[
        float,
        Query(
            ge=3.0,
            le=12.0,
            description="for contact_time_at_speed_s: the speed the contacts are compared at"
            " [m/s] (steps within 0.25 m/s of it)",
        ),
    ] = 8.0,
    since: Since = None,
    until: Until = None,
):
    """The athlete's measure by date, its typical error and smallest worthwhile change,
    and whether the change from the earliest sessions to the latest is real."""
    await queries.athlete(store, athlete_id)  # no such athlete: 404
    speed = speed_m_s if measure == "contact_time_at_speed_s" else None
    squad = await _squad(store, speed, (since, until))
    return athlete_trend(squad, athlete_id, measure, swc, confidence, kind)


@router.get(
    "/api/athletes/{athlete_id}/report",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}, "text/html": {}}, "description": "the report"},
        404: {"model": schemas.Problem},
    },
)
async def athlete_report(
    request: Request,
    store: StoreDep,
    athlete_id: Id,
    _: Viewer,
    format: Annotated[
        Literal["pdf", "html"], Query(description="pdf (a file to hand over) or html")
    ] = "pdf",
    since: Since = None,
    until: Until = None,
):
    """One page for the period (default: every session): the athlete's trends by date
    with their noise and verdicts, and the period's last session's rep cards."""
    athlete = await queries.athlete(store, athlete_id)
    async with heavy.one_at_a_time(request):
        return await _report(store, athlete, athlete_id, format, since, until)


async def _report(store, athlete, athlete_id: int, format: str, since, until) -> Response:
    squad = await _squad(store, None, (since, until))
    trends = {key: athlete_trend(squad, athlete_id, key) for key, *_ in report.MEASURES}
    cards = await _last_session_cards(store, squad, athlete_id)
    about = {k: getattr(athlete, k) for k in ("name", "body_mass_kg", "height_m")}
    made = datetime.now(UTC)
    name = f"stridesync-report-{athlete_id}"
    if format == "html":
        return HTMLResponse(report.report_html(about, trends, cards, made))
    pdf = await asyncio.to_thread(report.report_pdf, about, trends, cards, made)
    disposition = {"Content-Disposition": f'attachment; filename="{name}.pdf"'}
    return Response(pdf, media_type="application/pdf", headers=disposition)


async def _squad(
    store: Store, speed_m_s: float | None = None, period: tuple = (None, None)
) -> list[RepRow]:
    """Every athlete's reps in the period (days, UTC; None: open); with `speed_m_s`, each
    with its contact time at that speed."""
    since, until = period
    marks = await queries.squad_marks(store)
    steps = await queries.squad_rep_steps(store) if speed_m_s is not None else {}
    rows = []
    for a, sid, started, status, snapshot, rep in await queries.squad_reps(store):
        day = started.astimezone(UTC).date()
        if (since is not None and day < since) or (until is not None and day > until):
            continue
        mass = _body_mass(snapshot)
        # A session still recording is not yet the athlete's (its reps come and go); a
        # rep that is not a JSON object, or an athlete with no usable mass (a club lane
        # may send anything), is left out, never a 500 for the whole squad.
        if status == "recording" or mass is None or not isinstance(rep, dict):
            continue
        if speed_m_s is not None:
            at_speed = contact_at_speed(steps.get((sid, rep.get("rep")), []), speed_m_s)
            rep = {**rep, "contact_time_at_speed_s": at_speed}
        kind = rep_kind(rep, marks.get(sid, []))
        rows.append(RepRow(a, sid, started, mass, rep, kind))
    return rows


def _body_mass(snapshot) -> float | None:
    """The athlete's mass as at the session, if it is one (kg, within AthleteInfo's)."""
    mass = snapshot.get("body_mass_kg") if isinstance(snapshot, dict) else None
    if isinstance(mass, bool) or not isinstance(mass, int | float):
        return None
    return float(mass) if 20.0 <= mass <= 250.0 else None


async def _last_session_cards(store: Store, squad: list[RepRow], athlete_id: int) -> list[dict]:
    """The cards of the athlete's last session with reps in the period."""
    mine = [r for r in squad if r.athlete_id == athlete_id]
    if not mine:
        return []
    last = max(mine, key=lambda r: r.started_at).session_id
    row = await queries.session(store, last)
    cards = []
    for r in mine:
        if r.session_id != last:
            continue
        try:
            cards.append(await card_of(store, row, r.rep))
        except (TypeError, ValueError, KeyError):  # a rep a club lane sent malformed
            log.warning("session %d: a rep with no card (malformed): left out", last)
    return cards
