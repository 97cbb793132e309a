"""x-io's Fusion AHRS a batch a call: the compiled filter where it gives imufusion's
numbers to the bit, imufusion one sample a call where it does not.

imufusion (the Python package of Fusion) takes one sample a Python call, ~2 µs each:
the thighs' and trunk's filters were half of the engine's time (docs/benchmarks.md).
`_speedups.c` runs the same C source (fusion/, vendored from imufusion 1.3.3, MIT) over
a whole batch. Whether a compiler's float arithmetic matches the wheel's (a fused
multiply-add on aarch64, say) is not assumed: the first filter made in a process runs
both on a few thousand samples that visit every branch of Fusion (start-up, rejection,
recovery, gyro over-range), and uses the compiled one only if every output is equal to
the bit. `describe()` says which runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import imufusion
import numpy as np

from .. import speedups


@dataclass(frozen=True)
class AhrsSettings:
    """imufusion.AhrsSettings' numbers, in its units (North-West-Up, no magnetometer)."""

    sample_rate_hz: float
    gain: float
    gyroscope_range_deg_s: float
    acceleration_rejection_deg: float
    rejection_timeout_s: float


class _Imufusion:
    """The reference: imufusion, one sample a call."""

    def __init__(self, s: AhrsSettings) -> None:
        settings = imufusion.AhrsSettings(
            sample_rate=s.sample_rate_hz,
            convention=imufusion.CONVENTION_NWU,
            gain=s.gain,
            gyroscope_range=s.gyroscope_range_deg_s,
            acceleration_rejection=s.acceleration_rejection_deg,
            magnetic_rejection=0.0,
            rejection_timeout=s.rejection_timeout_s,  # (imufusion 1.3: in seconds)
        )
        self._ahrs = imufusion.Ahrs().set_settings(settings)
        self._ahrs.set_sample_period(1.0 / s.sample_rate_hz)

    def gravity(self, gyro_deg_s: np.ndarray, accel_g: np.ndarray) -> np.ndarray:
        update, gravity = self._ahrs.update_no_magnetometer, self._ahrs.get_gravity
        # Rows of contiguous copies: the cheapest to pass.
        gyro_rows = list(np.ascontiguousarray(gyro_deg_s))
        accel_rows = list(np.ascontiguousarray(accel_g))
        out = [gravity() for _ in map(update, gyro_rows, accel_rows)]
        return np.array(out, dtype=np.float32).reshape(-1, 3)


class _Compiled:
    """The same C, a batch a call (speedups.native.ahrs_update)."""

    def __init__(self, s: AhrsSettings) -> None:
        self._state = speedups.native.ahrs_new(
            s.sample_rate_hz,
            imufusion.CONVENTION_NWU,
            s.gain,
            s.gyroscope_range_deg_s,
            s.acceleration_rejection_deg,
            0.0,
            s.rejection_timeout_s,
            1.0 / s.sample_rate_hz,
        )

    def gravity(self, gyro_deg_s: np.ndarray, accel_g: np.ndarray) -> np.ndarray:
        # float32 as imufusion takes them (numpy's cast: round to nearest, as C's).
        gyro = np.ascontiguousarray(gyro_deg_s, dtype=np.float32)
        accel = np.ascontiguousarray(accel_g, dtype=np.float32)
        out = np.empty_like(gyro)
        speedups.native.ahrs_update(self._state, gyro, accel, out)
        return out


def exercise(n: int = 3000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Gyro (deg/s) and accelerometer (g) rows that visit every branch of Fusion: a
    segment swinging, foot-strike shocks (rejection), a long stretch of shocks
    (recovery), over-range spikes (restart), and still at first (Fusion's start-up)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 200.0
    gyro = np.column_stack(
        [40 * np.sin(3 * t), 600 * np.sin(9 * t), 30 * np.cos(5 * t)]
    ) + rng.normal(0, 20, (n, 3))
    tilt = np.radians(60) * np.sin(9 * t) / 9 * 3
    accel = np.column_stack([np.sin(tilt), np.zeros(n), np.cos(tilt)]) + rng.normal(0, 0.05, (n, 3))
    shocks = rng.random(n) < 0.08
    accel[shocks] += rng.normal(0, 4, (int(shocks.sum()), 3))
    bumpy = slice(int(0.6 * n), int(0.6 * n) + 400)  # a long bumpy stretch
    accel[bumpy] += rng.normal(0, 2, (400, 3))
    gyro[[n // 3, n - 100], 1] = 2100.0  # past 98 % of a 2000 deg/s range: restarts
    gyro[:100], accel[:100] = 0.0, (0.0, 0.0, 1.0)
    return gyro, accel


def compare() -> str:
    """Why the compiled filter may not stand in for imufusion here ('' if it may)."""
    if speedups.native is None or not hasattr(speedups.native, "ahrs_update"):
        return f"not compiled ({speedups.why_not or 'an older build'})"
    gyro, accel = exercise()
    for timeout in (1000.0, 1.0):  # recovery never, and within a second (seconds)
        s = AhrsSettings(200.0, 0.5, 2000.0, 10.0, timeout)
        fast, slow = _Compiled(s).gravity(gyro, accel), _Imufusion(s).gravity(gyro, accel)
        differs = (fast.view(np.uint32) != slow.view(np.uint32)).any(axis=1)
        if differs.any():
            first = int(np.flatnonzero(differs)[0])
            return f"differs from imufusion's at sample {first} (rejection timeout {timeout})"
    return ""


_why_not: str | None = None  # None: not compared yet in this process


def _compiled_ok() -> bool:
    global _why_not
    if _why_not is None:
        _why_not = compare()
    return not _why_not


def describe() -> str:
    """One line for the log: which AHRS runs."""
    return "compiled Fusion AHRS" if _compiled_ok() else f"imufusion ({_why_not})"


def make_ahrs(settings: AhrsSettings) -> _Compiled | _Imufusion:
    """A filter: `gravity(gyro_deg_s, accel_g)` -> the gravity direction after each row."""
    return _Compiled(settings) if _compiled_ok() else _Imufusion(settings)
