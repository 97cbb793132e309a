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
  can sit tens of newtons up (its belt, its frame) while between stances it
  vibrates, dipping to -20...-47 N (bach2022: one leg's plate under a jog). So
  the zero is a robust level of the unloaded force, never a single low reading:
  unloaded samples at least `tare_guard_s` clear of any contact are gathered by
  half-second windows of the stream's time; once a window's samples are all
  `tare_guard_s` old, the zero follows their median (as that many samples of an
  exponential follow with time constant 0.5 s: drift is slower) by at most
  `max_tare_step_n` between two contacts, so that the thresholds around a
  contact stay where they were (a zero that crept while the force hung at
  10-13 N at toe-off would move the toe-off by many ms). A window's median
  clearly below the zero (by the off threshold), over at least `tare_min_s` of
  samples (a median of three vibrating samples may be a dip), is the plate's new
  level at once, and so is a 5-sample median `drop_n` below it (a load taken
  off: a person who stood on the plate from the start steps off).
  The zero starts at the plate's own tare (0 N); a stream never seen unloaded
  for `acquire_s` (a runner is off the plate at least every half second) takes
  the lowest tenth of that half second's readings as its zero: where the force
  rests between stances, not its deepest vibration dip. (Until issue 29 the
  zero dropped at once to any 5-sample median 10 N below it: on a vibrating
  treadmill a dip set it, and contacts ended 15-45 ms late);
- a contact whose vertical force never reaches `min_peak_n` (100 N) is not a
  foot: plate and belt vibration crosses 20 N now and then (up to ~50 N seen),
  a foot contact carries body weight (a 35 kg child peaks above 500 N running);
The first sample at or above the on threshold starts a contact, the first
below the off threshold ends and confirms it (the contact is emitted with that
sample). IC and TO are then placed to a fraction of a sample by following the
edge's slope to zero force, within one sample of those samples: a threshold is
crossed ~0.5 ms after the true foot strike at sprint loading rates.
Impulses use the stream's nominal sample period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .arrays import earliest, first
from .force_zero import Zero


@dataclass(frozen=True)
class ForceDetectorConfig:
    """Why each value: the module's notes."""

    on_threshold_n: float = 20.0  # a contact starts at or above this (Morin et al. 2011)
    off_threshold_n: float = 10.0  # and ends below this (hysteresis)
    min_contact_s: float = 0.030  # shorter: a glitch (a foot brushing an edge, a tug)
    max_contact_s: float = 1.0  # longer: standing or walking
    tare_time_constant_s: float = 0.5  # the zero follows unloaded drift this slowly
    acquire_s: float = 0.5  # never unloaded this long: its lowest tenth is the zero
    tare_guard_s: float = 0.05  # the zero follows only samples this far from a contact
    max_tare_step_n: float = 1.0  # and moves at most this far between two contacts
    # The zero follows the median of each window this long of unloaded samples, once
    # all are tare_guard_s old (force_zero.py): as long as the follow's time constant;
    tare_window_s: float = 0.5
    tare_min_s: float = 0.05  # a window drops the zero at once only with this of samples
    drop_n: float = 100.0  # a 5-sample median this far below the zero: a load taken off
    min_peak_n: float = 100.0  # a contact never this loaded is not a foot (vibration)

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
NUMPY_FROM = 64  # samples in a block: fewer go one at a time (numpy's overhead)


class ForceContactDetector:
    """Streaming contact detection on one force stream: samples in, contacts out."""

    def __init__(self, name: str, sample_rate_hz: float, config: ForceDetectorConfig) -> None:
        self.name = name
        self.cfg = config
        self.dt = 1.0 / sample_rate_hz
        self.zero = Zero(self.dt, config)
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
        """Feed consecutive samples (any number, in time order); return the contacts
        they confirm. A long block is looked at with numpy between two changes of
        the zero (unloaded: until a contact starts, the zero may drop or a window
        is due; loaded: until the contact ends); a short one, and a stream held
        (waiting to see the plate unloaded), sample by sample. The same arithmetic
        either way: the same contacts, to the bit, however the blocks come."""
        n = len(fz)
        if not n:
            return []
        has_h = fy is not None
        t = np.asarray(time_s, dtype=np.float64)
        y = np.asarray(fy, dtype=np.float64) if has_h else np.zeros(n)
        z = np.asarray(fz, dtype=np.float64)
        out: list[ForceContact] = []
        self._last_t = float(t[-1])
        if n < NUMPY_FROM:
            self._samples(t.tolist(), y.tolist(), z.tolist(), has_h, out)
            return out
        i = 0
        while i < n:
            if self._state == UNLOADED:
                i = self._unloaded(t, y, z, i)
            elif self._state == LOADED:
                i = self._loaded(t, y, z, i, has_h, out)
            else:
                i = self._held(t, y, z, i)
        return out

    def lost(self) -> None:
        """Samples are missing: a contact across the gap cannot be measured, and one
        may have begun in it. Wait for an unloaded sample before the next."""
        if self._state == LOADED:
            self.broken_contacts += 1
        self._state = HELD

    # --- a long block, with numpy ------------------------------------------------------

    def _unloaded(self, t, y, z, i: int) -> int:
        """Unloaded samples from i, up to the next window due, a contact's start or a
        sample far enough below the zero to drop it (those two taken alone)."""
        zero, cfg = self.zero, self.cfg
        on, off = cfg.on_threshold_n, cfg.off_threshold_n
        ti = float(t[i])
        zero.held = []
        if zero.dropping:  # following a fall: sample by sample till it settles
            self._unloaded_one(ti, float(y[i]), float(z[i]))
            return i + 1
        zero.follow_due(ti)
        due = min(zero.next_due, zero.due(zero.window_of(ti)))
        j = max(int(np.searchsorted(t, due, "left")), i + 1)
        z0 = zero.z
        net = z[i:j] - z0
        onset = first(net >= on)
        drop = first(z[i:j] < z0 - cfg.drop_n)
        k = earliest(onset, drop, j - i)
        take = (net[:k] < off) & (t[i : i + k] > zero.clear_after)
        zero.queue(t[i : i + k][take], y[i : i + k][take], z[i : i + k][take])
        zero.last5.extend(z[max(i, i + k - 5) : i + k].tolist())
        if k:
            self._prev_z = float(net[k - 1])
        if k in (onset, drop):
            self._unloaded_one(float(t[i + k]), float(y[i + k]), float(z[i + k]))
            return i + k + 1
        return i + k

    def _loaded(self, t, y, z, i: int, has_h: bool, out: list) -> int:
        """Contact samples from i: accumulated until the force falls below the off
        threshold (the end) or the contact is too long to be a step."""
        cfg, zero = self.cfg, self.zero
        net = z[i:] - zero.z
        end = first(net < cfg.off_threshold_n)
        long = first(t[i:] - self._ic_s > cfg.max_contact_s)
        k = earliest(end, long, len(net))
        self._accumulate(y[i : i + k] - zero.y, net[:k])
        zero.last5.extend(z[max(i, i + k - 5) : i + k].tolist())
        if k:
            self._prev_z = float(net[k - 1])
        if k == len(net):
            return i + k
        self._loaded_one(float(t[i + k]), float(y[i + k]), float(z[i + k]), has_h, out)
        return i + k + 1

    def _held(self, t, y, z, i: int) -> int:
        ts, ys, zs = t[i:].tolist(), y[i:].tolist(), z[i:].tolist()
        for k, (tk, yk, zk) in enumerate(zip(ts, ys, zs, strict=True)):
            self._held_one(tk, yk, zk)
            if self._state != HELD:
                return i + k + 1
        return i + len(ts)

    # --- sample by sample --------------------------------------------------------------

    def _samples(self, ts, ys, zs, has_h: bool, out: list) -> None:
        zero = self.zero
        on, off, drop = self.cfg.on_threshold_n, self.cfg.off_threshold_n, self.cfg.drop_n
        last5, floor, win = zero.last5, math.floor, self.cfg.tare_window_s
        if self._quiet(ts, ys, zs):
            return
        window: int | None = None  # the tare window being filled (force_zero.py) ...
        rows: tuple[list, ...] = ([], [], [])  # ... its times, y and z
        for t, y, z in zip(ts, ys, zs, strict=True):
            state = self._state
            if state != UNLOADED:
                if state == LOADED:
                    self._loaded_one(t, y, z, has_h, out)
                else:
                    self._held_one(t, y, z)
                continue
            # (the common case: _unloaded_one written out)
            zero.held = []
            if t >= zero.next_due:
                zero.follow_due(t)
            last5.append(z)
            z0 = zero.z
            if z - z0 < off:
                if zero.dropping or z < z0 - drop:
                    zero.drop_to_median(z)
                if t > zero.clear_after:
                    if floor(t / win) != window:  # (zero.window_of, inline)
                        zero.queue_one(t, y, z)
                        window = floor(t / win)
                        rows = zero.windows[window]
                    else:
                        rows[0].append(t)
                        rows[1].append(y)
                        rows[2].append(z)
            net = z - zero.z
            if net >= on:
                self._begin(t, y, net)
            else:
                self._prev_z = net

    def _quiet(self, ts, ys, zs) -> bool:
        """A short block of an unloaded plate that changes nothing but the tare window
        it falls in (the common case): taken at once, as the loop below would."""
        zero, cfg = self.zero, self.cfg
        if self._state != UNLOADED or zero.dropping:
            return False
        z0, w = zero.z, math.floor(ts[0] / cfg.tare_window_s)
        if not (
            ts[-1] < zero.next_due
            and ts[0] > zero.clear_after
            and math.floor(ts[-1] / cfg.tare_window_s) == w
            and max(zs) - z0 < cfg.off_threshold_n
            and min(zs) >= z0 - cfg.drop_n
        ):
            return False
        zero.held = []
        zero.last5.extend(zs[-5:])
        zero.queue_one(ts[0], ys[0], zs[0])
        rows = zero.windows[w]
        rows[0].extend(ts[1:])
        rows[1].extend(ys[1:])
        rows[2].extend(zs[1:])
        self._prev_z = zs[-1] - z0
        return True

    def _unloaded_one(self, t: float, y: float, z: float) -> None:
        zero = self.zero
        off = self.cfg.off_threshold_n
        zero.held = []
        zero.follow_due(t)
        zero.last5.append(z)
        unloaded = z - zero.z < off
        if unloaded and (zero.dropping or z < zero.z - self.cfg.drop_n):
            zero.drop_to_median(z)
        if unloaded and t > zero.clear_after:
            zero.queue_one(t, y, z)
        net = z - zero.z
        if net >= self.cfg.on_threshold_n:
            self._begin(t, y, net)
        else:
            self._prev_z = net

    def _begin(self, t: float, y: float, net: float) -> None:
        """A contact starts at this sample (unloaded before it)."""
        self._state, self._ic_s = LOADED, t - self._to_zero(net, net - self._prev_z)
        self._acc = [0.0, 0.0, 0.0, 0.0]
        self._accumulate_one(y - self.zero.y, net)
        self.zero.contact_started(t)
        self._prev_z = net

    def _loaded_one(self, t: float, y: float, z: float, has_h: bool, out: list) -> None:
        cfg, zero = self.cfg, self.zero
        zero.last5.append(z)
        net = z - zero.z
        prev, self._prev_z = self._prev_z, net
        if net < cfg.off_threshold_n:
            # The end. A rise straight after it (a toe brushing the next plate) must
            # pass the on threshold again and is then a contact of its own, too short
            # to count: hysteresis, not a bridge, handles noise.
            self._state = UNLOADED
            self._to_s = t - self.dt + self._to_zero(prev, prev - net)
            zero.contact_ended(t)
            contact = self._contact(t, has_h)
            if contact is not None:
                out.append(contact)
        elif t - self._ic_s > cfg.max_contact_s:
            self._state = HELD  # standing or walking: wait until it is unloaded
            self.long_contacts += 1
        else:
            self._accumulate_one(y - zero.y, net)

    def _held_one(self, t: float, y: float, z: float) -> None:
        """Never unloaded since a gap or a long contact: held for acquire_s, the zero is
        the lowest tenth of those readings (force_zero.py); the first unloaded sample
        ends it."""
        zero = self.zero
        zero.last5.append(z)
        zero.hold(t, y, z)
        self._prev_z = net = z - zero.z
        if net < self.cfg.off_threshold_n:
            self._state = UNLOADED
            zero.contact_ended(t)

    def _to_zero(self, z: float, step: float) -> float:
        """How long the force, changing by `step` a sample, takes to go from 0 to z.

        The edges of a contact are found to a fraction of a sample by following
        the edge's slope back (or on) to zero force, within one sample.
        """
        if step <= 0.0:
            return self.dt
        return min(z / step, 1.0) * self.dt

    def _accumulate_one(self, y: float, z: float) -> None:
        a = self._acc
        if z > a[0]:
            a[0] = z
        a[1] += z * self.dt
        if y < 0:
            a[2] += y * self.dt
        else:
            a[3] += y * self.dt

    def _accumulate(self, y: np.ndarray, z: np.ndarray) -> None:
        """_accumulate_one over samples in order (cumsum: the same sums, sample by
        sample, as the loop makes)."""
        if not len(z):
            return
        a, dt = self._acc, self.dt
        a[0] = max(a[0], float(z.max()))
        a[1] = float(np.cumsum(np.concatenate(([a[1]], z * dt)))[-1])
        yd = y * dt
        back = y < 0
        a[2] = float(np.cumsum(np.concatenate(([a[2]], yd[back])))[-1])
        a[3] = float(np.cumsum(np.concatenate(([a[3]], yd[~back])))[-1])

    def _contact(self, t: float, has_h: bool) -> ForceContact | None:
        if self._to_s - self._ic_s < self.cfg.min_contact_s or self._acc[0] < self.cfg.min_peak_n:
            self.glitches += 1  # too short, or too light, to be a foot
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
