"""The step engine: sample blocks in, step and rep events out. Pure: no I/O.

The same engine runs live (blocks from the serial bridge), on a replayed
recording and when re-scoring a stored session; its output depends only on the
samples and their times, never on how they were cut into blocks.

This version measures steps from force (contact, flight, step time and
frequency, peak vertical force, braking, propulsive and net horizontal
impulse, ratio of force) and reps from force and speed (the sprint
acceleration and force-velocity profile). Steps from shank IMUs, thigh and
trunk angles, and the push/swing/torso scores are not computed yet: their
keys are present and null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from firmware_bridge.codec import Channel, SensorKind
from firmware_bridge.device import SampleBlock

from .force import ForceContact, ForceContactDetector, ForceDetectorConfig
from .profile import sprint_profile, sprint_window

MODEL_VERSION = "0.1"
G = 9.81

STEP_KEYS = (
    "type",
    "foot",
    "ic_time_s",
    "to_time_s",
    "contact_time_s",
    "flight_time_s",
    "step_time_s",
    "step_frequency_hz",
    "peak_vertical_force_bw",
    "braking_impulse_ns",
    "propulsive_impulse_ns",
    "net_horizontal_impulse_ns",
    "ratio_of_force",
    "push_score",
    "swing_score",
    "torso_score",
    "system_score",
    "limiter",
    "aligned",
    "source",
    "model_version",
)


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
    force: ForceDetectorConfig = field(default_factory=ForceDetectorConfig)
    max_step_s: float = 1.0  # a longer gap between contacts: not the same run of steps
    rep_gap_s: float = 2.0  # no contact for this long (and slow): the rep is over
    rep_speed_m_s: float = 2.0  # a speed sensor above this: a rep is under way


class _Rep:
    def __init__(self, number: int, start_s: float) -> None:
        self.number = number
        self.start_s = start_s
        self.last_s = start_s
        self.steps: list[dict] = []


class Engine:
    def __init__(self, athlete: AthleteInfo, config: EngineConfig | None = None) -> None:
        self.athlete = athlete
        self.cfg = config or EngineConfig()
        self._force: dict[tuple[int, int], ForceContactDetector] = {}
        self._speed_t: list[np.ndarray] = []
        self._speed_v: list[np.ndarray] = []
        self._last_contact: ForceContact | None = None
        self._rep: _Rep | None = None
        self._reps = 0
        self._latest: dict[tuple[int, int], float] = {}  # newest sample time per stream

    # --- input -------------------------------------------------------------

    def feed(self, block: SampleBlock) -> list[dict]:
        """One block of samples; returns the events it completes, in time order."""
        if len(block) == 0:
            return []
        events: list[dict] = []
        kind = block.stream.kind
        if kind in (SensorKind.FORCE_3AXIS, SensorKind.FORCE_VERTICAL):
            for contact in self._force_detector(block).feed(*self._force_channels(block)):
                events += self._on_contact(contact)
        elif kind == SensorKind.SPEED:
            events += self._on_speed(block)
        self._latest[(block.device_id, block.stream.stream_id)] = float(block.time_s[-1])
        # A rep ends when every stream has passed its last activity by rep_gap_s:
        # by sample times, never by how the samples were cut into blocks.
        watermark = min(self._latest.values())
        if self._rep and watermark - self._rep.last_s >= self.cfg.rep_gap_s:
            events += self._close_rep()
        return events

    def finish(self) -> list[dict]:
        """End of the data: close the rep under way."""
        return self._close_rep() if self._rep else []

    def _force_detector(self, block: SampleBlock) -> ForceContactDetector:
        key = (block.device_id, block.stream.stream_id)
        det = self._force.get(key)
        if det is None:
            name = f"{block.device_name}/{block.stream.stream_id}"
            det = ForceContactDetector(name, block.stream.sample_rate_hz, self.cfg.force)
            self._force[key] = det
        return det

    @staticmethod
    def _force_channels(block: SampleBlock):
        chans = [c.channel for c in block.stream.channels]
        fz = block.values[:, chans.index(Channel.FZ)]
        fy = block.values[:, chans.index(Channel.FY)] if Channel.FY in chans else None
        good = np.isfinite(fz) & (np.isfinite(fy) if fy is not None else True)
        if not np.all(good):  # a dead or saturated channel: the bad samples carry no force
            fz = np.where(good, fz, 0.0)
            fy = np.where(good, fy, 0.0) if fy is not None else None
        return block.time_s, fy, fz

    def _on_speed(self, block: SampleBlock) -> list[dict]:
        chans = [c.channel for c in block.stream.channels]
        v = block.values[:, chans.index(Channel.VELOCITY)]
        keep = np.isfinite(v)
        t, v = block.time_s[keep], v[keep]
        self._speed_t.append(t)
        self._speed_v.append(v)
        events = []
        fast = t[v > self.cfg.rep_speed_m_s]
        if len(fast):
            events += self._activity(float(fast[0]))
            self._rep.last_s = max(self._rep.last_s, float(fast[-1]))
        self._trim_speed(float(block.time_s[-1]))
        return events

    def _activity(self, t: float) -> list[dict]:
        """Something moved at time t: a rep goes on, or a new one starts."""
        events = []
        if self._rep and t - self._rep.last_s >= self.cfg.rep_gap_s:
            events += self._close_rep()
        if self._rep is None:
            self._reps += 1
            self._rep = _Rep(self._reps, t)
        return events

    def _trim_speed(self, now: float) -> None:
        """Keep the speed of the rep under way, or the last 5 s."""
        keep_from = (self._rep.start_s - 2.0) if self._rep else now - 5.0
        while len(self._speed_t) > 1 and (
            not self._speed_t[0].size or self._speed_t[0][-1] < keep_from
        ):
            self._speed_t.pop(0)
            self._speed_v.pop(0)

    # --- steps -----------------------------------------------------------------

    def _on_contact(self, c: ForceContact) -> list[dict]:
        prev = self._last_contact
        self._last_contact = c
        events = self._activity(c.ic_s)
        self._rep.last_s = max(self._rep.last_s, c.to_s)
        step = self._step(c, prev)
        self._rep.steps.append(step)
        events.append(step)
        return events

    def _step(self, c: ForceContact, prev: ForceContact | None) -> dict:
        bw = self.athlete.weight_n
        step_s = None
        flight_s = None
        if (
            prev is not None
            and 0 < c.ic_s - prev.ic_s <= self.cfg.max_step_s
            and prev.to_s < c.ic_s
        ):
            step_s = c.ic_s - prev.ic_s
            flight_s = c.ic_s - prev.to_s
        net = c.braking_impulse_ns + c.propulsive_impulse_ns
        rf = None
        if c.has_horizontal and c.vertical_impulse_ns > 0:
            rf = net / math.hypot(net, c.vertical_impulse_ns)
        step = dict.fromkeys(STEP_KEYS)
        step.update(
            type="step",
            ic_time_s=c.ic_s,
            to_time_s=c.to_s,
            contact_time_s=c.contact_s,
            flight_time_s=flight_s,
            step_time_s=step_s,
            step_frequency_hz=1.0 / step_s if step_s else None,
            peak_vertical_force_bw=c.peak_vertical_n / bw,
            braking_impulse_ns=c.braking_impulse_ns if c.has_horizontal else None,
            propulsive_impulse_ns=c.propulsive_impulse_ns if c.has_horizontal else None,
            net_horizontal_impulse_ns=net if c.has_horizontal else None,
            ratio_of_force=rf,
            source="force",
            model_version=MODEL_VERSION,
        )
        return step

    # --- reps ------------------------------------------------------------------

    def _close_rep(self) -> list[dict]:
        rep, self._rep = self._rep, None
        line = {
            "type": "rep",
            "rep": rep.number,
            "start_s": rep.start_s,
            "end_s": rep.last_s,
            "steps": len(rep.steps),
        }
        contacts = [s["contact_time_s"] for s in rep.steps]
        line["mean_contact_time_s"] = float(np.mean(contacts)) if contacts else None
        line.update(self._rep_profile(rep))
        line["model_version"] = MODEL_VERSION
        return [line]

    def _rep_profile(self, rep: _Rep) -> dict:
        keys = ("mss_m_s", "tau_s", "f0_n", "v0_m_s", "pmax_w", "rf_max", "drf")
        if not self._speed_t:
            return {}
        t = np.concatenate(self._speed_t)
        v = np.concatenate(self._speed_v)
        inside = (t >= rep.start_s - 2.0) & (t <= rep.last_s + 0.5)
        t, v = t[inside], v[inside]
        if len(t) < 10:
            return dict.fromkeys(keys)
        w = sprint_window(t, v)
        profile = sprint_profile(t[w], v[w], self.athlete.body_mass_kg, self.athlete.height_m)
        if profile is None:
            return dict.fromkeys(keys)
        p = profile.as_dict()
        return {k: p[k] for k in keys}
