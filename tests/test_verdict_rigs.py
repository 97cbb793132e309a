"""The light from the first session and on every rig (issue 30; docs/scoring.md).

One athlete and one seed per rig, on a perfect link (the link is tested on its own),
so that each figure of `python -m bench verdict`'s matrix is kept from regressing;
the matrix over athletes and seeds stays a benchmark. Unit cases of the scorer
below: a missing speed is not 0 m/s, slowing down is no weakness, learning ends."""

from __future__ import annotations

from collections import Counter

import pytest

from firmware_bridge.simulator import Athlete
from service.engine import AthleteInfo, Baseline, Engine, Scorer, settled
from service.engine.scoring import torso_score
from tests.simcases import LINKS, classify, judged, session, steps_of

pytestmark = pytest.mark.timeout(600)

# What each rig can judge: push needs the ratio of force (a plate's horizontal force,
# or a speed sensor's acceleration), swing both shanks, torso the trunk IMU.
RIG_LINKS = {
    "standard": "push swing torso",
    "runway": "push swing torso",
    "treadmill": "push swing torso",
    "imu": "swing torso",
    "imu-speed": "push swing torso",
}


def _verdicts(steps) -> list[str]:
    return [v for rep in judged(steps) for v in rep]


@pytest.mark.parametrize("rig", RIG_LINKS)
def test_the_first_session_names_no_link_on_an_aligned_athlete(rig):
    steps = steps_of("aligned", Athlete(), 3, None, rig, wire=False)
    verdicts = _verdicts(steps)
    named = [v for v in verdicts if v in LINKS]
    assert len(verdicts) >= 30 and len(named) <= 0.05 * len(verdicts), (rig, named)
    # Learning ends with the first rep: the next are judged on a provisional baseline,
    # on the links this rig measures.
    by_rep = {r: [s for s in steps if s["rep"] == r] for r in {s["rep"] for s in steps}}
    assert any(s["verdict"] == "learning" for s in by_rep[1])
    later = [s for r, rep in by_rep.items() if r > 1 for s in rep]
    assert later and all(s["baseline_state"] == "provisional" for s in later)
    judged_on = Counter(s["judged_links"] for s in later if s["verdict"] in ("aligned", "limited"))
    assert judged_on.most_common(1)[0][0] == RIG_LINKS[rig], judged_on
    # (a plate's step with no shank on it has no foot, so no other leg's swing)
    assert all(set(j.split()) <= set(RIG_LINKS[rig].split()) for j in judged_on), judged_on
    assert sum(v == "aligned" for v in verdicts) >= 0.5 * len(verdicts)  # not learning forever


@pytest.mark.parametrize("rig", RIG_LINKS)
def test_with_a_learnt_baseline_an_aligned_athlete_is_aligned(rig):
    normal = steps_of("aligned", Athlete(), 103, None, rig, wire=False)
    baseline = Baseline.from_steps([s for s in normal if s["rep"]])
    verdicts = _verdicts(steps_of("aligned", Athlete(), 3, baseline, rig, wire=False))
    assert verdicts.count("aligned") >= 0.95 * len(verdicts), (rig, verdicts)


def test_with_no_baseline_a_named_link_is_the_weak_one():
    """Precision with no baseline, across the weak scenarios of one athlete on the IMU
    rig (the one a coach without plates owns): what is named is right, or nothing is."""
    r = classify([Athlete()], seeds=(1,), rig="imu", wire=False, learnt=False)
    assert r["named_on_aligned"] <= 0.05, r
    for link in ("swing", "torso"):
        assert r[f"{link}_precision"] is None or r[f"{link}_precision"] >= 0.90, (link, r)


