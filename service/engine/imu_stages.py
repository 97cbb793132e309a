"""The shank detector's stages with numpy (imu.py): its derivatives, a block at a
time, and its contact stages over a long run of samples at once.

From the retraction's zero crossing to toe-off the detector is a state machine
that imu.py steps sample by sample (`_seek_ic`, `_on_plateau`, `_falling`).
Over a long block the same decisions are found with numpy: running minima and
maxima, the first sample that meets a condition. They give the same numbers,
to the bit (tests/test_detectors_vectorised.py, for every block size), and a
block shorter than NUMPY_FROM derivative samples still goes sample by sample.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .arrays import earliest, first

if TYPE_CHECKING:
    from .imu import ShankContact, ShankDetectorConfig

NUMPY_FROM = 64  # derivative samples left in a block: fewer go one at a time
SEEK_SWING, RETRACTING, SEEK_IC, PLATEAU, FALLING = range(5)  # the detector's states


def _strict_steps(start: float, x: np.ndarray) -> np.ndarray:
    """Where x is below everything before it (and below `start`): the samples a
    `if x < lowest: lowest = x` loop would take."""
    before = np.minimum.accumulate(np.concatenate(([start], x)))[:-1]
    return x < before


def _median3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The middle of three, elementwise (one of the three values, exactly)."""
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _central(t: np.ndarray, v: np.ndarray, h: int) -> np.ndarray:
    """Central differences over ±h samples, at samples h..n-h-1."""
    return (v[2 * h :] - v[: -2 * h]) / (t[2 * h :] - t[: -2 * h])


class Derivatives:
    """gy median-of-3, its slope and jerk by central differences over ±h samples,
    for a block at a time: each block is computed with the last 4h+2 raw samples
    before it, so the numbers are the same, sample for sample, whatever the blocks.

    Each output sample comes with `now`, the newest raw sample's time when it is
    complete: the median sample one raw sample later, the derivatives' 2h+1
    later (the jerk at sample i needs the median up to i+2h)."""

    def __init__(self, rate_hz: float, window_s: float) -> None:
        self.rate_hz = rate_hz
        self.h = max(1, round(window_s * rate_hz))
        self.reset()

    def reset(self) -> None:
        self._t = self._g = np.empty(0)  # the last 4h+2 raw samples
        self.covered_s = getattr(self, "covered_s", -math.inf)  # (kept across a reset)

    def push(self, t: np.ndarray, g: np.ndarray):
        """(fast: t, gy, now) for the new samples, and a function giving their (slow:
        t, gy, slope, jerk, now)."""
        h, seen = self.h, len(self._t)
        rt, rg = np.concatenate((self._t, t)), np.concatenate((self._g, g))
        keep = 4 * h + 2
        self._t, self._g = rt[-keep:], rg[-keep:]
        if len(rt) >= 4 * h + 3:  # the derivatives reach this raw sample (_slow)
            self.covered_s = float(rt[-2 * h - 2])
        if len(rt) < 3:
            empty = np.empty(0)
            return (empty,) * 3, lambda: (empty,) * 5
        ft, fg = rt[1:-1], _median3(rg[:-2], rg[1:-1], rg[2:])
        new = max(0, seen - 2)  # the median samples not given before
        fast = (ft[new:], fg[new:], rt[2 + new :])
        return fast, lambda: self._slow(rt, ft, fg)

    def _slow(self, rt: np.ndarray, ft: np.ndarray, fg: np.ndarray):
        """The derivatives' samples of the block just pushed (asked for only when the
        detector needs them: nothing carries over but the raw tail)."""
        h = self.h
        if len(ft) < 4 * h + 1:
            return (np.empty(0),) * 5
        slope = _central(ft, fg, h)
        st = ft[h:-h]
        return st[h:-h], fg[2 * h : -2 * h], slope[h:-h], _central(st, slope, h), rt[4 * h + 2 :]


