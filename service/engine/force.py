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
  would move the toe-off by many ms). It follows them by half-second windows,
  each once all its samples are `tare_guard_s` old (force_zero.py): in steps
  no longer than its time constant, and with numpy over a block between them;
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
    acquire_s: float = 0.5  # never unloaded this long: the lowest reading is the zero
    tare_guard_s: float = 0.05  # the zero follows only samples this far from a contact
    max_tare_step_n: float = 1.0  # and moves at most this far between two contacts
    # The zero follows the mean of each window this long of unloaded samples, once all
    # are tare_guard_s old (force_zero.py): as long as the follow's time constant.
    tare_window_s: float = 0.5

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
        sample that may drop the zero (those two taken alone)."""
        zero, cfg = self.zero, self.cfg
        on, off = cfg.on_threshold_n, cfg.off_threshold_n
        ti = float(t[i])
        zero.held = None
        zero.follow_due(ti)
        due = min(zero.next_due, zero.due(zero.window_of(ti)))
        j = max(int(np.searchsorted(t, due, "left")), i + 1)
        z0 = zero.z
        net = z[i:j] - z0
        onset = first(net >= on)
        drop = self._first_drop(z, i, j, net, z0 - off)
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

    def _first_drop(self, z, i: int, j: int, net, below: float) -> int:
        """The first sample of [i, j) that is unloaded with a raw reading below `below`
        among its last five (the zero may drop there), or -1."""
        low = np.flatnonzero(z[i:j] < below).tolist()
        carried = [k - len(self.zero.last5) for k, v in enumerate(self.zero.last5) if v < below]
        for p in [*carried, *low]:
            for k in range(max(p, 0), min(p + 5, j - i)):
                if net[k] < self.cfg.off_threshold_n:
                    return k
        return -1

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
        on, off = self.cfg.on_threshold_n, self.cfg.off_threshold_n
        last5, floor, win = zero.last5, math.floor, self.cfg.tare_window_s
        window, rows = None, ([], [], [])  # the tare window being filled (force_zero.py)
        for t, y, z in zip(ts, ys, zs, strict=True):
            state = self._state
            if state != UNLOADED:
                if state == LOADED:
                    self._loaded_one(t, y, z, has_h, out)
                else:
                    self._held_one(t, y, z)
                continue
            # (the common case: _unloaded_one written out)
            zero.held = None
            if t >= zero.next_due:
                zero.follow_due(t)
            last5.append(z)
            z0 = zero.z
            if z - z0 < off:
                if min(last5) < z0 - off:
                    self._drop_to_median()
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

    def _unloaded_one(self, t: float, y: float, z: float) -> None:
        zero = self.zero
        off = self.cfg.off_threshold_n
        zero.held = None
        zero.follow_due(t)
        zero.last5.append(z)
        unloaded = z - zero.z < off
        if unloaded and min(zero.last5) < zero.z - off:
            self._drop_to_median()
        if unloaded and t > zero.clear_after:
            zero.queue_one(t, y, z)
        net = z - zero.z
        if net >= self.cfg.on_threshold_n:
            self._begin(t, y, net)
        else:
            self._prev_z = net

    def _drop_to_median(self) -> None:
        """The median of the last 5 raw readings (robust to a spike) clearly below the
        zero: the plate was unloaded below it."""
        zero, last5 = self.zero, self.zero.last5
        level = sorted(last5)[len(last5) // 2]
        if level < zero.z - self.cfg.off_threshold_n:
            zero.z = level

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
        """Never unloaded since a gap or a long contact: held for acquire_s, the lowest
        5-sample median is the zero; the first unloaded sample ends it."""
        zero, cfg = self.zero, self.cfg
        zero.last5.append(z)
        level = sorted(zero.last5)[len(zero.last5) // 2]
        since, lowest, low_y = zero.held or (t, level, y)
        zero.held = (since, level, y) if level < lowest else (since, lowest, low_y)
        if t - since >= cfg.acquire_s:
            _, zero.z, zero.y = zero.held
            zero.held = None
        self._prev_z = net = z - zero.z
        if net < cfg.off_threshold_n:
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
