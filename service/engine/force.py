"""Foot contacts from a force signal, as the samples arrive.

One detector per force stream (a plate, a treadmill, or a runway of plates
already summed on one clock). Vertical force above `on_threshold_n` starts a
contact; below `off_threshold_n` ends it (hysteresis: noise near one threshold
cannot toggle it). Defaults, and why:

- on at 20 N: the usual threshold of sprint force-plate studies (e.g. Morin
  et al. 2011), above the plates' noise (1-2 N) and drift between tares;
- off at 10 N: the force falls through 20 -> 10 N in well under a millisecond
  at the end of a sprint contact, so contact times stay within a sample of a
  plain 20 N threshold, while a noisy plate cannot end a contact twice;
- contacts shorter than 30 ms are glitches (a foot brushing a plate's edge,
  a cable tug), longer than 1 s are standing or walking: neither is a step;
- the zero (auto-tare): a plate's unloaded reading drifts, and a treadmill's
  can sit tens of newtons up (its belt, its frame). The zero starts at the
  plate's own tare (0 N); a stream that has not been unloaded for `acquire_s`
  (a runner is in the air at least every half second) takes the lowest reading
  of that time as its zero; the zero drops at once to any clearly lower
  unloaded level (a 5-sample median, so that noise does not drag it down) and
  follows (time constant 0.5 s: drift is slower) only unloaded samples at least
  `tare_guard_s` clear of any contact on both sides, by at most
  `max_tare_step_n` between two contacts: the thresholds around a contact stay
  where they were (a zero that crept while the force hung at 10-13 N at toe-off
  would move the toe-off by many ms);
- a stream that starts (or comes back after lost samples) loaded is in the
  middle of a contact, whose start it never saw: it is not a step; the first
  contact starts from an unloaded sample.

The first sample at or above the on threshold starts a contact, the first
below the off threshold ends and confirms it (the contact is emitted with that
sample). IC and TO are then placed to a fraction of a sample by following the
edge's slope to zero force, within one sample of those samples: a threshold is
crossed ~0.5 ms after the true foot strike at sprint loading rates.
Impulses use the stream's nominal sample period.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ForceDetectorConfig:
    """Why each value: the module's notes."""

    on_threshold_n: float = 20.0  # a contact starts at or above this (Morin et al. 2011)
    off_threshold_n: float = 10.0  # and ends below this (hysteresis)
    min_contact_s: float = 0.030  # shorter: a glitch (a foot brushing an edge, a tug)
    max_contact_s: float = 1.0  # longer: standing or walking
    tare_time_constant_s: float = 0.5  # the zero follows unloaded drift this slowly
    acquire_s: float = 0.5  # never unloaded this long: the lowest reading is the zero
    tare_guard_s: float = 0.05  # the zero follows only samples this far from a contact
    max_tare_step_n: float = 1.0  # and moves at most this far between two contacts

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
    """The stream's unloaded reading (see the module's notes): (fy, fz). Kept by
    ForceContactDetector.feed, sample by sample."""

    def __init__(self, dt: float, cfg: ForceDetectorConfig) -> None:
        self.cfg, self.dt = cfg, dt
        self.y = self.z = 0.0  # the plate's own tare until the data say otherwise
        self.last5: deque[float] = deque(maxlen=5)
        self.held: tuple[float, float, float] | None = None  # since, lowest z, its y
        self.pending: deque[tuple[float, float, float]] = deque()  # unloaded: t, y, z
        self.moved = 0.0  # since the last contact
        self.clear_after = -math.inf  # no tare before this (a contact's end + guard)


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
        self._last_t = -math.inf  # the last sample's time
        self._ic_s = 0.0
        self._to_s = 0.0
        self._acc = [0.0, 0.0, 0.0, 0.0]  # peak, vertical, braking, propulsive
        self.glitches = 0  # contacts too short to be a foot
        self.long_contacts = 0  # too long: standing or walking

    def reports_from_s(self) -> float:
        """No contact with an IC before this can still come from this stream: the one
        under way began then; any other starts at a later sample, its IC placed at
        most one sample before it."""
        return self._ic_s if self._state == LOADED else self._last_t - self.dt

    @property
    def tare_z(self) -> float:
        return self.zero.z

    def feed(self, time_s: np.ndarray, fy: np.ndarray | None, fz: np.ndarray) -> list[ForceContact]:
        """Feed consecutive samples (any number); return the contacts they confirm.

        One loop over the samples with the state in locals: the zero's follow is a
        recursion, sample by sample, whose every step decides the next threshold
        crossing, so it is not vectorised (nor is the 5-sample median it rarely needs)."""
        has_h = fy is not None
        n = len(fz)
        if not n:
            return []
        zero, cfg, dt = self.zero, self.cfg, self.dt
        last5 = zero.last5  # the raw readings: their median can drop the zero
        ts, zs = time_s.tolist(), fz.tolist()
        ys = fy.tolist() if has_h else [0.0] * n
        on, off = cfg.on_threshold_n, cfg.off_threshold_n
        guard, acquire = cfg.tare_guard_s, cfg.acquire_s
        alpha, max_step = dt / cfg.tare_time_constant_s, cfg.max_tare_step_n
        pending, held = zero.pending, zero.held
        z0, y0, moved, clear_after = zero.z, zero.y, zero.moved, zero.clear_after
        state, prev_z, out = self._state, self._prev_z, []
        for t, fy_, fz_ in zip(ts, ys, zs, strict=True):
            # The zero (see _Zero), with the state before this sample.
            last5.append(fz_)
            if state == HELD:  # never unloaded for acquire_s: the zero is that low
                level = sorted(last5)[len(last5) // 2]
                since, lowest, low_y = held or (t, level, fy_)
                held = (since, level, fy_) if level < lowest else (since, lowest, low_y)
                if t - since >= acquire:
                    _, z0, y0 = held
                    held = None
            else:
                held = None
                if state == UNLOADED and fz_ - z0 < off:  # unloaded
                    # The median of the last 5 (robust to a spike) clearly lower: the plate
                    # was unloaded below the zero. (Its minimum first: cheaper, and rare.)
                    if min(last5) < z0 - off:
                        level = sorted(last5)[len(last5) // 2]
                        if level < z0 - off:
                            z0 = level
                    if t > clear_after:
                        pending.append((t, fy_, fz_))
                while pending and pending[0][0] <= t - guard:
                    _, py, pz = pending.popleft()
                    # step = alpha (z - zero), within +-room (as max(min(..)), without calls)
                    room = max_step - (moved if moved >= 0.0 else -moved)
                    step = alpha * (pz - z0)
                    if step > room:
                        step = room
                    if step < -room:
                        step = -room
                    z0 += step
                    moved += step
                    y0 += alpha * (py - y0)
            z = fz_ - z0
            y = fy_ - y0
            if state == UNLOADED:
                if z >= on:
                    state, self._ic_s = LOADED, t - self._to_zero(z, z - prev_z)
                    self._acc = [0.0, 0.0, 0.0, 0.0]
                    self._accumulate(y, z)
                    pending.clear()  # too near this contact's start to be unloaded ground truth
            elif state == LOADED:
                if z < off:
                    # The end. A rise straight after it (a toe brushing the next plate)
                    # must pass the on threshold again and is then a contact of its own,
                    # too short to count: hysteresis, not a bridge, handles noise.
                    state = UNLOADED
                    self._to_s = t - dt + self._to_zero(prev_z, prev_z - z)
                    moved, clear_after = 0.0, t + guard
                    contact = self._contact(t, has_h)
                    if contact is not None:
                        out.append(contact)
                elif t - self._ic_s > cfg.max_contact_s:
                    state = HELD  # standing or walking: wait until it is unloaded
                    self.long_contacts += 1
                else:
                    self._accumulate(y, z)
            elif z < off:  # HELD
                state = UNLOADED
                moved, clear_after = 0.0, t + guard
            prev_z = z
        zero.z, zero.y, zero.moved, zero.clear_after, zero.held = z0, y0, moved, clear_after, held
        self._state, self._prev_z, self._last_t = state, prev_z, ts[-1]
        return out

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
        if self._to_s - self._ic_s < self.cfg.min_contact_s:
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
