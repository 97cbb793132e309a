"""Is the training working? Splits from real speed traces against independent
references, the typical error and smallest worthwhile change against hand
calculation, and a change flagged only where it is real (issue 18's core)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy.optimize import brentq

from service.analysis import (
    assess_change,
    smallest_worthwhile_change,
    splits_from_speed,
    typical_error,
)
from service.engine.profile import sprint_profile, velocity_model
from tests.helpers import SHARED_DATA, needs_data

SHORTS = SHARED_DATA / "shorts"


def _trace(name: str, velocity: str = "velocity"):
    with open(SHORTS / name, encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    cols = {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}
    return cols["time"], cols[velocity], cols


@needs_data
def test_splits_match_the_laser_devices_own_distance():
    """DynaSpeed (1 kHz laser) records its distance beside the speed: the splits from
    our integral of its speed agree with the gates its own distance implies."""
    t, v, cols = _trace("dynaspeed.csv")
    ours = splits_from_speed(t, v, start_s=0.0)  # the device's distance is 0 at t = 0
    assert [s.to_m for s in ours] == [5.0, 10.0, 20.0, 30.0, 40.0]
    gates = [float(np.interp(s.to_m, cols["distance"], t)) for s in ours]
    assert [s.at_s for s in ours] == pytest.approx(gates, abs=0.015)  # s; 1080 shows 0.01 s
    assert sum(s.time_s for s in ours) == pytest.approx(ours[-1].at_s)


@needs_data
def test_splits_of_a_radar_trace_follow_its_fitted_model():
    """A 50 Hz radar trace (Morin's data): from the fitted start, the splits agree with
    the closed-form distance of the fitted model, d = MSS (t + tau e^(-t/tau) - tau)."""
    t, v, _ = _trace("jb-morin-data.csv")
    p = sprint_profile(t, v, 75.0, 1.72)
    ours = splits_from_speed(t, v, start_s=p.t0_s)
    assert [s.to_m for s in ours] == [5.0, 10.0, 20.0, 30.0]

    def model_at(mark):
        def dist(x):
            return p.mss_m_s * (x + p.tau_s * math.exp(-x / p.tau_s) - p.tau_s) - mark

        return brentq(dist, 1e-6, 30.0)

    assert [s.at_s for s in ours] == pytest.approx([model_at(s.to_m) for s in ours], abs=0.01)


def test_typical_error_and_swc_by_hand():
    # Sessions of 2 and 3 reps: variances 2 and 4 on 1 and 2 degrees of freedom.
    assert typical_error([[10, 12], [11, 13, 15]]) == pytest.approx(math.sqrt(10 / 3))
    assert typical_error([[10], [12]]) is None  # no repeated rep: no error to see
    assert smallest_worthwhile_change([10, 12, 14]) == pytest.approx(0.2 * 2.0)
    assert smallest_worthwhile_change([10]) is None
    c = assess_change([10, 11, 12], [14, 15, 16], te=1.0, swc=0.5, confidence=0.90)
    half = 1.6448536 * math.sqrt(2 / 3)
    assert (c.change, c.lower, c.upper) == pytest.approx((4.0, 4.0 - half, 4.0 + half))
    assert c.flagged and c.direction == "up"
    small = assess_change([10, 11, 12], [10.5, 11.5, 12.5], te=1.0, swc=0.5)
    assert not small.flagged and small.direction == "unclear"


def _weeks_of_f0(rng, tau_by_week, reps=4, mass=75.0, height=1.8, mss=9.5):
    """Each week's reps: a 50 Hz radar trace of the model, with the athlete's
    rep-to-rep variation (tau SD 1.5 %) and the radar's noise (0.1 m/s), profiled."""
    t = np.arange(-1.0, 6.0, 0.02)
    weeks = []
    for tau in tau_by_week:
        f0 = []
        for _ in range(reps):
            v = velocity_model(t, mss, tau * (1 + 0.015 * rng.standard_normal()), 0.0)
            p = sprint_profile(t, v + 0.1 * rng.standard_normal(len(t)), mass, height)
            f0.append(p.f0_n)
        weeks.append(f0)
    return weeks


def test_a_rising_f0_is_flagged_and_a_steady_one_is_not():
    rng = np.random.default_rng(7)
    rising = _weeks_of_f0(rng, np.linspace(1.20, 1.08, 6))  # F0 +11 % over six weeks
    steady = _weeks_of_f0(rng, [1.15] * 6)
    squad = [_weeks_of_f0(rng, [tau]) for tau in (1.0, 1.1, 1.25, 1.3, 1.4)]
    means = [np.mean(np.concatenate(w)) for w in (rising, steady, *squad)]
    swc = smallest_worthwhile_change(means)
    for weeks, flagged in ((rising, True), (steady, False)):
        te = typical_error(weeks)
        assert 0 < te < swc  # the measure can see a worthwhile change
        c = assess_change(weeks[0] + weeks[1], weeks[4] + weeks[5], te, swc)
        assert c.flagged is flagged, c
    up = assess_change(rising[0] + rising[1], rising[4] + rising[5], typical_error(rising), swc)
    assert up.direction == "up" and up.change == pytest.approx(0.085 * up.before, rel=0.25)


def test_like_with_like_by_the_kind_of_rep():
    """A rep's kind is the last mark before it; a trend of one kind uses only those reps
    (every athlete's, for the SWC)."""
    from datetime import UTC, datetime, timedelta

    from service.analysis.trends import RepRow, athlete_trend, rep_kind

    marks = [(10.0, "block start"), (50.0, "flying 30")]
    assert rep_kind({"start_s": 5.0}, marks) is None
    assert rep_kind({"start_s": 20.0}, marks) == "block start"
    assert rep_kind({"start_s": 60.0}, marks) == "flying 30"
    day = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        RepRow(a, 10 * a + w, day + timedelta(weeks=w), 70.0, {"mss_m_s": mss + w * step}, kind)
        for a, step in ((1, 0.1), (2, 0.0))
        for w in range(4)
        for mss, kind in ((8.0, "block start"), (8.05, "block start"), (9.5, "flying 30"))
    ]
    block = athlete_trend(rows, 1, "mss_m_s", kind="Block Start")
    assert [s["typical"] for s in block["sessions"]] == pytest.approx([8.025, 8.125, 8.225, 8.325])
    assert block["kind"] == "Block Start" and block["typical_error"] == pytest.approx(0.05 / 2**0.5)
    every = athlete_trend(rows, 1, "mss_m_s")
    assert every["sessions"][0]["best"] == 9.5  # the flying reps are faster: not like with like


