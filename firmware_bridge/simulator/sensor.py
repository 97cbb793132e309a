"""What a real IMU adds to a segment's true motion: the foot strike's shock and
ringing, noise, bias, mounting misalignment, off-sagittal motion, saturation.

Motion capture and the simulator's segment models give the skeleton's motion;
a sensor strapped to skin sees more. Each effect's parameter is physical and
documented here (docs/simulator.md, "Sensor effects"):

- **Foot-strike shock.** The ground reaction's loading transient (the part of
  the force above 20 Hz: a 2nd-order causal high-pass) acts on the foot and
  shank before the body above takes it: divided by their mass (6.1 % of body
  mass: foot 1.45 % + shank 4.65 %, Winter 2009) it is the shank's shock
  acceleration, 6-12 g at sprint speed on the Dorn et al. (2012) plates
  (tibial shock 5-15 g is reported in running and sprinting). It starts when
  the force starts: the physics, not a model choice.
- **Ringing.** Skin and strap make the sensor a mass on a spring: the shock
  passes through a 2nd-order resonance (35 Hz, damping ratio 0.3: ~20 ms to
  die out, as skin-mounted sensors ring after impact), and the same wobble
  rotates the sensor: gyro ringing of 1.5 deg/s per m/s² of shock.
- **Noise**: white, 1.5 deg/s and 0.3 m/s² RMS (electronics ~0.06 deg/s and
  0.02 m/s² for an ICM-42688-P at 1 kHz; the rest is soft-tissue vibration).
- **Bias**: per axis, normal with SD 2 deg/s and 0.2 m/s² (an uncalibrated MEMS
  part after warm-up).
- **Misalignment**: the sensor frame turned from the segment's by a rotation of
  normal(0, 3 deg) about each axis (strapped by hand).
- **Off-sagittal motion**: the shank rotates about its long axis and in the
  frontal plane too (~10-15 deg in running); stood in for by 15 % of the
  sagittal rate 25 ms later about z and 8 % 10 ms earlier about x.
- **Saturation**: ±2000 deg/s and ±16 g, the ranges of common IMU chips.
- **Filter delay**: a chip's digital low-pass delays its output (0 by default;
  a few ms at the narrower bandwidth settings): a constant lag the engine can
  learn from the plates (service/engine/fusion.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

from ..physics import STANDARD_GRAVITY_M_S2

G = STANDARD_GRAVITY_M_S2
SEGMENT_MASS_SHARE = 0.0145 + 0.0465  # foot + shank, of body mass (Winter 2009)


@dataclass(frozen=True)
class SensorEffects:
    shock: bool = True
    ring_hz: float = 35.0
    ring_damping: float = 0.3
    gyro_ring_deg_s_per_m_s2: float = 1.5
    gyro_noise_deg_s: float = 1.5
    accel_noise_m_s2: float = 0.3
    gyro_bias_sd_deg_s: float = 2.0
    accel_bias_sd_m_s2: float = 0.2
    misalignment_sd_deg: float = 3.0
    off_sagittal: bool = True
    gyro_range_deg_s: float = 2000.0
    accel_range_m_s2: float = 16 * G
    filter_delay_s: float = 0.0

    @classmethod
    def none(cls) -> SensorEffects:
        """The segment's motion as it is (a perfect, perfectly mounted sensor)."""
        return cls(
            shock=False,
            gyro_noise_deg_s=0.0,
            accel_noise_m_s2=0.0,
            gyro_bias_sd_deg_s=0.0,
            accel_bias_sd_m_s2=0.0,
            misalignment_sd_deg=0.0,
            off_sagittal=False,
            gyro_range_deg_s=np.inf,
            accel_range_m_s2=np.inf,
        )


def shock_m_s2(time_s: np.ndarray, force_n: np.ndarray, body_mass_kg: float) -> np.ndarray:
    """The foot-and-shank shock (lab frame, m/s², (n, 3)) of one foot's ground reaction
    `force_n` ((n, 3): lateral, anterior, up) sampled at `time_s` (uniform)."""
    rate_hz = 1.0 / float(np.median(np.diff(time_s)))
    sos = butter(2, 20.0 / (rate_hz / 2), "high", output="sos")
    transient = sosfilt(sos, force_n, axis=0)
    return transient / (SEGMENT_MASS_SHARE * body_mass_kg)