class ContactStages:
    """Mixed into ShankEventDetector: the vectorised form of its contact stages.
    Each takes the derivative samples from i and returns where it stopped (the
    index after the sample that changed the state, or the end)."""

    # The detector's state these stages read and move (declared in imu.py).
    cfg: ShankDetectorConfig
    dropped: int
    _state: int
    _peak: float
    _zero_s: float
    _ic_s: float
    _min: tuple[float, float]
    _plateau: tuple[float, float]
    _steepest: tuple[float, float]
    _prev_jerk: float
    _last_jerk: tuple[float, float]
    _knees: list[tuple[float, float]]
    _jerk_t: list[float]
    _jerk_v: list[float]

    if TYPE_CHECKING:

        def _stance_begun(self) -> None: ...

        def _contact_found(self) -> ShankContact: ...

    def _seek_ic_np(self, t, g, jerk, i: int) -> int:
        cfg = self.cfg
        gs, ts, js = g[i:], t[i:], jerk[i:]
        lowest = np.minimum.accumulate(np.concatenate(([self._min[0]], gs)))[1:]
        rise = first(gs > lowest + cfg.rise * self._peak)
        late = first(ts - self._zero_s > cfg.max_contact_s)
        stop = earliest(rise, late)
        end = len(gs) if stop < 0 else stop + 1  # the samples this call takes
        # The stance's lowest sample so far (the first of equals: strict steps).
        steps = np.flatnonzero(_strict_steps(self._min[0], gs[:end]))
        if len(steps):
            k = int(steps[-1])
            self._min = (float(gs[k]), float(ts[k]))
        # Local minima of the jerk (imu.py): a "last" value below the one after it
        # and not above the one before it.
        seq_v = [self._prev_jerk, self._last_jerk[0], *js[:end].tolist()]
        seq_t = [math.nan, self._last_jerk[1], *ts[:end].tolist()]
        v = np.array(seq_v)
        knees = np.flatnonzero((v[1:-1] < v[2:]) & (v[1:-1] <= v[:-2])) + 1
        self._knees += [(seq_v[p], seq_t[p]) for p in knees.tolist()]
        self._prev_jerk, self._last_jerk = seq_v[-2], (seq_v[-1], seq_t[-1])
        self._jerk_t += seq_t[2:]
        self._jerk_v += seq_v[2:]
        if stop == rise and stop >= 0:
            self._stance_begun()
        elif stop >= 0:
            self._state = SEEK_SWING  # no contact followed
            self.dropped += 1
        return i + end

    def _plateau_np(self, t, g, slope, i: int) -> int:
        cfg = self.cfg
        gs, ss, ts = g[i:], slope[i:], t[i:]
        late = first(ts - self._ic_s > cfg.max_contact_s)
        active = int(np.searchsorted(ts, self._ic_s + cfg.min_contact_s, "left"))
        # (t < ic + min_contact_s: not looked at; t increases, so a prefix)
        ga = gs[active:]
        top = np.maximum.accumulate(np.concatenate(([self._plateau[0]], ga)))
        higher = ga > top[:-1]  # a new plateau
        thr = max(cfg.fall * self._peak, 100.0)
        fall = first(~higher & (ga < top[1:] - thr))
        fall = fall + active if fall >= 0 else -1
        stop = earliest(late, fall)
        if stop >= 0 and stop == late:
            self._state = SEEK_SWING
            self.dropped += 1
            return i + stop + 1
        end = len(gs) if stop < 0 else stop + 1
        self._update_plateau(ts, ss, top, higher, active, end)
        if stop >= 0:
            self._state = FALLING
        return i + end

    def _update_plateau(self, ts, ss, top, higher, active: int, end: int) -> None:
        """The plateau and the steepest fall since it, after samples [active, end)."""
        n = end - active
        if n <= 0:
            return
        new = np.flatnonzero(higher[:n])
        if len(new):
            m = int(new[-1])
            self._plateau = (float(top[m + 1]), float(ts[active + m]))
            base, lo = (0.0, float(ts[active + m])), active + m + 1
        else:
            base, lo = self._steepest, active
        seg = ss[lo:end]
        if len(seg) and float(seg.min()) < base[0]:
            k = int(np.argmin(seg))
            base = (float(seg[k]), float(ts[lo + k]))
        self._steepest = base

    def _falling_np(self, t, slope, now, i: int, out: list) -> int:
        cfg = self.cfg
        ss, ts = slope[i:], t[i:]
        new = _strict_steps(self._steepest[0], ss)
        low = np.minimum.accumulate(np.concatenate(([self._steepest[0]], ss)))[1:]
        # The time of the steepest so far, at every sample.
        at = np.where(new, np.arange(len(ss)), -1)
        at = np.maximum.accumulate(at)
        low_t = np.where(at >= 0, ts[np.maximum(at, 0)], self._steepest[1])
        eased = ~new & ((ss > cfg.eased * low) | (ts - low_t >= cfg.max_fall_wait_s))
        done = first(eased)
        late = first(ts - self._ic_s > cfg.max_contact_s)
        if done >= 0 and (late < 0 or done <= late):
            self._steepest = (float(low[done]), float(low_t[done]))
            self._state = SEEK_SWING
            self._now = float(now[i + done])
            out.append(self._contact_found())
            return i + done + 1
        end = len(ss) if late < 0 else late + 1
        self._steepest = (float(low[end - 1]), float(low_t[end - 1]))
        if late >= 0:
            self._state = SEEK_SWING
            self.dropped += 1
        return i + end
