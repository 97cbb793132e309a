"""The legs' IMUs: shank and thigh motion shaped on real running, as a sensor sees it.

A segment's sagittal angular velocity over each stride is the real one
(templates.py: the shank and thigh of Dorn et al. 2012 at 3.5 and 9.5 m/s,
blended by the stride's speed), stretched onto the planned stride: its stance
from IC to TO, its swing from TO to the next IC, the swing warped so that its
peak comes at the planned `swing_timing` (a late swing moves it), scaled by
the planned swing peak. The angle is its integral, made to repeat from stride
to stride by a smooth correction over the swing. The specific force follows
from the angle and rate (gravity, tangential and centripetal acceleration of
the sensor about the joint above), plus the shank's foot-strike shock from the
planned ground reaction of that foot; sensor.py adds the rest of what a strapped
sensor sees. Every value is a pure function of time: chunk-invariant.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..physics import GRAVITY_M_S2
from . import sensor, templates
from .athlete import WALK, SessionPlan, sprint_stride

G = GRAVITY_M_S2
WALK_PEAK_DEG_S = 300.0  # a walking shank's swing peak (above the detector's 200 deg/s)
_ST, _SW = templates.STANCE, templates.SWING
_JOG, _SPRINT = templates.SPEED_M_S["jog"], templates.SPEED_M_S["sprint"]


def _cumulative(curve: np.ndarray, points: int) -> np.ndarray:
    """Integral of a template over its phase (0..1), at points+1 knots."""
    x = np.concatenate([curve, curve[-1:]])
    return np.concatenate([[0.0], np.cumsum((x[:-1] + x[1:]) / 2)]) / points


class _Template:
    """One segment's stance and swing curves at jog and sprint, with their integrals."""

    def __init__(self, jog: np.ndarray, sprint: np.ndarray) -> None:
        self.stance = (jog[:_ST], sprint[:_ST])
        self.swing = (jog[_ST:], sprint[_ST:])
        self.stance_int = tuple(_cumulative(c, _ST) for c in self.stance)
        self.swing_int = tuple(_cumulative(c, _SW) for c in self.swing)
        self.peak_at = tuple(float(np.argmax(c)) / _SW for c in self.swing)

    @staticmethod
    def _at(curves, phase, w, points):
        grid = np.arange(len(curves[0])) / points
        return (1 - w) * np.interp(phase, grid, curves[0]) + w * np.interp(phase, grid, curves[1])


TEMPLATES = {
    "shank": _Template(templates.JOG_SHANK, templates.SPRINT_SHANK),
    "thigh": _Template(templates.JOG_THIGH, templates.SPRINT_THIGH),
}


