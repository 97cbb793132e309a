"""An athlete's measures by date, against the noise of the measure and the squad.

Each session gives a **best** and a **typical** (median) rep of a measure. The
typical error comes from the athlete's repeated reps within sessions; the
smallest worthwhile change from the squad (0.2 × the SD of every athlete's
mean; at least two athletes) unless the coach sets one. The change is the
earliest two sessions' reps against the latest two's (progress.py). Like is compared
with like when asked: only reps of one kind, a kind being the label of the last mark
the coach made before the rep ("block start", "flying 30").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean, median

from .progress import CONFIDENCE, assess_change, smallest_worthwhile_change, typical_error


def _aligned_share(rep: dict) -> float | None:
    judged = rep.get("judged_steps", rep.get("steps"))  # (reps before model 0.5: all)
    return rep["aligned_steps"] / judged if judged else None


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str
    higher_is_better: bool
    value: Callable[[dict, float], float | None]  # (rep, body mass kg) -> value
    doc: str


def _field(key: str):
    return lambda rep, _mass: rep.get(key)


def _per_kg(key: str):
    return lambda rep, mass: rep[key] / mass if rep.get(key) is not None else None


MEASURES = {
    m.name: m
    for m in (
        Measure("mss_m_s", "m/s", True, _field("mss_m_s"), "maximal sprinting speed"),
        Measure("f0_n", "N", True, _field("f0_n"), "theoretical maximal horizontal force"),
        Measure("f0_n_kg", "N/kg", True, _per_kg("f0_n"), "F0 per kg of body mass"),
        Measure("v0_m_s", "m/s", True, _field("v0_m_s"), "theoretical maximal speed"),
        Measure("pmax_w", "W", True, _field("pmax_w"), "maximal horizontal power"),
        Measure("pmax_w_kg", "W/kg", True, _per_kg("pmax_w"), "Pmax per kg of body mass"),
        Measure("rf_max", "1", True, _field("rf_max"), "maximal ratio of force"),
        Measure("tau_s", "s", False, _field("tau_s"), "time constant of the speed curve"),
        Measure("min_contact_time_s", "s", False, _field("min_contact_time_s"), "shortest contact"),
        Measure(
            "contact_time_at_speed_s",
            "s",
            False,
            _field("contact_time_at_speed_s"),
            "mean contact time of the rep's steps at the speed asked (+/- 0.25 m/s)",
        ),
        Measure(
            "aligned_share",
            "1",
            True,
            lambda rep, _m: _aligned_share(rep),
            "share of the rep's judged steps judged aligned (none while learning)",
        ),
    )
}


@dataclass(frozen=True)
class RepRow:
    athlete_id: int
    session_id: int
    started_at: datetime
    body_mass_kg: float
    rep: dict
    kind: str | None = None  # the label of the session's last mark before the rep


SPEED_BAND_M_S = 0.25  # contact time shortens ~10 ms per m/s: a band this narrow is like


def contact_at_speed(steps: list[dict], speed_m_s: float) -> float | None:
    """Mean contact time of the steps run within ±SPEED_BAND_M_S of `speed_m_s`: contact
    time is compared at matched speed, since it shortens as the athlete runs faster."""
    near = [
        s["contact_time_s"]
        for s in steps
        if s.get("contact_time_s") is not None
        and s.get("velocity_m_s") is not None
        and abs(s["velocity_m_s"] - speed_m_s) <= SPEED_BAND_M_S
    ]
    return fmean(near) if near else None


def rep_kind(rep: dict, marks: list[tuple[float, str]]) -> str | None:
    """A rep's kind: the label of the last mark made before it started ("flying 30")."""
    start = rep.get("start_s")
    before = [label for t, label in marks if start is not None and t <= start]
    return before[-1] if before else None


def athlete_trend(
    rows: list[RepRow],
    athlete_id: int,
    measure: str,
    swc: float | None = None,
    confidence: float = CONFIDENCE,
    kind: str | None = None,
) -> dict:
    """The athlete's sessions by date (best and typical rep), TE, SWC and the change;
    with `kind`, only reps of that kind (like with like: every athlete's, for the SWC)."""
    m = MEASURES[measure]
    if kind is not None:
        rows = [r for r in rows if (r.kind or "").casefold() == kind.casefold()]
    values = _values(rows, m)
    mine = [v for v in values if v[0] == athlete_id]
    sessions: dict[int, tuple[datetime, list[float]]] = {}
    for _, sid, started, value in mine:
        sessions.setdefault(sid, (started, []))[1].append(value)
    ordered = sorted(sessions.items(), key=lambda kv: kv[1][0])
    pick = max if m.higher_is_better else min
    by_date = [
        {
            "session_id": sid,
            "started_at": started,
            "reps": len(v),
            "best": pick(v),
            "typical": median(v),
        }
        for sid, (started, v) in ordered
    ]
    te = typical_error([v for _, (_, v) in ordered])
    swc_from = "coach" if swc is not None else None
    squad: dict[int, list[float]] = {}
    for aid, _, _, value in values:
        squad.setdefault(aid, []).append(value)
    if swc is None:
        swc = smallest_worthwhile_change([fmean(v) for v in squad.values()])
        swc_from = "squad" if swc is not None else None
    change = None
    if te and swc and len(ordered) >= 4:
        before = [x for _, (_, v) in ordered[:2] for x in v]
        after = [x for _, (_, v) in ordered[-2:] for x in v]
        change = assess_change(before, after, te, swc, confidence).as_dict()
        change["better"] = change["flagged"] and (change["direction"] == "up") == m.higher_is_better
    return {
        "athlete_id": athlete_id,
        "measure": m.name,
        "kind": kind,
        "unit": m.unit,
        "doc": m.doc,
        "higher_is_better": m.higher_is_better,
        "sessions": by_date,
        "typical_error": te,
        "swc": swc,
        "swc_from": swc_from,
        "swc_athletes": len(squad) if swc_from == "squad" else None,
        "change": change,
    }


def _values(rows: list[RepRow], m: Measure) -> list[tuple[int, int, datetime, float]]:
    """Each rep's value of the measure; a value that is not a finite number (a rep sent
    by a club lane may hold anything) is no value."""
    out = []
    for r in rows:
        try:
            value = m.value(r.rep, r.body_mass_kg)
            value = None if value is None or isinstance(value, bool) else float(value)
        except (TypeError, ValueError, ZeroDivisionError, KeyError):
            value = None
        if value is not None and math.isfinite(value):
            out.append((r.athlete_id, r.session_id, r.started_at, value))
    return out
