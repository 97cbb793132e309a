"""The one definition of a step and a rep: every field, its type, unit and meaning.

Step and Rep are frozen dataclasses declared field by field below (visible to an
editor and a type checker), each field's unit and meaning beside it (`_about`). The
table of fields (STEP_FIELDS, REP_FIELDS: EventField) is read from the classes, and
the API's response schemas (service/schemas.py: descriptions and units in the
OpenAPI document), the club's wire types and the export columns (service/export.py)
come from it; a test checks that the engine's events carry exactly these fields.

Times: the engine works on the host's monotonic clock; every event leaving the
service counts from the session's start (service/timebase.py), which is what the
field descriptions say.

An event also reads as a mapping (`step["ic_time_s"]`, `dict(step)`), the form
the service stores and sends as JSON.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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


BaselineState = Literal["learning", "provisional", "set"]


T = typing.TypeVar("T")


def known(value: T | None) -> T:
    """A field that is always there where this is called (a step's number once it is
    reported, its contact time), to a type checker: None here is a bug."""
    assert value is not None, "a field that is always set was not"
    return value


def _about(unit: str, doc: str, optional=True, core=True, profile=False) -> Any:
    """An event field's unit and meaning (EventField); an optional one defaults to None."""
    meta = {"unit": unit, "doc": doc, "optional": optional, "core": core, "profile": profile}
    return field(default=None, metadata=meta) if optional else field(metadata=meta)


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


@dataclass(frozen=True, eq=False, slots=True, kw_only=True)
class Step(_Event):
    """One step; `provisional` while its rep is not yet known (reps.py). A step's core
    fields come first, in the order clients show them."""

    type: Literal["step"] = _about("", "always `step`", optional=False)
    foot: Literal["left", "right"] | None = _about("", "the stance foot (null from force alone)")
    ic_time_s: float = _about("s", "initial contact, since the session started", optional=False)
    to_time_s: float = _about("s", "toe-off, since the session started", optional=False)
    contact_time_s: float | None = _about("s", "toe-off minus initial contact")
    flight_time_s: float | None = _about("s", "the previous step's toe-off to this contact")
    step_time_s: float | None = _about("s", "the previous contact to this one")
    step_frequency_hz: float | None = _about("Hz", "1 / step time")
    peak_vertical_force_bw: float | None = _about("body weights", "peak vertical force")
    braking_impulse_ns: float | None = _about("N·s", "horizontal impulse while braking (<= 0)")
    propulsive_impulse_ns: float | None = _about(
        "N·s", "horizontal impulse while propelling (>= 0)"
    )
    net_horizontal_impulse_ns: float | None = _about("N·s", "braking plus propulsive impulse")
    ratio_of_force: float | None = _about("1", "net horizontal over resultant impulse (RF)")
    push_score: float | None = _about("1", "push against the athlete's baseline (1: as usual)")
    swing_score: float | None = _about("1", "swing timing against the baseline (1: as usual)")
    torso_score: float | None = _about("1", "torso steadiness against the baseline (1: as usual)")
    system_score: float | None = _about("1", "soft minimum of the three scores")
    limiter: Link | None = _about("", "the link that limits, when one is out of its band")
    aligned: bool | None = _about("", "every link within its band (null in a rep's first steps)")
    source: Literal["force", "imu", "fused"] = _about("", "what timed the contact", optional=False)
    model_version: str = _about("", "the scoring model that measured it", optional=False)
    rep: int | None = _about("", "the rep it belongs to", core=False)
    mean_vertical_force_bw: float | None = _about(
        "body weights", "step time / contact time", core=False
    )
    swing_time_s: float | None = _about(
        "s", "this foot's previous toe-off to this contact", core=False
    )
    peak_swing_deg_s: float | None = _about(
        "deg/s", "peak shank angular velocity in the swing", core=False
    )
    swing_lag: float | None = _about(
        "contact times", "the other leg's mid-swing after IC", core=False
    )
    thigh_separation_ic_deg: float | None = _about(
        "deg", "swing minus stance thigh, at IC", core=False
    )
    thigh_separation_to_deg: float | None = _about(
        "deg", "swing minus stance thigh, at TO", core=False
    )
    trunk_pitch_deg: float | None = _about(
        "deg", "trunk lean at mid-contact (+ forward)", core=False
    )
    trunk_pitch_rate_rms_deg_s: float | None = _about(
        "deg/s", "trunk rocking in contact", core=False
    )
    velocity_m_s: float | None = _about("m/s", "running speed at initial contact", core=False)
    step_length_m: float | None = _about("m", "velocity times step time", core=False)
    imu_ic_error_s: float | None = _about(
        "s", "shank IC minus plate IC, when both saw it", core=False
    )
    imu_to_error_s: float | None = _about(
        "s", "shank TO minus plate TO, when both saw it", core=False
    )
    imu_ic_correction_s: float | None = _about("s", "taken off a shank-only IC", core=False)
    imu_to_correction_s: float | None = _about("s", "taken off a shank-only TO", core=False)
    n: int | None = _about("", "the step's number in the session (gaps: retracted)", core=False)
    verdict: (
        Literal["warming up", "learning", "aligned", "limited", "slowing", "no links"] | None
    ) = _about(
        "",
        "how the step was judged: a rep's first steps and its slowing down are not; "
        "`learning` while an athlete with no baseline gets a provisional one",
        core=False,
    )
    judged_links: str | None = _about(
        "",
        "the links judged, space-separated (what the rig measured and the baseline "
        "has a reference for)",
        core=False,
    )
    missing_measures: str | None = _about(
        "",
        "measures the rig has but did not see for this step (a sensor out, a gap), "
        "space-separated: absent, never a low score",
        core=False,
    )
    baseline_state: BaselineState | None = _about(
        "", "the athlete's baseline: being learnt, learnt in this session, or set", core=False
    )
    provisional: bool = False  # a live step's flag, not a field of the definition

    def _keys(self) -> tuple[str, ...]:
        # `provisional` is a live step's flag: there (true) until the rep is known.
        return (*self.KEYS, "provisional") if self.provisional else self.KEYS


