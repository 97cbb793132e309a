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
