"""The simulated sprinter: realism against a real sprint, exact truth, faults, CLI."""

import json
import sys
from collections import Counter

import numpy as np
import pytest

from firmware_bridge.capture import error as CaptureError
from firmware_bridge.capture import read_capture, replay
from firmware_bridge.device import DeviceSession
from firmware_bridge.linksim import Faults
from firmware_bridge.simulator import Athlete, simulate_session, write_simulation
from firmware_bridge.simulator.athlete import plan_session, scenario_reps
from firmware_bridge.simulator.limbs import SegmentKinematics
from firmware_bridge.simulator.signals import ForceSource
from firmware_bridge.simulator.truth import read_truth
from tests.helpers import SHARED_DATA, needs_data

DORN = SHARED_DATA / "dorn2012"


def dorn_sprint_means() -> np.ndarray:
    """Mean contact, flight, peak Fz (BW), braking and propulsive impulse of JA1Gait35."""
    d = np.genfromtxt(DORN / "JA1Gait35_forces.csv", delimiter=",", names=True)
    fz = sum(d[c] for c in d.dtype.names if c.endswith("_fz_n"))
    fy = sum(d[c] for c in d.dtype.names if c.endswith("_fy_ap_n"))
    fs = 1.0 / np.median(np.diff(d["time_s"]))
    on = np.flatnonzero(np.diff((fz > 20).astype(int)))
    ics, tos = on[::2] + 1, on[1::2] + 1
    real = [(a, b) for a, b in zip(ics, tos, strict=True) if (b - a) / fs > 0.05]
    bw = 75.9 * 9.81
    rows = [
        (
            (b - a) / fs,
            fz[a:b].max() / bw,
            -fy[a:b][fy[a:b] < 0].sum() / fs,
            fy[a:b][fy[a:b] > 0].sum() / fs,
        )
        for a, b in real
    ]
    flights = [(real[i + 1][0] - real[i][1]) / fs for i in range(len(real) - 1)]
    r = np.mean(rows, axis=0)
    return np.array([r[0], np.mean(flights), r[1], r[2], r[3]])


@needs_data
def test_simulated_sprint_matches_the_real_one_within_15_percent():
    """JA1Gait35: about 9.5 m/s, 75.9 kg (Dorn, Schache & Pandy 2012)."""
    real = dorn_sprint_means()
    athlete = Athlete(body_mass_kg=75.9, height_m=1.80, mss_m_s=9.7)
    plan = plan_session(athlete, scenario_reps("aligned", 1), seed=3)
    s = plan.steps
    fs = 1500.0
    t = np.arange(0, plan.duration_s, 1 / fs)
    f = ForceSource(plan, np.ones(len(s), bool), noise=False).exact(t)
    at_speed = np.flatnonzero((np.abs(s.velocity_m_s - 9.5) < 0.3) & (s.phase == "sprint"))
    assert len(at_speed) >= 5
    rows = []
    for j in at_speed:
        m = (t >= s.ic_s[j]) & (t <= s.to_s[j])
        fy = f[m, 1]
        rows.append(
            (
                s.contact_s[j],
                s.ic_s[j + 1] - s.to_s[j],
                f[m, 2].max() / athlete.weight_n,
                -fy[fy < 0].sum() / fs,
                fy[fy > 0].sum() / fs,
            )
        )
    sim = np.mean(rows, axis=0)
    names = ["contact time", "flight time", "peak vertical force", "braking", "propulsive"]
    for name, a, b in zip(names, sim, real, strict=True):
        assert abs(a / b - 1) < 0.15, f"{name}: simulated {a:.3f}, recorded {b:.3f}"


def test_shank_swing_peak_near_1200_deg_s_at_sprint_speed():
    plan = plan_session(Athlete(mss_m_s=9.5), scenario_reps("aligned", 1), seed=1)
    s = plan.steps
    fast = np.flatnonzero((s.velocity_m_s > 9.2) & (s.foot == 0))
    t = np.arange(s.ic_s[fast[0]], s.ic_s[fast[-1]], 0.001)
    peak = SegmentKinematics(plan, 0, "shank").angular_velocity(t).max()
    assert 1000 < peak < 1400


def test_ground_truth_contacts_are_exact_to_one_sample():
    """Contacts found in the noiseless force, sampled at 1 kHz, are the truth's."""
    sim = simulate_session("aligned", 30.0, seed=5, rig="treadmill", noise=False)
    s = sim.plan.steps
    t = np.arange(0.0, 30.0, 0.001)
    source = next(m for m in sim.models if m.name == "treadmill").streams[0].source
    fz = source.exact(t)[:, 2]
    assert fz[100] == pytest.approx(sim.plan.athlete.weight_n)  # standing on it at first
    edges = np.flatnonzero(np.diff((fz > 0).astype(int))) + 1
    rises = t[edges[fz[edges] > 0]]
    falls = t[edges[fz[edges] == 0]]
    # Contacts with a flight before and after (not the push from standing, not walking).
    gap = s.ic_s[1:] - s.to_s[:-1]
    flight_before = np.r_[False, (gap > 0) & (gap < 0.5)]
    flight_after = np.r_[flight_before[1:], False]
    running = np.flatnonzero(flight_before & flight_after)
    assert len(running) > 50
    for j in running:
        ic = rises[np.argmin(np.abs(rises - s.ic_s[j]))]
        to = falls[np.argmin(np.abs(falls - s.to_s[j]))]
        assert 0 < ic - s.ic_s[j] <= 0.001
        assert 0 < to - s.to_s[j] <= 0.001


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    paths = []
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        sim = simulate_session("mixed", 12.0, seed=seed, rig="imu-speed")
        write_simulation(sim, tmp_path / f"{name}.cap")
        paths.append(tmp_path / f"{name}.cap")
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b and a != c
    truth = [p.with_name(p.name + ".truth.jsonl").read_text() for p in paths]
    assert truth[0] == truth[1] != truth[2]


