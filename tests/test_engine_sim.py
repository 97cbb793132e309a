"""The whole engine against the simulated sprinter's ground truth, through wire captures."""

import numpy as np
import pytest

from firmware_bridge.simulator import Athlete, simulate_session, write_simulation
from firmware_bridge.simulator.truth import read_truth
from service import recordings
from service.engine import AthleteInfo, Baseline, Engine, settled
from tests.simcases import classify
from tests.simcases import rechunk as _rechunk

ATHLETE = AthleteInfo(75.0, 1.80)


def session(tmp_path_factory, scenario, rig, seed, seconds=40.0):
    sim = simulate_session(scenario, seconds, seed=seed, rig=rig)
    cap = tmp_path_factory.mktemp(scenario) / "s.cap"
    truth = [r for r in read_truth(write_simulation(sim, cap)) if r["type"] == "step"]
    return list(recordings.blocks(cap, "wire")), truth


def run(blocks, baseline=None):
    engine = Engine(ATHLETE, baseline=baseline)
    for b in blocks:  # the rig is known before its samples come, as from the devices' hellos
        engine.expect(b.device_id, b.stream)
    events = []
    for b in blocks:
        events += engine.feed(b)
    events = settled(events + engine.finish())
    return [e for e in events if e["type"] == "step"], [e for e in events if e["type"] == "rep"]


def match(steps, truth_step, within=0.02):
    k = min(range(len(steps)), key=lambda i: abs(steps[i]["ic_time_s"] - truth_step["ic_time_s"]))
    return steps[k] if abs(steps[k]["ic_time_s"] - truth_step["ic_time_s"]) < within else None


