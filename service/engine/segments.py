"""Thigh and trunk: sagittal angle from an AHRS filter, angular velocity from the gyro.

Orientation comes from x-io Technologies' Fusion AHRS (the `imufusion`
package: a complementary filter with acceleration rejection, maintained, with
aarch64 wheels; the same C a batch a call where it is compiled here and gives
imufusion's numbers to the bit: firmware_bridge/speedups/ahrs.py), run at 200 Hz
on the 1 kHz samples averaged in fives. The
sagittal angle of a segment is the tilt of its long (z, distal) axis from
the vertical in the x-z plane, from the filter's gravity direction in the
segment frame (docs/protocol.md): + when the distal end is forward.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

from firmware_bridge.physics import STANDARD_GRAVITY_M_S2
from firmware_bridge.speedups.ahrs import AhrsSettings, make_ahrs

G_UNIT = STANDARD_GRAVITY_M_S2  # the accelerometer's unit


@dataclass(frozen=True)
class SegmentConfig:
    # The AHRS runs on the samples averaged to this rate: a sprinter's thigh turns at
    # up to ~15 Hz of bandwidth, and each update is a call into Fusion (the cost). Not
    # lower: a step waits for the output after its toe-off (100 Hz: +10 ms, p99).
    ahrs_rate_hz: float = 200.0
    # The trunk rocks at the stride frequency (under 5 Hz), and its pitch is taken at
    # mid-contact, not at toe-off: its filter at this rate costs no wait, and half the
    # calls (its pitch within 0.9 deg of 200 Hz on the simulated rigs).
    trunk_ahrs_rate_hz: float = 100.0
    # Fusion's gain: how strongly the accelerometer's gravity corrects the gyro's
    # integration (x-io's recommended 0.5).
    gain: float = 0.5
    gyroscope_range_deg_s: float = 2000.0  # the IMU's range: a saturated gyro is not trusted
    # Accelerations this far (degrees) from gravity's direction do not correct the
    # angle: a foot strike's shock is not the segment tilting.
    acceleration_rejection_deg: float = 10.0
    # Rejected this long (most of the updates), Fusion trusts gravity again: a sprint
    # rejects the accelerometer through most of each stride, and without this the
    # gyro's integration alone drifts (imufusion 1.3 takes it in seconds; it was
    # given in samples until 2026-12-07, 1000 s: each thigh drifted ~100-150 deg in
    # a simulated session, docs/scoring.md).
    rejection_timeout_s: float = 5.0
    gap_periods: int = 3  # filter outputs further apart than this many periods: a gap
    # The trunk's rate RMS is taken after a running median this long (samples): a one-
    # or two-sample spike, a glitch or a knock on the sensor, is not the trunk rocking.
    robust_samples: int = 5


AHRS_RATE_HZ = SegmentConfig.ahrs_rate_hz


class SegmentTracker:
    """One IMU on a thigh or the trunk: a short history of angle and angular velocity."""

    def __init__(
        self,
        sample_rate_hz: float,
        config: SegmentConfig | None = None,
        ahrs_rate_hz: float | None = None,  # (config's ahrs_rate_hz unless given)
    ) -> None:
        self.cfg = cfg = config or SegmentConfig()
        self.ahrs_rate_hz = ahrs_rate_hz or cfg.ahrs_rate_hz
        self.decimate = max(1, round(sample_rate_hz / self.ahrs_rate_hz))
        rate = sample_rate_hz / self.decimate
        settings = AhrsSettings(
            sample_rate_hz=rate,
            gain=cfg.gain,
            gyroscope_range_deg_s=cfg.gyroscope_range_deg_s,
            acceleration_rejection_deg=cfg.acceleration_rejection_deg,
            rejection_timeout_s=cfg.rejection_timeout_s,
        )
        self.ahrs = make_ahrs(settings)
        self._carry = np.zeros((0, 7))  # samples waiting to fill the next group: t, gyro, accel
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # (times, rows) not yet filtered
        self.angle_t: list[float] = []
        # The filter's gravity direction at angle_t, its x and z (the sagittal plane).
        self._down_x: list[float] = []
        self._down_z: list[float] = []
        self.rate_t: list[np.ndarray] = []  # gyro sagittal rate, every sample
        self.rate_deg_s: list[np.ndarray] = []

    def feed(self, time_s: np.ndarray, values: np.ndarray) -> bool:
        """Queue samples (gyro x, y, z in deg/s, then accel x, y, z in m/s^2, as an IMU
        stream's columns); the filter runs when an angle is asked for (cheaper in bulk).
        False: nothing for the engine to finish."""
        self._pending.append((time_s, values))
        return False

    def _run_filter(self) -> None:
        if not self._pending:
            return
        t = np.concatenate([p[0] for p in self._pending])
        values = np.concatenate([p[1] for p in self._pending])
        gyro, accel = values[:, :3], values[:, 3:6]
        self._pending = []
        good = np.isfinite(gyro).all(axis=1) & np.isfinite(accel).all(axis=1)
        self.rate_t.append(t[good])
        self.rate_deg_s.append(gyro[good, 1])
        rows = np.column_stack([t[good], gyro[good], accel[good] / G_UNIT])
        if len(self._carry):
            rows = np.vstack([self._carry, rows])
        n = len(rows) // self.decimate * self.decimate
        groups = rows[:n].reshape(-1, self.decimate, 7).mean(axis=1)
        self._carry = rows[n:]
        if not len(groups):
            return
        # The gravity direction is kept, its angle taken when asked (_angle).
        down = self.ahrs.gravity(groups[:, 1:4], groups[:, 4:7])
        self._down_x += down[:, 0].tolist()
        self._down_z += down[:, 2].tolist()
        self.angle_t += groups[:, 0].tolist()

    def _angle(self, k: int) -> float:
        """The sagittal angle of output k: the long axis's tilt from the filter's
        gravity direction (math.atan2: numpy's vectorised one is ~1e-7 off)."""
        return math.degrees(math.atan2(self._down_x[k], -self._down_z[k]))

    @property
    def angle_deg(self) -> list[float]:
        """Every output's angle (for tests; the engine asks angle_at)."""
        self._run_filter()
        return [self._angle(k) for k in range(len(self.angle_t))]

    def prune(self, before_s: float) -> None:
        """Forget what came before this time (the engine no longer needs it)."""
        self._run_filter()
        old = before_s
        cut = bisect.bisect_left(self.angle_t, old)
        if cut:
            del self.angle_t[:cut]
            del self._down_x[:cut]
            del self._down_z[:cut]
        while len(self.rate_t) > 1 and (not self.rate_t[0].size or self.rate_t[0][-1] < old):
            self.rate_t.pop(0)
            self.rate_deg_s.pop(0)

    def angle_at(self, t: float) -> float | None:
        """The angle at t, between the filter's outputs around it; None outside them
        or in a gap of lost samples (an angle is not made up across missing data)."""
        if not self.angle_t or self.angle_t[-1] < t:  # (later samples add later outputs)
            self._run_filter()
        if not self.angle_t or not (self.angle_t[0] <= t <= self.angle_t[-1]):
            return None
        k = bisect.bisect_left(self.angle_t, t)
        if k and self.angle_t[k] - self.angle_t[k - 1] > self.cfg.gap_periods / self.ahrs_rate_hz:
            return None
        # Between the two outputs around t (np.interp's arithmetic, without making
        # arrays of the whole history for one number).
        if self.angle_t[k] == t:
            return self._angle(k)
        t0, t1 = self.angle_t[k - 1], self.angle_t[k]
        a0, a1 = self._angle(k - 1), self._angle(k)
        return (a1 - a0) / (t1 - t0) * (t - t0) + a0

    def rate_rms(self, start_s: float, end_s: float) -> float | None:
        """RMS of the sagittal rate between the times, robust to spikes: taken after a
        running median of `robust_samples` (a plain RMS would let one 2000 deg/s
        sample outweigh a whole stance)."""
        if not self.rate_t or not self.rate_t[-1].size or self.rate_t[-1][-1] < end_s:
            self._run_filter()  # (samples still queued are later than those it has)
        # Only the blocks that reach into the contact (not the whole history).
        parts = [
            k
            for k, block_t in enumerate(self.rate_t)
            if block_t.size and block_t[0] <= end_s and block_t[-1] >= start_s
        ]
        if not parts:
            return None
        t = np.concatenate([self.rate_t[k] for k in parts])
        w = np.concatenate([self.rate_deg_s[k] for k in parts])
        inside = (t >= start_s) & (t <= end_s)
        if inside.sum() < self.cfg.robust_samples:
            return None
        steady = median_filter(w[inside], size=self.cfg.robust_samples, mode="nearest")
        return float(np.sqrt(np.mean(steady**2)))
