"""Simulated sessions as cases: shared by the tests and the benchmarks (bench/ imports
this; a test never imports a benchmark).

- `session`: a simulated session through the wire protocol, as sample blocks, with its
  ground truth;
- `rechunk`: the same samples cut into blocks of another length;
- `steps_of`, `judged`, `figures`: the verdict judged as a classifier (each sprint step
  after a rep's first three is a case, its truth the scenario's weak link).
"""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from firmware_bridge.device import SampleBlock
from firmware_bridge.simulator import Athlete, ideal_blocks, simulate_session, write_simulation
from firmware_bridge.simulator.truth import read_truth, write_truth
from service import recordings
from service.engine import AthleteInfo, Baseline, Engine, settled

SCENARIOS = {"aligned": None, "late-swing": "swing", "weak-push": "push", "unstable-torso": "torso"}
LINKS = ("push", "swing", "torso")
LABELS = ("aligned", *LINKS, "none")
SESSION_S = 45.0  # two reps of a scenario


def session(
    scenario: str,
    seconds: float,
    seed: int,
    rig: str = "standard",
    athlete: Athlete | None = None,
    keep: set[str] | None = None,
    wire: bool = True,
):
    """(blocks, truth steps) of a simulated session, through a wire capture (or, without
    `wire`, as a perfect link gives them); `keep`: only the devices of these names (or
    name prefixes)."""
    sim = simulate_session(scenario, seconds, seed=seed, rig=rig, athlete=athlete)
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "s.cap"
        truth = read_truth(write_simulation(sim, cap) if wire else _truth(sim, cap))
        blocks = list(recordings.blocks(cap, "wire")) if wire else ideal_blocks(sim)
    if keep is not None:
        blocks = [
            b for b in blocks if b.device_name in keep or b.device_name.startswith(tuple(keep))
        ]
    return blocks, [r for r in truth if r["type"] == "step"]


def _truth(sim, cap: Path) -> Path:
    path = cap.with_name(cap.name + ".truth.jsonl")
    write_truth(path, sim.plan, sim.plates, sim.rig, sim.scenario)
    return path


def rechunk(blocks: list[SampleBlock], seconds_per_block: float) -> list[SampleBlock]:
    """The same samples in blocks of about this length per stream, in time order."""
    by_stream: dict = {}
    for b in blocks:
        by_stream.setdefault((b.device_id, b.stream.stream_id), []).append(b)
    out = []
    for parts in by_stream.values():
        t = np.concatenate([p.time_s for p in parts])
        v = np.concatenate([p.values for p in parts])
        edges = np.flatnonzero(np.diff(np.floor(t / seconds_per_block))) + 1
        first = parts[0]
        for i0, i1 in zip([0, *edges], [*edges, len(t)], strict=True):
            out.append(
                SampleBlock(
                    first.device_id, first.device_name, first.stream, i0, t[i0:i1], v[i0:i1]
                )
            )
    out.sort(key=lambda b: b.time_s[-1])
    return out


def steps_of(
    scenario: str,
    athlete: Athlete,
    seed: int,
    baseline: Baseline | None,
    rig: str = "standard",
    seconds: float = SESSION_S,
    wire: bool = True,
) -> list[dict]:
    """The engine's steps of a simulated session, each with its true phase ("sprint",
    "decel", ...; None when the engine's step matches no true contact)."""
    blocks, truth = session(scenario, seconds, seed, rig, athlete, wire=wire)
    engine = Engine(AthleteInfo(athlete.body_mass_kg, athlete.height_m), baseline=baseline)
    for b in blocks:
        engine.expect(b.device_id, b.stream)
    events = settled([e for b in blocks for e in engine.feed(b)] + engine.finish())
    steps = [dict(e) for e in events if e["type"] == "step"]
    for s in steps:
        near = [t for t in truth if abs(t["ic_time_s"] - s["ic_time_s"]) < 0.02]
        s["true_phase"] = near[0]["phase"] if near else None
    return steps


def judged(steps: list[dict]) -> list[list[str]]:
    """Per rep, the verdict of each sprint step after the rep's first three (slowing
    down at the end, every athlete's push falls by design: not the model's case)."""
    reps: dict[int, list[dict]] = {}
    for s in steps:
        reps.setdefault(s["rep"], []).append(s)
    return [
        ["aligned" if s["aligned"] else (s["limiter"] or "none") for s in rep[3:]
         if s["true_phase"] == "sprint"]
        for rep in reps.values()
    ]  # fmt: skip


def classify(
    athletes, seeds, rig: str = "standard", wire: bool = True, learnt: bool = True
) -> dict:
    """Every scenario judged for each athlete and seed: the confusion matrix and its
    figures. `learnt`: the athlete's baseline learnt from an aligned session of theirs
    first, else none (the first session: learning, then a provisional baseline);
    `wire`: the sessions through the simulated link, else as a perfect link gives them."""
    confusion = {truth: Counter() for truth in SCENARIOS}
    changes: list[int] = []
    for i, athlete in enumerate(athletes):
        for seed in seeds:
            baseline = None
            if learnt:
                normal = steps_of("aligned", athlete, 100 + 10 * i + seed, None, rig, wire=wire)
                baseline = Baseline.from_steps([s for s in normal if s["rep"]])
            for scenario, link in SCENARIOS.items():
                steps = steps_of(scenario, athlete, seed, baseline, rig, wire=wire)
                for verdicts in judged(steps):
                    confusion[scenario].update(verdicts)
                    if link is not None:
                        named = [v for v in verdicts if v in LINKS]
                        changes.append(sum(a != b for a, b in itertools.pairwise(named)))
    return {"confusion": {k: dict(v) for k, v in confusion.items()}, **figures(confusion, changes)}


def figures(confusion: dict, changes: list[int]) -> dict:
    """`false_alarm`: the aligned scenario's steps not judged aligned; `named_on_aligned`:
    those naming a link (a step still learning names none)."""
    aligned = confusion["aligned"]
    n_aligned = sum(aligned.values())
    named_aligned = sum(aligned.get(link, 0) for link in LINKS)
    out = {
        "false_alarm": 1 - aligned.get("aligned", 0) / n_aligned if n_aligned else None,
        "named_on_aligned": named_aligned / n_aligned if n_aligned else None,
    }
    for scenario, link in SCENARIOS.items():
        if link is None:
            continue
        n = sum(confusion[scenario].values())
        named = sum(c.get(link, 0) for c in confusion.values())
        out[f"{link}_recall"] = confusion[scenario].get(link, 0) / n if n else None
        out[f"{link}_precision"] = confusion[scenario].get(link, 0) / named if named else None
    out["max_limiter_changes_per_rep"] = max(changes, default=0)
    return out
