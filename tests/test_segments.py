"""The thigh and trunk AHRS's rejection timeout means what its config says.

A sprint rejects the accelerometer through most of each stride (its reading is far
from gravity's direction: the segment accelerates); after `rejection_timeout_s` of
that, Fusion trusts gravity again, so that the gyro's integration alone cannot
carry the angle away. imufusion 1.3 takes the timeout in seconds; it was given in
samples (1000 at 200 Hz: 1000 s), so recovery never came, and on the simulated
sessions each thigh's angle wandered by 100-170 deg within 30 s (docs/scoring.md)."""

import math

import numpy as np

from firmware_bridge.physics import STANDARD_GRAVITY_M_S2
from service.engine.segments import SegmentConfig, SegmentTracker

RATE_HZ = 1000.0


def _still(tilt_deg: float, t0: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """A segment held still at this tilt (distal end forward), as its IMU reads it:
    no rotation; the accelerometer reads 1 g up (its z axis points distally), with a
    little noise (Fusion starts upright: exactly upside down, it would never turn)."""
    t = t0 + np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    a = math.radians(tilt_deg)
    accel = STANDARD_GRAVITY_M_S2 * np.array([math.sin(a), 0.0, -math.cos(a)])
    noise = np.random.default_rng(int(t0)).normal(0.0, 0.05, (len(t), 3))
    return t, np.column_stack([np.zeros((len(t), 3)), accel + noise])


def test_a_tilt_the_gyro_did_not_see_is_trusted_after_the_rejection_timeout():
    cfg = SegmentConfig()
    tracker = SegmentTracker(RATE_HZ, cfg)
    tracker.feed(*_still(0.0, 0.0, 5.0))  # past Fusion's 3 s start-up
    # The accelerometer now says 30 deg, the gyro says nothing turned: taken for an
    # acceleration (30 deg is past the 10 deg rejection), until the timeout.
    tracker.feed(*_still(30.0, 5.0, cfg.rejection_timeout_s + 12.0))
    before = tracker.angle_at(5.0 + cfg.rejection_timeout_s - 1.0)
    after = tracker.angle_at(5.0 + cfg.rejection_timeout_s + 10.0)
    assert abs(before) < 1.0, before  # rejected: the angle holds
    assert abs(after - 30.0) < 1.0, after  # trusted again: the angle follows gravity
