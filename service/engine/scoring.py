"""Push, swing and torso scores and the verdict: the coaching model (docs/scoring.md).

Every score is 1.0 at the athlete's own baseline and falls towards 0 as the
link weakens; scores are clipped to [0, 1.5]. Before an athlete has a baseline
the population defaults below stand in (from the literature and the real
sprint and jog of Dorn et al. 2012). Within a rep each score is smoothed over
the steps, so one noisy step does not decide.

The verdict is a classifier: a link is *in band* when its smoothed score is
above its floor, 1 less 2.33 times its smoothed step-to-step SD in the
athlete's normal running (Baseline.*_sd). When every link is in band the step
is *aligned* and no link is named; otherwise the lowest link out of band is
the *limiter* (and it stays the limiter while it is out of band, unless
another is lower by more than
`limiter_hysteresis`, so it does not flicker). The system score is a soft
minimum of the three (the weakest link sets the limit), never below 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .events import BaselineState

MODEL_VERSION = "0.5"
LINKS = ("push", "swing", "torso")
PROVENANCE = ("learnt_at", "from_sessions")  # a stored baseline's notes, not references
MIN_RUNNING_M_S = 1.0  # a step slower than this is not running: no reference learns from it


@dataclass(frozen=True)
class Baseline:
    """An athlete's own references (or the population defaults), each a line in the
    step's speed: reference = at_zero + per_m_s x velocity."""

    # RF-velocity line: RF ~0.5 at the start falling to ~0 near top speed (Morin et al.
    # 2011; Samozino et al. 2016).
    rf_at_zero_m_s: float = 0.55
    rf_per_m_s: float = -0.058
    # When the other leg's mid-swing peak comes after IC, in contact times: 0.66-0.72
    # in the real sprint (9.5 m/s).
    swing_lag_at_zero: float = 0.70
    swing_lag_per_m_s: float = 0.0
    # The trunk's pitch rate in stance (robust RMS): ~100 deg/s sprinting at 9.5 m/s,
    # ~42 jogging at 3.5 m/s in the real trials: it rocks more as the athlete runs faster.
    trunk_rate_at_zero_deg_s: float = 5.0
    trunk_rate_per_m_s: float = 10.0
    # How much each score varies from step to step in the athlete's normal running
    # (robust SD): a link is out of band only beyond that (Scorer.floor). Before an
    # athlete has a baseline, wide: the population's lines fit no one exactly, and a
    # light that cries wolf is worse than one that waits for the athlete's own.
    push_sd: float = 0.35
    swing_sd: float = 0.25
    torso_sd: float = 0.25
    source: str = "population"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Baseline:
        """A stored baseline, those of model 0.3 (constants, not lines) included; where
        it came from (`learnt_at`, `from_sessions`: the API's) is not a reference."""
        d = {k: v for k, v in d.items() if k not in PROVENANCE}
        if "swing_lag" in d:
            d["swing_lag_at_zero"], d["swing_lag_per_m_s"] = d.pop("swing_lag"), 0.0
        if "trunk_rate_rms_deg_s" in d:
            d["trunk_rate_at_zero_deg_s"] = d.pop("trunk_rate_rms_deg_s")
            d["trunk_rate_per_m_s"] = 0.0
        return cls(**d)

    def rf(self, v: float) -> float:
        return self.rf_at_zero_m_s + self.rf_per_m_s * v

    def swing_lag(self, v: float | None) -> float | None:
        return _at(self.swing_lag_at_zero, self.swing_lag_per_m_s, v)

    def trunk_rate(self, v: float | None) -> float | None:
        return _at(self.trunk_rate_at_zero_deg_s, self.trunk_rate_per_m_s, v)

    @classmethod
    def from_steps(cls, steps: list[dict]) -> Baseline:
        """The athlete's references from the steps of reps the coach picked as normal,
        good running: each line fitted against the step's speed where the speeds
        span at least 1.5 m/s, else the median; the default where < 8 steps."""
        d = cls()
        rf = _line(steps, "ratio_of_force", (d.rf_at_zero_m_s, d.rf_per_m_s), fit_only=True)
        lag = _line(steps, "swing_lag", (d.swing_lag_at_zero, d.swing_lag_per_m_s))
        rate = _line(
            steps, "trunk_pitch_rate_rms_deg_s", (d.trunk_rate_at_zero_deg_s, d.trunk_rate_per_m_s)
        )
        fitted, cfg = cls(*rf, *lag, *rate), ScoringConfig()
        # The spread of each measure about the athlete's lines, in score units (before
        # the scores' clipping: a swing score is capped at 1, its spread is not).
        deviations: dict[str, list[float]] = {"push": [], "swing": [], "torso": []}
        for s in steps:
            v = s.get("velocity_m_s")
            if v is not None and v <= MIN_RUNNING_M_S:
                continue
            if s.get("ratio_of_force") is not None and v:
                deviations["push"].append((s["ratio_of_force"] - fitted.rf(v)) / cfg.rf_full_scale)
            lag_ref, rate_ref = fitted.swing_lag(v), fitted.trunk_rate(v)
            if s.get("swing_lag") is not None and lag_ref is not None:
                late = s["swing_lag"] - lag_ref
                deviations["swing"].append(late / cfg.swing_lag_full_scale)
            if s.get("trunk_pitch_rate_rms_deg_s") and rate_ref is not None:
                deviations["torso"].append(rate_ref / s["trunk_pitch_rate_rms_deg_s"])
        spread = {
            link: _robust_sd(values, getattr(d, f"{link}_sd"))
            for link, values in deviations.items()
        }
        return cls(*rf, *lag, *rate, **{f"{k}_sd": v for k, v in spread.items()}, source="athlete")

    def sd(self, link: str) -> float:
        return getattr(self, f"{link}_sd")


