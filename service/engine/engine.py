"""The step engine: sample blocks in, step and rep events out. Pure: no I/O.

The same engine runs live (blocks from the serial bridge), on a replayed
recording and when re-scoring a stored session. Its output depends only on
the samples and their times, never on how they were cut into blocks or how
the streams interleave: a step is finished only when every stream it needs
has passed the time it needs (a watermark per stream), and a stream silent
for `stale_s` of data time (or unplugged: `pause`) counts as missing rather
than waited for, and as a gap of lost samples from its last.

Per step: contact from force (plates win, docs/scoring.md) or from the shank
gyros, flight, step time and frequency, peak vertical force, impulses, ratio
of force (from force, or from the speed sensor), swing time and peak swing
angular velocity, thigh separation, trunk pitch and its rate, velocity and
step length; then the push, swing and torso scores (scoring.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from firmware_bridge.codec import Channel, Placement, SensorKind, StreamInfo
from firmware_bridge.device import SampleBlock

from .events import EXTRA_STEP_KEYS, STEP_KEYS
from .force import ForceContact, ForceContactDetector
from .fusion import ImuCorrection, PlateContacts
from .imu import ShankContact, ShankEventDetector, SwingPeak
from .reps import RepGate
from .scoring import MODEL_VERSION, Baseline, Scorer
from .segments import SegmentTracker
from .settings import AthleteInfo, EngineConfig
from .speed import SpeedTrack
from .streams import Watermarks

FOOT_OF = {Placement.SHANK_LEFT: "left", Placement.SHANK_RIGHT: "right"}
THIGH_OF = {Placement.THIGH_LEFT: "left", Placement.THIGH_RIGHT: "right"}
OTHER = {"left": "right", "right": "left"}


@dataclass
class _Candidate:
    ic_s: float
    to_s: float
    ready_s: float  # confirmed at
    force: ForceContact | None = None
    imu: ShankContact | None = None


class Engine:
    def __init__(
        self,
        athlete: AthleteInfo,
        config: EngineConfig | None = None,
        baseline: Baseline | None = None,
    ) -> None:
        self.athlete = athlete
        self.cfg = config or EngineConfig()
        self.scorer = Scorer(baseline, self.cfg.scoring)
        self._shank: dict[tuple, ShankEventDetector] = {}
        self._thigh: dict[str, SegmentTracker] = {}
        self._trunk: SegmentTracker | None = None
        self._wm = Watermarks(self.cfg.stale_s, self.cfg.contact_span_s)
        self._cands: list[_Candidate] = []
        self._swings: dict[str, list[SwingPeak]] = {"left": [], "right": []}
        self.speed = SpeedTrack(self.cfg, athlete.body_mass_kg, athlete.height_m)
        self._imu_timing = ImuCorrection(self.cfg.fusion)
        self._plated = PlateContacts(self.cfg.match_s)
        self.late_imu_contacts = 0  # shank reports of contacts the plates had measured
        self._prev: dict | None = None  # the last step measured (emitted or not)
        self._prev_to: dict[str, float] = {}
        self.reps = RepGate(self.cfg, self.scorer, self.speed)
        self._speed_only_from = -math.inf  # a speed-only rig: where its next sprint may begin
        self._last_step_s = -math.inf
        self._feeds_since_prune = 0
        self._routes: dict[tuple, tuple[str, Callable]] = {}

    # --- input ------------------------------------------------------------------------------

    def expect(self, device_id: int, stream: StreamInfo) -> None:
        """Declare a stream before its samples come (the bridge knows the rig from the
        devices' hellos; a replay from its recording), so that steps wait for it."""
        self._wm.expect((device_id, stream.stream_id), _role(stream))

    def pause(self, device_id: int) -> list[dict]:
        """The device went away (its cable pulled): its streams are not waited for until
        they send again. Its silence counts as lost samples, as in the stored session."""
        self._wm.pause(device_id)
        return self._advance() if self._wm.t0 is not None else []

    def feed(self, block: SampleBlock) -> list[dict]:
        """One block of samples; returns the events it completes, in time order."""
        if len(block) == 0:
            return []
        key = (block.device_id, block.stream.stream_id)
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = self._route(key, block)
        role, take = route
        news = take(block)
        end = float(block.time_s[-1])
        before, changed = self._wm.note(
            key,
            role,
            float(block.time_s[0]),
            end,
            block.stream.sample_rate_hz,
            block.lost_before,
        )
        # Nothing can be finished or end unless a contact waits or the athlete may be still;
        # and no watermark moved unless this stream was the last of its role (or one
        # may have gone stale). Results never depend on this: only when they come.
        if (not self._cands and end - self._last_step_s < self.cfg.still_s) or (
            not (news or changed) and self._wm.still_behind(role, before)
        ):
            self._feeds_since_prune += 1
            if self._feeds_since_prune >= 1000:  # standing for long: keep memory flat
                self._prune()
                self._feeds_since_prune = 0
            return []
        return self._advance()

    def finish(self) -> list[dict]:
        """End of the data: finish every pending step and the rep under way."""
        events = self._advance(final=True)
        return events + self.reps.stop(self._last_step_s)

    def _route(self, key: tuple, block: SampleBlock) -> tuple[str, Callable]:
        """This stream's role and the function that takes its blocks (made once per
        stream): it returns True when the block brought something new to finish."""
        stream, role = block.stream, _role(block.stream)
        if stream.kind in (SensorKind.FORCE_3AXIS, SensorKind.FORCE_VERTICAL):
            name = f"{block.device_name}/{stream.stream_id}"
            det = ForceContactDetector(name, stream.sample_rate_hz, self.cfg.force)
            return role, partial(self._on_force, det, _force_columns(stream))
        if role == "speed":
            column = _column(stream, Channel.VELOCITY)
            return role, lambda b: self._on_speed(b.time_s, b.values[:, column])
        if role == "events":  # a shank
            det = ShankEventDetector(
                FOOT_OF[stream.placement], self.cfg.shank, stream.sample_rate_hz
            )
            self._shank[key] = det
            return role, partial(self._on_shank, det)
        if role == "other":
            return role, lambda b: False
        tracker = SegmentTracker(stream.sample_rate_hz, self.cfg.segments)
        if role == "trunk":
            self._trunk = tracker
        else:
            self._thigh[role.removeprefix("thigh-")] = tracker
        return role, lambda b: tracker.feed(b.time_s, b.values)

    def _on_force(self, det: ForceContactDetector, channels, block: SampleBlock) -> bool:
        if block.lost_before:
            det.lost()
        contacts = det.feed(*_force_channels(block, *channels))
        for c in contacts:
            self._cands.append(_Candidate(c.ic_s, c.to_s, c.confirmed_s, force=c))
        return bool(contacts)

    def _on_shank(self, det: ShankEventDetector, block: SampleBlock) -> bool:
        if block.lost_before:
            det.lost()
        events = det.feed(block.time_s, block.values[:, 1])
        for e in events:
            if isinstance(e, SwingPeak):
                self._swings[e.foot].append(e)
            else:
                self._cands.append(_Candidate(e.ic_s, e.to_s, e.confirmed_s, imu=e))
        return bool(events)

    def _on_speed(self, t: np.ndarray, v: np.ndarray) -> bool:
        return self.speed.feed(t, v)  # a sprint may begin (a speed-only rig)

    def _prune(self) -> None:
        """Forget history no unfinished step or open rep can need, so memory stays flat.

        Driven by what is finished, not by the newest sample: a step waiting
        for a slower stream still finds its context, however the samples came.
        """
        newest = self._wm.newest
        if not math.isfinite(newest):
            return  # no samples yet: nothing to forget
        keep = newest - max(self.cfg.history_cap_s, 4.0 * self._wm.block_s)
        if self._cands:
            keep = max(keep, min(c.ic_s for c in self._cands) - self.cfg.context_keep_s)
        elif self._prev:
            keep = max(keep, self._prev["ic_time_s"] - self.cfg.context_keep_s)
        rep_start = self.reps.start_s
        if rep_start is None and not self._wm.has("events"):  # a speed-only rig's sprint
            rep_start = self._speed_only_from if math.isfinite(self._speed_only_from) else None
        lead = self.cfg.profile_lead_s
        speed_keep = min(keep, rep_start - lead) if rep_start is not None else keep
        for peaks in self._swings.values():
            while peaks and peaks[0].time_s < keep:
                peaks.pop(0)
        self._wm.prune(keep, self.cfg.still_s)
        for tracker in (*self._thigh.values(), self._trunk):
            if tracker is not None:
                tracker.prune(keep)
        self.speed.prune(speed_keep)

    # --- steps ---------------------------------------------------------------------------

    def _advance(self, final: bool = False) -> list[dict]:
        self._wm.settle()
        events: list[dict] = []
        inf = math.inf
        w_events = inf if final else self._wm.of(("events",))
        while True:
            ready = self._next_ready(w_events, final)
            if ready is None:
                break
            events += self._on_step(self._measure(ready))
        now = inf if final else self._wm.of(("events", "speed"))
        events += self._check_stillness(now)
        self._feeds_since_prune += 1
        if final or self._feeds_since_prune >= 50:  # memory hygiene; results do not depend on it
            self._prune()
            self._feeds_since_prune = 0
        return events

    def _next_ready(self, w_events: float, final: bool) -> _Candidate | None:
        """The earliest contact whose sources are all in, fused when two saw it."""
        self._cands.sort(key=lambda c: c.ic_s)
        while self._cands and self._late_imu(self._cands[0]):
            self._cands.pop(0)
        if not self._cands:
            return None
        first = self._cands[0]
        # The reports of this contact (sorted: none is earlier than the first).
        same = [c for c in self._cands if c.ic_s <= first.ic_s + self.cfg.match_s]
        # Everything that could still report it has passed it. A shank confirms a
        # contact later than a plate does: a plate's contact waits imu_wait_s for it.
        # A shank report confirmed later than that is not fused (it will be known
        # as late, fusion.py): decided by data time alone, so that how the samples
        # came in blocks never changes the steps.
        plated = [c.ready_s for c in same if c.force is not None]
        if plated:
            horizon = max(plated) + (self.cfg.imu_wait_s if self._shank else 0.0)
            same = [c for c in same if c.force is not None or c.ready_s <= horizon]
        else:
            horizon = max(c.ready_s for c in same)
        if not final and w_events < horizon:
            return None
        force = next((c.force for c in same if c.force is not None), None)
        imu = next((c.imu for c in same if c.imu is not None), None)
        ic, to = (force.ic_s, force.to_s) if force is not None else (first.ic_s, first.to_s)
        # The other shank's swing peak counts if confirmed by TO + swing_wait_s: every
        # event stream must have passed that too, or block sizes would change it.
        if self._shank and not final and w_events < to + self.cfg.swing_wait_s:
            return None
        # The thighs, trunk and speed are needed up to TO.
        if not final and (
            self._wm.of(("trunk", "speed")) < to
            # a thigh angle at TO needs the AHRS output just after it
            or self._wm.of(("thigh-left", "thigh-right"))
            < to + 2.0 / self.cfg.segments.ahrs_rate_hz
        ):
            return None
        for c in same:
            self._cands.remove(c)
        return _Candidate(ic, to, max(c.ready_s for c in same), force=force, imu=imu)

    def _late_imu(self, c: _Candidate) -> bool:
        """A shank's report of a contact the plates measured already: no step of its own
        (docs/scoring.md, Fusion), but its timing error is learnt."""
        plate = self._plated.find(c.ic_s) if c.imu is not None and c.force is None else None
        if plate is None:
            return False
        self._imu_timing.observe(c.imu.foot, c.imu.ic_s - plate[0], c.imu.to_s - plate[1])
        self.late_imu_contacts += 1
        return True

    def _measure(self, c: _Candidate) -> dict:
        a, f, imu = self.athlete, c.force, c.imu
        correction = self._imu_timing.correction(imu.foot) if imu and not f else None
        if correction is not None:  # the timing learnt from the plates (fusion.py)
            c = _Candidate(c.ic_s - correction[0], c.to_s - correction[1], c.ready_s, imu=imu)
        if f is not None:
            self._plated.add(f.ic_s, f.to_s)
        step = dict.fromkeys(STEP_KEYS + EXTRA_STEP_KEYS)
        contact = c.to_s - c.ic_s
        prev = self._prev
        step_s = flight_s = None
        if (
            prev
            and prev["to_time_s"] < c.ic_s
            and c.ic_s - prev["ic_time_s"] <= self.cfg.max_step_s
            and self._wm.quiet_from(prev["to_time_s"], c.ic_s) == prev["to_time_s"]  # none lost
            and not (imu and prev["foot"] == imu.foot)  # a step goes from one foot to the other
        ):
            step_s = c.ic_s - prev["ic_time_s"]
            flight_s = c.ic_s - prev["to_time_s"]
        foot = imu.foot if imu else None
        step.update(
            type="step",
            foot=foot,
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
        rf = None
        if f is not None:
            net = f.braking_impulse_ns + f.propulsive_impulse_ns
            step["peak_vertical_force_bw"] = f.peak_vertical_n / a.weight_n
            if f.has_horizontal:
                step.update(
                    braking_impulse_ns=f.braking_impulse_ns,
                    propulsive_impulse_ns=f.propulsive_impulse_ns,
                    net_horizontal_impulse_ns=net,
                )
                if f.vertical_impulse_ns > 0:
                    rf = net / math.hypot(net, f.vertical_impulse_ns)
        if imu is not None:
            step["peak_swing_deg_s"] = imu.swing_peak_deg_s
            before = self._prev_to.get(foot)
            if (
                before is not None
                and 0 < c.ic_s - before < self.cfg.max_step_s
                and self._wm.quiet_from(before, c.ic_s) == before
            ):
                step["swing_time_s"] = c.ic_s - self._prev_to[foot]
            if f is not None:
                step["imu_ic_error_s"] = imu.ic_s - f.ic_s
                step["imu_to_error_s"] = imu.to_s - f.to_s
                self._imu_timing.observe(foot, imu.ic_s - f.ic_s, imu.to_s - f.to_s)
            elif correction is not None:
                step["imu_ic_correction_s"], step["imu_to_correction_s"] = correction
            step["swing_lag"] = self._swing_lag(foot, c.ic_s, c.to_s)
            self._prev_to[foot] = c.to_s
        self._thighs(step, foot, c)
        if self._trunk is not None:
            angle = self._trunk.angle_at((c.ic_s + c.to_s) / 2)
            # The trunk's z axis points down it: leaning forward tilts it back.
            step["trunk_pitch_deg"] = -angle if angle is not None else None
            step["trunk_pitch_rate_rms_deg_s"] = self._trunk.rate_rms(c.ic_s, c.to_s)
        velocity, speed_rf = self.speed.at_contact(
            c.ic_s, c.to_s, prev["ic_time_s"] if prev else None
        )
        step["velocity_m_s"] = velocity
        if velocity is not None and step_s:
            step["step_length_m"] = velocity * step_s
        step["ratio_of_force"] = rf if rf is not None else speed_rf
        self._prev = step
        return step

    def _swing_lag(self, foot: str, ic: float, to: float) -> float | None:
        """When the other leg's mid-swing peak came, after this IC, in contact times."""
        other = OTHER[foot]
        if not any(d.foot == other for d in self._shank.values()):
            return None
        contact = to - ic
        peaks = [
            p.time_s
            for p in self._swings[other]
            if ic - 0.5 * contact <= p.time_s <= to and p.confirmed_s <= to + self.cfg.swing_wait_s
        ]
        if not peaks:
            return 1.0  # not there by toe-off: at least a whole contact late
        return (peaks[-1] - ic) / contact

    def _thighs(self, step: dict, foot: str | None, c: _Candidate) -> None:
        if foot is None or set(self._thigh) != {"left", "right"}:
            return
        stance, swing = self._thigh[foot], self._thigh[OTHER[foot]]
        for key, t in (("thigh_separation_ic_deg", c.ic_s), ("thigh_separation_to_deg", c.to_s)):
            a, b = swing.angle_at(t), stance.angle_at(t)
            if a is not None and b is not None:
                step[key] = a - b

    # --- reps -----------------------------------------------------------------------------------

    def _on_step(self, step: dict) -> list[dict]:
        quiet_s = step["ic_time_s"] - self._wm.quiet_from(self._last_step_s, step["ic_time_s"])
        still_since = self._last_step_s if quiet_s >= self.cfg.still_s else None
        self._last_step_s = step["to_time_s"]
        return self.reps.on_step(step, still_since)

    def _check_stillness(self, now: float) -> list[dict]:
        events = []
        # A contact still being finished is movement too, and is measured first: a rep
        # ends on stillness only once every contact before it is a step (else how the
        # streams came would decide whether that contact ended the rep or began one).
        last = max([self._last_step_s, *(c.to_s for c in self._cands)])
        seen = now - self.cfg.contact_span_s  # no contact before this can still be reported
        # (quiet_from is never before `last`: a step this recent settles it at once; and
        # stillness changes nothing once the gate is armed with nothing pending)
        if (
            not self.reps.armed
            and not any(c.ic_s < seen for c in self._cands)
            and seen - last >= self.cfg.still_s
            and seen - self._wm.quiet_from(last, seen) >= self.cfg.still_s
        ):
            events += self.reps.stop(self._last_step_s)
        if self.speed and not self._wm.has("events"):
            events += self._speed_only_rep(now)  # a speed sensor alone: its sprints
        return events

    def _speed_only_rep(self, now: float) -> list[dict]:
        """The rep is the sprint the speed sensor saw: from the first sample above
        rep_speed_m_s (after the last such rep) to its end (SpeedTrack.sprint_end)."""
        fast_s = self.speed.first_fast(self._speed_only_from, now)
        if fast_s is None:  # nothing fast up to now: nothing before now is needed
            if math.isfinite(now):
                self._speed_only_from = now
            return []
        self._speed_only_from = fast_s
        end = self.speed.sprint_end(fast_s, now)
        if end is None:
            return []
        self._speed_only_from = math.nextafter(end, math.inf)
        return self.reps.speed_only(fast_s, end)


def _role(stream: StreamInfo) -> str:
    """What a stream is to the engine: contact events, context of a step, or neither."""
    if stream.kind in (SensorKind.FORCE_3AXIS, SensorKind.FORCE_VERTICAL):
        return "events"
    if stream.kind == SensorKind.SPEED:
        return "speed"
    if stream.kind != SensorKind.IMU_6AXIS:
        return "other"
    if stream.placement in FOOT_OF:
        return "events"
    if stream.placement in THIGH_OF:
        return "thigh-" + THIGH_OF[stream.placement]
    return "trunk" if stream.placement == Placement.TRUNK else "other"


def _column(stream: StreamInfo, channel: Channel) -> int:
    return [c.channel for c in stream.channels].index(channel)


def _force_columns(stream: StreamInfo) -> tuple[int | None, int]:
    has_fy = any(c.channel == Channel.FY for c in stream.channels)
    return (_column(stream, Channel.FY) if has_fy else None), _column(stream, Channel.FZ)


def _force_channels(block: SampleBlock, fy_column: int | None, fz_column: int):
    fz = block.values[:, fz_column]
    fy = block.values[:, fy_column] if fy_column is not None else None
    if math.isfinite(fz.sum() + (fy.sum() if fy is not None else 0.0)):
        return block.time_s, fy, fz  # (a sum is finite only if every term is: forces are small)
    good = np.isfinite(fz) & (np.isfinite(fy) if fy is not None else True)
    if not np.all(good):  # a dead or saturated channel: the bad samples carry no force
        fz = np.where(good, fz, 0.0)
        fy = np.where(good, fy, 0.0) if fy is not None else None
    return block.time_s, fy, fz
