"""The engine keeps only the history a step or rep can still need.

The 2-hour soak (bench service --soak) found the service's memory growing by
~2 MB a minute once the simulated athlete's sprints had ended: the speed seen
while slowing down after the last rep was kept as the start of a sprint that
never came, so no speed sample was ever forgotten again (each one holding on
to its whole decoded block).
"""

import gc
import math
import sys
import types

import numpy as np

from firmware_bridge.simulator import Simulation, ideal_blocks
from firmware_bridge.simulator.athlete import Athlete, plan_session, scenario_reps
from firmware_bridge.simulator.rigs import build_rig, plate_of_contact
from service.engine import AthleteInfo, Engine, EngineConfig
from service.engine.reps import RepGate
from service.engine.scoring import Scorer
from service.engine.speed import SpeedTrack
from tests.helpers import force_step

ATHLETE = AthleteInfo(75.0, 1.80)


def _sprints_then_standing(reps: int, seconds: float):
    plan = plan_session(Athlete(), scenario_reps("aligned", reps), 11, seconds)
    models = build_rig(plan, "standard", 11, True)
    sim = Simulation(plan, "standard", "aligned", models, plate_of_contact(plan, "standard"))
    # As a perfect link gives them: what the engine keeps does not depend on the link.
    return ideal_blocks(sim), float(plan.steps.to_s[-1])


def retained_bytes(root) -> int:
    """Every object reachable from `root` (numpy arrays with the arrays they view;
    not modules, classes or functions' globals), in bytes."""
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
    seen, stack, total = set(), [root], 0
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, skip):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, np.ndarray) and o.base is not None:
            stack.append(o.base)
        stack.extend(gc.get_referents(o))
    return total


def test_memory_is_flat_while_standing_after_the_last_sprint():
    blocks, last_step_s = _sprints_then_standing(reps=2, seconds=300.0)
    engine = Engine(ATHLETE)
    cap_s = engine.cfg.history_cap_s
    # Past the history cap after the last step, everything older can have gone.
    first_s = last_step_s + cap_s + 5.0
    second_s = first_s + 60.0
    assert second_s < 295.0, last_step_s
    sizes = []
    for since_s, until_s in ((-math.inf, first_s), (first_s, second_s)):
        for b in blocks:
            if since_s <= b.time_s[-1] < until_s:
                engine.feed(b)
        sizes.append(retained_bytes(engine))
    # A minute of the rig is ~10 MB of samples; what is kept may differ by a few blocks.
    grew = sizes[1] - sizes[0]
    assert abs(grew) < 100_000, f"{grew / 1e3:.0f} kB more kept after a minute of standing"
    t = np.concatenate(engine.speed._t)
    assert t[-1] - t[0] <= cap_s + engine.cfg.profile_lead_s + 1.0


def test_a_sprint_is_confirmed_by_speed_after_an_earlier_fast_stretch():
    """Contacts too long to confirm a sprint by themselves (0.2 s > rep_contact_s); the
    speed sensor passed rep_speed_m_s in a run without steps at 10-15 s, then again at
    100 s: the steps from 100.5 s are a sprint (the earlier stretch is no evidence)."""
    cfg = EngineConfig()
    speed = SpeedTrack(cfg, ATHLETE.body_mass_kg, ATHLETE.height_m)
    t = np.arange(0.0, 103.0, 0.01)
    v = np.where(((t >= 10) & (t < 15)) | (t >= 100), 6.0, 1.0)
    speed.feed(t, v)
    gate = RepGate(cfg, Scorer(None, cfg.scoring), speed)
    first = gate.on_step(force_step(100.5), still_since_s=None)
    assert [e["type"] for e in first] == ["step"]
    assert first[0]["rep"] == 1 and "provisional" not in first[0]
    assert gate.active and gate.start_s == 100.5
    # And a candidate far from any fast speed stays provisional.
    gate = RepGate(cfg, Scorer(None, cfg.scoring), speed)
    (step,) = gate.on_step(force_step(50.0), still_since_s=None)
    assert step["provisional"] is True and not gate.active
