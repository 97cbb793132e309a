"""A rep's card: what 1080 Sprint shows after a run, from what the session stored.

Splits from the speed sensor when there is one (from the profile's fitted
start), else from the steps' lengths (speed × step time, a coarser estimate,
and the card says which); the velocity curve with its fitted model; the
sprint profile with F0 and Pmax per kg; contact and flight times in the
acceleration phase (below 90 % of MSS) and at maximal velocity, and by foot;
the verdict's share per link.
"""

from __future__ import annotations

from statistics import fmean

import numpy as np

from ..engine.events import PROFILE_FIELDS
from ..engine.profile import sprint_profile, sprint_window, velocity_model
from .splits import splits_from_distance, splits_from_speed

MAX_VELOCITY_SHARE = 0.90  # a step at >= 90 % of MSS is in the maximal-velocity phase
CURVE_HZ = 20.0  # the velocity curve on the card


def rep_card(rep: dict, steps: list[dict], speed, body_mass_kg: float, height_m: float) -> dict:
    """`rep` and its `steps` with times since the session started; `speed`: (time_s,
    velocity_m_s) arrays of the speed sensor around the rep on the same clock, or None."""
    card = {"rep": rep["rep"], "steps": len(steps), "body_mass_kg": body_mass_kg}
    profile = _profile(speed, body_mass_kg, height_m)
    card["profile"] = _profile_fields(rep, profile, body_mass_kg)
    if profile is not None:
        t, v = speed
        card["splits"] = [s.as_dict() for s in splits_from_speed(t, v, profile.t0_s)]
        card["splits_from"] = "speed sensor"
        card["velocity"] = _curve(t, v, profile)
    else:
        card["splits"] = [s.as_dict() for s in _splits_from_steps(steps)]
        card["splits_from"] = "step lengths" if card["splits"] else None
        card["velocity"] = None
    card["phases"] = _phases(steps, card["profile"].get("mss_m_s"))
    card["feet"] = {
        foot: _times([s for s in steps if s.get("foot") == foot]) for foot in ("left", "right")
    }
    card["verdict"] = _verdict(steps)
    return card


def _profile(speed, mass: float, height: float):
    if speed is None or len(speed[0]) < 10:
        return None
    t, v = (np.asarray(x, dtype=float) for x in speed)
    window = sprint_window(t, v)
    return sprint_profile(t[window], v[window], mass, height)


def _profile_fields(rep: dict, profile, mass: float) -> dict:
    keys = ("mss_m_s", "tau_s", "f0_n", "v0_m_s", "pmax_w", "rf_max", "drf")
    out = {k: rep.get(k) for k in keys}
    if profile is not None:  # the rep's own numbers first: they are what was stored live
        out = {k: out[k] if out[k] is not None else getattr(profile, k) for k in keys}
    out["f0_n_kg"] = out["f0_n"] / mass if out["f0_n"] is not None else None
    out["pmax_w_kg"] = out["pmax_w"] / mass if out["pmax_w"] is not None else None
    return out


def _curve(t: np.ndarray, v: np.ndarray, profile) -> dict:
    start, end = profile.t0_s - 0.5, float(t[-1])
    grid = np.arange(start, end, 1.0 / CURVE_HZ)
    measured = np.interp(grid, t, v)
    model = velocity_model(grid, profile.mss_m_s, profile.tau_s, profile.t0_s)
    return {
        "t_s": [round(float(x - profile.t0_s), 3) for x in grid],  # since the start
        "measured_m_s": [round(float(x), 3) for x in measured],
        "model_m_s": [round(float(x), 3) for x in model],
    }


def _splits_from_steps(steps: list[dict]):
    ic = [s["ic_time_s"] for s in steps if s.get("step_length_m") is not None]
    lengths = [s["step_length_m"] for s in steps if s.get("step_length_m") is not None]
    if len(ic) < 3:
        return []
    # A step's length is covered from the previous contact to its own: the distance at
    # each IC, counted from the first (which comes ~0.2 s after a standing start).
    d = np.concatenate([[0.0], np.cumsum(lengths[1:])])
    return splits_from_distance(np.asarray(ic), d, start_s=float(ic[0]))


def _times(steps: list[dict]) -> dict:
    def mean(key):
        values = [s[key] for s in steps if s.get(key) is not None]
        return fmean(values) if values else None

    return {
        "steps": len(steps),
        "contact_time_s": mean("contact_time_s"),
        "flight_time_s": mean("flight_time_s"),
    }


def _phases(steps: list[dict], mss: float | None) -> dict:
    if mss is None:
        return {"acceleration": None, "max_velocity": None}
    fast = [s for s in steps if (s.get("velocity_m_s") or 0.0) >= MAX_VELOCITY_SHARE * mss]
    slow = [s for s in steps if s not in fast]
    return {"acceleration": _times(slow), "max_velocity": _times(fast)}


def _verdict(steps: list[dict]) -> dict:
    """How many of the rep's steps each verdict had (null: no verdict yet)."""
    out = {"aligned": 0, "push": 0, "swing": 0, "torso": 0, "none": 0}
    for s in steps:
        key = "aligned" if s.get("aligned") else (s.get("limiter") or "none")
        out[key] += 1
    return out


def card_rows(card: dict) -> list[tuple]:
    """The card as (section, name, value, unit) rows, for a CSV."""
    units = {f.name: f.unit for f in PROFILE_FIELDS} | {"f0_n_kg": "N/kg", "pmax_w_kg": "W/kg"}
    rows = [("rep", "number", card["rep"], ""), ("rep", "steps", card["steps"], "")]
    rows += [("profile", k, v, units[k]) for k, v in card["profile"].items()]
    rows += [
        ("split", f"{s['from_m']:g}-{s['to_m']:g} m", s["time_s"], "s") for s in card["splits"]
    ]
    for group in ("phases", "feet"):
        for name, times in card[group].items():
            for key in ("steps", "contact_time_s", "flight_time_s"):
                unit = "" if key == "steps" else "s"
                rows.append((group, f"{name} {key}", times[key] if times else None, unit))
    rows += [("verdict", k, v, "steps") for k, v in card["verdict"].items()]
    return rows
