"""The speed sensor's part of a step and a rep: velocity at contact, the ratio of
force from the speed gained over a contact, the sprint profile, and the end of a
rep a speed sensor saw alone. Arrays in, numbers out."""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from .events import PROFILE_KEYS
from .profile import MAX_SPEED_M_S, G, air_density, frontal_area_m2, sprint_profile, sprint_window


class SpeedTrack:
    """The speed samples a step or a rep may still need (`cfg`: the EngineConfig)."""

    def __init__(self, cfg: Any, body_mass_kg: float, height_m: float) -> None:
        self.cfg = cfg
        self.mass_kg, self.height_m = body_mass_kg, height_m
        self.drag_k = (
            0.5 * air_density() * frontal_area_m2(body_mass_kg, height_m) * cfg.drag_coefficient
        )
        self._t: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._span: list[tuple[float, float]] = []  # each block's first and last time
        self._reach: list[float] = []  # the latest time of the blocks up to each one
        self.rejected = 0  # samples beyond MAX_SPEED_M_S

    def __bool__(self) -> bool:
        return bool(self._t)

    def feed(self, t: np.ndarray, v: np.ndarray) -> bool:
        """A block (copied: a column view would keep the whole block alive); True when
        some of it is above rep_speed_m_s."""
        # Physically impossible speeds (a glitch, a saturated reading) are dropped.
        # (A sum is finite and small only if every term is: the common case, cheaply.)
        total = float(np.add.reduce(np.abs(v)))
        if not total <= MAX_SPEED_M_S:
            ok = np.isfinite(v) & (np.abs(v) <= MAX_SPEED_M_S)
            if not ok.all():
                self.rejected += int(np.count_nonzero(np.isfinite(v) & ~ok))
                t, v = t[ok], v[ok]
        self._t.append(t.copy())
        self._v.append(v.copy())
        self._span.append((float(t[0]), float(t[-1])) if t.size else (math.inf, -math.inf))
        self._reach.append(max(self._span[-1][1], self._reach[-1] if self._reach else -math.inf))
        return bool(np.logical_or.reduce(v > self.cfg.rep_speed_m_s))

    def first_fast(self, from_s: float, to_s: float) -> float | None:
        """The first time in [from_s, to_s] the speed was above rep_speed_m_s, if any
        (a function of the samples alone, however they came in blocks)."""
        if not self._t:
            return None
        t, v = self._all(from_s, to_s)
        fast = t[(v > self.cfg.rep_speed_m_s) & (t >= from_s) & (t <= to_s)]
        return float(fast.min()) if fast.size else None

    def prune(self, keep_s: float) -> None:
        while len(self._t) > 1 and self._span[0][1] < keep_s:  # (an empty one: -inf)
            self._t.pop(0)
            self._v.pop(0)
            self._span.pop(0)
            self._reach.pop(0)

    def _all(self, lo_s: float, hi_s: float) -> tuple[np.ndarray, np.ndarray]:
        """The samples of the blocks that reach into [lo_s, hi_s] (callers still mask:
        the same samples, in the same order, as from the whole history)."""
        # The history holds a rep's worth of blocks (reading numpy scalars of each cost
        # ~0.3 ms a step): none before the first that reaches lo_s can (`_reach` never
        # falls, however the blocks of several sensors interleave).
        first = bisect.bisect_left(self._reach, lo_s)
        span = self._span
        keep = [k for k in range(first, len(span)) if span[k][0] <= hi_s and span[k][1] >= lo_s]
        if not keep:
            return np.empty(0), np.empty(0)
        return np.concatenate([self._t[k] for k in keep]), np.concatenate(
            [self._v[k] for k in keep]
        )

    def at_contact(
        self, ic_s: float, to_s: float, prev_ic_s: float | None
    ) -> tuple[float | None, float | None]:
        """Velocity at IC, and this contact's ratio of force.

        The velocity gained from IC to TO (both at the same phase of the
        within-step ripple) is the contact's net horizontal impulse less drag;
        over a step whose vertical impulse is body weight times the step time
        (the previous step's, the next flight being still to come), that is RF.
        """
        if not self._t:
            return None, None
        window = self.cfg.speed_window_s
        t, v = self._all(ic_s - window, to_s)
        # Windows end where the step's wait for its context ends (TO): no sample
        # beyond it may count, or block sizes would change the result.
        at_ic = (t > ic_s - window) & (t <= ic_s)
        at_to = (t > to_s - window) & (t <= to_s)
        if not at_ic.any() or not at_to.any():
            return None, None
        v_ic, v_to = float(v[at_ic].mean()), float(v[at_to].mean())
        contact = to_s - ic_s
        lo, hi = self.cfg.rf_step_range_s
        step_s = (
            ic_s - prev_ic_s
            if prev_ic_s is not None and lo < ic_s - prev_ic_s < hi
            else self.cfg.rf_contacts_per_step * contact
        )
        m = self.mass_kg
        horizontal = m * (v_to - v_ic) + self.drag_k * v_ic**2 * contact
        vertical = m * G * step_s
        return v_ic, float(horizontal / math.hypot(horizontal, vertical))

    def sprint_end(self, fast_s: float, until_s: float) -> float | None:
        """A speed-only rep's end: the first sample below speed_only_end of the peak so
        far, in the samples from fast_s up to until_s (inf: the data's end, which ends
        it too); None while it may still come. (Of the peak so far, not of the data's
        peak: the end never depends on how much data had come when it was asked.)"""
        t, v = self._all(fast_s, until_s)
        after = (t >= fast_s) & (t <= until_s)
        t, v = t[after], v[after]
        slow = np.flatnonzero(v < self.cfg.speed_only_end * np.maximum.accumulate(v))
        if slow.size:
            return float(t[slow[0]])
        return float(t[-1]) if until_s == math.inf and t.size else None

    def profile_samples(self, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
        """The speed samples a rep's profile is fitted to, as they are now (the fit,
        profile_of, may come later: reps.py)."""
        lo, hi = start_s - self.cfg.profile_lead_s, end_s + self.cfg.profile_tail_s
        t, v = self._all(lo, hi)
        inside = (t >= lo) & (t <= hi)
        return t[inside], v[inside]

    def profile_of(self, t: np.ndarray, v: np.ndarray) -> dict:
        """The sprint profile (profile.py) fitted to these samples, or nulls."""
        if len(t) < 10:
            return dict.fromkeys(PROFILE_KEYS)
        w = sprint_window(t, v)
        profile = sprint_profile(t[w], v[w], self.mass_kg, self.height_m)
        if profile is None:
            return dict.fromkeys(PROFILE_KEYS)
        p = profile.as_dict()
        return {k: p[k] for k in PROFILE_KEYS}
