"""The engine's parts on their own (issue 27's pyramid): the rep gate, the
watermarks and the step measurer's view of a shank, each with hand-made inputs, so
that the minute-long scenarios need not be the only thing that reaches them."""

from __future__ import annotations

import math

from service.engine import EngineConfig, Scorer
from service.engine.measure import StepMeasurer
from service.engine.reps import RepGate, settled
from service.engine.settings import AthleteInfo
from service.engine.speed import SpeedTrack
from service.engine.streams import Watermarks
from tests.helpers import force_step

ATHLETE = AthleteInfo(75.0, 1.80)


def _gate() -> RepGate:
    cfg = EngineConfig()
    return RepGate(cfg, Scorer(None, cfg.scoring), SpeedTrack(cfg, 75.0, 1.80))


def _run(gate: RepGate, contacts: list[float], t0: float = 0.0) -> list:
    """The steps through the gate, then the engine's next look (a rep that its last
    step ended is reported there: RepGate.closed)."""
    events, t = [], t0
    for c in contacts:
        events += gate.on_step(force_step(t, c), still_since_s=None)
        t += c + 0.12
    return events + gate.closed()


def test_a_rep_its_last_step_ends_is_reported_at_the_next_look_before_anything_else():
    gate = _gate()
    events, t = [], 0.0
    for c in [0.17, 0.15] + [0.11] * 14 + [0.20, 0.21, 0.22]:
        events = gate.on_step(force_step(t, c), still_since_s=None)
        t += c + 0.12
    # The step that ended it, and the retraction of the slowing down: not the rep yet.
    assert [e["type"] for e in events] == ["step", "steps_retracted"] and gate.closing
    # Before the next step's events (or at the next look with none), in order.
    after = gate.on_step(force_step(t + 30.0, 0.15), still_since_s=t)
    assert [e["type"] for e in after][:2] == ["rep", "step"] and not gate.closing


def test_two_short_contacts_make_a_rep_and_its_slowing_down_is_retracted():
    gate = _gate()
    sprint = [0.17, 0.15] + [0.11] * 14  # two short contacts confirm it
    events = _run(gate, [*sprint, 0.20, 0.21, 0.22])  # contacts 1.6 x the shortest: over
    kinds = [e["type"] for e in events]
    assert kinds.count("rep") == 1 and "steps_retracted" in kinds
    retracted = next(e for e in events if e["type"] == "steps_retracted")
    assert retracted["reason"] == "after the sprint" and len(retracted["steps"]) == 3
    slowing = [e for e in events if e["type"] == "step" and e["n"] in retracted["steps"]]
    assert {s["verdict"] for s in slowing} == {"slowing"}
    assert all(s["limiter"] is None for s in slowing)
    kept = [e for e in settled(events) if e["type"] == "step"]
    assert len(kept) == len(sprint) and {s["rep"] for s in kept} == {1}
    rep = next(e for e in events if e["type"] == "rep")
    assert rep["steps"] == len(sprint) and math.isclose(rep["min_contact_time_s"], 0.11)


def test_a_jog_is_retracted_as_not_a_sprint():
    gate = _gate()
    events = _run(gate, [0.25] * 10)  # never short, no speed sensor
    retracted = [e for e in events if e["type"] == "steps_retracted"]
    assert retracted and retracted[0]["reason"] == "not a sprint"
    assert not [e for e in events if e["type"] == "rep"] and not gate.active


def test_standing_still_ends_a_rep_and_the_next_start_scores_afresh():
    gate = _gate()
    first = _run(gate, [0.15, 0.14] + [0.11] * 6)
    assert gate.active
    ended = gate.stop(20.0)
    assert [e["type"] for e in ended] == ["rep"] and ended[0]["end_s"] == 20.0
    second = _run(gate, [0.15, 0.14, 0.12], t0=30.0)
    steps = [e for e in second if e["type"] == "step"]
    assert {s["rep"] for s in steps} == {2}
    assert [s["verdict"] for s in steps] == ["warming up"] * 3  # a rep's first three
    assert [e["n"] for e in first if e["type"] == "step"][-1] < steps[0]["n"]


def test_watermarks_wait_for_a_lagging_stream_until_it_is_stale():
    wm = Watermarks(stale_s=0.5, contact_span_s=0.3)
    a, b = (1, 0), (2, 0)
    wm.expect(a, "events")
    wm.expect(b, "events")

    def blocks(key, start: float, end: float) -> None:  # 0.1 s blocks at 1 kHz
        for k in range(round((end - start) / 0.1)):
            t = start + 0.1 * k
            wm.note(key, "events", t, t + 0.099, 1000.0, 0)

    blocks(a, 0.0, 1.0)
    blocks(b, 0.0, 0.8)
    wm.settle()
    assert math.isclose(wm.of(("events",)), 0.799)  # the slower one holds all back ...
    blocks(a, 1.0, 1.2)
    wm.settle()
    assert math.isclose(wm.of(("events",)), 0.799)  # ... while within 0.5 s ...
    blocks(a, 1.2, 2.0)
    wm.settle()
    assert math.isclose(wm.of(("events",)), 1.999)  # ... past it: missing, not awaited
    wm.pause(2)  # unplugged: not awaited at all, nor counted as the floor
    wm.settle()
    assert math.isclose(wm.floor["events"], 1.999)


def test_a_gap_in_an_event_stream_is_a_stretch_nobody_saw():
    wm = Watermarks(stale_s=0.5, contact_span_s=0.3)
    key = (1, 0)
    wm.expect(key, "events")
    wm.note(key, "events", 0.0, 1.0, 1000.0, 0)
    wm.note(key, "events", 1.5, 2.0, 1000.0, 499)  # 499 samples lost before it
    # A quiet stretch up to 2 s only counts from the gap's end (1.5 + 0.3 s) ...
    assert math.isclose(wm.quiet_from(0.5, 2.0), 1.8)
    assert wm.quiet_from(1.9, 2.0) == 1.9
    # ... and one past the stream's last sample from its going stale (2.0 + 0.5 s).
    assert wm.quiet_from(0.5, 3.0) == 2.5


def test_a_shank_seen_without_gaps_covers_a_swing_and_a_gap_does_not():
    cfg = EngineConfig()
    m = StepMeasurer(ATHLETE, cfg, Watermarks(0.5, 0.3), SpeedTrack(cfg, 75.0, 1.80))
    for k in range(10):  # 10 blocks of 0.1 s at 1 kHz, contiguous
        m.saw_shank("left", k * 0.1, k * 0.1 + 0.099, 1000.0)
    m.saw_shank("left", 1.5, 2.0, 1000.0)  # then 0.5 s of nothing
    m.saw_shank("left", 2.001, 3.0, 1000.0)
    assert m._shank_covered("left", 0.2, 0.9)
    assert not m._shank_covered("left", 0.9, 1.6)  # across the gap
    # After a gap its detector sees swings again only after contact_span_s (0.6 s).
    assert not m._shank_covered("left", 1.6, 1.9)
    assert m._shank_covered("left", 2.2, 2.9)
    m.saw_shank("left", 3.001, 3.5, 1000.0, lost=2)  # two samples lost: blind again
    assert not m._shank_covered("left", 3.1, 3.4)
    assert not m._shank_covered("right", 0.2, 0.3)  # never seen
    m.prune(1.2)
    assert m.shank_seen["left"] == [[2.1, 3.0], [3.601, 3.5]]
