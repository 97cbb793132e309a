"""The serial path's compiled part against the Python path it stands in for: the same
frames, counts, sample times and values, to the bit (firmware_bridge/speedups)."""

import os

import pytest

from firmware_bridge import speedups
from firmware_bridge.speedups.check import check


def test_the_compiled_part_is_built_here():
    """`make test` builds it (the Makefile's speedups target); CI runs on a machine with
    a compiler, so a missing build is a failure there, not a skip."""
    if speedups.native is None and not os.environ.get("CI"):
        pytest.skip(f"not built: {speedups.why_not}")
    assert speedups.native is not None, speedups.why_not


def test_compiled_and_python_paths_agree_to_the_bit():
    module, why = speedups._load()
    if module is None:
        pytest.skip(f"no compiled speed-ups: {why}")
    assert check(module) == []


def test_a_fresh_build_compiles_cleanly(tmp_path):
    """From the shipped source, as the installer builds it on the Pi."""
    out = speedups.build(tmp_path / speedups.target().name)
    assert out.stat().st_size > 0


def test_the_compiled_ahrs_is_imufusion_to_the_bit():
    """Fusion's C a batch a call against imufusion a sample a call, on rows that reach
    start-up, rejection, recovery and over-range (the check each process makes before
    it runs the compiled filter; on this machine it must pass)."""
    from firmware_bridge.speedups import ahrs

    if speedups.native is None:
        pytest.skip(f"no compiled speed-ups: {speedups.why_not}")
    assert ahrs.compare() == ""


def test_the_engine_gives_the_same_events_with_either_ahrs(monkeypatch):
    """A simulated standard-rig session with thighs and trunk, live blocks and 1 s blocks:
    every event the same, to the bit, with the compiled filter and with imufusion."""
    from firmware_bridge.speedups import ahrs
    from service.engine import AthleteInfo, Engine
    from tests.simcases import rechunk, session

    if ahrs.describe() != "compiled Fusion AHRS":
        pytest.skip(ahrs.describe())
    blocks, _ = session("late-swing", 20.0, 11, "standard")

    def events(feed):
        engine = Engine(AthleteInfo(75.0, 1.8))
        return [e for b in feed for e in engine.feed(b)] + engine.finish()

    for feed in (blocks, rechunk(blocks, 1.0)):
        compiled = events(feed)
        monkeypatch.setattr(ahrs, "_why_not", "imufusion for the comparison")
        assert repr(events(feed)) == repr(compiled)  # (repr: floats to the last digit)
        monkeypatch.setattr(ahrs, "_why_not", "")
    angles = [e.thigh_separation_to_deg for e in compiled if e.type == "step"]
    assert sum(a is not None for a in angles) >= 10  # the filters' angles were used
