"""service/engine/imu.py, per sample, frozen (see __init__.py)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShankDetectorConfig:
    swing_min_deg_s: float = 200.0  # a swing peak lower than this is not running
    rise: float = 0.15  # a minimum is confirmed when the signal rose this share of the peak
    min_contact_s: float = 0.06
    max_contact_s: float = 0.45
    peak_drop: float = 0.02  # a swing peak is confirmed when the signal fell this share
    # Derivatives by central differences over ±window_s: short enough to keep a
    # foot strike's knee sharp (the shank's rate turns within a few ms), long
    # enough that 1.5 deg/s of sensor noise stays ~10x below a jogger's knee.
    window_s: float = 0.004
    # Toe-off: the fall from the late-stance plateau must exceed this share of the
    # swing peak (and 100 deg/s) to be the swing starting, not stance wobble.
    fall: float = 0.25
    eased: float = 0.9  # toe-off confirmed when the fall's slope eased to this share,
    max_fall_wait_s: float = 0.015  # or when it has not steepened for this long
    knee: float = 0.5  # IC: the first jerk minimum at least this share of the deepest

    def __post_init__(self) -> None:
        if not (0.01 <= self.rise <= 0.5 and 0.01 <= self.peak_drop <= 0.9):
            raise ValueError("rise and peak_drop must be shares between 0.01 and 0.5 / 0.9")


@dataclass(frozen=True)
class ShankContact:
    foot: str  # "left" or "right"
    ic_s: float
    to_s: float
    confirmed_s: float
    swing_peak_deg_s: float  # of the swing that ended at this contact
    swing_peak_s: float


@dataclass(frozen=True)
class SwingPeak:
    foot: str
    time_s: float
    value_deg_s: float
    confirmed_s: float


SEEK_SWING, RETRACTING, SEEK_IC, PLATEAU, FALLING = range(5)


class _Derivatives:
    """gy median-of-3, its slope and jerk by central differences over ±h samples,
    each delivered when its window is complete: (time, gy, slope, jerk) at the
    sample 2h (+1 for the median) behind the newest."""

    def __init__(self, rate_hz: float, window_s: float) -> None:
        self.rate_hz = rate_hz
        self.h = max(1, round(window_s * rate_hz))
        self.raw: deque[tuple[float, float]] = deque(maxlen=3)
        self.gy: deque[tuple[float, float]] = deque()
        self.slope: deque[tuple[float, float, float]] = deque()

    def reset(self) -> None:
        self.raw.clear()
        self.gy.clear()
        self.slope.clear()

    def push(self, t: float, g: float):
        """(the median sample, one behind, or None; the derivatives' sample, or None)."""
        self.raw.append((t, g))
        if len(self.raw) < 3:
            return None, None
        fast = (self.raw[1][0], sorted(v for _, v in self.raw)[1])
        self.gy.append(fast)
        h = self.h
        if len(self.gy) < 2 * h + 1:
            return fast, None
        (t0, g0), (tc, gc), (t1, g1) = self.gy[0], self.gy[h], self.gy[2 * h]
        self.gy.popleft()
        self.slope.append((tc, gc, (g1 - g0) / (t1 - t0)))
        if len(self.slope) < 2 * h + 1:
            return fast, None
        (s0t, _, s0), (ct, cg, cs), (s1t, _, s1) = self.slope[0], self.slope[h], self.slope[2 * h]
        self.slope.popleft()
        return fast, (ct, cg, cs, (s1 - s0) / (s1t - s0t))


class _SwingPeaks:
    """Swing peaks on the median signal as it comes, ahead of the derivatives (the other
    leg's peak is wanted by this leg's toe-off): above swing_min_deg_s, confirmed
    once the signal fell peak_drop from the highest; then out of the swing (below
    swing_min_deg_s) before the next."""

    def __init__(self, foot: str, cfg: ShankDetectorConfig) -> None:
        self.foot, self.cfg = foot, cfg
        self.swinging = False
        self.out = True
        self.peak = (0.0, 0.0)  # (value, time)

    def push(self, t: float, g: float, now: float) -> SwingPeak | None:
        cfg = self.cfg
        if self.out:
            self.out = g >= cfg.swing_min_deg_s
        elif not self.swinging:
            if g > cfg.swing_min_deg_s:
                self.swinging, self.peak = True, (g, t)
        elif g > self.peak[0]:
            self.peak = (g, t)
        elif g < self.peak[0] * (1.0 - cfg.peak_drop):
            self.swinging, self.out = False, True
            return SwingPeak(self.foot, self.peak[1], self.peak[0], now)
        return None


class ShankEventDetector:
    def __init__(self, foot: str, config: ShankDetectorConfig, rate_hz: float = 1000.0) -> None:
        self.foot = foot
        self.cfg = config
        self._d = _Derivatives(rate_hz, config.window_s)
        self._swing = _SwingPeaks(foot, config)
        self._peaks: deque[SwingPeak] = deque()  # confirmed, for the slower stages
        self._state = SEEK_SWING
        self._peak = self._peak_s = 0.0
        self._zero_s = 0.0  # the retraction began
        self._knees: list[tuple[float, float]] = []  # local minima of jerk: (value, time)
        self._prev_jerk = math.inf
        self._last_jerk = (math.inf, 0.0)
        self._jerks: list[tuple[float, float, float, float]] = []  # (t, gy, slope, jerk)
        self._min = (math.inf, 0.0)  # the stance's first minimum: (gy, time)
        self._ic_s = 0.0
        self._plateau = (-math.inf, 0.0)
        self._steepest = (0.0, 0.0)  # (slope, time)
        self.last_swing: SwingPeak | None = None
        self.dropped = 0
        self._now = 0.0

    def lost(self) -> None:
        """Samples are missing: start again from the next whole swing (its peak may
        have been in the gap, so a swing under way is not one to trust)."""
        if self._state in (RETRACTING, SEEK_IC, PLATEAU, FALLING):
            self.dropped += 1
        self._state = SEEK_SWING
        self._d.reset()
        self._swing = _SwingPeaks(self.foot, self.cfg)
        self._peaks.clear()

    def feed(self, time_s: np.ndarray, gy: np.ndarray) -> list[ShankContact | SwingPeak]:
        out: list[ShankContact | SwingPeak] = []
        for t, g in zip(time_s.tolist(), gy.tolist(), strict=True):
            if g != g:  # NaN: a gap in the signal carries no event
                continue
            fast, slow = self._d.push(t, g)
            self._now = t  # events are known from the newest sample on, not before
            if fast is not None:
                peak = self._swing.push(*fast, t)
                if peak is not None:
                    self.last_swing = peak
                    self._peaks.append(peak)
                    out.append(peak)
            if slow is not None:
                event = self._sample(*slow)
                if event is not None:
                    out.append(event)
        return out

    # One sample of the median-filtered signal, with its slope and jerk, 2h behind.
    def _sample(self, t: float, g: float, slope: float, jerk: float):
        state = self._state
        if state == SEEK_SWING:
            self._next_swing(t)
        elif state == RETRACTING:
            self._retracting(t, g)
        elif state == SEEK_IC:
            self._seek_ic(t, g, slope, jerk)
        elif state == PLATEAU:
            self._on_plateau(t, g, slope)
        else:
            return self._falling(t, g, slope)
        return None

    def _next_swing(self, t: float) -> None:
        """The derivatives have reached a confirmed swing peak: its retraction is next."""
        while self._peaks and self._peaks[0].time_s <= t:
            peak = self._peaks.popleft()
            self._peak, self._peak_s = peak.value_deg_s, peak.time_s
            self._state = RETRACTING

    def _retracting(self, t: float, g: float) -> None:
        if g < 0.0:
            self._state, self._zero_s = SEEK_IC, t
            self._min = (g, t)
            self._knees, self._prev_jerk, self._last_jerk = [], math.inf, (math.inf, t)
            self._jerks = []
        elif t - self._peak_s > 1.0:  # no contact followed the swing
            self._state = SEEK_SWING
            self.dropped += 1

    def _seek_ic(self, t: float, g: float, slope: float, jerk: float) -> None:
        if g < self._min[0]:
            self._min = (g, t)
        # Local minima of the jerk: the knee of foot strike, then perhaps the skin's
        # ringing after it, which can be as sharp; the first sharp one is the strike.
        last, before = self._last_jerk, self._prev_jerk
        if last[0] < jerk and last[0] <= before:
            self._knees.append(last)
        self._prev_jerk, self._last_jerk = last[0], (jerk, t)
        self._jerks.append((t, g, slope, jerk))
        if g > self._min[0] + self.cfg.rise * self._peak:  # the first minimum is behind
            knees = [k for k in self._knees if k[1] <= self._min[1] and k[0] < 0.0]
            if knees:
                deepest = min(v for v, _ in knees)
                value, at = next(k for k in knees if k[0] <= self.cfg.knee * deepest)
                self._ic_s = self._onset(value, at)
            else:  # no knee at all (a soft landing): the stance's first minimum
                self._ic_s = self._min[1]
            self._state = PLATEAU
            self._plateau = (-math.inf, 0.0)
        elif t - self._zero_s > self.cfg.max_contact_s:
            self._state = SEEK_SWING
            self.dropped += 1

    def _onset(self, value: float, at: float) -> float:
        """Where the knee begins: on its leading edge, the time the jerk reached half
        its depth (a derivative over ±h spreads a kink over 2h; its half-depth on the
        way in is the kink's start, as a constant-fraction timer takes a pulse's)."""
        before = [(t, j) for t, _, _, j in self._jerks if t <= at]
        for (t0, j0), (t1, j1) in zip(reversed(before[:-1]), reversed(before[1:]), strict=True):
            if j0 > 0.5 * value:  # crossed between t0 and t1
                return t0 + (t1 - t0) * (0.5 * value - j0) / (j1 - j0)
        return at

    def _on_plateau(self, t: float, g: float, slope: float) -> None:
        if t - self._ic_s > self.cfg.max_contact_s:
            self._state = SEEK_SWING
            self.dropped += 1
            return
        if t < self._ic_s + self.cfg.min_contact_s:
            return
        if g > self._plateau[0]:
            self._plateau = (g, t)
            self._steepest = (0.0, t)
            return
        if slope < self._steepest[0]:  # the fall may steepen before it is deep enough
            self._steepest = (slope, t)
        if g < self._plateau[0] - max(self.cfg.fall * self._peak, 100.0):
            self._state = FALLING

    def _falling(self, t: float, g: float, slope: float):
        # The steepest fall since the plateau (slope lags as gy does: same sample).
        if slope < self._steepest[0]:
            self._steepest = (slope, t)
        elif (
            slope > self.cfg.eased * self._steepest[0]
            or t - self._steepest[1] >= self.cfg.max_fall_wait_s
        ):
            self._state = SEEK_SWING
            to = self._steepest[1]
            return ShankContact(self.foot, self._ic_s, to, self._now, self._peak, self._peak_s)
        if t - self._ic_s > self.cfg.max_contact_s:
            self._state = SEEK_SWING
            self.dropped += 1
        return None