def ring(time_s: np.ndarray, x: np.ndarray, hz: float, damping: float) -> np.ndarray:
    """`x` through a 2nd-order resonance of unit static gain (skin and strap)."""
    rate_hz = 1.0 / float(np.median(np.diff(time_s)))
    w = 2 * np.pi * hz
    # Bilinear transform of w² / (s² + 2ζws + w²), prewarped at the resonance.
    k = w / np.tan(w / (2 * rate_hz))
    a0 = k * k + 2 * damping * w * k + w * w
    b = np.array([w * w, 2 * w * w, w * w]) / a0
    a = np.array([1.0, (2 * w * w - 2 * k * k) / a0, (k * k - 2 * damping * w * k + w * w) / a0])
    sos = np.concatenate([b, a])[None, :]
    return sosfilt(sos, x, axis=0)


def rotation(angles_deg: np.ndarray) -> np.ndarray:
    """Small rotation about x, then y, then z."""
    ax, ay, az = np.radians(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def wobble(time_s: np.ndarray, shock: np.ndarray, effects: SensorEffects):
    """(accelerometer's shock, gyro's ringing about y) of a shank shock in the segment
    frame: the shock through the skin's resonance, and the sensor's rotation as it
    lags the bone (the resonance's own part, response - input)."""
    rung = ring(time_s, shock, effects.ring_hz, effects.ring_damping)
    return rung, effects.gyro_ring_deg_s_per_m_s2 * (rung[:, 2] - shock[:, 2])


def off_sagittal(gy_later: np.ndarray, gy_earlier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gx, gz) added by motion out of the sagittal plane, from the sagittal rate
    10 ms later (about x) and 25 ms earlier (about z)."""
    return 0.08 * gy_later, 0.15 * gy_earlier


class Mounting:
    """One sensor's fixed imperfections: misalignment and bias, drawn once."""

    def __init__(self, effects: SensorEffects, rng: np.random.Generator) -> None:
        self.effects = effects
        self.turn = rotation(rng.normal(0.0, effects.misalignment_sd_deg, 3))
        self.gyro_bias = rng.normal(0.0, effects.gyro_bias_sd_deg_s, 3)
        self.accel_bias = rng.normal(0.0, effects.accel_bias_sd_m_s2, 3)

    def read(self, gyro, accel, gyro_noise=None, accel_noise=None):
        """What the chip reports for the segment's (gyro, accel) at its mounting;
        noise given as unit-variance arrays (the simulator's are tables indexed by
        time, so that a signal is a pure function of time)."""
        e = self.effects
        gyro = gyro @ self.turn.T + self.gyro_bias
        accel = accel @ self.turn.T + self.accel_bias
        if gyro_noise is not None:
            gyro = gyro + e.gyro_noise_deg_s * gyro_noise
        if accel_noise is not None:
            accel = accel + e.accel_noise_m_s2 * accel_noise
        gyro = np.clip(gyro, -e.gyro_range_deg_s, e.gyro_range_deg_s)
        accel = np.clip(accel, -e.accel_range_m_s2, e.accel_range_m_s2)
        return gyro, accel


def apply(
    time_s: np.ndarray,
    gyro_deg_s: np.ndarray,
    accel_m_s2: np.ndarray,
    effects: SensorEffects,
    rng: np.random.Generator,
    shock_in_segment_m_s2: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(gyro, accel) as the sensor reports them, from the segment's true motion in its
    own frame (uniform samples) and, for a shank, its shock in that frame."""
    gyro = np.array(gyro_deg_s, dtype=np.float64)
    accel = np.array(accel_m_s2, dtype=np.float64)
    if shock_in_segment_m_s2 is not None:
        shock_in_segment_m_s2 = np.array(shock_in_segment_m_s2, dtype=np.float64)
    if effects.filter_delay_s:
        late = time_s - effects.filter_delay_s
        for x in (gyro, accel, shock_in_segment_m_s2):
            if x is not None:
                for c in range(x.shape[1]):
                    x[:, c] = np.interp(late, time_s, x[:, c])
    if effects.off_sagittal:
        gy = gyro[:, 1]
        gx, gz = off_sagittal(
            np.interp(time_s + 0.010, time_s, gy), np.interp(time_s - 0.025, time_s, gy)
        )
        gyro[:, 0] += gx
        gyro[:, 2] += gz
    if effects.shock and shock_in_segment_m_s2 is not None:
        rung, ringing = wobble(time_s, shock_in_segment_m_s2, effects)
        accel += rung
        gyro[:, 1] += ringing
    mount = Mounting(effects, rng)
    n = len(time_s)
    return mount.read(gyro, accel, rng.standard_normal((n, 3)), rng.standard_normal((n, 3)))
