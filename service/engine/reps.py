"""Reps: which steps are a sprint. Every step is reported the moment it is measured.

A session has standing, walking, jogging and sprints; a rep is a sprint. Whether
the first steps after standing are a sprint is known only a step or two later
(two short contacts, or the speed sensor past rep_speed_m_s), and whether a
slow step at the end is the sprint ending only a few steps later. Those steps
are not held back for it (the coach and the athlete want them at once): they
are reported as **provisional** members of the rep they would belong to, and
later either

- confirmed, `{"type": "steps_confirmed", "rep": k, "steps": [n, ...]}`, or
- retracted, `{"type": "steps_retracted", "steps": [n, ...], "reason": ...}`:
  "not a sprint" (the candidate turned out to be jogging, or the athlete stood
  still again) or "after the sprint" (the slowing down once the sprint ended).

A retracted step is not stored and is in no export; `settled()` turns a list of
events into what a session keeps. Scores are computed as each step comes, in
order, exactly as when steps were held (a rep's scorer starts at its first
candidate step), so the settled steps are those the engine gave before
2026-12-02, numbered with gaps where steps were retracted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .events import Rep, Step, StepsConfirmed, StepsRetracted, known
from .scoring import MODEL_VERSION, Scorer

IDLE, ARMED, CANDIDATE, ACTIVE = "idle", "armed", "candidate", "active"
NOT_A_SPRINT, AFTER_THE_SPRINT = "not a sprint", "after the sprint"


def settled(events: list[Mapping]) -> list[dict]:
    """What a session keeps of the engine's events (or of their JSON form), as plain
    dicts: steps not retracted (without the live `provisional` flag) and reps, in order."""
    gone = {n for e in events if e["type"] == "steps_retracted" for n in e["steps"]}
    out = []
    for e in events:
        if e["type"] == "step":
            if e["n"] not in gone:
                out.append({k: v for k, v in e.items() if k != "provisional"})
        elif e["type"] not in ("steps_confirmed", "steps_retracted"):
            out.append(dict(e))
    return out


@dataclass(eq=False, slots=True)
class OpenRep:
    """The rep under way: its number, its first contact, its steps so far."""

    number: int
    start_s: float
    steps: list[Step] = field(default_factory=list)


class RepGate:
    """Steps in (measured, in time order), step and rep events out."""

    def __init__(self, cfg: Any, scorer: Scorer, speed: Any) -> None:
        self.cfg = cfg  # the EngineConfig: its rep_* fields and sprints_only
        self.scorer = scorer
        # The SpeedTrack: first_fast(from_s, to_s) confirms a sprint by speed, and
        # profile(start_s, end_s) gives a rep's sprint profile fields.
        self._speed = speed
        self.state = ARMED
        self._pending: list[Step] = []  # provisional steps: candidates, or slowing down
        self._rep: OpenRep | None = None  # the rep under way
        self.reps = 0
        self._steps = 0  # steps reported: their `n`
        self._min_contact = math.inf
        # Reps ended by a step: their line, and the speed samples their profile is
        # fitted to (taken at the end; the fit, the costly part, comes with `closed`).
        self._closing: list[tuple[dict, tuple]] = []

    @property
    def closing(self) -> bool:
        """A rep has ended whose event waits for `closed` (the engine's next look)."""
        return bool(self._closing)

    def closed(self) -> list[Mapping]:
        """The reps ended since the last look, their sprint profiles fitted. A rep ended
        by its last slowing-down step is reported at the engine's next look, a tick
        later live, not in the same: that step's message does not wait for the fit
        (~3 ms here, several throttled periods on a Pi 4's budget: issue 28). The
        events, and their order, are the same however the samples come."""
        done, self._closing = self._closing, []
        return [self._finish(line, samples) for line, samples in done]

    @property
    def active(self) -> bool:
        return self.state == ACTIVE

    @property
    def armed(self) -> bool:
        """Waiting for a first step, nothing provisional: stillness changes nothing."""
        return self.state == ARMED and not self._pending

    @property
    def start_s(self) -> float | None:
        """Where the rep under way (or the candidate for one) began."""
        if self._rep is not None:
            return self._rep.start_s
        return self._pending[0].ic_time_s if self._pending else None

    def on_step(self, step: Step, still_since_s: float | None) -> list[Mapping]:
        """A measured step; `still_since_s`: the athlete was still (or unseen) from
        then until this step, long enough for it to be a new start (else None)."""
        cfg = self.cfg
        events: list[Mapping] = self.closed()  # a rep that ended comes before the step
        if still_since_s is not None:
            events += self.stop(still_since_s)
        if self.state == ARMED:
            self.state, self._pending = CANDIDATE, []
            self.scorer.reset()  # a rep's scores start at its first step
        if self.state == CANDIDATE:
            self._pending.append(step)
            short = sum(1 for s in self._pending if s.contact_time_s <= cfg.rep_contact_s)
            # The speed counts up to this step's TO: the data the step waited for.
            first_s, to_s = self._pending[0].ic_time_s, step.to_time_s
            sprinting = (
                not cfg.sprints_only
                or short >= cfg.rep_short_contacts
                or self._speed.first_fast(first_s - cfg.rep_speed_lead_s, to_s) is not None
            )
            step = self._pending[-1] = self._report(step, not sprinting, self.reps + 1)
            events.append(step)
            if sprinting:
                events += self._start(step)
            elif len(self._pending) >= cfg.rep_confirm_steps:
                events += self._retract(NOT_A_SPRINT)  # jogging, not a sprint
                self.state = IDLE
            return events
        if self.state == ACTIVE:
            rf = step.ratio_of_force
            braking = rf is not None and rf < cfg.rep_braking_rf and cfg.sprints_only
            slow = step.contact_time_s > cfg.rep_end_ratio * self._min_contact
            if braking or (slow and cfg.sprints_only):
                # Slowing down: provisional; if the sprint is over, it was not part of it.
                step = self._report(step, True, self._open.number, slowing=True)
                self._pending.append(step)
                events.append(step)
                if len(self._pending) >= (cfg.rep_braking_steps if braking else cfg.rep_end_steps):
                    end_s = self._pending[0].ic_time_s
                    events += self._retract(AFTER_THE_SPRINT)
                    self._end(end_s, defer=True)  # (reported at the next look: closed)
            else:
                step = self._report(step, False, self._open.number)
                events.append(step)
                events += self._confirm(step)
                self._join(step)
        return events

    def stop(self, end_s: float) -> list[Mapping]:
        """The athlete is still (or the data ended): a rep under way ends at end_s;
        provisional steps were not part of a sprint."""
        events: list[Mapping] = self.closed()
        if self.state == ACTIVE:
            events += self._retract(AFTER_THE_SPRINT)
            events += self._end(end_s)
        elif self._pending:
            events += self._retract(NOT_A_SPRINT)
        if self.state in (IDLE, CANDIDATE):
            self.state = ARMED
        return events

    def speed_only(self, start_s: float, end_s: float) -> list[Mapping]:
        """A rep seen by a speed sensor alone (no step stream)."""
        events = self.closed()
        self.reps += 1
        self._rep = OpenRep(self.reps, start_s)
        return events + self._close(end_s)

    # --- inside ---------------------------------------------------------------------------

    def _report(self, step: Step, provisional: bool, rep: int, slowing: bool = False) -> Step:
        """The step numbered and scored, as it is reported (and kept). A step of the
        slowing down after a sprint is judged on no link: it is not a weakness."""
        self._steps += 1
        scores = self.scorer.score(
            step.ratio_of_force,
            step.velocity_m_s,
            step.swing_lag,
            step.trunk_pitch_rate_rms_deg_s,
            slowing=slowing,
        )
        return replace(
            step, n=self._steps, rep=rep, provisional=provisional,
            baseline_state=self.scorer.state, **scores,
        )  # fmt: skip

    @property
    def _open(self) -> OpenRep:
        """The rep under way (in the states that have one)."""
        assert self._rep is not None, "no rep is under way"
        return self._rep

    def _join(self, step: Step) -> None:
        self._min_contact = min(self._min_contact, known(step.contact_time_s))
        self._open.steps.append(step)

    def _start(self, step: Step) -> list[Mapping]:
        """The candidate steps, up to this one, are a sprint: a rep from the first."""
        self.reps += 1
        self.state, self._min_contact = ACTIVE, math.inf
        self._rep = OpenRep(self.reps, self._pending[0].ic_time_s)
        return self._confirm(step)

    def _confirm(self, step: Step) -> list[Mapping]:
        """The provisional steps are the rep's (and `step`, reported as such)."""
        pending, self._pending = self._pending, []
        for s in pending:
            self._join(s)
        earlier = [known(s.n) for s in pending if s is not step]
        if not earlier:
            return []
        return [StepsConfirmed(self._open.number, tuple(earlier))]

    def _retract(self, reason: str) -> list[Mapping]:
        pending, self._pending = self._pending, []
        if not pending:
            return []
        return [StepsRetracted(tuple(known(s.n) for s in pending), reason)]

    def _end(self, end_s: float, defer: bool = False) -> list[Mapping]:
        self.state = IDLE
        return self._close(end_s, defer)

    def _close(self, end_s: float, defer: bool = False) -> list[Mapping]:
        self.scorer.rep_ended()
        rep, self._rep = self._open, None
        steps = rep.steps
        line = {
            "type": "rep",
            "rep": rep.number,
            "start_s": rep.start_s,
            "end_s": end_s,
            "steps": len(steps),
        }
        contacts = [known(s.contact_time_s) for s in steps]
        line["min_contact_time_s"] = min(contacts) if contacts else None
        line["aligned_steps"] = sum(1 for s in steps if s.aligned)
        line["judged_steps"] = sum(1 for s in steps if s.aligned is not None)
        # Its steps' baseline (before this rep's end may have made a provisional one).
        line["baseline_state"] = steps[-1].baseline_state if steps else self.scorer.state
        limiters = [s.limiter for s in steps if s.limiter and not s.aligned]
        # The most frequent; on a tie the first to limit (a set's order would vary by process).
        line["main_limiter"] = (
            max(dict.fromkeys(limiters), key=limiters.count) if limiters else None
        )
        samples = self._speed.profile_samples(rep.start_s, end_s)
        if defer:
            self._closing.append((line, samples))
            return []
        return [self._finish(line, samples)]

    def _finish(self, line: dict, samples: tuple) -> Rep:
        line.update(self._speed.profile_of(*samples))
        line["model_version"] = MODEL_VERSION
        return Rep(**line)
