"""The movement model: a session of reps planned step by step, with exact truth.

A rep is: standing still -> sprint from a standing start, velocity
v(t) = MSS (1 - exp(-t / tau)) -> deceleration -> jogging -> walking back ->
standing. Every contact is planned before any signal exists: its foot, initial
contact (IC) and toe-off (TO) times, velocity, and its braking and propulsive
impulses, chosen so that the net horizontal impulse of the step equals
m * (change of velocity) + the air drag impulse of the step. The signal
generators (signals.py) then draw the curves these numbers imply, so the plan
is the ground truth.

Relations used (sources in docs/simulator.md):
- contact time while accelerating falls from ~0.20 s at the first steps to
  ~0.11 s at MSS; at steady speed tc = Lc / v with contact length
  Lc = 0.8 + 0.03 v m (0.24 s at 3.5 m/s, 0.11 s at 9.5 m/s, as in the
  Dorn et al. 2012 recordings);
- step frequency 3.5 -> 4.5 Hz while accelerating, 2.3 + 0.12 v at steady speed;
- mean vertical force over a contact = body weight * (tc + tf) / tc (vertical
  impulse balance over a step);
- braking impulse / m = 0.02 + 0.15 (v / MSS)^2 m/s (small in the first steps,
  ~12.5 N s for 76 kg at top speed);
- air drag F = 0.5 rho Cd Af v^2 with Af = 0.2025 h^0.725 m^0.425 * 0.266
  (Arsac & Locatelli 2002, as used by Samozino et al. 2016), Cd = 0.9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from ..physics import DRAG_COEFFICIENT, GRAVITY_M_S2
from . import templates

G = GRAVITY_M_S2
AIR_DENSITY = 1.2

# Phases of a step (and of the body between steps).
# START is the push from a standing start: that foot was already down, so it
# has no initial contact that any sensor could see.
START, SPRINT, DECEL, JOG, WALK = "start", "sprint", "decel", "jog", "walk"
SCENARIOS = ("aligned", "late-swing", "weak-push", "unstable-torso")
LIMITER = {"aligned": None, "late-swing": "swing", "weak-push": "push", "unstable-torso": "torso"}


def sprint_stride(phase, velocity_m_s):
    """Whether a stride takes the real sprint's shape (templates.py), else the jog's:
    a sprint's steps, accelerating included (a sprinter's landing and retraction),
    and slowing down while still nearer sprint speed than jog speed. Arrays too."""
    middle = (templates.SPEED_M_S["jog"] + templates.SPEED_M_S["sprint"]) / 2
    return np.isin(phase, (SPRINT, START)) | ((phase == DECEL) & (np.abs(velocity_m_s) > middle))


def normal_swing_timing(sprinting: bool) -> float:
    """Where in the swing the shank's peak comes in real running: 0.58 of the swing
    sprinting, 0.75 jogging (templates.py: the real strides' mean)."""
    return templates.SPRINT_SWING_PEAK_AT if sprinting else templates.JOG_SWING_PEAK_AT


@dataclass(frozen=True)
class Athlete:
    body_mass_kg: float = 75.0
    height_m: float = 1.80
    mss_m_s: float = 9.5  # maximal sprinting speed
    tau_s: float = 1.1  # acceleration time constant
    asymmetry: float = 0.0  # fraction: right contacts this much longer than left
    variability: float = 0.02  # coefficient of variation of step timing and force

    @property
    def weight_n(self) -> float:
        return self.body_mass_kg * G

    @property
    def drag_k(self) -> float:
        """Air drag F = k v^2 (N for v in m/s)."""
        frontal_area = 0.2025 * self.height_m**0.725 * self.body_mass_kg**0.425 * 0.266
        return 0.5 * AIR_DENSITY * DRAG_COEFFICIENT * frontal_area


@dataclass(frozen=True)
class RepPlan:
    """How one rep goes: its scenario and its phase durations."""

    scenario: str = "aligned"
    stand_s: float = 3.0
    sprint_s: float = 5.0
    decel_s: float = 2.0
    jog_s: float = 3.0
    walk_s: float = 6.0
    jog_speed_m_s: float = 3.5
    walk_speed_m_s: float = 1.4


@dataclass
class Steps:
    """Every contact of the session, one entry per contact, in time order."""

    foot: np.ndarray  # 0 left, 1 right
    ic_s: np.ndarray
    to_s: np.ndarray
    phase: np.ndarray  # SPRINT, DECEL, JOG, WALK
    rep: np.ndarray  # rep number (1-based) for steps of a rep, 0 between reps
    scenario: np.ndarray
    velocity_m_s: np.ndarray  # at IC
    velocity_next_m_s: np.ndarray  # at the next IC
    position_m: np.ndarray  # distance along the track at IC
    braking_impulse_ns: np.ndarray  # > 0
    propulsive_impulse_ns: np.ndarray
    braking_fraction: np.ndarray  # share of the contact spent braking
    vertical_impulse_ns: np.ndarray
    swing_timing: np.ndarray  # mid-swing peak as a fraction of swing (0.57 sprinting)
    swing_peak_deg_s: np.ndarray  # shank peak swing angular velocity of this leg's next swing
    trunk_rock: np.ndarray  # the trunk's rock within a stride, times the real one
    event_jitter_s: np.ndarray = field(
        repr=False
    )  # (n, 2): gyro IC and TO features vs. force events

    def __len__(self) -> int:
        return len(self.ic_s)

    @property
    def contact_s(self) -> np.ndarray:
        return self.to_s - self.ic_s


@dataclass
class SessionPlan:
    athlete: Athlete
    steps: Steps
    reps: list[dict]  # rep number, scenario, start_s, end_s
    duration_s: float
    seed: int
    velocity_knots: tuple[np.ndarray, np.ndarray]  # (t, v) of the planned velocity curve

    def velocity(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, *self.velocity_knots)


class _Planner:
    def __init__(self, athlete: Athlete, seed: int) -> None:
        self.a = athlete
        self.rng = np.random.default_rng(seed)
        self.rows: list[dict] = []
        self.vt: list[tuple[float, float]] = [(0.0, 0.0)]
        self.x = 0.0
        self.foot = 0
        self.reps_done: list[dict] = []

    def jitter(self, scale: float = 1.0) -> float:
        return 1.0 + self.rng.normal(0.0, self.a.variability * scale)

    # --- one rep -------------------------------------------------------------------

    def rep(self, number: int, plan: RepPlan, t0: float) -> float:
        t = t0 + plan.stand_s
        self.vt.append((t, 0.0))
        start = t
        mss, tau = self.a.mss_m_s, self.a.tau_s
        if plan.scenario == "weak-push":
            # Less propulsive impulse at every speed: a slower, lower velocity curve.
            mss, tau = 0.93 * mss, 1.4 * tau

        def v_sprint(s: float) -> float:
            return mss * (1.0 - math.exp(-s / tau))

        t = self._run(t, plan, number, SPRINT, plan.sprint_s, v_sprint)
        v_top = v_sprint(plan.sprint_s)
        t_decel = t

        def v_decel(s: float) -> float:
            k = min(s / plan.decel_s, 1.0)
            return v_top + (plan.jog_speed_m_s - v_top) * (1 - math.cos(math.pi * k)) / 2

        t = self._run(t, plan, number, DECEL, plan.decel_s, v_decel)
        end = t
        t = self._run(t, plan, 0, JOG, plan.jog_s, lambda s: plan.jog_speed_m_s)
        t = self._walk(t, plan)
        self.vt.append((t, 0.0))
        self.reps_done.append(
            {
                "rep": number,
                "scenario": plan.scenario,
                "start_s": start,
                "end_s": end,
                "top_speed_m_s": v_top,
                "decel_start_s": t_decel,
            }
        )
        return t

    def _run(self, t: float, plan: RepPlan, rep: int, phase: str, duration: float, v_of) -> float:
        if duration <= 0:
            return t
        t_start = t
        mss = self.a.mss_m_s
        while t - t_start < duration:
            s = t - t_start
            v = v_of(s)
            v_rel = min(v / mss, 1.0)
            if phase == SPRINT:
                tc = 0.11 + 0.11 * (1.0 - v_rel) ** 1.5
                freq = 3.5 + 1.0 * v_rel
                brake_frac = 0.15 + 0.30 * v_rel**2
            else:
                blend = min(s / plan.decel_s, 1.0) if phase == DECEL else 1.0
                tc_steady = (0.8 + 0.03 * v) / max(v, 0.5)
                freq_steady = 2.3 + 0.12 * v
                tc = 0.11 + (tc_steady - 0.11) * blend
                freq = 4.5 + (freq_steady - 4.5) * blend
                brake_frac = 0.45 + 0.05 * blend
            if self.foot == 1:
                tc *= 1.0 + self.a.asymmetry
            tc *= self.jitter()
            step_s = max(1.0 / freq * self.jitter(), tc + 0.03)
            v_next = v_of(s + step_s)
            first = phase == SPRINT and t == t_start
            self._add_step(
                t,
                tc,
                step_s,
                v,
                v_next,
                brake_frac,
                START if first else phase,
                rep,
                plan.scenario,
                v_rel,
            )
            self.x += (v + v_next) / 2 * step_s
            self.vt.append((t, v))
            t += step_s
            self.foot ^= 1
        self.vt.append((t, v_of(duration)))
        return t

    def _add_step(self, ic, tc, step_s, v, v_next, brake_frac, phase, rep, scenario, v_rel):
        a, m = self.a, self.a.body_mass_kg
        base = m * (0.02 + 0.15 * v_rel**2) * self.jitter(2)
        drag = a.drag_k * ((v + v_next) / 2) ** 2 * step_s
        dv = v_next - v
        net = m * dv + drag  # the impulse the step must deliver, exactly
        if net >= 0:
            brake, prop = base, base + net
        else:  # slowing down: braking takes the difference
            prop = 0.3 * base
            brake = prop - net
        vertical = a.weight_n * step_s  # vertical impulse balance over the step
        late = scenario == "late-swing" and rep > 0
        self.rows.append(
            dict(
                foot=self.foot,
                ic_s=ic,
                to_s=ic + tc,
                phase=phase,
                rep=rep,
                scenario=scenario,
                velocity_m_s=v,
                velocity_next_m_s=v + dv,
                position_m=self.x,
                braking_impulse_ns=brake,
                propulsive_impulse_ns=prop,
                braking_fraction=brake_frac,
                vertical_impulse_ns=vertical,
                # A late swing: its peak 0.16 of the swing later than in real running.
                swing_timing=normal_swing_timing(bool(sprint_stride(phase, v)))
                + (0.16 if late else 0.0)
                + 0.015 * self.rng.standard_normal(),
                swing_peak_deg_s=126.0 * max(v_next, v) * self.jitter() * (0.85 if late else 1.0),
                trunk_rock=(2.2 if scenario == "unstable-torso" and rep > 0 else 1.0),
                event_jitter_s=(self.rng.normal(0, 0.0015), self.rng.normal(0, 0.002)),
            )
        )

    def _walk(self, t: float, plan: RepPlan) -> float:
        """Walking back: contacts overlap (double support), no flight."""
        t_end = t + plan.walk_s
        v = plan.walk_speed_m_s
        while t < t_end:
            step_s = 1.0 / 1.8 * self.jitter()
            tc = step_s * 1.2  # 20 % double support
            self.rows.append(
                dict(
                    foot=self.foot,
                    ic_s=t,
                    to_s=t + tc,
                    phase=WALK,
                    rep=0,
                    scenario=plan.scenario,
                    velocity_m_s=v,
                    velocity_next_m_s=v,
                    position_m=self.x,
                    braking_impulse_ns=0.05 * self.a.body_mass_kg * v,
                    propulsive_impulse_ns=0.05 * self.a.body_mass_kg * v,
                    braking_fraction=0.5,
                    vertical_impulse_ns=self.a.weight_n * step_s,
                    swing_timing=normal_swing_timing(False),
                    swing_peak_deg_s=126.0 * v,
                    trunk_rock=0.3,
                    event_jitter_s=(0.0, 0.0),
                )
            )
            self.x -= v * step_s  # walking back towards the start
            self.vt.append((t, -v))
            t += step_s
            self.foot ^= 1
        return t


def plan_session(
    athlete: Athlete,
    reps: list[RepPlan],
    seed: int = 0,
    duration_s: float | None = None,
    stand_s: float = 0.0,
) -> SessionPlan:
    """Plan reps one after another, after standing still for `stand_s` (and standing
    still to `duration_s`, if longer)."""
    p = _Planner(athlete, seed)
    t = stand_s
    for i, rep in enumerate(reps, start=1):
        if duration_s is not None and t >= duration_s:
            break
        t = p.rep(i, rep, t)
    end = max(t + 2.0, duration_s or 0.0)
    p.vt.append((end, 0.0))
    if p.rows:
        cols = {k: np.array([r[k] for r in p.rows]) for k in p.rows[0]}
    else:  # standing only: no contacts at all
        cols = {f.name: np.zeros(0) for f in fields(Steps)}
        cols.update(foot=np.zeros(0, int), rep=np.zeros(0, int), event_jitter_s=np.zeros((0, 2)))
    steps = Steps(**cols)
    if duration_s is not None:
        keep = steps.to_s < duration_s
        steps = Steps(**{k: v[keep] for k, v in vars(steps).items()})
    vt = np.array(sorted(p.vt))
    return SessionPlan(athlete, steps, p.reps_done, duration_s or end, seed, (vt[:, 0], vt[:, 1]))


def scenario_reps(scenario: str, n_reps: int = 100) -> list[RepPlan]:
    """Reps for a named scenario. `mixed` alternates aligned reps with each weak link."""
    if scenario in SCENARIOS:
        return [RepPlan(scenario=scenario) for _ in range(n_reps)]
    if scenario == "mixed":
        cycle = ["aligned", "late-swing", "aligned", "weak-push", "aligned", "unstable-torso"]
        return [RepPlan(scenario=cycle[i % len(cycle)]) for i in range(n_reps)]
    if scenario == "jog":
        return [RepPlan(sprint_s=0.0, decel_s=0.0, jog_s=20.0, walk_s=2.0) for _ in range(n_reps)]
    if scenario == "walk":
        return [RepPlan(sprint_s=0.0, decel_s=0.0, jog_s=0.0, walk_s=30.0) for _ in range(n_reps)]
    if scenario == "stand":
        return [RepPlan(stand_s=60.0, sprint_s=0.0, decel_s=0.0, jog_s=0.0, walk_s=0.0)]
    raise ValueError(
        f"unknown scenario {scenario!r}; choose from "
        + ", ".join([*SCENARIOS, "mixed", "jog", "walk", "stand"])
    )
