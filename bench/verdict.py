"""The verdict judged as a classifier, on the simulator (docs/scoring.md).

For each athlete (varied build, speed, acceleration, asymmetry and
variability) and seed, the athlete's baseline is learnt from an aligned
session, as a coach would from the athlete's normal running; then a session of
each scenario (aligned, late-swing, weak-push, unstable-torso: two reps each)
goes through the wire protocol and the engine. Every rep step after the rep's
first three is one case: its truth is the scenario's weak link (none when
aligned), its prediction the step's verdict (aligned, or the link named). Only
the sprint is judged: slowing down at a rep's end, every athlete's push falls
by design (the simulator's truth says which steps are which).

Figures: the confusion matrix; the aligned scenario's false alarms (steps not
aligned); per link, recall (its scenario's steps that name it) and precision
(the steps naming it that are its scenario's); limiter changes per rep of a
single weakness. Targets: false alarms <= 5 %, recall and precision >= 90 %,
<= 2 limiter changes per rep.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from firmware_bridge.simulator import Athlete, simulate_session, write_simulation
from firmware_bridge.simulator.truth import read_truth
from service import recordings
from service.engine import AthleteInfo, Baseline, Engine, settled

NAME = "verdict"
SCENARIOS = {"aligned": None, "late-swing": "swing", "weak-push": "push", "unstable-torso": "torso"}
ATHLETES = (
    Athlete(),
    Athlete(body_mass_kg=62.0, height_m=1.68, mss_m_s=8.6, tau_s=1.0, variability=0.03),
    Athlete(body_mass_kg=88.0, height_m=1.90, mss_m_s=10.2, tau_s=1.25, asymmetry=0.04),
    Athlete(body_mass_kg=70.0, height_m=1.75, mss_m_s=7.8, tau_s=0.9, variability=0.04),
)
LABELS = ("aligned", "push", "swing", "torso", "none")
SESSION_S = 45.0  # two reps of the scenario


def steps_of(scenario: str, athlete: Athlete, seed: int, baseline: Baseline | None, tmp: Path):
    """The engine's steps of a simulated session, each with its true phase ("sprint",
    "decel", ...; None when the engine's step matches no true contact)."""
    sim = simulate_session(scenario, SESSION_S, seed=seed, athlete=athlete)
    cap = tmp / f"{scenario}-{seed}.cap"
    truth = [r for r in read_truth(write_simulation(sim, cap)) if r["type"] == "step"]
    blocks = list(recordings.blocks(cap, "wire"))
    engine = Engine(AthleteInfo(athlete.body_mass_kg, athlete.height_m), baseline=baseline)
    for b in blocks:
        engine.expect(b.device_id, b.stream)
    events = settled([e for b in blocks for e in engine.feed(b)] + engine.finish())
    steps = [e for e in events if e["type"] == "step"]
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


def run(quick: bool = False, athletes=ATHLETES, seeds=(1, 2)) -> dict:
    if quick:
        athletes, seeds = athletes[:2], seeds[:1]
    confusion = {truth: Counter() for truth in SCENARIOS}
    changes: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, athlete in enumerate(athletes):
            for seed in seeds:
                learnt = steps_of("aligned", athlete, 100 + 10 * i + seed, None, Path(tmp))
                baseline = Baseline.from_steps([s for s in learnt if s["rep"]])
                for scenario, link in SCENARIOS.items():
                    for verdicts in judged(steps_of(scenario, athlete, seed, baseline, Path(tmp))):
                        confusion[scenario].update(verdicts)
                        if link is not None:
                            named = [v for v in verdicts if v in ("push", "swing", "torso")]
                            changes.append(sum(a != b for a, b in itertools.pairwise(named)))
    return {"confusion": {k: dict(v) for k, v in confusion.items()}, **figures(confusion, changes)}


def figures(confusion: dict, changes: list[int]) -> dict:
    aligned = confusion["aligned"]
    n_aligned = sum(aligned.values())
    out = {"false_alarm": 1 - aligned["aligned"] / n_aligned if n_aligned else None}
    for scenario, link in SCENARIOS.items():
        if link is None:
            continue
        n = sum(confusion[scenario].values())
        named = sum(c[link] for c in confusion.values())
        out[f"{link}_recall"] = confusion[scenario][link] / n if n else None
        out[f"{link}_precision"] = confusion[scenario][link] / named if named else None
    out["max_limiter_changes_per_rep"] = max(changes, default=0)
    return out


def report(r: dict) -> str:
    head = f"{'truth/verdict':>16}" + "".join(f"{label:>9}" for label in LABELS)
    rows = [
        f"{truth:>16}" + "".join(f"{r['confusion'][truth].get(label, 0):>9}" for label in LABELS)
        for truth in SCENARIOS
    ]
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f} %"  # noqa: E731
    lines = [
        "verdict: the light as a classifier on the simulator, steps after a rep's first 3"
        " (targets: false alarms <= 5 %, recall and precision >= 90 %, <= 2 limiter"
        " changes a rep)",
        head,
        *rows,
        f"  aligned false alarms {pct(r['false_alarm'])}",
    ]
    for link in ("push", "swing", "torso"):
        lines.append(
            f"  {link}: recall {pct(r[f'{link}_recall'])}, precision {pct(r[f'{link}_precision'])}"
        )
    lines.append(f"  limiter changes per rep: at most {r['max_limiter_changes_per_rep']}")
    return "\n".join(lines)


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv)
    print(json.dumps(result, indent=2) if "--json" in sys.argv else report(result))
