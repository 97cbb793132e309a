"""A step's numbers, from a contact and the streams around it.

The engine (engine.py) decides when a contact can be measured: every stream
it needs has passed the time it needs. Here it is measured: contact, flight
and step time from the contacts (force, or the shank gyros corrected by what
the plates taught, fusion.py), peak force and impulses from a plate, swing
time, peak swing velocity and swing lag from the shanks, thigh separation and
trunk pitch from their AHRS (segments.py), velocity and ratio of force from
the speed sensor (speed.py). The scores are the rep gate's (reps.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .events import EXTRA_STEP_KEYS, STEP_KEYS, Step
from .force import ForceContact
from .fusion import ImuCorrection, PlateContacts
from .imu import ShankContact, SwingPeak
from .scoring import MODEL_VERSION
from .segments import SegmentTracker
from .settings import AthleteInfo, EngineConfig
from .speed import SpeedTrack
from .streams import Watermarks

OTHER = {"left": "right", "right": "left"}
SHANK_GAP_PERIODS = 3.0  # a shank's samples further apart than this: a gap in what it saw


@dataclass
class Candidate:
    """A contact reported by a plate or a shank (or both, fused), not yet a step."""

    ic_s: float
    to_s: float
    ready_s: float  # confirmed at
    force: ForceContact | None = None
    imu: ShankContact | None = None


class StepMeasurer:
    def __init__(
        self, athlete: AthleteInfo, cfg: EngineConfig, wm: Watermarks, speed: SpeedTrack
    ) -> None:
        self.athlete, self.cfg, self._wm, self.speed = athlete, cfg, wm, speed
        self.feet: set[str] = set()  # the feet a shank IMU is on
        self.thighs: dict[str, SegmentTracker] = {}
        self.trunk: SegmentTracker | None = None
        self.swings: dict[str, list[SwingPeak]] = {"left": [], "right": []}
        self._imu_timing = ImuCorrection(cfg.fusion)
        self._plated = PlateContacts(cfg.match_s)
        self.late_imu_contacts = 0  # shank reports of contacts the plates had measured
        self.prev: Step | None = None  # the last step measured (emitted or not)
        self._prev_to: dict[str, float] = {}  # each foot's last toe-off
        # Each shank's stretches of unbroken data [start, end]: a swing not seen is
        # missing, not late (a sensor out, a gap), when its stretch did not cover it.
        self.shank_seen: dict[str, list[list[float]]] = {"left": [], "right": []}

    def saw_shank(
        self, foot: str, start_s: float, end_s: float, rate_hz: float, lost: int = 0
    ) -> None:
        """A block of this foot's shank: its stretch goes on; or, after samples lost or
        a gap, a new one begins once its detector sees swings again (`lost()` drops
        the swing under way: it needs `contact_span_s` of signal first)."""
        spans = self.shank_seen[foot]
        if spans and not lost and start_s - spans[-1][1] <= SHANK_GAP_PERIODS / rate_hz:
            spans[-1][1] = max(spans[-1][1], end_s)
        elif not spans:
            spans.append([start_s, end_s])
        else:
            spans.append([start_s + self.cfg.contact_span_s, max(end_s, start_s)])

    def _shank_covered(self, foot: str, from_s: float, to_s: float) -> bool:
        return any(a <= from_s and b >= to_s for a, b in self.shank_seen[foot])

    def late_imu(self, c: Candidate) -> bool:
        """A shank's report of a contact the plates measured already: no step of its own
        (docs/scoring.md, Fusion), but its timing error is learnt."""
        imu = c.imu
        plate = self._plated.find(c.ic_s) if imu is not None and c.force is None else None
        if imu is None or plate is None:
            return False
        self._imu_timing.observe(imu.foot, imu.ic_s - plate[0], imu.to_s - plate[1])
        self.late_imu_contacts += 1
        return True

    def measure(self, c: Candidate) -> Step:
        """The step of this contact (events.py), not yet numbered or scored."""
        f, imu = c.force, c.imu
        correction = self._imu_timing.correction(imu.foot) if imu and not f else None
        if correction is not None:  # the timing learnt from the plates (fusion.py)
            c = Candidate(c.ic_s - correction[0], c.to_s - correction[1], c.ready_s, imu=imu)
        if f is not None:
            self._plated.add(f.ic_s, f.to_s)
        step: dict[str, Any] = dict.fromkeys(STEP_KEYS + EXTRA_STEP_KEYS)
        prev = self.prev
        step_s = self._timing(step, c)
        rf = self._force(step, f) if f is not None else None
        if imu is not None:
            self._shank(step, c, imu, correction)
        self._thighs(step, imu.foot if imu else None, c)
        if self.trunk is not None:
            angle = self.trunk.angle_at((c.ic_s + c.to_s) / 2)
            # The trunk's z axis points down it: leaning forward tilts it back.
            step["trunk_pitch_deg"] = -angle if angle is not None else None
            step["trunk_pitch_rate_rms_deg_s"] = self.trunk.rate_rms(c.ic_s, c.to_s)
        velocity, speed_rf = self.speed.at_contact(c.ic_s, c.to_s, prev.ic_time_s if prev else None)
        step["velocity_m_s"] = velocity
        if velocity is not None and step_s:
            step["step_length_m"] = velocity * step_s
        step["ratio_of_force"] = rf if rf is not None else speed_rf
        self.prev = done = Step(**step)
        return done

    def _timing(self, step: dict, c: Candidate) -> float | None:
        """Contact, and flight and step time from the previous contact when the two
        are one run of steps, nothing was lost between them and the feet alternate;
        returns the step time (None: not one run)."""
        f, imu, prev = c.force, c.imu, self.prev
        contact = c.to_s - c.ic_s
        step_s = flight_s = None
        if (
            prev
            and prev.to_time_s < c.ic_s
            and c.ic_s - prev.ic_time_s <= self.cfg.max_step_s
            and self._wm.quiet_from(prev.to_time_s, c.ic_s) == prev.to_time_s  # none lost
            and not (imu and prev.foot == imu.foot)  # a step goes from one foot to the other
        ):
            step_s = c.ic_s - prev.ic_time_s
            flight_s = c.ic_s - prev.to_time_s
        step.update(
            type="step",
            foot=imu.foot if imu else None,
            ic_time_s=c.ic_s,
            to_time_s=c.to_s,
            contact_time_s=contact,
            flight_time_s=flight_s,
            step_time_s=step_s,
            step_frequency_hz=1.0 / step_s if step_s else None,
            source="fused" if f and imu else ("force" if f else "imu"),
            model_version=MODEL_VERSION,
        )
        if step_s:
            step["mean_vertical_force_bw"] = step_s / contact
        return step_s

    def _force(self, step: dict, f: ForceContact) -> float | None:
        """A plate's numbers; returns the ratio of force when it measured horizontal force."""
        step["peak_vertical_force_bw"] = f.peak_vertical_n / self.athlete.weight_n
        if not f.has_horizontal:
            return None
        net = f.braking_impulse_ns + f.propulsive_impulse_ns
        step.update(
            braking_impulse_ns=f.braking_impulse_ns,
            propulsive_impulse_ns=f.propulsive_impulse_ns,
            net_horizontal_impulse_ns=net,
        )
        return net / math.hypot(net, f.vertical_impulse_ns) if f.vertical_impulse_ns > 0 else None

    def _shank(self, step: dict, c: Candidate, imu: ShankContact, correction: tuple | None) -> None:
        """The shank's numbers: swing, its timing against a plate's, the other leg's lag."""
        f, foot = c.force, imu.foot
        step["peak_swing_deg_s"] = imu.swing_peak_deg_s
        before = self._prev_to.get(foot)
        if (
            before is not None
            and 0 < c.ic_s - before < self.cfg.max_step_s
            and self._wm.quiet_from(before, c.ic_s) == before
        ):
            step["swing_time_s"] = c.ic_s - before
        if f is not None:
            step["imu_ic_error_s"] = imu.ic_s - f.ic_s
            step["imu_to_error_s"] = imu.to_s - f.to_s
            self._imu_timing.observe(foot, imu.ic_s - f.ic_s, imu.to_s - f.to_s)
        elif correction is not None:
            step["imu_ic_correction_s"], step["imu_to_correction_s"] = correction
        step["swing_lag"] = self._swing_lag(step, foot, c.ic_s, c.to_s)
        self._prev_to[foot] = c.to_s

    def _swing_lag(self, step: dict, foot: str, ic: float, to: float) -> float | None:
        """When the other leg's mid-swing peak came, after this IC, in contact times;
        None where the rig has no other shank, or it did not see this contact (then
        the step says the measure is missing)."""
        other = OTHER[foot]
        if other not in self.feet:
            return None
        contact = to - ic
        if not self._shank_covered(other, ic - 0.5 * contact, to):
            step["missing_measures"] = "swing_lag"  # (the one measure a step can miss here)
            return None
        peaks = [
            p.time_s
            for p in self.swings[other]
            if ic - 0.5 * contact <= p.time_s <= to and p.confirmed_s <= to + self.cfg.swing_wait_s
        ]
        if not peaks:
            return 1.0  # not there by toe-off: at least a whole contact late
        return (peaks[-1] - ic) / contact

    def _thighs(self, step: dict, foot: str | None, c: Candidate) -> None:
        if foot is None or set(self.thighs) != {"left", "right"}:
            return
        stance, swing = self.thighs[foot], self.thighs[OTHER[foot]]
        for key, t in (("thigh_separation_ic_deg", c.ic_s), ("thigh_separation_to_deg", c.to_s)):
            a, b = swing.angle_at(t), stance.angle_at(t)
            if a is not None and b is not None:
                # An angle is in (-180, 180]: the difference of two near the wrap
                # (a drifting filter's, or an IMU worn the other way up) is not 300 deg.
                step[key] = (a - b + 180.0) % 360.0 - 180.0

    def prune(self, keep_s: float) -> None:
        """Forget swing peaks and angles before keep_s."""
        for peaks in self.swings.values():
            while peaks and peaks[0].time_s < keep_s:
                peaks.pop(0)
        for spans in self.shank_seen.values():
            while len(spans) > 1 and spans[0][1] < keep_s:
                spans.pop(0)
        for tracker in (*self.thighs.values(), self.trunk):
            if tracker is not None:
                tracker.prune(keep_s)
