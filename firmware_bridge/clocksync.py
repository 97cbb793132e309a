"""Clock sync: from an MCU's sample counts to host monotonic seconds.

Two maps, both linear fits that follow drift:

* ``SampleTimeline``: sample index -> MCU clock (µs), from the clock stamp
  each sample batch carries. The sample rate is learned in MCU ticks, because
  a nominal rate is never exact.
* ``ClockSync``: MCU clock -> host monotonic time, from clock queries whose
  round trip is measured. As in Klipper's klippy/clocksync.py: only replies
  whose round trip is close to the best recent one are trusted (USB delivers
  in bursts; a late reply says little about when the clock was read), extreme
  outliers are ignored, and old replies weigh less so that the estimate
  follows a drifting crystal.

Arrival time of sample data is never used as a timestamp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import StridesyncError

MCU_CLOCK_HZ = 1_000_000  # protocol v1 stamps are microseconds


class error(StridesyncError):
    pass


class WrapExtender:
    """Extend a wrapping counter (32-bit by default) to an unbounded int.

    Values may come slightly out of order (a batch stamped before the last
    clock reply), so each one is placed within half the range of the last.
    """

    def __init__(self, bits: int = 32) -> None:
        self._mod = 1 << bits
        self._half = 1 << (bits - 1)
        self._last: int | None = None

    def extend(self, raw: int) -> int:
        if self._last is None:
            self._last = raw
            return raw
        delta = (raw - self._last + self._half) % self._mod - self._half
        value = self._last + delta
        if delta > 0:
            self._last = value
        return value

    def reset(self) -> None:
        self._last = None


class DecayingRegression:
    """Exponentially weighted least squares of y against x.

    The first 1/decay points are weighted equally (plain least squares), later
    ones with a forgetting factor of (1 - decay). Before x has spread, the
    slope is pulled towards a prior with weight `prior_weight` (in units of x²),
    which fades like an old observation.
    """

    def __init__(self, x: float, y: float, slope: float, decay: float, prior_weight: float):
        self.decay = decay
        self.prior_slope = slope
        self.prior_weight = prior_weight
        self.x_avg = x
        self.y_avg = y
        self.x_var = 0.0
        self.xy_cov = 0.0
        self.slope = slope
        self.count = 1

    def add(self, x: float, y: float) -> None:
        self.count += 1
        d = max(self.decay, 1.0 / self.count)
        dx = x - self.x_avg
        dy = y - self.y_avg
        self.x_avg += d * dx
        self.y_avg += d * dy
        self.x_var = (1.0 - d) * (self.x_var + dx * dx * d)
        self.xy_cov = (1.0 - d) * (self.xy_cov + dx * dy * d)
        self.prior_weight *= 1.0 - d
        w = self.prior_weight
        self.slope = (self.xy_cov + w * self.prior_slope) / (self.x_var + w)

    def predict(self, x):
        return self.y_avg + self.slope * (x - self.x_avg)


@dataclass
class ClockSyncStats:
    samples: int = 0
    used: int = 0  # replies close enough to the best round trip to be trusted
    outliers: int = 0
    resets: int = 0


class ClockSync:
    """Map one device's extended MCU clock (µs) to host monotonic seconds.

    Each clock reply says the MCU clock was read somewhere between the query's
    send and receive times; its midpoint is wrong by at most half the round
    trip minus the fastest possible one-way trip. So, as in Klipper's
    clocksync, only replies whose half round trip is within ACCEPT_MARGIN_S of
    the best seen (a minimum that slowly ages, so a changed link is followed)
    enter a line fit, and the fit weighs replies down with their age so that a
    drifting crystal is followed. The fit is a running, exponentially
    time-weighted regression: O(1) per reply, whatever the query rate.
    """

    # Queries are cheap (9 bytes out, 12 back): ask often while the fit is
    # young, then settle. Only a few replies in ten pass the round-trip bar
    # on a bursty USB link.
    QUERY_INTERVAL_S = 0.05
    WARMUP_QUERY_INTERVAL_S = 0.01
    WARMUP_S = 20.0
    ACCEPT_MARGIN_S = 0.25e-3  # on the half round trip
    # The best half round trip ages by this much a second (Klipper: RTT_AGE),
    # so one lucky reply does not set the bar for ever.
    RTT_AGE_S_PER_S = 10e-6 / 60.0
    AGE_TAU_S = 30.0  # a reply this old weighs 1/e of a fresh one
    # The nominal rate weighs like replies spread over a third of a second:
    # it tames a fit whose first trusted replies bunch together.
    PRIOR_WEIGHT_S2 = 0.01
    # A clock read always lies between a query's send and receive times, so a
    # reply can only be far from a good fit if the clock itself jumped (an MCU
    # reset). Replies this far from the prediction beyond their round trip
    # (and > 5 sigma) are outliers; a tighter bar would also reject good
    # replies while the fit is young ...
    OUTLIER_MIN_US = 5000.0
    # ... and this many in a row mean the clock jumped: start again.
    OUTLIERS_TO_RESET = 4
    # Samples are stamped once the fit is ready. A USB or pty link answers in a
    # half round trip of 0.05-0.5 ms; a reply slower than QUICK_HALF_RTT_S was
    # held up on a busy host, and its midpoint can be off by as much (a starved
    # host's first replies took hundreds of ms, and the samples waiting for the
    # clock were stored that far from their time). So the fit is ready on two
    # replies once one of them was quick, or after PATIENCE_S on a link that is
    # never quick (so that no link is left without a clock).
    QUICK_HALF_RTT_S = 1e-3
    PATIENCE_S = 2.0
    # A restart (a replug reboots the MCU; a reset) starts its clock again from 0, but
    # its crystal is the same: the rate learnt so far stays the fit's prior, weighing
    # as much as the replies it came from, up to replies spread over ~35 s (a crystal's
    # rate moves with temperature, ~1 ppm/°C, so the new replies take over within
    # about a minute). Without it a starved host, which trusts few replies after a
    # replug, ran on a rate from a second of replies: 1 ms out within 15 s.
    KEPT_RATE_WEIGHT_MAX_S2 = 100.0

    def __init__(self, nominal_hz: float = MCU_CLOCK_HZ) -> None:
        self.nominal_hz = nominal_hz
        self.stats = ClockSyncStats()
        self._prior_hz, self._prior_weight = nominal_hz, self.PRIOR_WEIGHT_S2
        self._freq, self._used, self._t_var = nominal_hz, 0, 0.0
        self.reset()

    def query_interval_s(self) -> float:
        """When to send the next clock query."""
        if self._used < 2 or self._newest_s - self._first_s < self.WARMUP_S:
            return self.WARMUP_QUERY_INTERVAL_S
        return self.QUERY_INTERVAL_S

    def reset(self) -> None:
        """Learn the clock again (its offset jumped, or a quicker reply showed the fit's
        replies were all slow); the crystal's rate learnt so far is kept as the prior."""
        if self._used >= 2 and self._t_var > self._prior_weight:
            self._prior_hz = self._freq
            self._prior_weight = min(self._t_var, self.KEPT_RATE_WEIGHT_MAX_S2)
        self._first_s = self._newest_s = 0.0
        self._min_half_rtt = math.inf
        self._min_rtt_at_s = 0.0
        # The running fit: total weight, weighted means, (co)variance about them.
        self._weight = 0.0
        self._t0 = 0.0
        self._c0 = 0.0
        self._t_var = 0.0
        self._tc_cov = 0.0
        self._freq = self._prior_hz
        self._used = 0
        self._residual_var = 0.0
        self._outlier_run = 0
        self.ready = False  # samples can be stamped (kept up to date: asked a batch)

    def _is_ready(self) -> bool:
        if self._used < 2:
            return False
        quick = self._min_half_rtt <= self.QUICK_HALF_RTT_S
        return quick or self._newest_s - self._first_s >= self.PATIENCE_S

    @property
    def frequency_hz(self) -> float:
        return self._freq

    @property
    def drift_ppm(self) -> float:
        return (self._freq / self.nominal_hz - 1.0) * 1e6

    @property
    def min_rtt_s(self) -> float:
        return 2.0 * self._min_half_rtt if math.isfinite(self._min_half_rtt) else math.nan

    @property
    def prediction_stddev_us(self) -> float:
        return math.sqrt(self._residual_var)

    def add_sample(self, sent_s: float, received_s: float, mcu_clock: int) -> bool:
        """One clock query, sent and answered at these host times; True if it was used."""
        self.stats.samples += 1
        half_rtt = 0.5 * (received_s - sent_s)
        t_mid = sent_s + half_rtt
        # A reply far quicker than any in the fit is better evidence than the fit:
        # never an outlier (_add starts the fit again from it).
        quicker = half_rtt < self._aged_min_half_rtt(t_mid) - self.ACCEPT_MARGIN_S
        if self._used and not quicker and self._is_outlier(t_mid, mcu_clock, half_rtt):
            return self._outlier(t_mid, mcu_clock, half_rtt)
        self._outlier_run = 0
        return self._add(t_mid, mcu_clock, half_rtt)

    def _aged_min_half_rtt(self, t: float) -> float:
        return self._min_half_rtt + (t - self._min_rtt_at_s) * self.RTT_AGE_S_PER_S

    def _add(self, t: float, clock: float, half_rtt: float) -> bool:
        aged_min = self._aged_min_half_rtt(t)
        if self._used and half_rtt < aged_min - self.ACCEPT_MARGIN_S:
            # Far quicker than any reply in the fit (a host starved while it first
            # learnt the clock, as after a replug under load): the bar now rejects
            # every one of them, so the fit starts again from this one.
            self.reset()
            aged_min = math.inf
        if half_rtt <= aged_min:
            self._min_half_rtt, self._min_rtt_at_s = half_rtt, t
        elif half_rtt > aged_min + self.ACCEPT_MARGIN_S:
            return False  # delayed somewhere: says little about when the clock was read
        self._fit(t, clock)
        self.stats.used += 1
        return True

    def _fit(self, t: float, clock: float) -> None:
        if self._used == 0:
            self._first_s = self._t0 = t
            self._c0 = clock
        else:
            err = clock - self.host_to_mcu(t)
            self._residual_var += (err * err - self._residual_var) / min(self._used, 64)
        # Older replies fade with their age; the newest has weight 1.
        self._weight = self._weight * math.exp(-(t - self._newest_s) / self.AGE_TAU_S) + 1.0
        d = 1.0 / self._weight
        dt, dc = t - self._t0, clock - self._c0
        self._t0 += d * dt
        self._c0 += d * dc
        self._t_var = (1.0 - d) * (self._t_var + d * dt * dt)
        self._tc_cov = (1.0 - d) * (self._tc_cov + d * dt * dc)
        p = self._prior_weight
        self._freq = (self._tc_cov + p * self._prior_hz) / (self._t_var + p)
        self._newest_s = t
        self._used += 1
        self.ready = self._is_ready()

    def _is_outlier(self, t: float, clock: float, half_rtt: float) -> bool:
        # A reply is only as sure as its round trip: allow for that too.
        diff = abs(clock - self.host_to_mcu(t)) - half_rtt * self._freq
        return diff * diff > 25.0 * self._residual_var and diff > self.OUTLIER_MIN_US

    def _outlier(self, t: float, clock: float, half_rtt: float) -> bool:
        self.stats.outliers += 1
        self._outlier_run += 1
        if self._outlier_run < self.OUTLIERS_TO_RESET:
            return False
        # Replies agree with each other but not with us: the clock jumped.
        self.stats.resets += 1
        self.reset()
        return self._add(t, clock, half_rtt)

    def mcu_to_host(self, mcu_clock):
        """Host monotonic seconds of an MCU clock value (scalar or array)."""
        if not self._used:
            raise error("clock not synchronised yet")
        return self._t0 + (mcu_clock - self._c0) / self._freq

    def line(self) -> tuple[float, float, float]:
        """(t0, c0, frequency): host = t0 + (clock - c0) / frequency."""
        if not self._used:
            raise error("clock not synchronised yet")
        return self._t0, self._c0, self._freq

    def host_to_mcu(self, host_s):
        if not self._used:
            raise error("clock not synchronised yet")
        return self._c0 + (host_s - self._t0) * self._freq