def test_a_shank_unplugged_mid_rep_is_a_missing_swing_not_a_late_one():
    """The left shank's samples stop for 4 s in the middle of a sprint and come back:
    the right foot's steps then have no swing lag (the other leg unseen), say so, and
    the light names no swing from it (it named SWING, and cued "swing late")."""
    athlete = Athlete()
    normal = steps_of("aligned", athlete, 103, None, "standard", wire=False)
    baseline = Baseline.from_steps([s for s in normal if s["rep"]])
    blocks, truth = session("aligned", 45.0, 3, "standard", athlete, wire=False)
    sprint = [t["ic_time_s"] for t in truth if t["phase"] == "sprint"]
    t0 = blocks[0].time_s[0]
    out_from = sprint[len(sprint) // 4] + t0
    out_to = out_from + 4.0
    kept = [
        b
        for b in blocks
        if not (
            b.device_name == "shank-left" and b.time_s[-1] >= out_from and b.time_s[0] <= out_to
        )
    ]
    engine = Engine(AthleteInfo(athlete.body_mass_kg, athlete.height_m), baseline=baseline)
    for b in blocks:
        engine.expect(b.device_id, b.stream)
    events = settled([e for b in kept for e in engine.feed(b)] + engine.finish())
    steps = [dict(e) for e in events if e["type"] == "step"]
    missing = [s for s in steps if s["missing_measures"] and "swing_lag" in s["missing_measures"]]
    assert len(missing) >= 3, "the right foot's steps while the left shank was out"
    for s in missing:
        assert s["foot"] == "right" and s["swing_lag"] is None and s["swing_score"] is None
        assert out_from - 1.0 <= s["ic_time_s"] <= out_to + 1.0
        assert "swing" not in s["judged_links"]
    assert not any(s["limiter"] == "swing" for s in steps)
    assert sum(s["swing_score"] is not None for s in steps) >= 0.5 * len(steps)


def test_a_missing_speed_is_not_zero():
    """The population's trunk reference is a line in speed: with no speed sensor it
    has no value, and the torso no score (it was 5 deg/s, a trunk at 95: 0.05)."""
    assert Baseline().trunk_rate(None) is None
    assert torso_score(95.0, None, Baseline()) is None
    assert torso_score(95.0, 9.0, Baseline()) == pytest.approx(95.0 / 95.0)
    flat = Baseline(trunk_rate_at_zero_deg_s=95.0, trunk_rate_per_m_s=0.0, source="athlete")
    assert torso_score(95.0, None, flat) == pytest.approx(1.0)  # needs no speed


def _step(scorer: Scorer, lag: float, v: float = 8.0, slowing: bool = False) -> dict:
    return scorer.score(0.55 - 0.058 * v, v, lag, 10.0 + 10.0 * v, slowing=slowing)


def test_learning_then_provisional_and_slowing_is_no_weakness():
    scorer = Scorer()
    out = [_step(scorer, 0.70) for _ in range(15)]
    assert [o["verdict"] for o in out[:3]] == ["warming up"] * 3
    assert {o["verdict"] for o in out[3:]} == {"learning"}
    assert all(o["limiter"] is None and o["aligned"] is None for o in out)
    scorer.rep_ended()  # 12 steady steps: enough
    assert scorer.state == "provisional" and scorer.base.source == "provisional"
    scorer.reset()
    rep = [_step(scorer, 0.70) for _ in range(6)]
    assert rep[-1]["verdict"] == "aligned" and rep[-1]["judged_links"] == "push swing torso"
    late = [_step(scorer, 1.10) for _ in range(6)]  # a whole contact later than learnt
    assert late[-1]["limiter"] == "swing"
    slowing = _step(scorer, 1.10, v=6.0, slowing=True)
    assert slowing["verdict"] == "slowing" and slowing["limiter"] is None
    assert slowing["swing_score"] is not None  # measured, not judged


def test_too_short_a_rep_teaches_nothing_and_a_set_baseline_is_not_learnt_over():
    scorer = Scorer()
    for _ in range(3 + 5):
        _step(scorer, 0.70)
    scorer.rep_ended()
    assert scorer.state == "learning"
    # A candidate that was no sprint (reset by the next start) teaches nothing either:
    # its 8 steps and a rep of 10 are not the 12 of one rep.
    scorer.reset()
    for _ in range(3 + 8):
        _step(scorer, 0.70)
    scorer.reset()
    for _ in range(3 + 10):
        _step(scorer, 0.70)
    scorer.rep_ended()
    assert scorer.state == "learning"
    coach = Scorer(Baseline(source="athlete"))
    assert coach.state == "set"
    out = [_step(coach, 0.70) for _ in range(5)]
    assert out[-1]["verdict"] == "aligned"


def test_a_baseline_does_not_learn_from_a_walk_back():
    """Steps at or below walking speed (a treadmill's belt reversed, a walk back) do not
    tilt the lines: the ratio of force's line from a sprint's steps alone."""
    sprint = [
        {"velocity_m_s": v, "ratio_of_force": 0.55 - 0.058 * v, "swing_lag": 0.7}
        for v in (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 8.5, 9.0, 9.2, 9.4)
    ]
    walk = [{"velocity_m_s": -1.4, "ratio_of_force": -0.3, "swing_lag": 0.7}] * 4
    b = Baseline.from_steps(sprint + walk)
    assert b.rf_at_zero_m_s == pytest.approx(0.55, abs=1e-6)
    assert b.rf_per_m_s == pytest.approx(-0.058, abs=1e-6)