class SegmentKinematics:
    """Sagittal angular velocity (deg/s) and angle (deg) of one leg segment."""

    GAP_S = 1.5  # longer between two contacts of a leg: the leg stopped
    LEAD_S = 0.3  # the swing into a first contact, and out of a last one

    def __init__(self, plan: SessionPlan, foot: int, segment: str) -> None:
        self.plan, self.foot, self.segment = plan, foot, segment
        self.tmpl = TEMPLATES[segment]
        s = plan.steps
        idx = np.flatnonzero(s.foot == foot)
        ic = s.ic_s[idx] + s.event_jitter_s[idx, 0]
        to = s.to_s[idx] + s.event_jitter_s[idx, 1]
        nxt = np.append(ic[1:], np.inf)
        whole = nxt - to < self.GAP_S
        # Each stride: IC, TO, end of its swing (the next IC, or a lead-out), and
        # whether a lead-in swing comes before it (the first of a run).
        end = np.where(whole, nxt, to + self.LEAD_S)
        lead_in = np.append(True, ~whole[:-1]) if len(idx) else np.zeros(0, bool)
        self.ic, self.to, self.end, self.lead_in = ic, to, end, lead_in
        self.whole = whole
        # Which real stride (athlete.sprint_stride). Not a blend of the two: that would
        # give each stride two knees, one at each stride's phase.
        self.w = sprint_stride(s.phase[idx], s.velocity_m_s[idx]).astype(float)
        self.peak = np.where(s.phase[idx] == WALK, WALK_PEAK_DEG_S, s.swing_peak_deg_s[idx])
        self.timing = s.swing_timing[idx]
        # Integral of each stride from IC to its end, removed by a sin² bump over the
        # swing so that the angle comes back to where it started.
        if len(idx):
            self.drift = self._integral(np.arange(len(idx)), end)
        else:
            self.drift = np.zeros(0)

    # --- phases ------------------------------------------------------------------------

    def _stride(self, t: np.ndarray) -> np.ndarray:
        """The stride each time falls in (its IC up to its end, or its lead-in), or -1."""
        if not len(self.ic):
            return np.full(len(t), -1)
        k = np.searchsorted(self.ic, t, side="right") - 1
        inside = (k >= 0) & (t < self.end[np.maximum(k, 0)])
        nxt = np.minimum(k + 1, len(self.ic) - 1)
        lead = (
            (~inside) & self.lead_in[nxt] & (t >= self.ic[nxt] - self.LEAD_S) & (t < self.ic[nxt])
        )
        return np.where(inside, k, np.where(lead, -2 - nxt, -1))

    @staticmethod
    def _shank_peak_at(w: np.ndarray) -> np.ndarray:
        """Where the shank's swing peak is in the template: the whole leg's swing is
        warped by it (the thigh's own peak comes earlier and moves with it)."""
        jog, sprint = TEMPLATES["shank"].peak_at
        return (1 - w) * jog + w * sprint

    def _swing_phase(self, k: np.ndarray, psi: np.ndarray) -> np.ndarray:
        """Template phase of swing phase psi (the peak moved to the stride's timing)."""
        w = self.w[k]
        peak_at = self._shank_peak_at(w)
        tau = self.timing[k]
        early = psi < tau
        return np.where(
            early, psi * peak_at / tau, peak_at + (psi - tau) * (1 - peak_at) / (1 - tau)
        )

    def angular_velocity(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        out = np.zeros(len(t))
        k = self._stride(t)
        a = k >= 0
        if a.any():
            ka, ta = k[a], t[a]
            ic, to, end, w = self.ic[ka], self.to[ka], self.end[ka], self.w[ka]
            stance = ta < to
            phi = np.clip((ta - ic) / (to - ic), 0.0, 1.0)
            psi = np.clip((ta - to) / (end - to), 0.0, 1.0)
            ph = self._swing_phase(ka, psi)
            sw = self.tmpl._at(self.tmpl.swing, ph, w, _SW) * self._fade(ka, psi)
            st = self.tmpl._at(self.tmpl.stance, phi, w, _ST)
            value = np.where(stance, st, sw) * self.peak[ka]
            out[a] = value - self._bump(ka, ta)[0]
        lead = k <= -2
        if lead.any():  # the swing into a first contact: its last LEAD_S
            kn = -2 - k[lead]
            psi = 1.0 - (self.ic[kn] - t[lead]) / self.LEAD_S
            ph = self._swing_phase(kn, np.clip(psi * 0.5 + 0.5, 0.0, 1.0))
            ramp = np.clip(psi * 2, 0.0, 1.0)
            out[lead] = self.tmpl._at(self.tmpl.swing, ph, self.w[kn], _SW) * self.peak[kn] * ramp
        return out

    def _fade(self, k: np.ndarray, psi: np.ndarray) -> np.ndarray:
        """1 in a whole swing; a lead-out fades to 0 over its second half."""
        fade = np.cos(np.pi * np.clip(2 * psi - 1, 0.0, 1.0) / 2) ** 2
        return np.where(self.whole[k], 1.0, fade)

    def _integral(self, k: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Integral (deg) of the template rate from stride k's IC to t (within it)."""
        ic, to, end, w, peak = self.ic[k], self.to[k], self.end[k], self.w[k], self.peak[k]
        tc, sw = to - ic, end - to
        phi = np.clip((t - ic) / tc, 0.0, 1.0)
        stance = tc * self.tmpl._at(self.tmpl.stance_int, phi, w, _ST)
        psi = np.clip((t - to) / sw, 0.0, 1.0)
        tau = self.timing[k]
        peak_at = self._shank_peak_at(w)
        ph = self._swing_phase(k, psi)
        c = self.tmpl.swing_int
        at_peak = self.tmpl._at(c, peak_at, w, _SW)
        at_ph = self.tmpl._at(c, ph, w, _SW)
        early = np.where(psi < tau, at_ph * tau / peak_at, at_peak * tau / peak_at)
        late = np.where(psi < tau, 0.0, (at_ph - at_peak) * (1 - tau) / (1 - peak_at))
        swing = sw * (early + late) * np.where(self.whole[k], 1.0, 0.0)
        return peak * (stance + swing)

    def _bump(self, k: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The drift correction of stride k at t: (rate, its integral since IC)."""
        to, end = self.to[k], self.end[k]
        sw = end - to
        c = np.where(self.whole[k], self.drift[k] / (sw / 2), 0.0)
        x = np.clip((t - to) / sw, 0.0, 1.0)
        return c * np.sin(np.pi * x) ** 2, c * sw * (x / 2 - np.sin(2 * np.pi * x) / (4 * np.pi))

    def angle(self, t: np.ndarray) -> np.ndarray:
        """Segment angle (deg), + distal end forward; 0 at every IC and when still."""
        t = np.asarray(t, dtype=np.float64)
        out = np.zeros(len(t))
        k = self._stride(t)
        a = k >= 0
        if a.any():
            out[a] = self._integral(k[a], t[a]) - self._bump(k[a], t[a])[1]
        return out


class ImuSource:
    """A leg IMU (shank or thigh): gx, gy, gz (deg/s), ax, ay, az (m/s^2), segment frame."""

    SENSOR_RADIUS_M: ClassVar[dict[str, float]] = {"shank": 0.22, "thigh": 0.20}  # from the joint
    SHOCK_WINDOW_S = (-0.005, 0.120)  # around IC: where a contact's shock and ringing live

    def __init__(
        self,
        plan: SessionPlan,
        foot: int,
        segment: str,
        seed: int = 0,
        noise: bool = True,
        rate_hz: float = 1000.0,
        effects: sensor.SensorEffects | None = None,
    ) -> None:
        from .signals import _Noise  # one noise table for every source

        self.kin = SegmentKinematics(plan, foot, segment)
        self.plan, self.segment, self.foot = plan, segment, foot
        self.effects = effects or (sensor.SensorEffects() if noise else sensor.SensorEffects.none())
        self.noise = _Noise(seed, 6, rate_hz) if noise else None
        self.mount = sensor.Mounting(self.effects, np.random.default_rng(seed + 7))
        self._shocks = self._contact_shocks() if segment == "shank" else {}

    def _contact_shocks(self) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per contact of this foot: (time since IC, accelerometer shock (x, z), gyro
        ringing), on a 0.5 ms grid, from its planned ground reaction."""
        from .signals import ContactShape

        s, e = self.plan.steps, self.effects
        if not e.shock:
            return {}
        u = np.arange(*self.SHOCK_WINDOW_S, 0.0005)
        out = {}
        for j in np.flatnonzero((s.foot == self.foot) & (s.phase != WALK)):
            force = np.column_stack(
                [
                    np.zeros(len(u)),
                    ContactShape.horizontal(self.plan, int(j), u),
                    ContactShape.vertical(self.plan, int(j), u),
                ]
            )
            lab = sensor.shock_m_s2(u, force, self.plan.athlete.body_mass_kg)
            # The shank near IC: its z axis (distal) points down, x forward.
            seg = np.column_stack([lab[:, 1], np.zeros(len(u)), -lab[:, 2]])
            rung, ringing = sensor.wobble(u, seg, e)
            out[int(j)] = (u, rung, ringing)
        return out

    def _shock(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        accel, gyro = np.zeros((len(t), 3)), np.zeros(len(t))
        s = self.plan.steps
        lo, hi = self.SHOCK_WINDOW_S
        for j, (u, rung, ringing) in self._shocks.items():
            x = t - s.ic_s[j]
            near = (x >= lo) & (x < hi)
            if near.any():
                for c in (0, 2):
                    accel[near, c] += np.interp(x[near], u, rung[:, c])
                gyro[near] += np.interp(x[near], u, ringing)
        return accel, gyro

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        w = self.kin.angular_velocity(t)
        theta = np.radians(self.kin.angle(t))
        w_rad = np.radians(w)
        dt = 1e-4
        alpha = np.radians(
            self.kin.angular_velocity(t + dt) - self.kin.angular_velocity(t - dt)
        ) / (2 * dt)
        r = self.SENSOR_RADIUS_M[self.segment]
        # Specific force in the segment frame (x forward, y right, z distal):
        # gravity, tangential r*alpha, centripetal r*w^2 towards the joint above.
        zeros = np.zeros_like(t)
        gyro = np.column_stack([zeros, w, zeros])
        accel = np.column_stack(
            [G * np.sin(theta) + r * alpha, zeros, -G * np.cos(theta) - r * w_rad**2]
        )
        if self.effects.off_sagittal:
            gx, gz = sensor.off_sagittal(
                self.kin.angular_velocity(t + 0.010), self.kin.angular_velocity(t - 0.025)
            )
            gyro[:, 0] += gx
            gyro[:, 2] += gz
        if self._shocks:
            shock, ringing = self._shock(t)
            accel += shock
            gyro[:, 1] += ringing
        n = self.noise(t) if self.noise is not None else None
        gyro, accel = self.mount.read(
            gyro, accel, None if n is None else n[:, :3], None if n is None else n[:, 3:]
        )
        return np.column_stack([gyro, accel])
