"""A training session's row: made at start, as JSON for clients, recovered after a crash."""

from __future__ import annotations

import logging
import time

from sqlalchemy import update

from ..config import Settings
from ..cues.policy import CuePolicy
from ..engine import MODEL_VERSION, AthleteInfo, Baseline
from ..errors import NotFound
from ..hub import clean
from ..recorder import Recording
from ..store import Athlete, Session, Store
from ..timebase import iso

log = logging.getLogger("stridesync.live")


async def new_session(
    store: Store, settings: Settings, athlete_id: int, notes: str, cues: dict | None
) -> tuple[Session, Recording, CuePolicy, dict]:
    """The session's row, stored, with what it begins with (the athlete as now, the
    baseline, the cue policy), its recording, and the athlete (`athlete_json`)."""
    async with store.session() as s, s.begin():
        athlete = await s.get(Athlete, athlete_id)
        if athlete is None:
            raise NotFound(f"no athlete {athlete_id}")
        info = AthleteInfo(athlete.body_mass_kg, athlete.height_m)
        baseline = Baseline.from_dict(athlete.baseline) if athlete.baseline else None
        policy = CuePolicy(**settings.cues.model_dump()).updated(athlete.cue_policy).updated(cues)
        row = Session(
            athlete_id=athlete_id,
            status="recording",
            clock_origin_s=time.monotonic(),
            notes=notes,
            model_version=MODEL_VERSION,
            athlete_snapshot={"body_mass_kg": info.body_mass_kg, "height_m": info.height_m},
            baseline=baseline.as_dict() if baseline else None,
            cue_policy=policy.as_dict(),
        )
        s.add(row)
        await s.flush()
        who = athlete_json(athlete)
    rec = Recording(row.id, info, baseline, settings.recording.chunk_s)
    return row, rec, policy, who


def athlete_json(a: Athlete) -> dict:
    """An athlete as a club's lanes and centre exchange it (docs/club.md)."""
    return {
        "uuid": a.uuid,
        "name": a.name,
        "body_mass_kg": a.body_mass_kg,
        "height_m": a.height_m,
        "notes": a.notes,
    }


async def recover_interrupted(store: Store) -> None:
    """A session left recording by a crash or power cut is marked interrupted."""
    async with store.session() as s, s.begin():
        res = await s.execute(
            update(Session)
            .where(Session.status == "recording")
            .values(status="interrupted")
            .returning(Session.id)
        )
        ids = [r[0] for r in res]
    for sid in ids:
        log.warning("session %d was interrupted (power cut or crash); kept as it was", sid)


def session_json(row: Session) -> dict:
    return clean(
        {
            "session_id": row.id,
            "uuid": row.uuid,
            "athlete_id": row.athlete_id,
            "status": row.status,
            "started_at": iso(row.started_at),
            "stopped_at": iso(row.stopped_at),
            "clock_origin_s": row.clock_origin_s,
            "model_version": row.model_version,
        }
    )
