"""A sprint's split times from a speed trace, as timing gates would give them.

Distance is the trapezoidal integral of speed from the start; a split is the
time between two marks (0–5 m, 5–10 m, 10–20 m, ...). The start is the
profile's fitted t0 (service/engine/profile.py: when the fitted velocity
curve leaves zero), the same instant timing systems such as 1080 Sprint use
for a start from standing; a trace that does not reach a mark has no split
there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SPLIT_MARKS_M = (5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0)


@dataclass(frozen=True)
class Split:
    from_m: float
    to_m: float
    time_s: float  # from one mark to the next
    at_s: float  # from the start to `to_m`

    def as_dict(self) -> dict:
        return asdict(self)


def distance_m(time_s: np.ndarray, velocity_m_s: np.ndarray, start_s: float) -> np.ndarray:
    """Distance covered since `start_s` at each sample (0 before it)."""
    t = np.asarray(time_s, dtype=float)
    v = np.clip(np.asarray(velocity_m_s, dtype=float), 0.0, None)
    steps = 0.5 * (v[1:] + v[:-1]) * np.diff(t)
    d = np.concatenate([[0.0], np.cumsum(steps)])
    at_start = float(np.interp(start_s, t, d))
    return np.maximum(d - at_start, 0.0)


def splits_from_speed(
    time_s: np.ndarray,
    velocity_m_s: np.ndarray,
    start_s: float,
    marks_m: tuple[float, ...] = SPLIT_MARKS_M,
) -> list[Split]:
    """Split times between consecutive marks the trace reaches, from `start_s`."""
    t = np.asarray(time_s, dtype=float)
    return splits_from_distance(t, distance_m(t, velocity_m_s, start_s), start_s, marks_m)


def splits_from_distance(
    time_s: np.ndarray,
    distance: np.ndarray,
    start_s: float,
    marks_m: tuple[float, ...] = SPLIT_MARKS_M,
) -> list[Split]:
    """Split times where a rising distance (m since `start_s`) passes each mark."""
    t, d = np.asarray(time_s, dtype=float), np.asarray(distance, dtype=float)
    out, last_m, last_s = [], 0.0, 0.0
    for mark in marks_m:
        if d[-1] < mark:
            break
        i = int(np.searchsorted(d, mark))  # d rises (speed >= 0): the first sample past it
        crossed = float(np.interp(mark, d[i - 1 : i + 1], t[i - 1 : i + 1])) - start_s
        out.append(Split(last_m, mark, crossed - last_s, crossed))
        last_m, last_s = mark, crossed
    return out
