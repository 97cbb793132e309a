"""An athlete's measures over weeks: when is a change real and worth having?

Hopkins (2000, "Measures of reliability in sports medicine and science",
Sports Med 30: 1–15) and Hopkins, Marshall, Batterham & Hanin (2009):

- **Typical error** (TE): the within-athlete SD of a measure from trial to
  trial, here from repeated reps within sessions: the pooled within-session
  SD, sqrt(Σ (n_i − 1) s_i² / Σ (n_i − 1)).
- **Smallest worthwhile change** (SWC): 0.2 × the between-athlete SD (a small
  effect), or a value the coach sets.
- A change between two periods (the mean of their reps) has a standard error
  of TE × sqrt(1/n_before + 1/n_after); it is **flagged** when its whole
  confidence interval (90 % unless stated) lies beyond the SWC, in either
  direction: it then exceeds both the noise and the smallest change that
  matters, with that confidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist, fmean, stdev

SWC_FACTOR = 0.2  # Cohen's small effect, in between-athlete SDs (Hopkins 2004)
CONFIDENCE = 0.90


def typical_error(groups: Sequence[Sequence[float]]) -> float | None:
    """The pooled within-group SD (groups: one session's reps each); None with no
    group of two."""
    ss, df = 0.0, 0
    for g in groups:
        if len(g) >= 2:
            m = fmean(g)
            ss += sum((x - m) ** 2 for x in g)
            df += len(g) - 1
    return math.sqrt(ss / df) if df else None


def smallest_worthwhile_change(athlete_means: Sequence[float], factor: float = SWC_FACTOR):
    """`factor` × the SD of the athletes' means; None with fewer than two athletes."""
    if len(athlete_means) < 2:
        return None
    return factor * stdev(athlete_means)


@dataclass(frozen=True)
class Change:
    before: float  # mean of the earlier period's reps
    after: float  # mean of the later period's
    change: float  # after − before
    lower: float  # its confidence interval
    upper: float
    confidence: float
    typical_error: float
    swc: float
    flagged: bool  # the whole interval beyond ±SWC: a real, worthwhile change
    direction: str  # "up", "down" or "unclear"

    def as_dict(self) -> dict:
        return asdict(self)


def assess_change(
    before: Sequence[float],
    after: Sequence[float],
    te: float,
    swc: float,
    confidence: float = CONFIDENCE,
) -> Change:
    """The change from `before` to `after` against noise (`te`) and the SWC."""
    change = fmean(after) - fmean(before)
    se = te * math.sqrt(1.0 / len(before) + 1.0 / len(after))
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    lower, upper = change - z * se, change + z * se
    flagged = lower > swc or upper < -swc
    direction = "up" if lower > swc else "down" if upper < -swc else "unclear"
    return Change(
        fmean(before), fmean(after), change, lower, upper, confidence, te, swc, flagged, direction
    )
