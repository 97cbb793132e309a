"""The verdict judged as a classifier, on the simulator (docs/scoring.md).

For each rig (standard, runway, treadmill, imu, imu-speed), athlete (varied build,
speed, acceleration, asymmetry and variability) and seed, a session of each
scenario (aligned, late-swing, weak-push, unstable-torso: two reps each) goes
through the engine twice: with the athlete's baseline learnt from an aligned
session of theirs first, as a coach would set it from the athlete's normal
running, and with none (the athlete's first session: learning, then a
provisional baseline from the first rep). Every rep step after the rep's first
three is one case: its truth is the scenario's weak link (none when aligned), its
prediction the step's verdict (aligned, a link named, or none named). Only the
sprint is judged (the simulator's truth says which steps are which).

Figures, per rig and baseline: the aligned scenario's false alarms (steps not
aligned) and the steps naming a link; per link, recall (its scenario's steps that
name it) and precision (the steps naming it that are its scenario's); limiter
changes per rep of a single weakness. Targets (issue 30): with a learnt baseline,
>= 95 % aligned, recall and precision >= 90 %; with none, >= 95 % naming no link
and precision >= 90 % for any link named; <= 2 limiter changes per rep.

The matrix runs the samples as a perfect link gives them (`--wire`: through the
simulated link, about twice as long; the link is tested on its own).
"""

from __future__ import annotations

import json
import sys

from firmware_bridge.simulator import Athlete
from tests.simcases import LABELS, SCENARIOS, classify

NAME = "verdict"
RIGS = ("standard", "runway", "treadmill", "imu", "imu-speed")
ATHLETES = (
    Athlete(),
    Athlete(body_mass_kg=62.0, height_m=1.68, mss_m_s=8.6, tau_s=1.0, variability=0.03),
    Athlete(body_mass_kg=88.0, height_m=1.90, mss_m_s=10.2, tau_s=1.25, asymmetry=0.04),
    Athlete(body_mass_kg=70.0, height_m=1.75, mss_m_s=7.8, tau_s=0.9, variability=0.04),
)


def run(quick: bool = False, athletes=ATHLETES, seeds=(1, 2), rigs=RIGS, wire=False) -> dict:
    if quick:
        athletes, seeds, rigs = athletes[:2], seeds[:1], rigs[:1]
    return {
        f"{rig} {kind}": classify(athletes, seeds, rig, wire=wire, learnt=kind == "learnt")
        for rig in rigs
        for kind in ("learnt", "none")
    }


def report(results: dict) -> str:
    pct = lambda x: "  n/a" if x is None else f"{100 * x:5.1f}"  # noqa: E731
    lines = [
        "verdict: the light as a classifier on the simulator, sprint steps after a rep's"
        " first 3, per rig and baseline (%)",
        f"{'rig baseline':>20} {'aligned':>8} {'named':>6}"
        + "".join(f" {link[:5]}R {link[:5]}P" for link in ("push", "swing", "torso"))
        + " changes",
    ]
    for name, r in results.items():
        row = f"{name:>20} {pct(1 - r['false_alarm']):>8} {pct(r['named_on_aligned']):>6}"
        for link in ("push", "swing", "torso"):
            row += f" {pct(r[f'{link}_recall']):>6} {pct(r[f'{link}_precision']):>6}"
        lines.append(row + f" {r['max_limiter_changes_per_rep']:>7}")
    lines.append("confusion (truth/verdict), per rig and baseline:")
    for name, r in results.items():
        lines.append(f"  {name}: " + "; ".join(
            f"{truth}: " + " ".join(f"{lab}={r['confusion'][truth].get(lab, 0)}" for lab in LABELS)
            for truth in SCENARIOS))  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv, wire="--wire" in sys.argv)
    print(json.dumps(result, indent=2) if "--json" in sys.argv else report(result))