def test_contact_time_compared_at_matched_speed():
    from service.analysis.trends import contact_at_speed

    steps = [
        {"contact_time_s": 0.150, "velocity_m_s": 6.0},  # accelerating: longer contacts
        {"contact_time_s": 0.110, "velocity_m_s": 7.9},
        {"contact_time_s": 0.108, "velocity_m_s": 8.2},
        {"contact_time_s": 0.100, "velocity_m_s": 9.4},
        {"contact_time_s": None, "velocity_m_s": 8.0},
        {"contact_time_s": 0.120, "velocity_m_s": None},
    ]
    assert contact_at_speed(steps, 8.0) == pytest.approx(0.109)
    assert contact_at_speed(steps, 11.0) is None


def test_a_card_without_a_speed_sensor_splits_by_step_lengths():
    """No speed sensor: the splits come from the steps' lengths (distance at each
    contact), and the card says so; phases and feet still add up."""
    from service.analysis.repcard import rep_card

    # Two metres a step, a step every 0.25 s: 8 m/s from the first contact.
    steps = [
        {"ic_time_s": 10.0 + 0.25 * i, "step_length_m": 2.0, "foot": "left" if i % 2 else "right",
         "contact_time_s": 0.11, "flight_time_s": 0.13, "velocity_m_s": 8.0, "aligned": True}
        for i in range(20)
    ]  # fmt: skip
    rep = {"rep": 1, "mss_m_s": None}
    card = rep_card(rep, steps, None, 70.0, 1.75)
    assert card["splits_from"] == "step lengths" and card["velocity"] is None
    assert [(s["to_m"], s["at_s"]) for s in card["splits"]] == pytest.approx(
        [(5.0, 0.625), (10.0, 1.25), (20.0, 2.5), (30.0, 3.75)]
    )
    assert card["feet"]["left"]["steps"] + card["feet"]["right"]["steps"] == 20
    assert card["verdict"]["aligned"] == 20 and card["phases"]["acceleration"] is None