@dataclass(frozen=True, eq=False, slots=True, kw_only=True)
class Rep(_Event):
    """One rep, with the sprint profile fitted to its speed."""

    type: Literal["rep"] = _about("", "always `rep`", optional=False)
    rep: int = _about("", "the rep's number in the session", optional=False)
    start_s: float | None = _about("s", "its first contact, since the session started")
    end_s: float | None = _about("s", "its end, since the session started")
    steps: int = _about("", "its steps", optional=False)
    min_contact_time_s: float | None = _about("s", "its shortest contact")
    aligned_steps: int | None = _about("", "its steps judged aligned")
    judged_steps: int | None = _about(
        "",
        "its steps judged at all (not warming up, learning or slowing): the share "
        "aligned is of these (none: learning, not 0 %)",
    )
    baseline_state: BaselineState | None = _about(
        "", "the baseline its steps were judged on (learning: none yet)"
    )
    main_limiter: Link | None = _about("", "the link that limited most often")
    mss_m_s: float | None = _about(
        "m/s", "maximal sprinting speed of the fitted profile", profile=True
    )
    tau_s: float | None = _about("s", "time constant of the fitted speed curve", profile=True)
    f0_n: float | None = _about("N", "theoretical maximal horizontal force", profile=True)
    v0_m_s: float | None = _about("m/s", "theoretical maximal speed", profile=True)
    pmax_w: float | None = _about("W", "maximal horizontal power", profile=True)
    rf_max: float | None = _about("1", "maximal ratio of force", profile=True)
    drf: float | None = _about("1 per m/s", "decrease of RF with speed", profile=True)
    model_version: str = _about("", "the scoring model", optional=False)


def _fields(cls: type) -> tuple[EventField, ...]:
    """The definition's fields of an event class, in order, with their units."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        m = f.metadata
        if "unit" not in m:
            continue
        kind = hints[f.name]
        if m["optional"]:  # `X | None`: the type of a value that is there
            there = [a for a in typing.get_args(kind) if a is not type(None)]
            kind = functools.reduce(operator.or_, there)
        out.append(EventField(f.name, kind, m["unit"], m["doc"], m["optional"], m["core"]))
    return tuple(out)


STEP_FIELDS: tuple[EventField, ...] = _fields(Step)
REP_FIELDS: tuple[EventField, ...] = _fields(Rep)
_PROFILE = {d.name for d in dataclasses.fields(Rep) if d.metadata.get("profile")}
PROFILE_FIELDS: tuple[EventField, ...] = tuple(f for f in REP_FIELDS if f.name in _PROFILE)
Step.KEYS = tuple(f.name for f in STEP_FIELDS)
Rep.KEYS = tuple(f.name for f in REP_FIELDS)
STEP_KEYS = tuple(f.name for f in STEP_FIELDS if f.core)
EXTRA_STEP_KEYS = tuple(f.name for f in STEP_FIELDS if not f.core)
PROFILE_KEYS = tuple(f.name for f in PROFILE_FIELDS)
REP_KEYS = tuple(f.name for f in REP_FIELDS)


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
