"""The engine slice built so far: force contacts and step metrics, reps, sprint profile."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import curve_fit

from firmware_bridge.device import SampleBlock
from firmware_bridge.simulator import simulate_session
from firmware_bridge.streams import force_plate_stream
from service.engine import EXTRA_STEP_KEYS, STEP_KEYS, AthleteInfo, Engine, settled
from service.replay import replay_events
from tests.helpers import SHARED_DATA, needs_data

DORN = SHARED_DATA / "dorn2012"
SHORTS = SHARED_DATA / "shorts"


@pytest.mark.skipif(not os.environ.get("CI"), reason="CI only")
def test_the_real_recordings_are_beside_the_checkout_in_ci():
    assert DORN.is_dir() and SHORTS.is_dir(), f"no real recordings at {SHARED_DATA}"


def force_blocks(t, values, chunk):
    stream = force_plate_stream()
    return [
        SampleBlock(0, "plate", stream, i, t[i : i + chunk], values[i : i + chunk])
        for i in range(0, len(t), chunk)
    ]


def run(blocks, athlete=None):
    engine = Engine(athlete or AthleteInfo(75.0))
    events = []
    for b in blocks:
        events += engine.feed(b)
    return settled(events + engine.finish())


@pytest.fixture(scope="module")
def treadmill():
    """A noisy simulated force treadmill, sampled at 1 kHz (mixed scenario, 45 s)."""
    sim = simulate_session("mixed", 45.0, seed=7, rig="treadmill")
    src = next(m for m in sim.models if m.name == "treadmill").streams[0].source
    t = np.arange(0.0, 45.0, 0.001)
    return sim, t, src(t)


def test_output_is_the_same_whatever_the_block_size(treadmill):
    _, t, values = treadmill
    results = [run(force_blocks(t, values, n)) for n in (1, 7, 64, len(t))]
    assert len(results[0]) > 40
    for other in results[1:]:
        assert other == results[0]


def test_force_contacts_match_the_simulator_truth_to_one_sample(treadmill):
    sim, t, values = treadmill
    steps = [e for e in run(force_blocks(t, values, 64)) if e["type"] == "step"]
    s = sim.plan.steps
    gap = s.ic_s[1:] - s.to_s[:-1]
    flight_before = np.r_[False, (gap > 0) & (gap < 0.5)]
    flight_after = np.r_[flight_before[1:], False]
    # Sprint contacts a force signal can separate (the engine reports sprints only).
    truth = np.flatnonzero(flight_before & flight_after & (s.phase == "sprint"))
    found = np.array([e["ic_time_s"] for e in steps])
    assert len(truth) > 40
    for j in truth:
        k = np.argmin(np.abs(found - s.ic_s[j]))
        assert abs(found[k] - s.ic_s[j]) <= 0.001
        assert abs(steps[k]["to_time_s"] - s.to_s[j]) <= 0.001
    # Standing and walking on the treadmill are long loaded periods, never steps.
    assert all(e["contact_time_s"] < 0.4 for e in steps)


def test_step_lines_have_exactly_the_documented_keys(treadmill):
    _, t, values = treadmill
    step = next(e for e in run(force_blocks(t, values, 64)) if e["type"] == "step")
    assert tuple(step)[: len(STEP_KEYS)] == STEP_KEYS  # the documented keys, in order
    assert set(tuple(step)[len(STEP_KEYS) :]) == set(EXTRA_STEP_KEYS)
    assert step["source"] == "force" and step["model_version"]
    assert step["push_score"] is None and step["foot"] is None  # not measured from force alone


def test_events_carry_exactly_the_fields_of_their_one_definition(treadmill):
    from service import schemas
    from service.engine.events import REP_KEYS, STEP_FIELDS

    _, t, values = treadmill
    events = run(force_blocks(t, values, 64))
    reps = [e for e in events if e["type"] == "rep"]
    assert reps and all(tuple(r) == REP_KEYS for r in reps)
    step = next(e for e in events if e["type"] == "step")
    assert set(step) == {f.name for f in STEP_FIELDS}
    # The API's schema is the same definition, each field with its unit.
    props = schemas.StepOut.model_json_schema()["properties"]
    assert list(props) == [f.name for f in STEP_FIELDS]
    assert props["braking_impulse_ns"]["description"].endswith("[N·s]")
    schemas.StepOut.model_validate(step)
    schemas.RepOut.model_validate(reps[0])


def test_the_engines_events_are_frozen_and_typed_by_the_definition(treadmill):
    import dataclasses
    import typing

    from service.engine.events import REP_FIELDS, STEP_FIELDS, Rep, Step

    _, t, values = treadmill
    engine = Engine(AthleteInfo(75.0))
    events = [e for b in force_blocks(t, values, 64) for e in engine.feed(b)] + engine.finish()
    steps = [e for e in events if e["type"] == "step"]
    reps = [e for e in events if e["type"] == "rep"]
    assert steps and reps
    assert all(isinstance(s, Step) for s in steps) and all(isinstance(r, Rep) for r in reps)
    with pytest.raises(dataclasses.FrozenInstanceError):
        steps[0].ic_time_s = 0.0
    for event, fields in ((steps[-1], STEP_FIELDS), (reps[0], REP_FIELDS)):
        for f in fields:  # each value of the type the definition gives (None when optional)
            value = getattr(event, f.name)
            if value is None:
                assert f.optional, f.name
            elif typing.get_origin(f.type) is typing.Literal:
                assert value in typing.get_args(f.type), f.name
            else:
                assert isinstance(value, f.type), (f.name, value)
    # Read as a mapping, an event is its JSON form: settled() gives plain dicts.
    kept = settled(events)
    assert all(type(e) is dict for e in kept)
    assert kept[0] == {k: v for k, v in steps[0].items() if k != "provisional"}


def test_bad_samples_never_crash_and_a_dead_channel_gives_no_steps(treadmill):
    _, t, values = treadmill
    broken = values.copy()
    broken[::97, 2] = np.nan
    broken[5000:5100, 1] = np.inf
    assert run(force_blocks(t, broken, 64))  # steps still come
    dead = values.copy()
    dead[:, 2] = np.nan
    assert [e for e in run(force_blocks(t, dead, 64)) if e["type"] == "step"] == []


def offline_20n(path):
    d = np.genfromtxt(path, delimiter=",", names=True)
    fz = sum(d[c] for c in d.dtype.names if c.endswith("_fz_n"))
    edges = np.flatnonzero(np.diff((fz >= 20.0).astype(int))) + 1
    runs = [(d["time_s"][a], d["time_s"][b]) for a, b in zip(edges[::2], edges[1::2], strict=False)]
    return [r for r in runs if r[1] - r[0] > 0.03]  # single-sample blips at plate edges


@needs_data
@pytest.mark.parametrize("trial,contacts", [("JA1Gait35", 4), ("JA1Gait21", 5)])
def test_real_sprint_and_jog_every_contact_found_and_on_time(trial, contacts):
    steps = [
        e
        for e in replay_events(DORN / f"{trial}_forces.csv", AthleteInfo(75.9))
        if e["type"] == "step"
    ]
    reference = offline_20n(DORN / f"{trial}_forces.csv")
    assert len(steps) == len(reference) == contacts
    with open(DORN / f"{trial}_lab_events.csv") as f:
        lab = [(float(r["time_s"]), r["event"]) for r in csv.DictReader(f)]
    strikes = np.array([x for x, e in lab if e == "Foot Strike"])
    offs = np.array([x for x, e in lab if e == "Foot Off"])
    for step, (ic, to) in zip(steps, reference, strict=True):
        period = 1 / 1500 + 1e-6  # the CSV's times are rounded to the microsecond
        assert -period <= step["ic_time_s"] - ic <= 0  # within a sample of a plain 20 N threshold
        # TO: hysteresis (off at 10 N) ends a contact at or after the plain 20 N threshold,
        # later only where the force lingers between 10 and 20 N at toe-off.
        assert -period <= step["to_time_s"] - to <= 0.005
        # The lab's events, marked from 250 Hz motion capture, are good to about 5 ms.
        assert np.min(np.abs(strikes - step["ic_time_s"])) <= 0.005
        assert np.min(np.abs(offs - step["to_time_s"])) <= 0.005


@needs_data
def test_c3d_gives_the_same_steps_as_the_csv_export():
    from_csv = replay_events(DORN / "JA1Gait35_forces.csv", AthleteInfo(75.9))
    from_c3d = replay_events(DORN / "JA1Gait35.c3d", AthleteInfo(75.9))
    assert len(from_c3d) == len(from_csv)
    for a, b in zip(from_c3d, from_csv, strict=True):
        for key in ("ic_time_s", "to_time_s", "contact_time_s"):
            if a.get(key) is not None:
                assert a[key] == pytest.approx(b[key], abs=1e-4)
        for key in ("braking_impulse_ns", "propulsive_impulse_ns", "peak_vertical_force_bw"):
            if a.get(key) is not None:
                assert a[key] == pytest.approx(b[key], abs=0.02)  # the CSV is rounded to 0.01 N


@needs_data
@pytest.mark.parametrize(
    "name,mass,height", [("jb-morin-data", 75.0, 1.72), ("dynaspeed", 64.0, 1.77)]
)
def test_sprint_profile_matches_a_reference_least_squares_fit(name, mass, height):
    (rep,) = [
        e
        for e in replay_events(SHORTS / f"{name}.csv", AthleteInfo(mass, height))
        if e["type"] == "rep"
    ]
    d = np.genfromtxt(SHORTS / f"{name}.csv", delimiter=",", names=True, encoding="utf-8-sig")
    t, v = d["time"], d["velocity"]
    top = np.argmax(np.convolve(v, np.ones(5) / 5, mode="same"))
    t, v = t[: top + 1], v[: top + 1]

    def model(t, mss, tau, t0):
        return np.where(t > t0, mss * (1 - np.exp(-(t - t0) / tau)), 0.0)

    (mss, tau, t0), _ = curve_fit(model, t, v, p0=(v.max(), 1.0, 0.0))
    # Samozino et al. 2016, written out again here.
    tt = np.arange(0.0, t[-1] - t0, 0.01)
    vv = mss * (1 - np.exp(-tt / tau))
    k = 0.5 * 1.293 * (273 / 293) * 0.2025 * height**0.725 * mass**0.425 * 0.266 * 0.9
    fh = mass * mss / tau * np.exp(-tt / tau) + k * vv**2
    slope, f0 = np.polyfit(vv, fh, 1)
    v0 = -f0 / slope
    reference = {"mss_m_s": mss, "tau_s": tau, "f0_n": f0, "v0_m_s": v0, "pmax_w": f0 * v0 / 4}
    for key, value in reference.items():
        assert rep[key] == pytest.approx(value, rel=0.02), key
    assert 0.3 < rep["rf_max"] < 0.7 and rep["drf"] < 0


def test_replay_cli_prints_steps_then_reps_and_rejects_bad_files(tmp_path):
    cli = [sys.executable, "-m", "service.cli", "replay"]
    cap = tmp_path / "run.cap"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "simulate",
            "--rig",
            "treadmill",
            "--scenario",
            "aligned",
            "--duration",
            "25",
            "--out",
            str(cap),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    done = subprocess.run(
        [*cli, str(cap), "--mass", "75"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    kinds = [x["type"] for x in lines]
    assert kinds.count("step") > 25 and "rep" in kinds
    assert kinds == sorted(kinds, key=lambda k: k == "rep")  # every step, then every rep
    rep = next(x for x in lines if x["type"] == "rep")
    assert rep["mss_m_s"] == pytest.approx(9.5, rel=0.05)  # the treadmill rig has a speed sensor
    notes = tmp_path / "notes.txt"
    notes.write_text("not a recording")
    table = tmp_path / "table.csv"
    table.write_text("a,b\n1,2\n")
    for path, message in (
        (notes, "not a Stridesync wire capture"),
        (table, "a CSV recording needs time_s and fpN_fz_n columns"),
        (tmp_path / "missing.c3d", "no such file"),
    ):
        bad = subprocess.run(
            [*cli, str(path), "--mass", "75"], capture_output=True, text=True, timeout=60
        )
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr


def test_finish_without_any_sample():
    """A session stopped before any sensor sent a sample (found by the API fuzz test)."""
    from service.engine import AthleteInfo, Engine

    assert Engine(AthleteInfo(70.0)).finish() == []


@needs_data
def test_a_speed_sensor_glitch_costs_nothing_in_replay(tmp_path):
    """A 0.1 s burst of valid samples at 32.767 m/s (an int16 radar reading saturated)
    in the middle of a real sprint: dropped by the documented bound (no human runs
    above 15 m/s), and the profile is the one of the clean trace."""
    src = SHORTS / "dynaspeed.csv"
    lines = src.read_text(encoding="utf-8-sig").splitlines()
    head, rows = lines[0], lines[1:]
    mid = len(rows) // 2
    glitched = [
        ",".join([r.split(",")[0], r.split(",")[1], "32.767", "32.767"])
        if mid <= i < mid + 100  # 100 samples of the 1 kHz trace
        else r
        for i, r in enumerate(rows)
    ]
    bad = tmp_path / "glitch.csv"
    bad.write_text("\n".join([head, *glitched]) + "\n")
    clean = [e for e in replay_events(src, AthleteInfo(64.0, 1.77)) if e["type"] == "rep"]
    got = [e for e in replay_events(bad, AthleteInfo(64.0, 1.77)) if e["type"] == "rep"]
    assert len(got) == len(clean) == 1
    for key in ("mss_m_s", "tau_s", "f0_n", "v0_m_s", "pmax_w"):
        assert got[0][key] == pytest.approx(clean[0][key], rel=0.01), key
    r = subprocess.run(
        [sys.executable, "-m", "service.cli", "replay", str(bad), "--mass", "64"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["type"] == "rep"


def test_the_profile_fit_never_raises_on_an_impossible_trace():
    from service.engine.profile import MAX_SPEED_M_S, sprint_profile

    t = np.arange(0.0, 6.0, 0.01)
    v = np.where(t > 1.0, 40.0, 0.0)  # beyond every bound of the fit
    p = sprint_profile(t, v, 75.0, 1.8)  # used to raise "x0 is infeasible"
    assert p is None or p.mss_m_s <= MAX_SPEED_M_S
