"""The step engine: sample blocks in, step and rep events out. Pure: no I/O.

The same engine runs live (blocks from the serial bridge), on a replayed
recording and when re-scoring a stored session. Its output depends only on
the samples and their times, never on how they were cut into blocks or how
the streams interleave: a step is finished only when every stream it needs
has passed the time it needs (a watermark per stream), and a stream silent
for `stale_s` of data time (or unplugged: `pause`) counts as missing rather
than waited for, and as a gap of lost samples from its last.

This module is the orchestrator: it routes each stream to its detector
(force.py, imu.py) or context (segments.py, speed.py), fuses the contacts
plates and shanks report into one candidate per contact, and decides when
one can be finished (streams.py: the watermarks). The rooms:

- measure.py: a step's numbers from its contact and the streams around it;
- reps.py: which steps are a sprint (provisional until known) and each rep;
- scoring.py: push, swing and torso against the athlete's baseline;
- speed.py and profile.py: velocity, ratio of force and the sprint profile;
- events.py: the one definition of a step and a rep.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from functools import partial

import numpy as np

from firmware_bridge.codec import Channel, Placement, SensorKind, StreamInfo
from firmware_bridge.device import SampleBlock

from .events import Step
from .force import ForceContactDetector
from .imu import ShankEventDetector, SwingPeak
from .measure import Candidate, StepMeasurer
from .reps import RepGate
from .scoring import Baseline, Scorer
from .segments import SegmentTracker
from .settings import AthleteInfo, EngineConfig
from .speed import SpeedTrack
from .streams import Watermarks

FOOT_OF = {Placement.SHANK_LEFT: "left", Placement.SHANK_RIGHT: "right"}
THIGH_OF = {Placement.THIGH_LEFT: "left", Placement.THIGH_RIGHT: "right"}


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
        self._reporters: dict[tuple, ShankEventDetector | ForceContactDetector] = {}
        self._wm = Watermarks(self.cfg.stale_s, self.cfg.contact_span_s)
        self._cands: list[Candidate] = []
        self.speed = SpeedTrack(self.cfg, athlete.body_mass_kg, athlete.height_m)
        self.steps = StepMeasurer(athlete, self.cfg, self._wm, self.speed)
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

    def pause(self, device_id: int) -> list[Mapping]:
        """The device went away (its cable pulled): its streams are not waited for until
        they send again. Its silence counts as lost samples, as in the stored session."""
        self._wm.pause(device_id)
        return self._advance() if self._wm.t0 is not None else []

    def feed(self, block: SampleBlock) -> list[Mapping]:
        """One block of samples; returns the events it completes, in time order."""
        return self._advance() if self.take(block) else []

    def feed_many(self, blocks: Iterable[SampleBlock]) -> list[Mapping]:
        """A tick's blocks, in time order: the events they complete, in time order; the
        same events as feeding them one at a time (steps are decided by data time
        alone), looked for once when the last is in (issue 28: a tick of seven blocks
        looked for steps after each of three of them)."""
        due = False
        for block in blocks:
            due = self.take(block) or due
        return self._advance() if due else []

    def take(self, block: SampleBlock) -> bool:
        """One block into its detector and the watermarks, steps not looked for: whether
        they may now be (then `advance`: `feed` is the two)."""
        if not len(block.time_s):
            return self.reps.closing
        key = (block.device_id, block.stream.stream_id)
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = self._route(key, block)
        role, take_block = route
        news = take_block(block)
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
        # (A contact seen by shanks alone waits on the event streams' detectors, which
        # move with every block of theirs: those blocks are always looked at.)
        if (not self._cands and end - self._last_step_s < self.cfg.still_s) or (
            not (news or changed)
            and self._wm.still_behind(role, before)
            and not (role == "events" and self._cands)
        ):
            self._feeds_since_prune += 1
            if self._feeds_since_prune >= 1000:  # standing for long: keep memory flat
                self._prune()
                self._feeds_since_prune = 0
            return self.reps.closing  # (a rep that ended waits for the next look)
        return True

    def advance(self) -> list[Mapping]:
        """The events the blocks taken so far complete, in time order."""
        return self._advance()

    def finish(self) -> list[Mapping]:
        """End of the data: finish every pending step and the rep under way."""
        events = self._advance(final=True)
        return events + self.reps.stop(self._last_step_s)

    def _route(self, key: tuple, block: SampleBlock) -> tuple[str, Callable]:
        """This stream's role and the function that takes its blocks (made once per
        stream): it returns True when the block brought something new to finish."""
        stream, role = block.stream, _role(block.stream)
        if stream.kind in (SensorKind.FORCE_3AXIS, SensorKind.FORCE_VERTICAL):
            name = f"{block.device_name}/{stream.stream_id}"
            plate = ForceContactDetector(name, stream.sample_rate_hz, self.cfg.force)
            self._reporters[key] = plate
            return role, partial(self._on_force, plate, _force_columns(stream))
        if role == "speed":
            column = _column(stream, Channel.VELOCITY)
            return role, lambda b: self._on_speed(b.time_s, b.values[:, column])
        if role == "events":  # a shank
            shank = ShankEventDetector(
                FOOT_OF[stream.placement], self.cfg.shank, stream.sample_rate_hz
            )
            self._shank[key] = self._reporters[key] = shank
            self.steps.feet.add(shank.foot)
            return role, partial(self._on_shank, shank)
        if role == "other":
            return role, lambda b: False
        segments = self.cfg.segments
        rate = segments.trunk_ahrs_rate_hz if role == "trunk" else segments.ahrs_rate_hz
        tracker = SegmentTracker(stream.sample_rate_hz, segments, rate)
        if role == "trunk":
            self.steps.trunk = tracker
        else:
            self.steps.thighs[role.removeprefix("thigh-")] = tracker
        return role, lambda b: tracker.feed(b.time_s, b.values)

    def _on_force(self, det: ForceContactDetector, channels, block: SampleBlock) -> bool:
        if block.lost_before:
            det.lost()
        contacts = det.feed(*_force_channels(block, *channels))
        for c in contacts:
            self._cands.append(Candidate(c.ic_s, c.to_s, c.confirmed_s, force=c))
        return bool(contacts)

    def _on_shank(self, det: ShankEventDetector, block: SampleBlock) -> bool:
        if block.lost_before:
            det.lost()
        t = block.time_s
        if len(t):
            rate = block.stream.sample_rate_hz
            self.steps.saw_shank(det.foot, float(t[0]), float(t[-1]), rate, block.lost_before)
        events = det.feed(t, block.values[:, 1])
        for e in events:
            if isinstance(e, SwingPeak):
                self.steps.swings[e.foot].append(e)
            else:
                self._cands.append(Candidate(e.ic_s, e.to_s, e.confirmed_s, imu=e))
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
        elif self.steps.prev:
            keep = max(keep, self.steps.prev.ic_time_s - self.cfg.context_keep_s)
        rep_start = self.reps.start_s
        if rep_start is None and not self._wm.has("events"):  # a speed-only rig's sprint
            rep_start = self._speed_only_from if math.isfinite(self._speed_only_from) else None
        lead = self.cfg.profile_lead_s
        speed_keep = min(keep, rep_start - lead) if rep_start is not None else keep
        self.steps.prune(keep)
        self._wm.prune(keep, self.cfg.still_s)
        self.speed.prune(speed_keep)

    # --- steps ---------------------------------------------------------------------------

    def _advance(self, final: bool = False) -> list[Mapping]:
        self._wm.settle()
        events: list[Mapping] = self.reps.closed()  # a rep ended at the last look
        inf = math.inf
        w_events = inf if final else self._wm.of(("events",))
        while True:
            ready = self._next_ready(w_events, final)
            if ready is None:
                break
            events += self._on_step(self.steps.measure(ready))
        now = inf if final else self._wm.of(("events", "speed"))
        events += self._check_stillness(now)
        self._feeds_since_prune += 1
        if final or self._feeds_since_prune >= 50:  # memory hygiene; results do not depend on it
            self._prune()
            self._feeds_since_prune = 0
        return events

    def _next_ready(self, w_events: float, final: bool) -> Candidate | None:
        """The earliest contact whose sources are all in, fused when two saw it."""
        self._cands.sort(key=lambda c: c.ic_s)
        while self._cands and self.steps.late_imu(self._cands[0]):
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
            if not final and w_events < horizon:
                return None
        elif not final and self._reports_from() <= first.ic_s + self.cfg.match_s:
            # Seen by shanks alone: it waits until no event stream can still report a
            # contact as early (another report of it, or an earlier one), each by its
            # detector's state, not until every stream has passed its confirmation.
            return None
        force = next((c.force for c in same if c.force is not None), None)
        imu = next((c.imu for c in same if c.imu is not None), None)
        ic, to = (force.ic_s, force.to_s) if force is not None else (first.ic_s, first.to_s)
        # The other shank's swing peak counts if confirmed by TO + swing_wait_s: every
        # event stream must have passed that too, or block sizes would change it.
        if self._shank and not final and w_events < to + self.cfg.swing_wait_s:
            return None
        # The thighs, trunk and speed are needed up to TO; an angle needs the AHRS
        # output just after it (a thigh's at TO, the trunk's at mid-contact).
        segments = self.cfg.segments
        if not final and (
            self._wm.of(("speed",)) < to
            or self._wm.of(("trunk",)) < max(to, (ic + to) / 2 + 2.0 / segments.trunk_ahrs_rate_hz)
            or self._wm.of(("thigh-left", "thigh-right")) < to + 2.0 / segments.ahrs_rate_hz
        ):
            return None
        for c in same:
            self._cands.remove(c)
        return Candidate(ic, to, max(c.ready_s for c in same), force=force, imu=imu)

    def _reports_from(self) -> float:
        """The earliest IC an event stream may still report (streams.py, reports_from)."""
        bounds = {key: det.reports_from_s() for key, det in self._reporters.items()}
        return self._wm.reports_from(bounds)

    # --- reps -----------------------------------------------------------------------------------

    def _on_step(self, step: Step) -> list[Mapping]:
        quiet_s = step.ic_time_s - self._wm.quiet_from(self._last_step_s, step.ic_time_s)
        still_since = self._last_step_s if quiet_s >= self.cfg.still_s else None
        self._last_step_s = step.to_time_s
        return self.reps.on_step(step, still_since)

    def _check_stillness(self, now: float) -> list[Mapping]:
        events = []
        # A contact still being finished is movement too, and is measured first: a rep
        # ends on stillness only once every contact before it is a step (else how the
        # streams came would decide whether that contact ended the rep or began one).
        # (quiet_from is never before `last`: a step this recent settles it at once; and
        # stillness changes nothing once the gate is armed with nothing pending)
        if not self.reps.armed:
            last = max([self._last_step_s, *(c.to_s for c in self._cands)])
            seen = now - self.cfg.contact_span_s  # no contact before this can still come
            if (
                not any(c.ic_s < seen for c in self._cands)
                and seen - last >= self.cfg.still_s
                and seen - self._wm.quiet_from(last, seen) >= self.cfg.still_s
            ):
                events += self.reps.stop(self._last_step_s)
        if self.speed and not self._wm.has("events"):
            events += self._speed_only_rep(now)  # a speed sensor alone: its sprints
        return events

    def _speed_only_rep(self, now: float) -> list[Mapping]:
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
    add = np.add.reduce  # (x.sum() without its Python wrapper: a live block is 10 samples)
    if math.isfinite(add(fz) + (add(fy) if fy is not None else 0.0)):
        return block.time_s, fy, fz  # (a sum is finite only if every term is: forces are small)
    good = np.isfinite(fz) & (np.isfinite(fy) if fy is not None else True)
    if not np.all(good):  # a dead or saturated channel: the bad samples carry no force
        fz = np.where(good, fz, 0.0)
        fy = np.where(good, fy, 0.0) if fy is not None else None
    return block.time_s, fy, fz