def test_truth_labels_the_weak_link_of_every_rep_step(tmp_path):
    for scenario, limiter in (
        ("late-swing", "swing"),
        ("weak-push", "push"),
        ("unstable-torso", "torso"),
        ("aligned", None),
    ):
        sim = simulate_session(scenario, 25.0, seed=1, rig="imu")
        truth = write_simulation(sim, tmp_path / f"{scenario}.cap")
        steps = [r for r in read_truth(truth) if r["type"] == "step" and r["rep"]]
        assert len(steps) > 20
        assert {r["limiter"] for r in steps} == {limiter}
        assert {r["aligned"] for r in steps} == {limiter is None}


def test_jogging_walking_and_standing_have_no_rep_steps():
    for scenario in ("jog", "walk", "stand"):
        sim = simulate_session(scenario, 30.0, seed=2, rig="treadmill")
        assert not np.any(sim.plan.steps.rep > 0), scenario
    walk = simulate_session("walk", 30.0, seed=2).plan.steps
    assert np.all(
        walk.to_s[:-1][walk.phase[:-1] == "walk"] > walk.ic_s[1:][walk.phase[:-1] == "walk"]
    )


def test_runway_plates_see_only_some_steps_the_treadmill_all():
    runway = simulate_session("aligned", 25.0, seed=1, rig="runway")
    on = runway.plates >= 0
    assert 3 <= on.sum() < len(on) / 3
    assert set(runway.plates[on]) <= set(range(6))
    treadmill = simulate_session("aligned", 25.0, seed=1, rig="treadmill")
    assert np.all(treadmill.plates == 0)


def test_speed_sensor_shows_the_profile_and_the_step_ripple():
    sim = simulate_session("aligned", 20.0, seed=1, rig="imu-speed")
    speed = next(m for m in sim.models if m.name == "speed").streams[0].source
    rep = sim.plan.reps[0]
    t = np.arange(rep["start_s"], rep["decel_start_s"], 0.01)
    v = speed.exact(t)[:, 0]
    assert v[-1] == pytest.approx(9.5 * (1 - np.exp(-(t[-1] - t[0]) / 1.1)), abs=0.3)
    late = t > t[-1] - 1.0
    ripple = v[late] - np.convolve(v[late], np.ones(25) / 25, mode="same")
    assert 0.02 < np.std(ripple[15:-15]) < 0.5  # braking and pushing within each step


def test_wire_faults_are_injected_and_all_counted(tmp_path):
    sim = simulate_session("aligned", 20.0, seed=3, rig="imu")
    faults = Faults(
        corrupt_rate=0.01,
        drop_rate=0.01,
        duplicate_rate=0.01,
        reset_at=(8.0,),
        unplug=((12.0, 1.0),),
        devices=(0,),
    )
    write_simulation(sim, tmp_path / "f.cap", faults)
    sessions: list[DeviceSession] = []
    blocks, events = {}, []
    original = DeviceSession.__init__

    def spy(self, hello):
        original(self, hello)
        sessions.append(self)

    DeviceSession.__init__ = spy
    try:
        replay(
            tmp_path / "f.cap",
            lambda b: blocks.setdefault(b.device_name, []).append(b),
            events.append,
        )
    finally:
        DeviceSession.__init__ = original
    kinds = Counter(e.kind for e in events)
    assert kinds["disconnected"] == 1 and kinds["connected"] == 6  # 5 IMUs + a reconnect
    by_name = {s.name: s for s in sessions}
    hit = by_name["shank-left"]  # device 0: reset at 8 s, unplugged 12-13 s
    c = hit.stream_counters()[0]
    assert hit.resets == 2
    assert c.duplicates > 5 and c.lost_samples > 1000  # the second out, and dropped frames
    assert c.samples + c.lost_samples == pytest.approx(19_800, rel=0.02)
    for name, s in by_name.items():
        assert blocks[name][-1].time_s[-1] > 19.5, name  # every device streamed to the end
        if name != "shank-left":
            assert s.resets == 0 and s.stream_counters()[0].duplicates > 5


def test_a_file_that_is_not_a_capture_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(CaptureError, match="not a Stridesync wire capture"):
        read_capture(bad)


def test_cli_writes_capture_and_truth_and_rejects_bad_options(tmp_path):
    import subprocess

    out = tmp_path / "run.cap"
    cli = [sys.executable, "-m", "service.cli", "simulate"]
    done = subprocess.run(
        [*cli, "--scenario", "late-swing", "--duration", "10", "--seed", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    header, records = read_capture(out)
    assert header["scenario"] == "late-swing" and len(header["devices"]) == 8
    assert sum(1 for _ in records) > 1000
    first = json.loads((tmp_path / "run.cap.truth.jsonl").read_text().splitlines()[0])
    assert first["type"] == "session" and first["seed"] == 2
    for args, message in (
        (["--scenario", "sprint", "--out", "x"], "unknown scenario 'sprint'"),
        (["--rig", "moon", "--out", "x"], "unknown rig 'moon'"),
        (["--faults", "drop=3", "--out", "x"], "bad value for fault 'drop'"),
        (["--mass", "5", "--out", "x"], "athlete out of range"),
        (["--out", str(tmp_path / "no" / "such" / "dir.cap")], "No such file or directory"),
    ):
        bad = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2
        assert bad.stderr.startswith("stridesync: error: ") and message in bad.stderr
        assert "Traceback" not in bad.stderr
