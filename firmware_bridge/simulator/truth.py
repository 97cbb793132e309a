"""Ground truth of a simulated session, as JSON lines.

The first line describes the session; then one line per contact ("step") and
one per rep. Times are true time in seconds since the session started, which
is also the host clock of a simulated capture, so a replay's events compare
with these directly. Keys follow the engine's step lines where they mean the
same thing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict

import numpy as np

from .athlete import LIMITER, SessionPlan
from .signals import ContactShape

FOOT = ("left", "right")


def peak_vertical_force_n(plan: SessionPlan, j: int) -> float:
    """The exact peak of contact j's noiseless vertical force."""
    s = plan.steps
    u = np.linspace(0.0, s.to_s[j] - s.ic_s[j], 2001)
    return float(ContactShape.vertical(plan, j, u).max())


def step_records(plan: SessionPlan, plates: np.ndarray) -> Iterator[dict]:
    s, a = plan.steps, plan.athlete
    for j in range(len(s)):
        nxt = j + 1 if j + 1 < len(s) else None
        step_s = float(s.ic_s[nxt] - s.ic_s[j]) if nxt is not None else math.nan
        in_run = nxt is not None and s.phase[j] != "walk" and s.ic_s[nxt] > s.to_s[j]
        net = s.propulsive_impulse_ns[j] - s.braking_impulse_ns[j]
        rf = None
        if in_run:
            rf = net / float(np.hypot(net, s.vertical_impulse_ns[j]))
        limiter = LIMITER.get(str(s.scenario[j])) if s.rep[j] > 0 else None
        yield {
            "type": "step",
            "foot": FOOT[s.foot[j]],
            "ic_time_s": float(s.ic_s[j]),
            "to_time_s": float(s.to_s[j]),
            "contact_time_s": float(s.to_s[j] - s.ic_s[j]),
            "flight_time_s": float(s.ic_s[nxt] - s.to_s[j]) if in_run else None,
            "step_time_s": float(step_s) if in_run else None,
            "step_frequency_hz": float(1.0 / step_s) if in_run else None,
            "peak_vertical_force_bw": peak_vertical_force_n(plan, j) / a.weight_n,
            "braking_impulse_ns": -float(s.braking_impulse_ns[j]),
            "propulsive_impulse_ns": float(s.propulsive_impulse_ns[j]),
            "net_horizontal_impulse_ns": float(net),
            "ratio_of_force": rf,
            "velocity_m_s": float(s.velocity_m_s[j]),
            "step_length_m": float((s.velocity_m_s[j] + s.velocity_next_m_s[j]) / 2 * step_s)
            if in_run
            else None,
            "swing_peak_deg_s": float(s.swing_peak_deg_s[j]),
            "gyro_ic_offset_s": float(s.event_jitter_s[j, 0]),
            "gyro_to_offset_s": float(s.event_jitter_s[j, 1]),
            "phase": str(s.phase[j]),
            "rep": int(s.rep[j]) or None,
            "scenario": str(s.scenario[j]),
            "limiter": limiter,
            "aligned": (limiter is None) if s.rep[j] > 0 else None,
            "plate": int(plates[j]) if plates[j] >= 0 else None,
        }


def records(plan: SessionPlan, plates: np.ndarray, rig: str, scenario: str) -> Iterator[dict]:
    yield {
        "type": "session",
        "athlete": asdict(plan.athlete),
        "rig": rig,
        "scenario": scenario,
        "seed": plan.seed,
        "duration_s": plan.duration_s,
        "time_base": "seconds since the session started (the capture's host clock)",
    }
    yield from step_records(plan, plates)
    for rep in plan.reps:
        yield {
            "type": "rep",
            **{k: (float(v) if isinstance(v, float) else v) for k, v in rep.items()},
        }


def write_truth(path, plan: SessionPlan, plates: np.ndarray, rig: str, scenario: str) -> None:
    with open(path, "w") as f:
        for rec in records(plan, plates, rig, scenario):
            f.write(json.dumps(rec) + "\n")


def read_truth(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
