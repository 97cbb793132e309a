"""Foot contacts from a shank gyroscope, as the samples arrive.

The sagittal angular velocity of a shank (gy of the segment frame in
docs/protocol.md: + when the foot swings forward) has one large positive peak
in mid-swing; then the leg retracts (gy < 0) and the foot lands.

- **Initial contact** is where the retraction suddenly speeds up: the ground
  stops the foot while the knee travels on at the body's speed, so the shank's
  backward rotation accelerates at once. On a gyro that is a knee in gy, a
  sharp minimum of the angular jerk (d²gy/dt²) between the start of the
  retraction (gy crossing zero) and the stance's first minimum: the first such
  minimum at least half as deep as the deepest (the skin's ringing after the
  strike can be as sharp), taken where it begins, at half its depth on the way
  in. The plain minimum after the swing peak (Aminian et al. 2002, walking;
  Schmidt et al. 2016, sprint) comes 20-30 ms into stance in real running
  (docs/validation.md).
- **Toe-off** is where the shank, released from the ground, starts its fast
  backward swing: after the late-stance plateau of gy (the shank nearly still
  over the forefoot), the steepest fall of gy. The minimum of that fall (the
  usual gyro toe-off) is the early-swing rotation, 20-100 ms after toe-off
  (the known late bias of shank-gyro toe-off in running: Kiernan et al. 2023).

Derivatives are central differences over ±4 ms on a 3-sample median of gy, so
that a one-sample spike is not an event. The stance's first minimum is
confirmed once gy has risen from it by `rise` of the swing peak; toe-off once
the fall has eased to `eased` of its steepest, or has not steepened for 15 ms
(a jogger's fall eases slowly). A contact whose toe-off is not
found within `max_contact_s` is dropped (walking, standing). After lost
samples the detector waits until the signal is out of any swing, so that the
next swing is seen whole.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .arrays import first
from .imu_stages import (
    FALLING,
    NUMPY_FROM,
    PLATEAU,
    RETRACTING,
    SEEK_IC,
    SEEK_SWING,
    ContactStages,
    Derivatives,
)


@dataclass(frozen=True)
class ShankDetectorConfig:
    swing_min_deg_s: float = 200.0  # a swing peak lower than this is not running
    rise: float = 0.15  # a minimum is confirmed when the signal rose this share of the peak
    min_contact_s: float = 0.06  # toe-off looked for from this long after IC
    max_contact_s: float = 0.45  # no toe-off by then: walking or standing, dropped
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


class _SwingPeaks:
    """Swing peaks on the median signal as it comes, ahead of the derivatives (the other
    leg's peak is wanted by this leg's toe-off): above swing_min_deg_s, confirmed
    once the signal fell peak_drop from the highest; then out of the swing (below
    swing_min_deg_s) before the next. Run from crossing to crossing with numpy."""

    def __init__(self, foot: str, cfg: ShankDetectorConfig) -> None:
        self.foot, self.cfg = foot, cfg
        self.swinging = False
        self.out = True
        self.peak = (0.0, 0.0)  # (value, time)

    def push(self, t: np.ndarray, g: np.ndarray, now: np.ndarray) -> list[SwingPeak]:
        cfg, i, n = self.cfg, 0, len(g)
        out: list[SwingPeak] = []
        while i < n:
            if self.out:  # still in the last swing: wait until below the swing threshold
                k = first(g[i:] < cfg.swing_min_deg_s)
                if k < 0:
                    return out
                self.out, i = False, i + k + 1
            elif not self.swinging:
                k = first(g[i:] > cfg.swing_min_deg_s)
                if k < 0:
                    return out
                self.swinging, self.peak, i = True, (float(g[i + k]), float(t[i + k])), i + k + 1
            else:
                # The highest so far before each sample; the first sample below it by
                # peak_drop confirms it (it cannot also be a new highest).
                seg = g[i:]
                before = np.maximum.accumulate(np.concatenate(([self.peak[0]], seg)))[:-1]
                k = first(seg < before * (1.0 - cfg.peak_drop))
                upto = seg if k < 0 else seg[:k]
                if len(upto) and upto.max() > self.peak[0]:
                    j = int(np.argmax(upto))  # its first sample: a later equal is no higher
                    self.peak = (float(upto[j]), float(t[i + j]))
                if k < 0:
                    return out
                self.swinging, self.out = False, True
                value, at = self.peak
                out.append(SwingPeak(self.foot, at, value, float(now[i + k])))
                i += k + 1
        return out


class ShankEventDetector(ContactStages):
    def __init__(self, foot: str, config: ShankDetectorConfig, rate_hz: float = 1000.0) -> None:
        self.foot = foot
        self.cfg = config
        self._d = Derivatives(rate_hz, config.window_s)
        self._swing = _SwingPeaks(foot, config)
        self._peaks: deque[SwingPeak] = deque()  # confirmed, for the slower stages
        self._state = SEEK_SWING
        self._peak = self._peak_s = 0.0
        self._zero_s = 0.0  # the retraction began
        self._knees: list[tuple[float, float]] = []  # local minima of jerk: (value, time)
        self._prev_jerk = math.inf
        self._last_jerk = (math.inf, 0.0)
        self._jerk_t: list[float] = []  # the jerk since the retraction: its times ...
        self._jerk_v: list[float] = []  # ... and values
        self._min = (math.inf, 0.0)  # the stance's first minimum: (gy, time)
        self._ic_s = 0.0
        self._plateau = (-math.inf, 0.0)
        self._steepest = (0.0, 0.0)  # (slope, time)
        self.last_swing: SwingPeak | None = None
        self.dropped = 0
        self._now = 0.0

    def reports_from_s(self) -> float:
        """No contact with an IC before this can still come from this detector: a
        contact under way began at its retraction's zero crossing (the IC is never
        before it); any other will cross zero after every sample the derivatives have
        reached, computed or skipped."""
        if self._state in (SEEK_IC, PLATEAU, FALLING):
            return self._zero_s
        return self._d.covered_s

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
        """A block of samples; the swing peaks and contacts it confirms, in order of
        confirmation. NaN samples (a gap in the signal) carry no event."""
        if math.isnan(np.add.reduce(gy)):  # a NaN among them (or inf - inf): look closer
            ok = gy == gy
            time_s, gy = time_s[ok], gy[ok]
        (ft, fg, fnow), slow = self._d.push(time_s, gy)
        peaks = self._swing.push(ft, fg, fnow)
        if peaks:
            self.last_swing = peaks[-1]
            self._peaks.extend(peaks)
        # Waiting for a swing peak that has not come: the derivatives are not needed.
        idle = self._state == SEEK_SWING and not self._peaks
        contacts = [] if idle else self._run(*slow())
        if not (peaks and contacts):
            return [*peaks, *contacts]
        return sorted([*peaks, *contacts], key=lambda e: e.confirmed_s)  # stable: peaks first

    def _run(self, t, g, slope, jerk, now) -> list[ShankContact]:
        """The state machine over the derivatives' samples: from swing peak to zero
        crossing by numpy, sample by sample only through a contact."""
        out: list[ShankContact] = []
        i, n = 0, len(t)
        rows = None
        while i < n:
            state = self._state
            if state == SEEK_SWING:
                k = self._next_swing(t, now, i)
                if k < 0:
                    break
                i = k + 1
            elif state == RETRACTING:
                late = (t[i:] - self._peak_s) > 1.0  # no contact followed the swing
                k = first((g[i:] < 0.0) | late)
                if k < 0:
                    break
                i += k
                if g[i] < 0.0:
                    self._retracted(float(t[i]), float(g[i]))
                else:
                    self._state = SEEK_SWING
                    self.dropped += 1
                i += 1
            elif n - i >= NUMPY_FROM:  # a long run: the same stages with numpy
                if state == SEEK_IC:
                    i = self._seek_ic_np(t, g, jerk, i)
                elif state == PLATEAU:
                    i = self._plateau_np(t, g, slope, i)
                else:
                    i = self._falling_np(t, slope, now, i, out)
            else:
                if rows is None:
                    rows = (t.tolist(), g.tolist(), slope.tolist(), jerk.tolist(), now.tolist())
                self._now = rows[4][i]
                event = self._sample(rows[0][i], rows[1][i], rows[2][i], rows[3][i])
                if event is not None:
                    out.append(event)
                i += 1
        return out

    # One sample of the median-filtered signal, with its slope and jerk, 2h behind.
    def _sample(self, t: float, g: float, slope: float, jerk: float):
        state = self._state
        if state == SEEK_IC:
            self._seek_ic(t, g, slope, jerk)
        elif state == PLATEAU:
            self._on_plateau(t, g, slope)
        else:
            return self._falling(t, g, slope)
        return None

    def _next_swing(self, t: np.ndarray, now: np.ndarray, i: int) -> int:
        """The first sample from i at which the derivatives have reached a confirmed
        swing peak (confirmed by then, and at or before it): its retraction is next.
        Returns that sample's index, or -1."""
        if not self._peaks:
            return -1
        first = self._peaks[0]
        k = max(
            i,
            int(np.searchsorted(now, first.confirmed_s, "left")),
            int(np.searchsorted(t, first.time_s, "left")),
        )
        if k >= len(t):
            return -1
        at, by = float(t[k]), float(now[k])
        while self._peaks and self._peaks[0].time_s <= at and self._peaks[0].confirmed_s <= by:
            peak = self._peaks.popleft()
            self._peak, self._peak_s = peak.value_deg_s, peak.time_s
        self._state = RETRACTING
        return k

    def _retracted(self, t: float, g: float) -> None:
        self._state, self._zero_s = SEEK_IC, t
        self._min = (g, t)
        self._knees, self._prev_jerk, self._last_jerk = [], math.inf, (math.inf, t)
        self._jerk_t, self._jerk_v = [], []

    def _seek_ic(self, t: float, g: float, slope: float, jerk: float) -> None:
        if g < self._min[0]:
            self._min = (g, t)
        # Local minima of the jerk: the knee of foot strike, then perhaps the skin's
        # ringing after it, which can be as sharp; the first sharp one is the strike.
        last, before = self._last_jerk, self._prev_jerk
        if last[0] < jerk and last[0] <= before:
            self._knees.append(last)
        self._prev_jerk, self._last_jerk = last[0], (jerk, t)
        self._jerk_t.append(t)
        self._jerk_v.append(jerk)
        if g > self._min[0] + self.cfg.rise * self._peak:  # the first minimum is behind
            self._stance_begun()
        elif t - self._zero_s > self.cfg.max_contact_s:
            self._state = SEEK_SWING
            self.dropped += 1

    def _stance_begun(self) -> None:
        """The stance's first minimum is behind: IC from the knees before it."""
        knees = [k for k in self._knees if k[1] <= self._min[1] and k[0] < 0.0]
        if knees:
            deepest = min(v for v, _ in knees)
            value, at = next(k for k in knees if k[0] <= self.cfg.knee * deepest)
            self._ic_s = self._onset(value, at)
        else:  # no knee at all (a soft landing): the stance's first minimum
            self._ic_s = self._min[1]
        self._state = PLATEAU
        self._plateau = (-math.inf, 0.0)

    def _contact_found(self) -> ShankContact:
        """Toe-off at the steepest fall: the contact, confirmed now."""
        to = self._steepest[1]
        return ShankContact(self.foot, self._ic_s, to, self._now, self._peak, self._peak_s)

    def _onset(self, value: float, at: float) -> float:
        """Where the knee begins: on its leading edge, the time the jerk reached half
        its depth (a derivative over ±h spreads a kink over 2h; its half-depth on the
        way in is the kink's start, as a constant-fraction timer takes a pulse's)."""
        before = [(t, j) for t, j in zip(self._jerk_t, self._jerk_v, strict=True) if t <= at]
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
            return self._contact_found()
        if t - self._ic_s > self.cfg.max_contact_s:
            self._state = SEEK_SWING
            self.dropped += 1
        return None
