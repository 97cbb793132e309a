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

import json
import sys

from firmware_bridge.simulator import Athlete
from tests.simcases import LABELS, SCENARIOS, classify

NAME = "verdict"
ATHLETES = (
    Athlete(),
    Athlete(body_mass_kg=62.0, height_m=1.68, mss_m_s=8.6, tau_s=1.0, variability=0.03),
    Athlete(body_mass_kg=88.0, height_m=1.90, mss_m_s=10.2, tau_s=1.25, asymmetry=0.04),
    Athlete(body_mass_kg=70.0, height_m=1.75, mss_m_s=7.8, tau_s=0.9, variability=0.04),
)


def run(quick: bool = False, athletes=ATHLETES, seeds=(1, 2)) -> dict:
    if quick:
        athletes, seeds = athletes[:2], seeds[:1]
    return classify(athletes, seeds)


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
