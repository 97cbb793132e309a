"""The engine's settings: the athlete it measures, and every value it decides by.

Each field says what it is and why (tests/test_config_documented.py checks it);
the detectors' own settings are in their modules (force.py, imu.py, fusion.py,
scoring.py, segments.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .force import ForceDetectorConfig
from .fusion import FusionConfig
from .imu import ShankDetectorConfig
from .profile import DRAG_COEFFICIENT, G
from .scoring import ScoringConfig
from .segments import SegmentConfig


@dataclass(frozen=True)
class AthleteInfo:
    body_mass_kg: float
    height_m: float = 1.75

    def __post_init__(self) -> None:
        if not (20.0 <= self.body_mass_kg <= 250.0 and 1.0 <= self.height_m <= 2.5):
            raise ValueError("body mass must be 20-250 kg and height 1.0-2.5 m")

    @property
    def weight_n(self) -> float:
        return self.body_mass_kg * G


@dataclass(frozen=True)
class EngineConfig:
    force: ForceDetectorConfig = field(default_factory=ForceDetectorConfig)  # force.py
    shank: ShankDetectorConfig = field(default_factory=ShankDetectorConfig)  # imu.py
    scoring: ScoringConfig = field(default_factory=ScoringConfig)  # scoring.py
    fusion: FusionConfig = field(default_factory=FusionConfig)  # fusion.py
    max_step_s: float = 1.0  # a longer gap between contacts: not one run of steps
    match_s: float = 0.04  # force and IMU contacts this close are the same contact
    swing_wait_s: float = 0.010  # the other leg's swing peak must be in by TO + this
    imu_wait_s: float = 0.04  # a plate's contact waits this long for the shank's
    # A stream this far behind the newest is missing, not late: as long as the live
    # merge waits for a stream (service/merge.py), so that live and a re-score of the
    # stored samples agree on which streams were there for every step.
    stale_s: float = 5.0
    history_cap_s: float = 60.0  # never keep more history than this, whatever waits
    still_s: float = 1.0  # no step for this long: the athlete is still
    # A contact's signal spans up to this long (a shank: mid-swing peak to toe-off),
    # so a detector reports a contact up to this long after its IC, and after lost
    # samples needs this long of signal before it can find one again.
    contact_span_s: float = 0.6
    rep_contact_s: float = 0.18  # contacts this short ...
    rep_short_contacts: int = 2  # ... this many of them confirm a sprint (one may be a hop) ...
    rep_speed_m_s: float = 5.0  # ... as does this speed, reached from this long before
    rep_speed_lead_s: float = 1.0  # the first step (a start: speed rises before it) to now
    rep_confirm_steps: int = 8  # within this many steps, or it was not a sprint
    rep_end_ratio: float = 1.6  # contacts this much longer than the rep's shortest ...
    rep_end_steps: int = 3  # ... this many in a row: the sprint is over
    rep_braking_rf: float = -0.05  # a step braking this hard ...
    rep_braking_steps: int = 2  # ... this many in a row: the athlete is stopping
    # A session has standing, jogging and walking between reps: report only the sprints.
    # A lab trial is one pass: report every running contact.
    sprints_only: bool = True
    segments: SegmentConfig = field(default_factory=SegmentConfig)  # thigh and trunk AHRS
    # The speed at IC and at TO: the mean of the speed sensor over this long before it
    # (two samples at 100 Hz: the within-step ripple is in phase at both ends).
    speed_window_s: float = 0.02
    # RF from the speed sensor: the step's vertical impulse is body weight times the
    # previous step's time if that was a plausible sprint step (this range, s), ...
    rf_step_range_s: tuple[float, float] = (0.1, 0.6)
    # ... else this many contact times (a sprint's step is about two contacts).
    rf_contacts_per_step: float = 2.0
    # The drag on the runner: 0.5 rho A Cd v^2 with this Cd (as in the profile's fit).
    drag_coefficient: float = DRAG_COEFFICIENT
    # The sprint profile is fitted on the speed from this long before a rep's first
    # contact (the start, before any step is seen) to this long after its end.
    profile_lead_s: float = 2.0
    profile_tail_s: float = 0.5  # (see profile_lead_s)
    # A rep seen by a speed sensor alone ends when the speed falls below this share of
    # its peak, after the peak (the athlete slowing down).
    speed_only_end: float = 0.6
    # History kept before the oldest contact still to finish (or the last step): a
    # step's context (thigh, trunk, speed) reaches this far back.
    context_keep_s: float = 2.0
