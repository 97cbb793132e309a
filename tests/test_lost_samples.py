"""Lost samples: live and the stored session give the same steps.

Live, each stream comes through its own serial port and a busy host reads
them out of step; the merge (service/merge.py) hands the engine blocks in
time order as far as it can. A re-score feeds the stored chunks in time order.
Where sensors lost samples, a stream can fall silent for seconds while the
others go on: what the engine made of that must not depend on which of the two
paths brought the samples.
"""

import random

import numpy as np
import pytest

from firmware_bridge.device import SampleBlock
from firmware_bridge.simulator import simulate_session, write_simulation
from service import recordings
from service.engine import AthleteInfo, Engine
from service.merge import TimeMerge
from service.recorder import Chunker
from tests.simcases import rechunk as _rechunk

ATHLETE = AthleteInfo(75.0, 1.80)


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    cap = tmp_path_factory.mktemp("lost") / "s.cap"
    write_simulation(simulate_session("aligned", 30.0, seed=7, rig="standard"), cap)
    # The MCUs' 10-sample blocks.
    return _rechunk(list(recordings.blocks(cap, "wire")), 0.01)


def with_gaps(blocks, rng, gaps_per_stream, shortest_s, longest_s):
    """The blocks with stretches of every stream lost, marked as the bridge marks them."""
    end_s = max(float(b.time_s[-1]) for b in blocks)
    by_stream: dict = {}
    for b in blocks:
        by_stream.setdefault((b.device_id, b.stream.stream_id), []).append(b)
    out = []
    for parts in by_stream.values():
        starts = [rng.uniform(2.0, end_s - 4.0) for _ in range(gaps_per_stream)]
        gaps = [(a, a + rng.uniform(shortest_s, longest_s)) for a in starts]
        lost = 0
        for p in parts:
            keep = np.ones(len(p), bool)
            for a, z in gaps:
                keep &= (p.time_s < a) | (p.time_s >= z)
            runs = np.split(np.flatnonzero(keep), np.flatnonzero(np.diff(keep)) + 1)
            done = 0
            for run in (r for r in runs if len(r) and keep[r[0]]):
                lost += int(run[0]) - done
                out.append(
                    SampleBlock(
                        p.device_id,
                        p.device_name,
                        p.stream,
                        p.first_sample + int(run[0]),
                        p.time_s[run],
                        p.values[run],
                        lost,
                    )
                )
                lost, done = 0, int(run[-1]) + 1
            lost += len(p) - done
    return out


def live(blocks, rng):
    """Each port read late now and then (up to 0.6 s), in order; through the merge."""
    engine = Engine(ATHLETE)
    merge = TimeMerge(max_hold_s=engine.cfg.stale_s)
    chunker = Chunker(0.5)
    arrivals = []
    for b in blocks:
        engine.expect(b.device_id, b.stream)
    by_stream: dict = {}
    for b in sorted(blocks, key=lambda b: b.time_s[-1]):
        by_stream.setdefault((b.device_id, b.stream.stream_id), []).append(b)
    for parts in by_stream.values():
        delay_s, arrived_s = 0.0, -np.inf
        for p in parts:
            if rng.random() < 0.01:
                delay_s = rng.uniform(0.0, 0.6)
            arrived_s = max(arrived_s, float(p.time_s[-1]) + delay_s)
            arrivals.append((arrived_s, p))
            delay_s *= 0.9
    events, chunks = [], []
    arrivals.sort(key=lambda a: a[0])
    for block in [b for _, p in arrivals for b in merge.push(p)] + merge.flush():
        events += engine.feed(block)
        chunks += chunker.add(block)
    return events + engine.finish(), chunks + chunker.flush()


def stored(chunks, blocks):
    """A re-score: the chunks in time order, as the API reads them."""
    engine = Engine(ATHLETE)
    for b in blocks:
        engine.expect(b.device_id, b.stream)
    events = []
    for c in sorted(chunks, key=lambda c: float(c.time_s[0])):
        block = SampleBlock(
            c.device_id, c.device_name, c.stream, c.first_sample, c.time_s, c.values, c.lost_before
        )
        events += engine.feed(block)
    return events + engine.finish()


@pytest.mark.parametrize(
    ("seed", "gaps", "shortest_s", "longest_s"),
    [(1, 2, 0.3, 3.0), (2, 3, 0.2, 4.5), (3, 1, 4.0, 9.0)],
)
def test_live_and_stored_agree_where_samples_were_lost(blocks, seed, gaps, shortest_s, longest_s):
    rng = random.Random(seed)
    lossy = with_gaps(blocks, rng, gaps, shortest_s, longest_s)
    assert sum(b.lost_before for b in lossy) > 1000
    live_events, chunks = live(lossy, rng)
    steps = [e for e in live_events if e["type"] == "step"]
    assert len(steps) > 10 and any(e["type"] == "rep" for e in live_events)
    assert stored(chunks, lossy) == live_events


def test_a_step_in_a_silent_shanks_gap_has_no_flight_time(blocks):
    """A shank silent for seconds may have missed a contact: the steps measured while
    it is silent, before its lost samples are known, say nothing of flight."""
    left = next(b for b in blocks if b.device_name == "shank-left")
    silent = [b for b in blocks if b.device_id != left.device_id or not 5.0 <= b.time_s[0] < 12.0]
    engine = Engine(ATHLETE)
    for b in blocks:
        engine.expect(b.device_id, b.stream)
    events = []
    for b in silent:  # the left shank sends nothing after 5 s, and is not known to have lost
        events += engine.feed(b)
    inside = [e for e in events if e["type"] == "step" and 6.0 < e["ic_time_s"] < 10.0]
    assert inside and all(e["flight_time_s"] is None for e in inside)
