"""Force edge cases seen on real treadmill recordings (issue 14, item 7), as synthetic
signals of the same shape: a file that starts or ends mid-stance, a zero that drifts
while the force hangs at 10-13 N at toe-off, a treadmill whose flight phase reads
tens of newtons."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from service.engine.force import ForceContactDetector, ForceDetectorConfig

RATE_HZ = 1000.0
DT = 1.0 / RATE_HZ


def running(contacts: list[tuple[float, float]], t: np.ndarray, peak_n: float = 1800.0):
    """Vertical force of these (IC, TO) contacts: a half sine each, 0 in flight."""
    fz = np.zeros_like(t)
    for ic, to in contacts:
        inside = (t >= ic) & (t < to)
        fz[inside] = peak_n * np.sin(np.pi * (t[inside] - ic) / (to - ic))
    return fz


def detect(t, fz, fy=None):
    det = ForceContactDetector("test", RATE_HZ, ForceDetectorConfig())
    return det, det.feed(t, fy, fz)


def steady(n: int, first_ic: float = 0.3, tc: float = 0.12, step: float = 0.23):
    return [(first_ic + k * step, first_ic + k * step + tc) for k in range(n)]


def test_a_file_that_starts_mid_stance_gives_no_step_for_that_contact():
    t = np.arange(0.0, 1.5, DT)
    contacts = [(-0.06, 0.06), *steady(5)]  # the file begins half-way through a contact
    _, found = detect(t, running(contacts, t))
    assert len(found) == 5
    assert found[0].ic_s == pytest.approx(0.3, abs=DT)


def test_a_file_that_ends_mid_stance_gives_no_step_for_that_contact():
    t = np.arange(0.0, 1.5, DT)
    contacts = [*steady(5), (1.45, 1.57)]  # cut 50 ms into the last contact
    _, found = detect(t, running(contacts, t))
    assert [round(c.ic_s, 2) for c in found] == [0.3, 0.53, 0.76, 0.99, 1.22]


def hanging(contacts, t, hang_n: float = 12.0, hang_s: float = 0.02, settle_s: float = 0.04):
    """Contacts whose force lingers at 11-13 N for the last `hang_s` before toe-off (a
    forefoot leaving a treadmill belt), then settles from 8 N to 0 over `settle_s`
    (the belt and frame ringing down): below the off threshold, but not the zero."""
    fz = running([(ic, to - hang_s) for ic, to in contacts], t)
    for ic, to in contacts:
        hang = (t >= to - hang_s) & (t < to)
        fz[hang] = hang_n + 1.0 * np.sin(2 * np.pi * (t[hang] - ic) * 40)
        settle = (t >= to) & (t < to + settle_s)
        fz[settle] = 8.0 * (1.0 - (t[settle] - to) / settle_s)
    return fz


def test_the_zero_never_moves_a_threshold_by_more_than_1_n_around_a_contact():
    """The plate's zero drifts ±1.5 N (temperature, a cable) while the athlete runs;
    a contact whose force hangs at 11-13 N, just above the 10 N off-threshold, must
    still end where the force falls below 10 N above the true zero (here: at its
    end), not where a zero that crept puts the threshold."""
    t = np.arange(0.0, 8.0, DT)
    contacts = steady(30, first_ic=0.5, tc=0.14, step=0.25)
    drift = 1.5 * np.sin(2 * np.pi * 0.05 * t)
    fz = hanging(contacts, t) + drift + np.random.default_rng(3).normal(0.0, 0.3, len(t))
    det = ForceContactDetector("test", RATE_HZ, ForceDetectorConfig())
    found, zero_at = [], []
    edges = sorted({0.0, *(e for c in contacts for e in c), t[-1] + DT})
    for a, b in itertools.pairwise(edges):  # fed edge to edge: the zero seen at each
        part = (t >= a) & (t < b)
        found += det.feed(t[part], None, fz[part])
        zero_at.append((b, det.tare_z))
    zero = dict(zero_at)
    for ic, to in contacts:  # unchanged from foot strike to toe-off
        assert abs(zero[to] - zero[ic]) <= 1.0
    assert len(found) == len(contacts)
    err = np.array([c.to_s - to for c, (_, to) in zip(found, contacts, strict=True)])
    assert np.abs(err).max() <= 2 * DT, err
    assert abs(det.tare_z - drift[-1]) < 0.5  # and it follows the drift between contacts


def test_a_treadmill_whose_flight_reads_tens_of_newtons_is_tared_not_merged():
    t = np.arange(0.0, 6.0, DT)
    contacts = steady(24, first_ic=0.2, tc=0.16, step=0.24)
    fz = running(contacts, t) + 22.0  # the belt's frame: 22 N even in flight
    det, found = detect(t, fz)
    assert det.tare_z == pytest.approx(22.0, abs=1.0)
    assert all(c.contact_s < 0.2 for c in found)  # none merged into a 0.4 s "contact"
    # After the zero is learnt (a stride or two), every contact, with its length.
    later = [c for c in found if c.ic_s > 2.0]
    truth = [(ic, to) for ic, to in contacts if ic > 2.0]
    assert len(later) == len(truth)
    for c, (ic, to) in zip(later, truth, strict=True):
        # 20 N is crossed a little after a half-sine's start, 10 N a little before its end.
        assert c.ic_s == pytest.approx(ic, abs=0.002) and c.to_s == pytest.approx(to, abs=0.002)


def test_a_person_standing_on_the_plate_is_not_a_contact_and_not_tared_away():
    t = np.arange(0.0, 6.0, DT)
    fz = np.where(t < 3.0, 740.0, 0.0) + running(steady(8, first_ic=3.5), t)
    det, found = detect(t, fz)
    assert len(found) == 8 and found[0].ic_s == pytest.approx(3.5, abs=DT)
    assert det.tare_z == pytest.approx(0.0, abs=1.0)