class SampleTimeline:
    """Sample index -> MCU clock (µs) for one stream, learned from batch stamps."""

    DECAY = 1.0 / 256.0  # about 2.5 s of batches

    def __init__(self, nominal_rate_hz: float) -> None:
        self.nominal_period_us = MCU_CLOCK_HZ / nominal_rate_hz
        self._reg: DecayingRegression | None = None

    def add(self, first_sample: int, mcu_clock: int) -> None:
        if self._reg is None:
            # Prior: the nominal period, as firm as stamps spread over 35 samples.
            self._reg = DecayingRegression(
                first_sample, mcu_clock, self.nominal_period_us, self.DECAY, prior_weight=100.0
            )
        else:
            self._reg.add(first_sample, mcu_clock)

    def residual_us(self, first_sample: int, mcu_clock: int) -> float:
        """How far a stamp is from where the timeline expects it."""
        if self._reg is None:
            return 0.0
        return mcu_clock - self._reg.predict(first_sample)

    def mcu_time(self, sample_index):
        return self._reg.predict(np.asarray(sample_index, dtype=np.float64))

    def line(self) -> tuple[float, float, float]:
        """(x_avg, y_avg, slope): clock = y_avg + slope * (index - x_avg)."""
        r = self._reg
        assert r is not None, "no timeline before its first batch"
        return r.x_avg, r.y_avg, r.slope

    @property
    def period_us(self) -> float:
        return self._reg.slope if self._reg else self.nominal_period_us