def _at(at_zero: float, per_m_s: float, v: float | None) -> float | None:
    """A reference line at speed v; None where it depends on speed and the rig has none
    (a missing speed is not 0 m/s: the trunk's reference at 0 is 5 deg/s)."""
    if per_m_s == 0.0:
        return at_zero
    return None if v is None else at_zero + per_m_s * v


def _robust_sd(values: list[float], default: float) -> float:
    """1.4826 x the median absolute deviation (the SD for normal data, untouched by a
    few odd steps); the default where < 8 values."""
    if len(values) < 8:
        return default
    x = np.asarray(values)
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def _line(steps, key, default, fit_only=False) -> tuple[float, float]:
    """A measure's line in speed (least squares), from steps at running speed (a
    treadmill's belt run backwards, or a walk back, is not running: it tilted the
    ratio of force's line to 0.19 - 0.005 v); else its median; else the default."""
    pairs = [(s.get("velocity_m_s"), s[key]) for s in steps if s.get(key) is not None]
    with_v = [(v, x) for v, x in pairs if v is not None and v > MIN_RUNNING_M_S]
    if len(with_v) >= 8 and np.ptp([v for v, _ in with_v]) >= 1.5:
        v, x = np.array(with_v).T
        slope, at_zero = np.polyfit(v, x, 1)
        return float(at_zero), float(slope)
    if len(pairs) >= 8 and not fit_only:
        return float(np.median([x for _, x in pairs])), 0.0
    return default


