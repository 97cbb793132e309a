"""The one definition of a step and a rep: every field, its type, unit and meaning.

The engine's events (the frozen dataclasses Step and Rep, made from the
fields below), the API's response schemas (service/schemas.py: descriptions
and units in the OpenAPI document) and the export columns (service/export.py)
all come from here; a test checks that the engine's events carry exactly
these fields.

Times: the engine works on the host's monotonic clock; every event leaving the
service counts from the session's start (service/timebase.py), which is what the
field descriptions say.

An event also reads as a mapping (`step["ic_time_s"]`, `dict(step)`), the form
the service stores and sends as JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Literal

Link = Literal["push", "swing", "torso"]


@dataclass(frozen=True)
class EventField:
    name: str
    type: Any  # the Python type of a value (None allowed where `optional`)
    unit: str  # SI or named ("body weights", "contact times"); "" when none
    doc: str
    optional: bool = True
    core: bool = True  # a step's core fields come first, in this order

    @property
    def description(self) -> str:
        return f"{self.doc} [{self.unit}]" if self.unit else self.doc


def _f(name, type_, unit, doc, optional=True, core=True) -> EventField:
    return EventField(name, type_, unit, doc, optional, core)


STEP_FIELDS: tuple[EventField, ...] = (
    _f("type", Literal["step"], "", "always `step`", optional=False),
    _f("foot", Literal["left", "right"], "", "the stance foot (null from force alone)"),
    _f("ic_time_s", float, "s", "initial contact, since the session started", optional=False),
    _f("to_time_s", float, "s", "toe-off, since the session started", optional=False),
    _f("contact_time_s", float, "s", "toe-off minus initial contact"),
    _f("flight_time_s", float, "s", "the previous step's toe-off to this contact"),
    _f("step_time_s", float, "s", "the previous contact to this one"),
    _f("step_frequency_hz", float, "Hz", "1 / step time"),
    _f("peak_vertical_force_bw", float, "body weights", "peak vertical force"),
    _f("braking_impulse_ns", float, "N·s", "horizontal impulse while braking (<= 0)"),
    _f("propulsive_impulse_ns", float, "N·s", "horizontal impulse while propelling (>= 0)"),
    _f("net_horizontal_impulse_ns", float, "N·s", "braking plus propulsive impulse"),
    _f("ratio_of_force", float, "1", "net horizontal over resultant impulse (RF)"),
    _f("push_score", float, "1", "push against the athlete's baseline (1: as usual)"),
    _f("swing_score", float, "1", "swing timing against the baseline (1: as usual)"),
    _f("torso_score", float, "1", "torso steadiness against the baseline (1: as usual)"),
    _f("system_score", float, "1", "soft minimum of the three scores"),
    _f("limiter", Link, "", "the link that limits, when one is out of its band"),
    _f("aligned", bool, "", "every link within its band (null in a rep's first steps)"),
    _f("source", Literal["force", "imu", "fused"], "", "what timed the contact", optional=False),
    _f("model_version", str, "", "the scoring model that measured it", optional=False),
    _f("rep", int, "", "the rep it belongs to", core=False),
    _f("mean_vertical_force_bw", float, "body weights", "step time / contact time", core=False),
    _f("swing_time_s", float, "s", "this foot's previous toe-off to this contact", core=False),
    _f("peak_swing_deg_s", float, "deg/s", "peak shank angular velocity in the swing", core=False),
    _f("swing_lag", float, "contact times", "the other leg's mid-swing after IC", core=False),
    _f("thigh_separation_ic_deg", float, "deg", "swing minus stance thigh, at IC", core=False),
    _f("thigh_separation_to_deg", float, "deg", "swing minus stance thigh, at TO", core=False),
    _f("trunk_pitch_deg", float, "deg", "trunk lean at mid-contact (+ forward)", core=False),
    _f("trunk_pitch_rate_rms_deg_s", float, "deg/s", "trunk rocking in contact", core=False),
    _f("velocity_m_s", float, "m/s", "running speed at initial contact", core=False),
    _f("step_length_m", float, "m", "velocity times step time", core=False),
    _f("imu_ic_error_s", float, "s", "shank IC minus plate IC, when both saw it", core=False),
    _f("imu_to_error_s", float, "s", "shank TO minus plate TO, when both saw it", core=False),
    _f("imu_ic_correction_s", float, "s", "taken off a shank-only IC", core=False),
    _f("imu_to_correction_s", float, "s", "taken off a shank-only TO", core=False),
    _f("n", int, "", "the step's number in the session (gaps: retracted)", core=False),
    _f(
        "verdict",
        Literal["warming up", "learning", "aligned", "limited", "slowing", "no links"],
        "",
        "how the step was judged: a rep's first steps and its slowing down are not;"
        " `learning` while an athlete with no baseline gets a provisional one",
        core=False,
    ),
    _f(
        "judged_links",
        str,
        "",
        "the links judged, space-separated (what the rig measured"
        " and the baseline has a reference for)",
        core=False,
    ),
    _f(
        "missing_measures",
        str,
        "",
        "measures the rig has but did not see for this step"
        " (a sensor out, a gap), space-separated: absent, never a low score",
        core=False,
    ),
    _f(
        "baseline_state",
        Literal["learning", "provisional", "set"],
        "",
        "the athlete's baseline: being learnt, learnt in this session, or set",
        core=False,
    ),
)

PROFILE_FIELDS: tuple[EventField, ...] = (
    _f("mss_m_s", float, "m/s", "maximal sprinting speed of the fitted profile"),
    _f("tau_s", float, "s", "time constant of the fitted speed curve"),
    _f("f0_n", float, "N", "theoretical maximal horizontal force"),
    _f("v0_m_s", float, "m/s", "theoretical maximal speed"),
    _f("pmax_w", float, "W", "maximal horizontal power"),
    _f("rf_max", float, "1", "maximal ratio of force"),
    _f("drf", float, "1 per m/s", "decrease of RF with speed"),
)

REP_FIELDS: tuple[EventField, ...] = (
    _f("type", Literal["rep"], "", "always `rep`", optional=False),
    _f("rep", int, "", "the rep's number in the session", optional=False),
    _f("start_s", float, "s", "its first contact, since the session started"),
    _f("end_s", float, "s", "its end, since the session started"),
    _f("steps", int, "", "its steps", optional=False),
    _f("min_contact_time_s", float, "s", "its shortest contact"),
    _f("aligned_steps", int, "", "its steps judged aligned"),
    _f(
        "judged_steps",
        int,
        "",
        "its steps judged at all (not warming up, learning or"
        " slowing): the share aligned is of these (none: learning, not 0 %)",
    ),
    _f(
        "baseline_state",
        Literal["learning", "provisional", "set"],
        "",
        "the baseline its steps were judged on (learning: none yet)",
    ),
    _f("main_limiter", Link, "", "the link that limited most often"),
    *PROFILE_FIELDS,
    _f("model_version", str, "", "the scoring model", optional=False),
)

STEP_KEYS = tuple(f.name for f in STEP_FIELDS if f.core)
EXTRA_STEP_KEYS = tuple(f.name for f in STEP_FIELDS if not f.core)
PROFILE_KEYS = tuple(f.name for f in PROFILE_FIELDS)
REP_KEYS = tuple(f.name for f in REP_FIELDS)


class _Event(Mapping):
    """A frozen event that reads as a read-only mapping of its keys."""

    __slots__ = ()
    KEYS: tuple[str, ...] = ()

    def _keys(self) -> tuple[str, ...]:
        return self.KEYS

    def __getitem__(self, key: str) -> Any:
        if key in self._keys():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


class _StepKeys(_Event):
    __slots__ = ()

    def _keys(self) -> tuple[str, ...]:
        # `provisional` is a live step's flag: there (true) until the rep is known.
        return (*self.KEYS, "provisional") if self.provisional else self.KEYS


def _event(name: str, fields: tuple[EventField, ...], base: type, doc: str, extra=()) -> type:
    spec = [
        (f.name, (f.type | None) if f.optional else f.type, field(default=None)) for f in fields
    ]
    cls = make_dataclass(
        name,
        [*spec, *extra],
        bases=(base,),
        frozen=True,
        eq=False,  # equal to any mapping with the same items (Mapping.__eq__)
        slots=True,
        namespace={"KEYS": tuple(f.name for f in fields), "__doc__": doc},
    )
    cls.__module__ = __name__
    return cls


Step = _event(
    "Step",
    STEP_FIELDS,
    _StepKeys,
    "One step (STEP_FIELDS); `provisional` while its rep is not yet known (reps.py).",
    extra=[("provisional", bool, field(default=False))],
)
Rep = _event("Rep", REP_FIELDS, _Event, "One rep (REP_FIELDS).")


@dataclass(frozen=True, eq=False, slots=True)
class StepsConfirmed(_Event):
    """Provisional steps that are the rep's (reps.py)."""

    rep: int
    steps: tuple[int, ...]
    type: str = "steps_confirmed"
    KEYS = ("type", "rep", "steps")


@dataclass(frozen=True, eq=False, slots=True)
class StepsRetracted(_Event):
    """Provisional steps that were not a sprint, or came after it (reps.py)."""

    steps: tuple[int, ...]
    reason: str
    type: str = "steps_retracted"
    KEYS = ("type", "steps", "reason")
