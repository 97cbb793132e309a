"""Which steps and reps get a cue, and what it says. Pure: events in, cues out.

The defaults are what a coach would choose (docs/cues.md): sparse. A step
cue only when the limiting link changes or a step falls clearly out of band,
never two within `min_gap_steps`; a short "aligned" after a run of aligned
steps; a spoken summary after each rep. Across a block of reps, step cues
fade: after `fade_after_reps` reps only every `fade_every`-th rep gets them
(summaries stay), because feedback given less often is learnt better
(Winstein & Schmidt 1990; Wulf & Shea 2004).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal

from stridesync_cue.contract import LIMITER_WORDS

Mode = Literal["off", "changes", "every-step"]
NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]


@dataclass(frozen=True)
class CuePolicy:
    mode: Mode = "changes"
    out_of_band: float = 0.6  # a system score below this is out of band
    min_gap_steps: int = 4  # at most one step cue in this many steps
    aligned_streak: int = 6  # "aligned" after this many aligned steps in a row (0: never)
    rep_summary: bool = True
    fade_after_reps: int = 3  # step cues on every rep up to this one ...
    fade_every: int = 2  # ... then on every n-th rep only (1: no fading)
    step_expiry_s: float = 0.4  # a step cue not played by then is stale: it is dropped
    summary_expiry_s: float = 10.0

    def as_dict(self) -> dict:
        return asdict(self)

    def updated(self, changes: dict | None) -> CuePolicy:
        return replace(self, **(changes or {}))


def number(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


class CueMaker:
    """The cue policy applied to one session's steps and reps, in order."""

    def __init__(self, policy: CuePolicy) -> None:
        self.p = policy
        self.streak = 0
        self.last_limiter: str | None = None
        self.since_cue = 10**9
        self.reps_done = 0

    def _fading(self) -> bool:
        """Step cues are off for this rep (the one after `reps_done`)."""
        rep = self.reps_done + 1
        if rep <= self.p.fade_after_reps or self.p.fade_every <= 1:
            return False
        return (rep - self.p.fade_after_reps) % self.p.fade_every != 0

    def on_event(self, event: dict) -> dict | None:
        """The cue for a step or a rep, or None. A provisional step (reps.py in the
        engine) may yet be retracted: no cue."""
        if event["type"] == "step" and not event.get("provisional"):
            return self.on_step(event)
        if event["type"] == "rep":
            return self.on_rep(event)
        return None

    def on_step(self, step: dict) -> dict | None:
        """The cue for this step, or None. A cue: kind, sound, text, expiry."""
        p = self.p
        self.since_cue += 1
        if step.get("aligned"):
            self.streak += 1
            self.last_limiter = None
            if (
                p.mode != "off"
                and p.aligned_streak
                and self.streak == p.aligned_streak
                and not self._fading()
            ):
                return self._cue("aligned", "aligned", "aligned", p.step_expiry_s)
            return None
        self.streak = 0
        limiter = step.get("limiter")
        if p.mode == "off" or limiter not in LIMITER_WORDS or self._fading():
            self.last_limiter = limiter
            return None
        score = step.get("system_score")
        changed = limiter != self.last_limiter
        out = score is not None and score < p.out_of_band
        self.last_limiter = limiter
        if p.mode == "every-step" or ((changed or out) and self.since_cue >= p.min_gap_steps):
            return self._cue("limiter", limiter, LIMITER_WORDS[limiter], p.step_expiry_s)
        return None

    def on_rep(self, rep: dict) -> dict | None:
        self.reps_done += 1
        self.streak, self.last_limiter, self.since_cue = 0, None, 10**9
        if not self.p.rep_summary or self.p.mode == "off":
            return None
        return self._cue("summary", "summary", summary_text(rep), self.p.summary_expiry_s)

    def _cue(self, kind: str, sound: str, text: str, expiry_s: float) -> dict:
        if kind != "summary":
            self.since_cue = 0
        return {"kind": kind, "sound": sound, "text": text, "expiry_s": expiry_s}


def summary_text(rep: dict) -> str:
    """ "Rep three: aligned eight of twelve, swing late." Of the steps judged: a rep
    the athlete's baseline was still learnt from judged none, and says so (it said
    "aligned zero of eighteen")."""
    judged = rep.get("judged_steps")
    steps = (rep.get("steps") or 0) if judged is None else judged  # (reps before model 0.5)
    aligned = rep.get("aligned_steps") or 0
    if steps == 0 and rep.get("baseline_state") == "learning":
        return f"Rep {number(rep['rep'])}: learning your running, nothing judged yet."
    if steps == 0:
        return f"Rep {number(rep['rep'])}: nothing judged."
    text = f"Rep {number(rep['rep'])}: aligned {number(aligned)} of {number(steps)}"
    limiter = rep.get("main_limiter")
    if limiter in LIMITER_WORDS and aligned < steps:
        text += f", {LIMITER_WORDS[limiter]}"
    return text + "."
