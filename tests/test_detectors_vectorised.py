"""The detectors, run with numpy over blocks, against their per-sample originals.

tests/reference/ holds the shank and force detectors as they were before they
were vectorised (2026-12-02): a state machine stepped sample by sample. The
product's detectors must give the same events, to the bit, for any cut of the
stream into blocks, across lost samples and NaN.
"""

import dataclasses

import numpy as np
import pytest

from service.engine.force import ForceContactDetector, ForceDetectorConfig
from service.engine.imu import ShankDetectorConfig, ShankEventDetector
from service.engine.segments import SegmentConfig, SegmentTracker
from tests.reference import force_per_sample, shank_per_sample
from tests.simcases import session

BLOCKS = (1, 7, 10, 64, 1000, 10**9)  # samples a block; 10**9: the whole stream at once


@pytest.fixture(scope="module")
def streams():
    """(kind, name, time, values) of every shank and force stream of three sessions."""
    out = []
    for rig, seed in (("imu", 5), ("standard", 3), ("treadmill", 4)):
        blocks, _ = session("aligned", 40.0, seed, rig, wire=False)  # the link is not theirs
        by: dict = {}
        for b in blocks:
            by.setdefault((b.device_name, b.stream.stream_id), []).append(b)
        for (name, _), parts in by.items():
            t = np.concatenate([p.time_s for p in parts])
            v = np.concatenate([p.values for p in parts])
            kind = parts[0].stream.kind.name
            if name.startswith("shank"):
                out.append(("shank", f"{rig}/{name}", t, v[:, 1]))
            elif kind.startswith("FORCE"):
                chans = [c.channel.name for c in parts[0].stream.channels]
                fy = v[:, chans.index("FY")] if "FY" in chans else None
                out.append(("force", f"{rig}/{name}", t, (fy, v[:, chans.index("FZ")])))
    return out


def damaged(t, v, rng):
    """Lost stretches, and bad samples (NaN from a gyro, 0 N from a plate)."""
    n = len(t)
    keep = np.ones(n, bool)
    lost_at = []
    for a in rng.integers(1000, n - 2000, 4):
        keep[a : a + rng.integers(5, 400)] = False
        lost_at.append(a)
    if isinstance(v, tuple):  # force: the engine gives a bad sample 0 N (_force_channels)
        v = (v[0], v[1].copy())
        v[1][rng.integers(0, n, 20)] = 0.0
    else:
        v = v.copy()
        v[rng.integers(0, n, 20)] = np.nan
    return keep, v


def feed_all(detector, kind, t, v, keep, size):
    events = []
    idx = np.flatnonzero(keep)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    for r, run in enumerate(runs):
        if r:
            detector.lost()
        for a in range(0, len(run), size):
            sel = run[a : a + size]
            if kind == "shank":
                events += detector.feed(t[sel], v[sel])
            else:
                fy, fz = v
                events += detector.feed(t[sel], None if fy is None else fy[sel], fz[sel])
    return events


def make(kind, reference):
    if kind == "shank":
        module = shank_per_sample if reference else None
        cls = module.ShankEventDetector if reference else ShankEventDetector
        cfg = (module.ShankDetectorConfig if reference else ShankDetectorConfig)()
        return cls("left", cfg, 1000.0)
    module = force_per_sample if reference else None
    cls = module.ForceContactDetector if reference else ForceContactDetector
    cfg = (module.ForceDetectorConfig if reference else ForceDetectorConfig)()
    return cls("plate", 1000.0, cfg)


def as_tuples(events):
    return [(type(e).__name__, *dataclasses.astuple(e)) for e in events]


@pytest.mark.parametrize("kind", ["shank", "force"])
def test_vectorised_detectors_give_the_per_sample_events_exactly(streams, kind):
    rng = np.random.default_rng(11)
    checked = events = 0
    for k, name, t, v in streams:
        if k != kind:
            continue
        keep, bad = damaged(t, v, rng)
        for keep_, v_ in ((np.ones(len(t), bool), v), (keep, bad)):
            want = as_tuples(feed_all(make(kind, True), kind, t, v_, keep_, 10))
            events += len(want)
            for size in BLOCKS:
                got = as_tuples(feed_all(make(kind, False), kind, t, v_, keep_, size))
                assert got == want, (name, size)
            checked += 1
    assert checked >= 4 and events > 100


def by_block_size(feed_stream, n: int) -> dict[int, object]:
    """One detector's output for the same stream cut into each of BLOCKS: the shared
    chunk-invariance check (a detector's output may not depend on the cut)."""
    out = {}
    for size in BLOCKS:
        cuts = [(a, min(a + size, n)) for a in range(0, n, size)]
        out[size] = feed_stream(cuts)
    return out


def test_the_thigh_and_trunk_filter_do_not_depend_on_the_cut(streams):
    blocks, _ = session("aligned", 20.0, 3, "standard", wire=False)
    thigh = [b for b in blocks if b.device_name == "thigh-left"]
    t = np.concatenate([b.time_s for b in thigh])
    v = np.concatenate([b.values for b in thigh])

    def feed(cuts):
        tracker = SegmentTracker(1000.0)
        for a, z in cuts:
            tracker.feed(t[a:z], v[a:z, :6])
            if z % 997 < 20:  # angles asked for now and then, as steps come
                tracker.angle_at(float(t[max(a - 50, 0)]))
        middle = tracker.angle_at(float(t[len(t) // 2]))
        rms = tracker.rate_rms(5.0, 6.0)
        degrees = list(tracker.angle_deg)  # (every output: the filter run to the end)
        return middle, rms, (list(tracker.angle_t), degrees)

    runs = by_block_size(feed, len(t))
    outputs = 15.0 * SegmentConfig().ahrs_rate_hz  # of the 20 s, the filter's
    assert len(runs[10][2][0]) > outputs and runs[10][0] is not None
    assert all(r == runs[10] for r in runs.values())


@pytest.mark.parametrize("kind", ["shank", "force"])
def test_each_detector_alone_does_not_depend_on_the_cut(streams, kind):
    busy = {"shank": "imu/", "force": "treadmill/"}[kind]  # a stream with many contacts
    _, name, t, v = next(s for s in streams if s[0] == kind and s[1].startswith(busy))

    def feed(cuts):
        det = make(kind, False)
        events = []
        for a, z in cuts:
            if kind == "shank":
                events += det.feed(t[a:z], v[a:z])
            else:
                events += det.feed(t[a:z], None if v[0] is None else v[0][a:z], v[1][a:z])
        return as_tuples(events)

    runs = by_block_size(feed, len(t))
    assert len(runs[10]) > 20, name
    assert all(r == runs[10] for r in runs.values())
