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
- auto-tare: while unloaded, the zero follows the signal (time constant 2 s),
  but only within the off threshold of the current zero, so a person standing
  on the plate is never tared away.

The first sample at or above the on threshold starts a contact, the first
below the off threshold ends and confirms it (the contact is emitted with that
sample). IC and TO are then placed to a fraction of a sample by following the
edge's slope to zero force, within one sample of those samples: a threshold is
crossed ~0.5 ms after the true foot strike at sprint loading rates.
Impulses use the stream's nominal sample period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ForceDetectorConfig:
    on_threshold_n: float = 20.0
    off_threshold_n: float = 10.0
    min_contact_s: float = 0.030
    max_contact_s: float = 1.0
    tare_time_constant_s: float = 2.0

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


class ForceContactDetector:
    """Streaming contact detection on one force stream: samples in, contacts out."""

    def __init__(self, name: str, sample_rate_hz: float, config: ForceDetectorConfig) -> None:
        self.name = name
        self.cfg = config
        self.dt = 1.0 / sample_rate_hz
        self.tare_z = 0.0
        self.tare_y = 0.0
        self._alpha = self.dt / config.tare_time_constant_s
        self._state = UNLOADED
        self.broken_contacts = 0  # cut by lost samples
        self._prev_z = 0.0
        self._ic_s = 0.0
        self._to_s = 0.0
        self._acc = [0.0, 0.0, 0.0, 0.0]  # peak, vertical, braking, propulsive
        self.glitches = 0  # contacts too short to be a foot
        self.long_contacts = 0  # too long: standing or walking

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
        cfg = self.cfg
        z = fz - self.tare_z
        y = fy - self.tare_y
        prev_z, self._prev_z = self._prev_z, z
        state = self._state
        if state == UNLOADED:
            if z >= cfg.on_threshold_n:
                self._state, self._ic_s = LOADED, t - self._to_zero(z, z - prev_z)
                self._acc = [0.0, 0.0, 0.0, 0.0]
                self._accumulate(y, z)
            elif abs(z) < cfg.off_threshold_n:  # quiet: let the zero follow slow drift
                self.tare_z += self._alpha * z
                self.tare_y += self._alpha * y
        elif state == LOADED:
            if z < cfg.off_threshold_n:
                # The end. A rise straight after it (a toe brushing the next plate)
                # must pass the on threshold again and is then a contact of its own,
                # too short to count: hysteresis, not a bridge, handles noise.
                self._state = UNLOADED
                self._to_s = t - self.dt + self._to_zero(prev_z, prev_z - z)
                return self._contact(t, has_h)
            if t - self._ic_s > cfg.max_contact_s:
                self._state = HELD  # standing or walking: wait until it is unloaded
                self.long_contacts += 1
            else:
                self._accumulate(y, z)
        elif z < cfg.off_threshold_n:  # HELD
            self._state = UNLOADED
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
