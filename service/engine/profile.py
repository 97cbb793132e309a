"""Sprint acceleration and force-velocity profile from a speed trace.

Velocity: v(t) = MSS (1 - exp(-(t - t0) / tau)) for t >= t0, else 0, fitted by
least squares (Furusawa et al. 1927; Morin & Samozino's radar method), with
the start time t0 fitted too, since a speed sensor does not know when the
athlete started.

Force-velocity profile (Samozino et al. 2016, "A simple method for measuring
power, force, velocity properties, and mechanical effectiveness in sprint
running"), from the fitted model sampled at 100 Hz from t0 to the end of the
fitted data:

    a(t)     = MSS / tau * exp(-(t - t0) / tau)
    F_air(t) = 0.5 rho Af Cd v(t)^2,  Af = 0.2025 h^0.725 m^0.425 * 0.266,  Cd = 0.9,
               rho = 1.293 (P / 760) (273 / (273 + T)), P = 760 Torr, T = 20 C
    F_h(t)   = m a(t) + F_air(t)
    F0, V0   : intercept and -F0/slope of the linear regression of F_h on v
    Pmax     = F0 V0 / 4
    RF(t)    = F_h / sqrt(F_h^2 + (m g)^2)
    RFmax, DRF: RF at t0 + 0.3 s and the slope of RF on v for t >= t0 + 0.3 s

These are validated measures (Samozino et al. 2016 against force plates).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import least_squares

from firmware_bridge.physics import DRAG_COEFFICIENT, GRAVITY_M_S2

G = GRAVITY_M_S2  # the engine's one gravity (firmware_bridge/physics.py)
# No human runs faster (the fastest 10 m splits ever timed are ~12.4 m/s): a speed
# sample beyond it is a sensor glitch, never a sprint (the engine drops it).
MAX_SPEED_M_S = 15.0


def air_density(pressure_torr: float = 760.0, temperature_c: float = 20.0) -> float:
    return 1.293 * (pressure_torr / 760.0) * (273.0 / (273.0 + temperature_c))


def frontal_area_m2(body_mass_kg: float, height_m: float) -> float:
    return 0.2025 * height_m**0.725 * body_mass_kg**0.425 * 0.266


@dataclass(frozen=True)
class SprintProfile:
    mss_m_s: float
    tau_s: float
    t0_s: float
    f0_n: float
    v0_m_s: float
    pmax_w: float
    rf_max: float
    drf: float

    def as_dict(self) -> dict:
        return asdict(self)


def velocity_model(t: np.ndarray, mss: float, tau: float, t0: float) -> np.ndarray:
    return np.where(t > t0, mss * (1.0 - np.exp(-(t - t0) / tau)), 0.0)


def fit_velocity(t: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """Least-squares MSS, tau, t0 of a sprint's speed trace."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    lower = np.array([1.0, 0.1, t[0] - 5.0])
    upper = np.array([MAX_SPEED_M_S, 5.0, t[-1]])
    moving = np.flatnonzero(v > 0.2 * np.max(v))
    guess = np.array(
        [float(np.percentile(v, 99)), 1.0, float(t[moving[0]]) - 0.2 if len(moving) else t[0]]
    )
    # A start inside the bounds, whatever the trace holds (least_squares refuses one outside).
    guess = np.clip(guess, lower + 1e-6 * (upper - lower), upper - 1e-6 * (upper - lower))

    def residual(p):
        return velocity_model(t, *p) - v

    fit = least_squares(residual, guess, bounds=(lower, upper))
    mss, tau, t0 = fit.x
    return float(mss), float(tau), float(t0)


def force_velocity(
    mss: float, tau: float, t0: float, t_end: float, body_mass_kg: float, height_m: float
) -> dict:
    t = np.arange(0.0, max(t_end - t0, 1.0), 0.01)
    v = mss * (1.0 - np.exp(-t / tau))
    a = mss / tau * np.exp(-t / tau)
    k = 0.5 * air_density() * frontal_area_m2(body_mass_kg, height_m) * DRAG_COEFFICIENT
    f_h = body_mass_kg * a + k * v**2
    slope, f0 = np.polyfit(v, f_h, 1)
    v0 = -f0 / slope
    rf = f_h / np.sqrt(f_h**2 + (body_mass_kg * G) ** 2)
    late = t >= 0.3
    drf, _ = np.polyfit(v[late], rf[late], 1)
    return {
        "f0_n": float(f0),
        "v0_m_s": float(v0),
        "pmax_w": float(f0 * v0 / 4.0),
        "rf_max": float(rf[late][0]),
        "drf": float(drf),
    }


def sprint_profile(
    t: np.ndarray, v: np.ndarray, body_mass_kg: float, height_m: float
) -> SprintProfile | None:
    """The whole profile, or None when the trace is not a sprint (too short or too slow)."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    if len(t) < 10 or t[-1] - t[0] < 1.5 or np.percentile(v, 95) < 3.0:
        return None
    try:
        mss, tau, t0 = fit_velocity(t, v)
    except (ValueError, np.linalg.LinAlgError):  # a degenerate trace: no profile, no crash
        return None
    if not (math.isfinite(mss) and 0.1 < tau < 5.0):
        return None
    fv = force_velocity(mss, tau, t0, float(t[-1]), body_mass_kg, height_m)
    return SprintProfile(mss, tau, t0, **fv)


def sprint_window(t: np.ndarray, v: np.ndarray) -> slice:
    """The samples of a rep worth fitting: from 1 s before it moves to its top speed."""
    smooth = np.convolve(v, np.ones(5) / 5, mode="same")
    top = int(np.argmax(smooth))
    moving = np.flatnonzero(smooth[: top + 1] < 0.5)
    start_t = t[moving[-1]] - 1.0 if len(moving) else t[0]
    return slice(int(np.searchsorted(t, start_t)), top + 1)