@dataclass(frozen=True)
class ScoringConfig:
    rf_full_scale: float = 0.10  # an RF this far below the athlete's line: push score 0
    swing_lag_full_scale: float = 0.40  # this much later (in contact times): swing score 0
    smoothing: float = 0.35  # a step's score counts this much against the rep's last
    # A rep's first steps (from a standing start: the first is taken at ~0 m/s, where
    # the RF-velocity line is furthest from any real start) get scores but no verdict,
    # and do not weigh on the smoothing.
    warmup_steps: int = 3
    softmin_temperature: float = 0.05  # the system score's soft minimum: how soft
    # In band: a smoothed score above 1 - band_z x its smoothed step-to-step SD (the
    # athlete's own, Baseline.*_sd), kept between floor_min and floor_max: a link is
    # named only when it falls further than the athlete's normal variation does
    # (z 2.33: one step in a hundred by chance, for normal scores).
    band_z: float = 2.33
    floor_min: float = 0.55  # the band's floor never below this ...
    floor_max: float = 0.85  # ... nor above this
    limiter_hysteresis: float = 0.08  # a new limiter must be this much lower: no flicker
    # An athlete with no baseline: a provisional one from the steady sprint steps
    # (after a rep's first `warmup_steps`, before it slows) of the first rep that has
    # at least `learn_steps` of them, learnt when it ends: the whole rep, so that its
    # references span acceleration and top speed (a 40 m sprint has ~20 such steps);
    # or from `learn_max_steps` of them in a run that goes on (a treadmill).
    learn_steps: int = 12  # the fewest steady sprint steps a rep must hold to learn from
    learn_max_steps: int = 40  # a run that goes on (a treadmill) learns from this many


def clip(x: float) -> float:
    return min(max(x, 0.0), 1.5)


def push_score(rf, velocity, base: Baseline, cfg: ScoringConfig) -> float | None:
    if rf is None or velocity is None:
        return None
    return clip(1.0 + (rf - base.rf(velocity)) / cfg.rf_full_scale)


def swing_score(lag, velocity, base: Baseline, cfg: ScoringConfig) -> float | None:
    ref = base.swing_lag(velocity)
    if lag is None or ref is None:
        return None
    # Earlier than usual scores above 1, as a stronger push does: symmetric, so that a
    # rep's smoothed score sits at 1 for the athlete's normal running, not below it.
    return clip(1.0 - (lag - ref) / cfg.swing_lag_full_scale)


def torso_score(rate_rms, velocity, base: Baseline) -> float | None:
    ref = base.trunk_rate(velocity)
    if rate_rms is None or rate_rms <= 0 or ref is None:
        return None
    return clip(ref / rate_rms)


def raw_scores(rf, velocity, swing_lag, trunk_rate_rms, base: Baseline, cfg: ScoringConfig):
    """One step's push, swing and torso scores (None where a sensor is missing)."""
    return {
        "push": push_score(rf, velocity, base, cfg),
        "swing": swing_score(swing_lag, velocity, base, cfg),
        "torso": torso_score(trunk_rate_rms, velocity, base),
    }


def soft_min(values: list[float], temperature: float) -> float:
    low = min(values)
    total = sum(math.exp(-(v - low) / temperature) for v in values)
    return max(low - temperature * math.log(total), 0.0)


