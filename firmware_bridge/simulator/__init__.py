"""A sprinter on force plates wearing IMUs, with exact ground truth.

`simulate_session()` plans a session (athlete.py), draws its sensor signals
(signals.py) on a rig of virtual MCUs (rigs.py); `write_simulation()` runs
them through the simulated USB link, writing a raw wire capture and its ground
truth (truth.py). `stridesync simulate` is the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..capture import CaptureWriter
from ..linksim import Faults, SimLink, UsbTiming
from ..virtual import McuModel
from .athlete import SCENARIOS, Athlete, SessionPlan, plan_session, scenario_reps
from .rigs import RIGS, build_rig, plate_of_contact
from .truth import write_truth

ALL_SCENARIOS = (*SCENARIOS, "mixed", "jog", "walk", "stand")


@dataclass
class Simulation:
    plan: SessionPlan
    rig: str
    scenario: str
    models: list[McuModel]
    plates: np.ndarray  # plate index of each contact, -1 when off the plates


def simulate_session(
    scenario: str = "aligned",
    duration_s: float = 60.0,
    seed: int = 0,
    rig: str = "standard",
    athlete: Athlete | None = None,
    noise: bool = True,
    stand_s: float = 0.0,
    n_reps: int = 100,
) -> Simulation:
    """A session of `scenario`: its first `n_reps` reps (about 20 s each), then
    standing still to `duration_s`."""
    reps = scenario_reps(scenario, n_reps)
    plan = plan_session(athlete or Athlete(), reps, seed, duration_s, stand_s)
    models = build_rig(plan, rig, seed, noise)
    return Simulation(plan, rig, scenario, models, plate_of_contact(plan, rig))


def write_simulation(
    sim: Simulation,
    out: str | Path,
    faults: Faults | None = None,
    timing: UsbTiming | None = None,
) -> Path:
    """Write the wire capture to `out` and the ground truth to `out`.truth.jsonl."""
    out = Path(out)
    header = {
        "source": "stridesync simulate",
        "scenario": sim.scenario,
        "rig": sim.rig,
        "seed": sim.plan.seed,
        "body_mass_kg": sim.plan.athlete.body_mass_kg,
        "devices": [{"index": i, "name": m.name} for i, m in enumerate(sim.models)],
    }
    with CaptureWriter(out, header) as rec:
        SimLink(sim.models, timing, faults, sim.plan.seed, recorder=rec).run(sim.plan.duration_s)
    truth = out.with_name(out.name + ".truth.jsonl")
    write_truth(truth, sim.plan, sim.plates, sim.rig, sim.scenario)
    return truth


def ideal_blocks(sim: Simulation) -> list:
    """Every sample of the rig at its true time, in blocks as the MCUs batch them, in
    time order: what a perfect link and clock sync would give the engine. (The link's
    own effects are `write_simulation`'s: bursts, clock mapping, faults.)"""
    from ..device import SampleBlock
    from ..virtual import quantise

    out = []
    for model in sim.models:
        for s in model.streams:
            n = int(sim.plan.duration_s * s.info.sample_rate_hz) // s.batch_size * s.batch_size
            t = model.true_time(model.mcu_us(0.0) + np.arange(n) * s.period_mcu_us)
            scale, offset = s.info.scales()
            values = quantise(s.source(t), s.info) * scale + offset
            for i in range(0, n, s.batch_size):
                j = i + s.batch_size  # each block owns its arrays, as a decoded one does
                out.append(
                    SampleBlock(
                        model.device_id, model.name, s.info, i, t[i:j].copy(), values[i:j].copy()
                    )
                )
    out.sort(key=lambda b: (b.time_s[-1], b.device_id, b.stream.stream_id))
    return out


__all__ = [
    "ALL_SCENARIOS",
    "RIGS",
    "Athlete",
    "Faults",
    "Simulation",
    "ideal_blocks",
    "simulate_session",
    "write_simulation",
]
