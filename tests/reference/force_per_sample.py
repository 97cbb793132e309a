"""service/engine/force.py, per sample (see __init__.py). Its zero re-frozen 2026-12-02
when it came to follow tare windows (force_zero.py), and again 2026-12-07 (issue 29):
each window's median rather than mean, no drop to a 5-sample median unless far below
(a vibration dip set the zero on a treadmill), a held stream's zero its lowest tenth,
and contacts too light to be a foot left out."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ForceDetectorConfig:
    on_threshold_n: float = 20.0
    off_threshold_n: float = 10.0
    min_contact_s: float = 0.030
    max_contact_s: float = 1.0
    tare_time_constant_s: float = 0.5
    acquire_s: float = 0.5
    tare_guard_s: float = 0.05
    max_tare_step_n: float = 1.0
    tare_window_s: float = 0.5
    drop_n: float = 100.0
    min_peak_n: float = 100.0
    tare_min_s: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.off_threshold_n <= self.on_threshold_n <= 500:
            raise ValueError("need 0 < off_threshold_n <= on_threshold_n <= 500")
        if not 0.005 <= self.min_contact_s < self.max_contact_s <= 10:
            raise ValueError("need 5 ms <= min_contact_s < max_contact_s <= 10 s")


@dataclass(frozen=True)
class ForceContact:
    """One foot contact seen by a force stream."""

    stream: str
    ic_s: float
    to_s: float
    confirmed_s: float  # host time of the sample that confirmed it
    peak_vertical_n: float
    vertical_impulse_ns: float
    braking_impulse_ns: float  # <= 0
    propulsive_impulse_ns: float  # >= 0
    has_horizontal: bool

    @property
    def contact_s(self) -> float:
        return self.to_s - self.ic_s


UNLOADED, LOADED, HELD = range(3)


class _Zero:
    """The stream's unloaded reading (see the module's notes): (fy, fz)."""

    def __init__(self, dt: float, cfg: ForceDetectorConfig) -> None:
        self.cfg, self.dt = cfg, dt
        self.y = self.z = 0.0  # the plate's own tare until the data say otherwise
        self._last5: deque[float] = deque(maxlen=5)
        self._held: list[tuple[float, float]] = []  # (z, y) since the stream was held
        self._held_since: float | None = None
        self._windows: dict[int, list[tuple[float, float, float]]] = {}  # unloaded: t, y, z
        self._moved = 0.0  # since the last contact
        self._clear_after = -math.inf  # no tare before this (a contact's end + guard)
        self._dropping = False  # following a load taken off down to where it settles

    def observe(self, t: float, y: float, z: float, state: int) -> None:
        """Every raw sample, with the detector's state before it."""
        self._last5.append(z)
        if state == HELD:  # never unloaded for acquire_s: the zero is its lowest tenth
            self._dropping = False
            if self._held_since is None:
                self._held_since = t
            self._held.append((z, y))
            if t - self._held_since >= self.cfg.acquire_s:
                self.z, self.y = sorted(self._held)[len(self._held) // 10]
                self._held, self._held_since = [], None
            return
        self._held, self._held_since = [], None
        if state == UNLOADED:
            self._follow_due(t)
        unloaded = state == UNLOADED and z - self.z < self.cfg.off_threshold_n
        if unloaded and self._dropping:  # down with the fall, till it settles
            level = sorted(self._last5)[len(self._last5) // 2]
            if level < self.z - self.cfg.off_threshold_n:
                self.z = level
            else:
                self._dropping = False
        elif unloaded and z < self.z - self.cfg.drop_n:
            level = sorted(self._last5)[len(self._last5) // 2]
            if level < self.z - self.cfg.drop_n:
                self.z = level  # a load taken off the plate: its zero at once
                self._dropping = True
        if unloaded and t > self._clear_after:
            w = math.floor(t / self.cfg.tare_window_s)
            self._windows.setdefault(w, []).append((t, y, z))

    def _follow_due(self, t: float) -> None:
        """Each window whose samples are all tare_guard_s old, in order: the zero
        follows their median, weighted as that many samples, or drops to it at once
        when it is clearly lower."""
        win, guard = self.cfg.tare_window_s, self.cfg.tare_guard_s
        for w in sorted(self._windows):
            if (w + 1) * win + guard > t:
                break
            rows = self._windows.pop(w)
            if not rows:
                continue
            zmed = float(np.median(np.array([r[2] for r in rows])))
            ymed = float(np.median(np.array([r[1] for r in rows])))
            a = 1.0 - (1.0 - self.dt / self.cfg.tare_time_constant_s) ** len(rows)
            lasting = len(rows) * self.dt >= self.cfg.tare_min_s
            if lasting and zmed < self.z - self.cfg.off_threshold_n:
                self.z = zmed
            else:
                room = self.cfg.max_tare_step_n - abs(self._moved)
                step = max(min(a * (zmed - self.z), room), -room)
                self.z += step
                self._moved += step
            self.y += a * (ymed - self.y)

    def contact_started(self, t: float) -> None:
        self._dropping = False
        # Samples this near the contact's start are not unloaded ground truth.
        for w, rows in self._windows.items():
            self._windows[w] = [r for r in rows if r[0] <= t - self.cfg.tare_guard_s]

    def contact_ended(self, t: float) -> None:
        self._moved = 0.0
        self._clear_after = t + self.cfg.tare_guard_s


class ForceContactDetector:
    """Streaming contact detection on one force stream: samples in, contacts out."""

    def __init__(self, name: str, sample_rate_hz: float, config: ForceDetectorConfig) -> None:
        self.name = name
        self.cfg = config
        self.dt = 1.0 / sample_rate_hz
        self.zero = _Zero(self.dt, config)
        self._state = HELD  # a contact starts from an unloaded sample
        self.broken_contacts = 0  # cut by lost samples
        self._prev_z = 0.0
        self._ic_s = 0.0
        self._to_s = 0.0
        self._acc = [0.0, 0.0, 0.0, 0.0]  # peak, vertical, braking, propulsive
        self.glitches = 0  # contacts too short to be a foot
        self.long_contacts = 0  # too long: standing or walking

    @property
    def tare_z(self) -> float:
        return self.zero.z

    def feed(self, time_s: np.ndarray, fy: np.ndarray | None, fz: np.ndarray) -> list[ForceContact]:
        """Feed consecutive samples (any number); return the contacts they confirm."""
        has_h = fy is not None
        ys = fy.tolist() if has_h else [0.0] * len(fz)
        out = []
        for t, y, z in zip(time_s.tolist(), ys, fz.tolist(), strict=True):
            contact = self._sample(t, y, z, has_h)
            if contact is not None:
                out.append(contact)
        return out

    def _sample(self, t: float, fy: float, fz: float, has_h: bool) -> ForceContact | None:
        cfg, zero = self.cfg, self.zero
        zero.observe(t, fy, fz, self._state)
        z = fz - zero.z
        y = fy - zero.y
        prev_z, self._prev_z = self._prev_z, z
        state = self._state
        if state == UNLOADED:
            if z >= cfg.on_threshold_n:
                self._state, self._ic_s = LOADED, t - self._to_zero(z, z - prev_z)
                self._acc = [0.0, 0.0, 0.0, 0.0]
                self._accumulate(y, z)
                zero.contact_started(t)
        elif state == LOADED:
            if z < cfg.off_threshold_n:
                # The end. A rise straight after it (a toe brushing the next plate)
                # must pass the on threshold again and is then a contact of its own,
                # too short to count: hysteresis, not a bridge, handles noise.
                self._state = UNLOADED
                self._to_s = t - self.dt + self._to_zero(prev_z, prev_z - z)
                zero.contact_ended(t)
                return self._contact(t, has_h)
            if t - self._ic_s > cfg.max_contact_s:
                self._state = HELD  # standing or walking: wait until it is unloaded
                self.long_contacts += 1
            else:
                self._accumulate(y, z)
        elif z < cfg.off_threshold_n:  # HELD
            self._state = UNLOADED
            zero.contact_ended(t)
        return None

    def lost(self) -> None:
        """Samples are missing: a contact across the gap cannot be measured, and one
        may have begun in it. Wait for an unloaded sample before the next."""
        if self._state == LOADED:
            self.broken_contacts += 1
        self._state = HELD

    def _to_zero(self, z: float, step: float) -> float:
        """How long the force, changing by `step` a sample, takes to go from 0 to z.

        The edges of a contact are found to a fraction of a sample by following
        the edge's slope back (or on) to zero force, within one sample.
        """
        if step <= 0.0:
            return self.dt
        return min(z / step, 1.0) * self.dt

    def _accumulate(self, y: float, z: float) -> None:
        a = self._acc
        if z > a[0]:
            a[0] = z
        a[1] += z * self.dt
        if y < 0:
            a[2] += y * self.dt
        else:
            a[3] += y * self.dt

    def _contact(self, t: float, has_h: bool) -> ForceContact | None:
        if self._to_s - self._ic_s < self.cfg.min_contact_s or self._acc[0] < self.cfg.min_peak_n:
            self.glitches += 1
            return None
        peak, vertical, braking, propulsive = self._acc
        return ForceContact(
            self.name,
            self._ic_s,
            self._to_s,
            t,
            peak,
            vertical,
            braking if has_h else 0.0,
            propulsive if has_h else 0.0,
            has_h,
        )
