"""A training session's row: made at start, as JSON for clients, recovered after a crash."""

from __future__ import annotations

import logging
import time

from ..config import Settings
from ..cues.policy import CuePolicy
from ..engine import MODEL_VERSION, AthleteInfo, Baseline, Scorer, ScoringConfig, settled
from ..engine.scoring import LINKS, PROVENANCE
from ..hub import clean
from ..recorder import Recording, rescore_stored
from ..store import Athlete, Session, Store, queries, writes
from ..timebase import iso

log = logging.getLogger("stridesync.live")


async def new_session(
    store: Store, settings: Settings, athlete_id: int, notes: str, cues: dict | None
) -> tuple[Session, Recording, CuePolicy, dict]:
    """The session's row, stored, with what it begins with (the athlete as now, the
    baseline, the cue policy), its recording, and the athlete (`athlete_json`)."""

    def begins(athlete: Athlete) -> tuple[AthleteInfo, Baseline | None, CuePolicy]:
        info = AthleteInfo(athlete.body_mass_kg, athlete.height_m)
        baseline = Baseline.from_dict(athlete.baseline) if athlete.baseline else None
        policy = CuePolicy(**settings.cues.model_dump()).updated(athlete.cue_policy).updated(cues)
        return info, baseline, policy

    def row_of(athlete: Athlete) -> Session:
        info, baseline, policy = begins(athlete)
        return Session(
            athlete_id=athlete_id,
            status="recording",
            clock_origin_s=time.monotonic(),
            notes=notes,
            model_version=MODEL_VERSION,
            athlete_snapshot={"body_mass_kg": info.body_mass_kg, "height_m": info.height_m},
            baseline=_recorded(baseline, athlete.baseline),
            cue_policy=policy.as_dict(),
        )

    row, athlete = await writes.add_session(store, athlete_id, row_of)
    info, baseline, policy = begins(athlete)  # the same athlete: the same beginning
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


def _recorded(baseline: Baseline | None, stored: dict | None) -> dict | None:
    """The baseline a session records: its references, and where they came from."""
    if baseline is None:
        return None
    return {**baseline.as_dict(), **{k: stored[k] for k in PROVENANCE if k in stored}}


async def recover_interrupted(store: Store) -> None:
    """A session left recording by a crash or power cut is marked interrupted, and its
    steps and reps settled from its stored samples."""
    for sid in await writes.mark_interrupted(store):
        log.warning("session %d was interrupted (power cut or crash); kept", sid)
        try:
            await settle_interrupted(store, sid)
        except Exception as exc:  # kept as the power left it: the service starts anyway
            why = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            log.warning("session %d: not settled (%s); kept as it was stored", sid, why)


# An interrupted session is settled before the service starts: at most this much of
# samples (20 minutes are ~3 s of engine here at ~450x real time, in 1 s blocks; a Pi
# several times that, inside systemd's 90 s start).
SETTLE_MAX_S = 1200.0


async def settle_interrupted(store: Store, session_id: int) -> None:
    """What a stop would have done, done now from what was stored: the steps still
    provisional when the power went (a candidate sprint, the slowing down) confirmed
    or retracted, the open rep closed at the samples' end, exactly as the engine gives
    them from the stored samples. So a rescore of the session is what it stored (it
    differed in 3 of 10 SIGKILLs, by the provisional steps and the open rep), and a
    club's centre gets the same. Steps before the tail are the live ones: the engine
    gives the same steps from the same samples, whatever their blocks."""
    row = await queries.session(store, session_id)
    if row.model_version != MODEL_VERSION:  # an older engine's session: not rewritten
        log.warning("session %d: recorded with model %s; not settled", session_id,
                    row.model_version)  # fmt: skip
        return
    _, _, span_s = await queries.raw_stats(store, session_id)
    if span_s > SETTLE_MAX_S:  # the service must start within its unit's timeout
        log.warning("session %d: %.0f min of samples, too long to settle at start; its"
                    " rescore may differ in its last steps", session_id, span_s / 60)  # fmt: skip
        return
    events, diffs = await rescore_stored(store, row)
    if not diffs:
        return
    ops = writes.event_operations(session_id, settled(events))
    await writes.replace_events(store, session_id, ops)
    log.warning("session %d: settled from its stored samples (%s)", session_id, diffs[0])


def band_floors(row: Session) -> dict:
    """Where each link's band begins, for the dashboard's bars: the session's own
    baseline's floors when the coach set one (none while learning), and the one floor
    every link has on a provisional baseline (Scorer.floor)."""
    try:
        scorer = Scorer(Baseline.from_dict(row.baseline) if row.baseline else None)
    except (TypeError, ValueError):  # a baseline this engine cannot read: no band drawn
        scorer = Scorer()
    own = {link: round(scorer.floor(link), 3) for link in LINKS} if scorer.state == "set" else None
    return {"set": own, "provisional": ScoringConfig().floor_min}


def session_json(row: Session) -> dict:
    return clean(
        {
            "band_floors": band_floors(row),
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