def sprint_steps(truth):
    """Steps a detector can find: the sprint (not the push from standing, not slowing down)."""
    return [t for t in truth if t["phase"] == "sprint"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    blocks, _ = session(tmp_path_factory, "aligned", "standard", seed=101, seconds=60.0)
    steps, _ = run(blocks)
    return Baseline.from_steps(steps)


@pytest.fixture(scope="module")
def imu_only(tmp_path_factory):
    return session(tmp_path_factory, "aligned", "imu-speed", seed=21, seconds=60.0)


def test_shank_events_match_truth(imu_only):
    blocks, truth = imu_only
    steps, _ = run(blocks)
    want = sprint_steps(truth)
    found = [(t, match(steps, t)) for t in want]
    hit = [(t, s) for t, s in found if s is not None]
    assert len(hit) >= 0.99 * len(want)
    assert all(s["source"] == "imu" and s["foot"] == t["foot"] for t, s in hit)
    top = [(t, s) for t, s in hit if t["velocity_m_s"] > 0.9 * 9.5]
    first5 = [(t, s) for t, s in hit if t["velocity_m_s"] < 0.75 * 9.5][:15]
    # The simulator stretches real strides (firmware_bridge/simulator/limbs.py) onto its
    # planned ones, which moves their features by a few ms, most in the first steps
    # (a top-speed stride stretched onto an accelerating one: no real acceleration
    # kinematics to take them from). The validated figures are the real kinematics'
    # (test_imu_real.py, docs/validation.md).
    for group, bias, limit in ((top, 0.003, 0.010), (first5, 0.005, 0.015)):
        for key in ("ic_time_s", "to_time_s"):
            err = np.array([s[key] - t[key] for t, s in group])
            assert abs(err.mean()) < bias, key
            assert abs(err.mean()) + 1.96 * err.std() < limit, key  # 95 % limits of agreement


def test_no_steps_while_standing_walking_or_jogging(tmp_path_factory, imu_only):
    blocks, truth = imu_only
    steps, _ = run(blocks)
    between = [t for t in truth if not t["rep"]]
    assert len(between) > 20
    assert [t for t in between if match(steps, t)] == []
    for scenario in ("jog", "walk", "stand"):
        blocks, _ = session(tmp_path_factory, scenario, "standard", seed=5, seconds=30.0)
        assert run(blocks)[0] == [], scenario


def test_the_verdict_as_a_classifier():
    """One athlete with a baseline learnt from an aligned session of theirs, each
    scenario twice: every sprint step after a rep's first three judged against the
    scenario's weak link; the samples as a perfect link gives them (the link is
    tested on its own). (The matrix over athletes and seeds, through the simulated
    link: `python -m bench verdict`, docs/scoring.md.)"""
    # Two sessions a scenario (~90 judged steps of each): one of ~45 steps cannot tell
    # the matrix's ~3 % false alarm from the 5 % bound (3 calls in 45 is 6.7 %).
    r = classify([Athlete()], seeds=(1, 2), wire=False)
    print(r)
    assert r["false_alarm"] <= 0.05  # an aligned athlete is told so
    for link in ("push", "swing", "torso"):
        assert r[f"{link}_recall"] >= 0.90, link  # a weak link is named ...
        assert r[f"{link}_precision"] >= 0.90, link  # ... and only when it is weak
    assert r["max_limiter_changes_per_rep"] <= 2


def test_aligned_scores_sit_at_baseline(tmp_path_factory, baseline):
    blocks, _ = session(tmp_path_factory, "aligned", "standard", seed=202)
    steps, _ = run(blocks, baseline)
    judged = [s for s in steps if s["aligned"] is not None]
    for key in ("push_score", "swing_score", "torso_score"):
        assert np.median([s[key] for s in judged]) == pytest.approx(1.0, abs=0.1), key
    # No verdict in a rep's first steps (from a standing start), one after them.
    assert all(s["aligned"] is None for s in steps if s["system_score"] is None)


def test_plates_win_the_timing_and_the_imu_error_is_recorded(tmp_path_factory):
    blocks, truth = session(tmp_path_factory, "aligned", "standard", seed=8, seconds=30.0)
    steps, _ = run(blocks)
    fused = [s for s in steps if s["source"] == "fused"]
    assert fused  # the two plates saw some steps
    for s in fused:
        t = match(truth, s)
        assert abs(s["ic_time_s"] - t["ic_time_s"]) <= 0.001  # the plate's timing ...
        assert abs(s["imu_ic_error_s"]) < 0.010 and abs(s["imu_to_error_s"]) < 0.010
        assert s["braking_impulse_ns"] < 0 < s["propulsive_impulse_ns"]


def test_interleaved_streams_in_any_block_sizes_give_the_same_steps(tmp_path_factory):
    blocks, _ = session(tmp_path_factory, "mixed", "standard", seed=9, seconds=20.0)
    reference = run(blocks)
    assert len(reference[0]) > 10
    for seconds in (0.007, 0.064, 1.0, 25.0):
        assert run(_rechunk(blocks, seconds)) == reference, seconds


def test_a_ticks_blocks_at_once_give_the_same_events_as_one_at_a_time(tmp_path_factory):
    """Engine.feed_many, as the live service feeds a tick's blocks (issue 28), gives
    every event Engine.feed gives block by block, the provisional and the retracted
    ones too, in the same order, whatever the tick."""
    blocks, _ = session(tmp_path_factory, "mixed", "standard", seed=9, seconds=20.0)

    def events(groups):
        engine = Engine(ATHLETE)
        for b in blocks:
            engine.expect(b.device_id, b.stream)
        out = []
        for group in groups:
            out += engine.feed_many(group)
        return out + engine.finish()

    one = events([[b] for b in blocks])
    assert sum(e["type"] == "step" for e in one) > 10
    for tick_s in (0.005, 0.01, 0.02, 0.1):
        ticks: dict[int, list] = {}
        for b in blocks:  # each block in the tick its newest sample falls in
            ticks.setdefault(int(b.time_s[-1] // tick_s), []).append(b)
        assert events(list(ticks.values())) == one, tick_s


def test_a_missing_sensor_leaves_its_score_empty_and_the_rest_working(tmp_path_factory):
    blocks, _ = session(tmp_path_factory, "aligned", "standard", seed=12, seconds=30.0)
    no_trunk = [b for b in blocks if b.device_name != "trunk"]
    steps, _ = run(no_trunk)
    assert steps and all(s["torso_score"] is None for s in steps)
    assert all(s["push_score"] is not None and s["swing_score"] is not None for s in steps)
    dead = []
    for b in blocks:  # the left shank's gyro dies: NaN from the start
        if b.device_name == "shank-left":
            b = type(b)(
                b.device_id,
                b.device_name,
                b.stream,
                b.first_sample,
                b.time_s,
                np.full_like(b.values, np.nan),
            )
        dead.append(b)
    steps, _ = run(dead)
    assert steps and {s["foot"] for s in steps if s["source"] != "force"} == {"right"}
