"""Push, swing and torso scores: the coaching model (docs/scoring.md).

Every score is 1.0 at the athlete's own baseline and falls towards 0 as the
link weakens; scores are clipped to [0, 1.5]. Before an athlete has a baseline
the population defaults below stand in. The system score is a soft minimum of
the three (the weakest link sets the limit), and the limiting link changes
only when another link is clearly lower (hysteresis), so it does not flicker.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

MODEL_VERSION = "0.3"
G = 9.81


@dataclass(frozen=True)
class Baseline:
    """An athlete's own references, learnt from aligned reps (or the population defaults)."""

    rf_at_zero_m_s: float = 0.55  # the RF-velocity line: RF = a + b v (Morin et al. 2011)
    rf_per_m_s: float = -0.058
    swing_lag: float = 0.56  # mid-swing peak of the other leg after IC, in contact times
    trunk_rate_rms_deg_s: float = 40.0  # trunk pitch rate during stance
    source: str = "population"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_steps(cls, steps: list[dict]) -> Baseline:
        """The athlete's references from the steps of aligned reps."""
        import numpy as np

        rf = [
            (s["velocity_m_s"], s["ratio_of_force"])
            for s in steps
            if s.get("ratio_of_force") is not None and s.get("velocity_m_s")
        ]
        lags = [s["swing_lag"] for s in steps if s.get("swing_lag") is not None]
        rates = [
            s["trunk_pitch_rate_rms_deg_s"]
            for s in steps
            if s.get("trunk_pitch_rate_rms_deg_s") is not None
        ]
        d = cls()
        a, b = d.rf_at_zero_m_s, d.rf_per_m_s
        if len(rf) >= 8:
            v, r = np.array(rf).T
            b, a = np.polyfit(v, r, 1)
        return cls(
            rf_at_zero_m_s=float(a),
            rf_per_m_s=float(b),
            swing_lag=float(np.median(lags)) if len(lags) >= 8 else d.swing_lag,
            trunk_rate_rms_deg_s=float(np.median(rates))
            if len(rates) >= 8
            else d.trunk_rate_rms_deg_s,
            source="athlete",
        )


@dataclass(frozen=True)
class ScoringConfig:
    rf_full_scale: float = 0.10  # an RF this far below the athlete's line: push score 0
    swing_lag_full_scale: float = 0.40  # this much later (in contact times): swing score 0
    softmin_temperature: float = 0.05
    limiter_hysteresis: float = 0.08
    floor: float = 0.75  # every link at least this ...
    balance: float = 0.25  # ... push and swing this close ...
    aligned_steps: int = 3  # ... for this many steps in a row: aligned


def clip(x: float) -> float:
    return min(max(x, 0.0), 1.5)


def push_score(rf: float | None, velocity: float | None, base: Baseline, cfg: ScoringConfig):
    if rf is None or velocity is None:
        return None
    expected = base.rf_at_zero_m_s + base.rf_per_m_s * velocity
    return clip(1.0 + (rf - expected) / cfg.rf_full_scale)


def swing_score(lag: float | None, base: Baseline, cfg: ScoringConfig):
    if lag is None:
        return None
    return clip(1.0 - max(lag - base.swing_lag, 0.0) / cfg.swing_lag_full_scale)


def torso_score(rate_rms: float | None, base: Baseline):
    if rate_rms is None or rate_rms <= 0:
        return None
    return clip(base.trunk_rate_rms_deg_s / rate_rms)


def soft_min(values: list[float], temperature: float) -> float:
    low = min(values)
    total = sum(math.exp(-(v - low) / temperature) for v in values)
    return low - temperature * math.log(total)


class Scorer:
    """Per-step scores, the limiting link with hysteresis, and the aligned streak."""

    def __init__(self, baseline: Baseline | None = None, config: ScoringConfig | None = None):
        self.base = baseline or Baseline()
        self.cfg = config or ScoringConfig()
        self.limiter: str | None = None
        self.streak = 0

    def reset(self) -> None:
        """A new rep: nothing carries over."""
        self.limiter = None
        self.streak = 0

    def score(self, rf, velocity, swing_lag, trunk_rate_rms) -> dict:
        cfg = self.cfg
        scores = {
            "push": push_score(rf, velocity, self.base, cfg),
            "swing": swing_score(swing_lag, self.base, cfg),
            "torso": torso_score(trunk_rate_rms, self.base),
        }
        present = {k: v for k, v in scores.items() if v is not None}
        out = {f"{k}_score": v for k, v in scores.items()}
        if not present:
            out.update(system_score=None, limiter=None, aligned=None)
            return out
        system = soft_min(list(present.values()), cfg.softmin_temperature)
        lowest = min(present, key=present.get)
        current = self.limiter if self.limiter in present else None
        if current is None or present[lowest] < present[current] - cfg.limiter_hysteresis:
            self.limiter = lowest
        # Above baseline counts as baseline here: the swing score cannot exceed 1 (a
        # swing is at best on time), so a stronger push with an on-time swing matches.
        balanced = (
            scores["push"] is None
            or scores["swing"] is None
            or abs(min(scores["push"], 1.0) - min(scores["swing"], 1.0)) <= cfg.balance
        )
        ok = balanced and all(v >= cfg.floor for v in present.values())
        self.streak = self.streak + 1 if ok else 0
        aligned = self.streak >= cfg.aligned_steps
        out.update(system_score=system, limiter=self.limiter, aligned=aligned)
        return out
