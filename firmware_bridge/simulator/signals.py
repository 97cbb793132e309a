"""Sensor signals drawn from a session plan: force, IMU and speed.

Each source is a callable `source(t) -> values` over true times (seconds),
evaluated analytically, so it can be sampled at any rate, in any chunks, with
the same result; noise comes from a fixed table indexed by sample time, so it
is chunk-invariant too. With `noise=False` a source gives the exact,
noiseless signal (what the ground truth describes).
"""

from __future__ import annotations

import numpy as np

from . import templates
from .athlete import WALK, G, SessionPlan, sprint_stride

_NOISE_LEN = 1 << 16


class _Noise:
    """Deterministic, chunk-invariant noise: a table indexed by sample time."""

    def __init__(self, seed: int, channels: int, rate_hz: float) -> None:
        self.table = np.random.default_rng(seed).standard_normal((_NOISE_LEN, channels))
        self.rate_hz = rate_hz

    def __call__(self, t: np.ndarray) -> np.ndarray:
        idx = np.rint(np.asarray(t) * self.rate_hz).astype(np.int64) % _NOISE_LEN
        return self.table[idx]


def _overlapping(plan: SessionPlan, mask: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Indices of contacts (within mask) that overlap [t.min(), t.max()]."""
    s = plan.steps
    lo, hi = float(np.min(t)), float(np.max(t))
    first = np.searchsorted(s.ic_s, lo - 1.0)  # no contact lasts longer than 1 s
    last = np.searchsorted(s.ic_s, hi, side="right")
    idx = np.arange(first, last)
    return idx[mask[idx] & (s.to_s[idx] > lo)]


def _bump(u: np.ndarray, half_width_s: float) -> np.ndarray:
    """sin^2 bump on [0, 2 * half_width]: 0 at foot strike, peak at half_width, area half_width."""
    x = np.clip(u / (2 * half_width_s), 0.0, 1.0)
    return np.where((u > 0) & (u < 2 * half_width_s), np.sin(np.pi * x) ** 2, 0.0)


def _bump_integral(u: np.ndarray, half_width_s: float) -> np.ndarray:
    x = np.clip(u, 0.0, 2 * half_width_s)
    return x / 2 - half_width_s / (2 * np.pi) * np.sin(np.pi * x / half_width_s)


class ContactShape:
    """Force of one contact, exact; the sum over contacts is the plate's force.

    Running contacts follow the two-mass idea of Clark, Ryan & Weyand (2017):
    a half-sine for the body (Morin et al. 2005) plus an impact transient as
    the foot and shank are stopped, in the vertical and (as a braking spike)
    in the horizontal force. The transients are sin^2 bumps, whose impulses are
    known exactly, so every contact's impulses are exactly the planned ones.
    """

    VERTICAL_IMPACT_S = 0.024  # half width: peaks 24 ms after foot strike
    VERTICAL_IMPACT_BW = 0.9  # at top speed
    BRAKING_SPIKE_S = 0.012
    BRAKING_SPIKE_BW = 0.55

    @staticmethod
    def _vertical_impact(plan: SessionPlan, j: int) -> float:
        s = plan.steps
        v_rel = min(s.velocity_m_s[j] / plan.athlete.mss_m_s, 1.0)
        return ContactShape.VERTICAL_IMPACT_BW * plan.athlete.weight_n * v_rel**2

    @staticmethod
    def vertical(plan: SessionPlan, j: int, u: np.ndarray) -> np.ndarray:
        """Vertical force (N) at u seconds after IC of contact j; 0 outside it."""
        s = plan.steps
        tc = s.to_s[j] - s.ic_s[j]
        x = np.clip(u / tc, 0.0, 1.0)
        inside = (u > 0) & (u < tc)
        window = np.where(inside, np.sin(np.pi * x), 0.0)  # exactly 0 outside the contact
        if s.phase[j] == WALK:
            shape = window + np.where(inside, 0.25 * np.sin(3 * np.pi * x), 0.0)
            area = tc * (2 / np.pi + 0.25 * 2 / (3 * np.pi))
            return s.vertical_impulse_ns[j] / area * shape
        d = ContactShape.VERTICAL_IMPACT_S
        impact = ContactShape._vertical_impact(plan, j)
        sine_amp = (s.vertical_impulse_ns[j] - impact * d) / (2 * tc / np.pi)
        return sine_amp * window + impact * _bump(u, d)

    @staticmethod
    def _braking(plan: SessionPlan, j: int) -> tuple[float, float, float, float]:
        """Braking phase length, sine amplitude, spike amplitude; propulsive amplitude."""
        s = plan.steps
        tc = s.to_s[j] - s.ic_s[j]
        tb = tc * s.braking_fraction[j]
        d = ContactShape.BRAKING_SPIKE_S
        v_rel = min(s.velocity_m_s[j] / plan.athlete.mss_m_s, 1.0)
        ib = s.braking_impulse_ns[j]
        spike = min(ContactShape.BRAKING_SPIKE_BW * plan.athlete.weight_n * v_rel**2, 0.6 * ib / d)
        brake = (ib - spike * d) * np.pi / (2 * tb)
        prop = s.propulsive_impulse_ns[j] * np.pi / (2 * (tc - tb))
        return tb, brake, spike, prop

    @staticmethod
    def horizontal(plan: SessionPlan, j: int, u: np.ndarray) -> np.ndarray:
        """Anterior-posterior force (N, + forward): braking, then propulsion."""
        s = plan.steps
        tc = s.to_s[j] - s.ic_s[j]
        tb, brake, spike, prop = ContactShape._braking(plan, j)
        tp = tc - tb
        inside = (u > 0) & (u < tc)
        sines = np.where(
            u < tb, -brake * np.sin(np.pi * u / tb), prop * np.sin(np.pi * (u - tb) / tp)
        )
        return np.where(inside, sines, 0.0) - spike * _bump(u, ContactShape.BRAKING_SPIKE_S)

    @staticmethod
    def horizontal_impulse(plan: SessionPlan, j: int, u: np.ndarray) -> np.ndarray:
        """Integral of horizontal() from IC to u seconds after it."""
        s = plan.steps
        tc = s.to_s[j] - s.ic_s[j]
        tb, brake, spike, prop = ContactShape._braking(plan, j)
        tp = tc - tb
        u = np.clip(u, 0.0, tc)
        braking = -brake * tb / np.pi * (1 - np.cos(np.pi * np.minimum(u, tb) / tb))
        pushing = prop * tp / np.pi * (1 - np.cos(np.pi * np.clip(u - tb, 0.0, tp) / tp))
        return braking + pushing - spike * _bump_integral(u, ContactShape.BRAKING_SPIKE_S)


class ForceSource:
    """A force plate (or treadmill) that sees the contacts in `mask`: fx, fy, fz in N."""

    STANDING_GAP_S = 0.5  # a longer pause between contacts: the athlete stands
    HANDOVER_S = 0.1

    def __init__(
        self,
        plan: SessionPlan,
        mask: np.ndarray,
        seed: int = 0,
        noise: bool = True,
        rate_hz: float = 1000.0,
        vertical_only: bool = False,
        standing: bool = False,
    ) -> None:
        self.plan, self.mask = plan, mask
        self.vertical_only = vertical_only
        self.standing = self._standing_intervals() if standing else np.zeros((0, 2))
        self.noise = _Noise(seed, 3, rate_hz) if noise else None
        rng = np.random.default_rng(seed + 1)
        self.drift_phase = rng.uniform(0, 2 * np.pi, 2)

    def exact(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        out = np.zeros((len(t), 3))
        steps = self.plan.steps
        for j in _overlapping(self.plan, self.mask, t):
            u = t - steps.ic_s[j]
            fz = ContactShape.vertical(self.plan, j, u)
            out[:, 2] += fz
            out[:, 1] += ContactShape.horizontal(self.plan, j, u)
            side = -1.0 if steps.foot[j] == 0 else 1.0
            out[:, 0] += side * 0.06 * fz
        for start, end in self.standing:  # standing on it between activities
            # Body weight, handing over to the first push without unloading the belt.
            on = (t > start) & (t < end + self.HANDOVER_S)
            if np.any(on):
                share = np.clip(1.0 - (t[on] - end) / self.HANDOVER_S, 0.0, 1.0)
                out[on, 2] += self.plan.athlete.weight_n * share
        return out[:, 2:] if self.vertical_only else out

    def _standing_intervals(self) -> np.ndarray:
        s = self.plan.steps
        ic, to = s.ic_s[self.mask], s.to_s[self.mask]
        if not len(ic):
            return np.array([[0.0, np.inf]])
        ends = np.maximum.accumulate(to)
        gaps = np.flatnonzero(ic[1:] - ends[:-1] > self.STANDING_GAP_S)
        intervals = [(0.0, ic[0])] + [(ends[g], ic[g + 1]) for g in gaps] + [(ends[-1], np.inf)]
        return np.array(intervals)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        out = self.exact(t)
        if self.noise is None:
            return out
        # Amplifier noise and a slow zero drift (re-tare between reps).
        drift = 6.0 * np.sin(2 * np.pi * t / 97.0 + self.drift_phase[0]) + 4.0 * np.sin(
            2 * np.pi * t / 331.0 + self.drift_phase[1]
        )
        noise = 1.5 * self.noise(t)[:, : out.shape[1]]
        return out + noise + drift[:, None] * np.array([0.2, 0.3, 1.0])[: out.shape[1]]


class TrunkSource:
    """Trunk IMU: pitch (forward lean +) from the velocity, rocking within each stride
    as the real trunk does (templates.py: Dorn et al. 2012, ±4-5 deg sprinting, a
    stance pitch rate of ~100 deg/s RMS), times the plan's `trunk_rock`."""

    def __init__(
        self, plan: SessionPlan, seed: int = 0, noise: bool = True, rate_hz: float = 1000.0
    ) -> None:
        self.plan = plan
        self.noise = _Noise(seed, 6, rate_hz) if noise else None
        s = plan.steps
        self.sprinting = sprint_stride(s.phase, s.velocity_m_s)

    def pitch_deg(self, t: np.ndarray) -> np.ndarray:
        s = self.plan.steps
        v = np.abs(self.plan.velocity(t))
        # Leaning into a start, upright by top speed; from standing (below 0.5 m/s) the
        # lean grows with speed instead of jumping (a jump made rate spikes).
        lean = 5.0 + 40.0 * np.exp(-3.0 * v / self.plan.athlete.mss_m_s) * np.minimum(v / 0.5, 1.0)
        j = np.clip(np.searchsorted(s.ic_s, t, side="right") - 1, 0, max(len(s) - 1, 0))
        if not len(s):
            return lean
        nxt = np.minimum(j + 1, len(s) - 1)
        step = np.maximum(s.ic_s[nxt] - s.ic_s[j], 0.2)
        running = (t >= s.ic_s[j]) & (t < s.ic_s[j] + step)
        # A left step is the stride template's first half, a right step its second: the
        # template is continuous through both and round the stride, so is the pitch.
        x = (s.foot[j] + np.clip((t - s.ic_s[j]) / step, 0.0, 1.0)) * templates.STEP
        grid = np.arange(2 * templates.STEP + 1)
        rock = np.where(
            self.sprinting[j],
            np.interp(x, grid, np.append(templates.SPRINT_TRUNK, templates.SPRINT_TRUNK[0])),
            np.interp(x, grid, np.append(templates.JOG_TRUNK, templates.JOG_TRUNK[0])),
        )
        return lean + np.where(running, s.trunk_rock[j] * rock, 0.0)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        dt = 1e-4
        pitch = self.pitch_deg(t)
        # gy is + when the trunk's lower end swings forward (docs/protocol.md): when the
        # forward lean decreases.
        rate = -(self.pitch_deg(t + dt) - self.pitch_deg(t - dt)) / (2 * dt)
        phi = np.radians(pitch)
        fwd = (self.plan.velocity(t + dt) - self.plan.velocity(t - dt)) / (2 * dt)
        ax = G * np.sin(phi) + fwd
        az = -G * np.cos(phi)
        zeros = np.zeros_like(t)
        out = np.column_stack([zeros, rate, zeros, ax, zeros, az])
        if self.noise is not None:
            n = self.noise(t)
            out[:, :3] += 1.5 * n[:, :3]
            out[:, 3:] += 0.3 * n[:, 3:]
        return out


class SpeedSource:
    """Athlete velocity (m/s) as a laser or radar sees it: the horizontal force integrated."""

    def __init__(
        self, plan: SessionPlan, seed: int = 0, noise: bool = True, rate_hz: float = 100.0
    ) -> None:
        self.plan = plan
        self.noise = _Noise(seed, 1, rate_hz) if noise else None

    def exact(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        s, a = self.plan.steps, self.plan.athlete
        v = self.plan.velocity(t)
        if not len(s):
            return v
        j = np.clip(np.searchsorted(s.ic_s, t, side="right") - 1, 0, len(s) - 1)
        u = t - s.ic_s[j]
        running = (
            (u >= 0)
            & (s.phase[j] != WALK)
            & (u < s.ic_s[np.minimum(j + 1, len(s) - 1)] - s.ic_s[j])
        )
        v_out = v.copy()
        for jj in np.unique(j[running]):
            sel = running & (j == jj)
            step_s = s.ic_s[min(jj + 1, len(s) - 1)] - s.ic_s[jj]
            v_mean = (s.velocity_m_s[jj] + s.velocity_next_m_s[jj]) / 2
            drag = a.drag_k * v_mean**2
            impulse = ContactShape.horizontal_impulse(self.plan, jj, u[sel])
            v_out[sel] = s.velocity_m_s[jj] + (impulse - drag * u[sel]) / a.body_mass_kg
            if step_s <= 0:
                v_out[sel] = s.velocity_m_s[jj]
        return v_out[:, None]

    def __call__(self, t: np.ndarray) -> np.ndarray:
        out = self.exact(t)
        if self.noise is not None:
            out = out + 0.03 * self.noise(t)
        return out