class Scorer:
    """Per-step scores, smoothed within a rep, and the verdict.

    Its baseline is the athlete's, set by the coach (`set`), or, for an athlete with
    none, learnt here (`learning`, then `provisional`): the population's lines fit no
    one well enough to blame a link, so until the athlete's first rep of steady
    sprinting is over, no link is named; from then on they are judged against a
    baseline fitted to its steps (Baseline.from_steps), its spreads widened for how
    few they were (ScoringConfig.learn_steps)."""

    def __init__(self, baseline: Baseline | None = None, config: ScoringConfig | None = None):
        self.cfg = config or ScoringConfig()
        athletes = baseline is not None and baseline.source != "population"
        self.base: Baseline = baseline if baseline is not None and athletes else Baseline()
        self.state: BaselineState = "set" if athletes else "learning"
        self._learnt: list[dict] = []  # steady sprint steps, while learning
        self.limiter: str | None = None
        self._smooth: dict[str, float] = {}
        self._steps = 0

    def rep_ended(self) -> None:
        """A rep is over: learnt from, if it held enough steady sprinting (else its
        steps teach nothing: the next rep starts learning afresh)."""
        if self.state == "learning" and len(self._learnt) >= self.cfg.learn_steps:
            self._settle()
        self._learnt = []

    def reset(self) -> None:
        """A new rep (or a candidate for one): nothing carries over but what was learnt;
        steps of a candidate that was no sprint, or of a rep too short, are forgotten."""
        self._learnt = []
        self.limiter = None
        self._smooth = {}
        self._steps = 0

    def score(self, rf, velocity, swing_lag, trunk_rate_rms, slowing: bool = False) -> dict:
        """A step's scores and verdict. `slowing`: past the rep's sprint (the rep gate's
        deceleration), judged on no link."""
        cfg = self.cfg
        raw = raw_scores(rf, velocity, swing_lag, trunk_rate_rms, self.base, cfg)
        self._steps += 1
        unjudged = {f"{k}_score": v for k, v in raw.items()}
        unjudged.update(system_score=None, limiter=None, aligned=None, judged_links="")
        if self._steps <= cfg.warmup_steps or slowing:
            unjudged["verdict"] = "slowing" if slowing else "warming up"
            return unjudged
        if self.state == "learning":
            self._learn(rf, velocity, swing_lag, trunk_rate_rms)
            return {**unjudged, "verdict": "learning"}
        for link, value in raw.items():
            if value is not None:
                last = self._smooth.get(link, 1.0)  # a rep starts as the athlete's usual
                self._smooth[link] = cfg.smoothing * value + (1 - cfg.smoothing) * last
        present = {k: self._smooth[k] for k, v in raw.items() if v is not None}
        if not present:
            return {**unjudged, "verdict": "no links"}
        out: dict[str, Any] = {f"{k}_score": present.get(k) for k in LINKS}
        limiter = self._limiter(present)
        out.update(
            system_score=soft_min(list(present.values()), cfg.softmin_temperature),
            limiter=limiter,
            aligned=limiter is None,
            judged_links=" ".join(k for k in LINKS if k in present),
            verdict="aligned" if limiter is None else "limited",
        )
        return out

    def _learn(self, rf, velocity, swing_lag, trunk_rate_rms) -> None:
        self._learnt.append(
            {
                "ratio_of_force": rf,
                "velocity_m_s": velocity,
                "swing_lag": swing_lag,
                "trunk_pitch_rate_rms_deg_s": trunk_rate_rms,
            }
        )
        if len(self._learnt) >= self.cfg.learn_max_steps:  # a long run: a treadmill's
            self._settle()

    def _settle(self) -> None:
        self.base = provisional(self._learnt, self.cfg)
        self.state, self._learnt, self._smooth = "provisional", [], {}

    def floor(self, link: str) -> float:
        """The lowest smoothed score still in band, for this athlete; for one learnt
        from a single rep, the widest band (`floor_min`): one rep shows how steps vary
        within a rep, not how one rep differs from the next."""
        cfg = self.cfg
        if self.state == "provisional":
            return cfg.floor_min
        smoothed_sd = self.base.sd(link) * math.sqrt(cfg.smoothing / (2 - cfg.smoothing))
        return min(max(1.0 - cfg.band_z * smoothed_sd, cfg.floor_min), cfg.floor_max)

    def _limiter(self, scores: dict[str, float]) -> str | None:
        out = {k: v for k, v in scores.items() if v < self.floor(k)}
        if not out:
            self.limiter = None
            return None
        lowest = min(out, key=lambda k: out[k])
        margin = self.cfg.limiter_hysteresis
        keep = self.limiter in out and out[lowest] >= out[self.limiter] - margin
        self.limiter = self.limiter if keep else lowest
        return self.limiter


def provisional(steps: list[dict], cfg: ScoringConfig) -> Baseline:
    """A baseline from the athlete's first steady sprint steps: their lines as
    Baseline.from_steps fits them, and each spread widened to the upper one-sided
    95 % bound of its estimate (a MAD-based SD of n values has a relative standard
    error of about 1.67 / sqrt(2n): 34 % from 12 steps). While it is provisional, the
    band is the widest anyway (Scorer.floor); the spreads matter if a coach keeps it."""
    fitted = Baseline.from_steps(steps)
    widen = 1.0 + 1.645 * 1.67 / math.sqrt(2 * len(steps))
    spreads = {f"{k}_sd": fitted.sd(k) * widen for k in LINKS}
    return replace(fitted, **spreads, source="provisional")
