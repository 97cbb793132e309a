"""The training session under way: everything a recording needs, made at its start and
dropped as one at its stop (service/live/pipeline.py holds at most one)."""

from __future__ import annotations

from dataclasses import dataclass

from ..cues.policy import CueMaker
from ..merge import TimeMerge
from ..recorder import Recording
from ..store import Session


@dataclass(eq=False)
class ActiveSession:
    row: Session  # its stored row (status "recording")
    recording: Recording  # its engine and the chunking of its raw samples
    merge: TimeMerge  # the sensors' blocks into time order for the engine
    cues: CueMaker  # the athlete's cues, by its policy

    @classmethod
    def begin(cls, row: Session, recording: Recording, cues: CueMaker) -> ActiveSession:
        # A block waits for the other sensors no longer than the engine waits for them.
        return cls(row, recording, TimeMerge(max_hold_s=recording.engine.cfg.stale_s), cues)

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def origin_s(self) -> float:
        """The host monotonic time of its start: what clients' times count from."""
        return self.row.clock_origin_s
