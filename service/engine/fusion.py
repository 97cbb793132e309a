"""Plates and shank IMUs that saw the same contact: one step, and the IMU's timing
learnt from the plates for the steps no plate sees.

- **One step per contact.** A shank confirms a contact later than a plate (its
  toe-off needs the early swing). A plate's contact waits `imu_wait_s` for the
  shank's report and is fused with it; a shank report that comes later still,
  for a contact the plates have already measured, is recognised here (IC within
  `match_s` of a plate contact already measured) and adds no step of its own:
  its timing error is learnt all the same.
- **Learning the IMU's timing.** Every contact both saw gives the shank's IC and
  TO error against the plate (IMU − plate, in each fused step as
  `imu_ic_error_s`, `imu_to_error_s`). Per foot, the median of the latest
  `learn_steps` errors, once there are `learn_min`, bounded to
  ±`max_correction_s` (beyond that a sensor is not slightly off but wrong: a
  loose strap, a swapped placement), is taken off the shank's IC and TO of the
  steps no plate saw; those steps carry the correction they got
  (`imu_ic_correction_s`, `imu_to_correction_s`). It starts from nothing in
  each session (a sensor is strapped on anew) and lives only in the engine:
  re-scoring the stored samples learns it again, identically.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class FusionConfig:
    learn_steps: int = 15  # the IMU's timing error: the median of this many latest ...
    learn_min: int = 3  # ... once there are this many (fewer: no correction yet)
    max_correction_s: float = 0.015  # further off than this: a sensor wrong, not off


class ImuCorrection:
    def __init__(self, config: FusionConfig) -> None:
        self.cfg = config
        self._errors: dict[str, deque[tuple[float, float]]] = {}

    def observe(self, foot: str | None, ic_error_s: float, to_error_s: float) -> None:
        if foot is not None:
            errors = self._errors.setdefault(foot, deque(maxlen=self.cfg.learn_steps))
            errors.append((ic_error_s, to_error_s))

    def correction(self, foot: str | None) -> tuple[float, float] | None:
        """(IC, TO) to take off this foot's IMU-only times, or None before learning."""
        errors = self._errors.get(foot) if foot is not None else None
        if not errors or len(errors) < self.cfg.learn_min:
            return None
        bound = self.cfg.max_correction_s

        def robust(values):
            return min(max(statistics.median(values), -bound), bound)

        return robust([e[0] for e in errors]), robust([e[1] for e in errors])


class PlateContacts:
    """The contacts the plates have measured lately, to know a late shank report."""

    def __init__(self, match_s: float) -> None:
        self.match_s = match_s
        self._seen: deque[tuple[float, float]] = deque(maxlen=16)

    def add(self, ic_s: float, to_s: float) -> None:
        self._seen.append((ic_s, to_s))

    def find(self, ic_s: float) -> tuple[float, float] | None:
        return next((c for c in self._seen if abs(c[0] - ic_s) <= self.match_s), None)
