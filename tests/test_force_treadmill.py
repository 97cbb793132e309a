"""Force contacts on real and synthetic treadmills that vibrate between stances (issue 29).

bach2022 (../shared/data): a real instrumented treadmill at 142.857 Hz, the force under
one leg of a jogger; between stances the plate and belt vibrate around zero and dip to
-20...-47 N. Each trial's contacts are checked against a reference computed here, the
usual way gait-lab software does it offline: a zero-lag low-pass (2nd-order
Butterworth at 30 Hz, run forwards and backwards: no delay, the belt's vibration
mostly removed), the zero as the median of the force well away from any stance, then
the 20 N / 10 N hysteresis with each crossing interpolated between its two samples; a
stance of at least 30 ms that reaches 0.2 body weights is a contact (a foot carries
the body; vibration does not), one cut by the file's start or end is not.

The synthetic treadmill is shaped like recordings from other labs that we do not
have: 500 Hz, flight phases of 40-160 ms, the flight vibrating and dipping to
-0.06 body weights, uphill and downhill force shapes, a zero that drifts.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, filtfilt

from service.engine.force import ForceContactDetector, ForceDetectorConfig
from tests.helpers import SHARED_DATA, needs_data

BACH = SHARED_DATA / "bach2022"
TRIALS = ("run01", "run02", "run07", "run08", "run09", "run13", "run15")


def _bach(name: str):
    """(time, vertical force, body mass) of a trial."""
    path = BACH / f"{name}.csv"
    head = path.read_text().splitlines()[0]
    mass_kg = float(head.split(" kg")[0].rsplit(",", 1)[1])
    d = np.genfromtxt(path, delimiter=",", skip_header=2)
    return d[:, 0], d[:, 4], mass_kg


def reference_contacts(t, fz, weight_n: float) -> list[tuple[float, float]]:
    """(IC, TO) by the offline method in the module's notes."""
    fs = 1.0 / np.median(np.diff(t))
    b, a = butter(2, 30.0 / (fs / 2))
    f = filtfilt(b, a, fz)
    quiet = np.convolve((f < 50.0).astype(int), np.ones(15, int), "same") == 15
    f = f - np.median(f[quiet])
    out, start = [], None
    for i in range(1, len(f)):
        if start is None and f[i] >= 20.0:
            start = i
        elif start is not None and f[i] < 10.0:
            ic = t[start - 1] + (20.0 - f[start - 1]) / (f[start] - f[start - 1]) / fs
            to = t[i - 1] + (f[i - 1] - 10.0) / (f[i - 1] - f[i]) / fs
            if start > 1 and to - ic >= 0.03 and f[start:i].max() >= 0.2 * weight_n:
                out.append((ic, to))
            start = None
    return out


def detect(t, fz, block: int = 10):
    det = ForceContactDetector("treadmill", 1.0 / np.median(np.diff(t)), ForceDetectorConfig())
    found = []
    for i in range(0, len(t), block):
        found += det.feed(t[i : i + block], None, fz[i : i + block])
    return det, found


def compare(found, reference, dt: float):
    """Missed reference contacts, extra found ones, and the IC and TO errors in samples."""
    ics = np.array([c.ic_s for c in found])
    used, ic_err, to_err, missed = set(), [], [], 0
    for ic, to in reference:
        k = int(np.argmin(np.abs(ics - ic))) if len(ics) else -1
        if k < 0 or abs(ics[k] - ic) > 0.05:
            missed += 1
            continue
        used.add(k)
        ic_err.append((found[k].ic_s - ic) / dt)
        to_err.append((found[k].to_s - to) / dt)
    return missed, len(found) - len(used), np.array(ic_err), np.array(to_err)


@needs_data
@pytest.mark.parametrize("name", TRIALS)
def test_every_bach2022_contact_found_once_and_on_time(name):
    t, fz, mass_kg = _bach(name)
    det, found = detect(t, fz)
    reference = reference_contacts(t, fz, mass_kg * 9.81)
    missed, extra, ic_err, to_err = compare(found, reference, t[1] - t[0])
    assert len(reference) >= 7
    assert (missed, extra) == (0, 0), (missed, extra)
    for err in (ic_err, to_err):  # in samples of 7 ms
        assert np.mean(np.abs(err) <= 2.0) >= 0.95, err
        assert np.abs(err).max() <= 3.0, err
    # The zero is the flight's level, a few newtons at most from the reference's.
    assert abs(det.tare_z) < 10.0


def synthetic_treadmill(seed: int, slope: float, rate_hz: float = 500.0, seconds: float = 30.0):
    """A runner on a vibrating treadmill: (t, fz, truth [(IC, TO)], weight)."""
    rng = np.random.default_rng(seed)
    weight_n = rng.uniform(550.0, 950.0)
    t = np.arange(0.0, seconds, 1.0 / rate_hz)
    fz = np.zeros_like(t)
    truth, at = [], 0.3
    while at < seconds - 0.6:
        contact_s = rng.uniform(0.17, 0.28)
        inside = (t >= at) & (t < at + contact_s)
        phase = (t[inside] - at) / contact_s
        # Uphill the push is later, downhill the landing harder (slope: -0.1...+0.1).
        shape = np.sin(np.pi * phase) * (1.0 + 4.0 * slope * (phase - 0.5))
        fz[inside] = rng.uniform(2.2, 2.8) * weight_n * np.clip(shape, 0.0, None)
        truth.append((at, at + contact_s))
        at += contact_s + rng.uniform(0.04, 0.16)  # the flight
    # Between stances the plate and belt ring (25-40 Hz, +-8 N: below the off threshold,
    # as on bach2022's treadmill) and dip to -0.03...-0.06 BW for 12 ms at a time; the
    # zero drifts by a few newtons; the amplifier's noise.
    f_ring = rng.uniform(25.0, 40.0)
    ring = 8.0 * np.sin(2 * np.pi * f_ring * t + rng.uniform(0, 6.3))
    dips = np.zeros_like(t)
    for k in rng.integers(0, len(t), int(seconds * 3)):
        dips[k : k + int(0.012 * rate_hz)] -= rng.uniform(0.03, 0.06) * weight_n
    flight = fz == 0.0
    fz = fz + flight * (ring + dips) + 3.0 * np.sin(2 * np.pi * t / seconds)
    fz += rng.normal(0.0, 2.0, len(t))
    return t, fz, truth, weight_n


@pytest.mark.parametrize("slope", (-0.1, 0.0, 0.1))
@pytest.mark.parametrize("seed", (1, 2))
def test_a_vibrating_treadmill_gives_every_contact_and_no_other(seed, slope):
    t, fz, truth, _ = synthetic_treadmill(seed, slope)
    det, found = detect(t, fz)
    dt = t[1] - t[0]
    missed, extra, ic_err, to_err = compare(found, truth, dt)
    assert (missed, extra) == (0, 0), (missed, extra, det.glitches)
    # The truth is where the force leaves zero: the detector follows the edge's slope
    # back to zero force from its threshold sample.
    assert np.abs(ic_err).max() <= 2.0, ic_err
    # After toe-off the ringing plate (+8 N) with its noise can stay above the 10 N off
    # threshold for up to a third of a 25 Hz period: no toe-off is later than that, and
    # they are not late on average.
    assert abs(to_err.mean() * dt) < 1.5e-3 and to_err.max() * dt <= 13e-3, to_err
