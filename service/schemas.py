"""What the API accepts and returns (REST and websocket): the OpenAPI schema's source.

Every input is bounded; text has no control characters (PostgreSQL rejects
NUL, and a name is a name). Step and rep fields are the engine's
(docs/scoring.md); every step, rep and mark time is seconds since the session
started (service/timebase.py); timestamps are ISO 8601 in UTC. Every field
carries a description with its unit: the OpenAPI document is the reference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from .engine import MODEL_VERSION
from .engine.events import REP_FIELDS, STEP_FIELDS


def _printable(v: str) -> str:
    if any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in v):
        raise ValueError("control characters are not allowed")
    if any("\ud800" <= ch <= "\udfff" for ch in v):
        raise ValueError("unpaired surrogates are not allowed")
    return v


def _name(v: str) -> str:
    v = _printable(v).strip()
    if not v or "\n" in v or "\t" in v:
        raise ValueError("a name is one line of visible text")
    return v


Name = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_name)]
Notes = Annotated[str, Field(max_length=2000), AfterValidator(_printable)]
Label = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_name)]
Mass = Annotated[float, Field(ge=20.0, le=250.0, allow_inf_nan=False)]
Height = Annotated[float, Field(ge=1.0, le=2.5, allow_inf_nan=False)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


def _d(text: str, default=..., **kw):
    """A field with its description (and unit), as the OpenAPI document shows it."""
    return Field(default, description=text, **kw)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CuePolicyIn(_In):
    """Changes to the cue policy (docs/cues.md); what is left out keeps its default."""

    mode: Literal["off", "changes", "every-step"] | None = _d(
        "off; cues when the limiting link changes; or on every step", None
    )
    out_of_band: Annotated[float, Field(ge=0.0, le=1.5, allow_inf_nan=False)] | None = _d(
        "a system score below this is out of band [1: the athlete's baseline]", None
    )
    min_gap_steps: Annotated[int, Field(ge=1, le=100)] | None = _d(
        "at most one step cue in this many steps [steps]", None
    )
    aligned_streak: Annotated[int, Field(ge=0, le=100)] | None = _d(
        "'aligned' after this many aligned steps in a row (0: never) [steps]", None
    )
    rep_summary: bool | None = _d("a spoken summary after each rep", None)
    fade_after_reps: Annotated[int, Field(ge=0, le=100)] | None = _d(
        "step cues on every rep up to this one [reps]", None
    )
    fade_every: Annotated[int, Field(ge=1, le=20)] | None = _d(
        "then step cues on every n-th rep only (1: no fading) [reps]", None
    )
    step_expiry_s: Annotated[float, Field(ge=0.05, le=5.0, allow_inf_nan=False)] | None = _d(
        "a step cue not played by then is dropped [s]", None
    )
    summary_expiry_s: Annotated[float, Field(ge=1.0, le=120.0, allow_inf_nan=False)] | None = _d(
        "a rep summary not played by then is dropped [s]", None
    )

    def changes(self) -> dict:
        return self.model_dump(exclude_none=True)


class AthleteIn(_In):
    name: Name = _d("the athlete's name, one line")
    body_mass_kg: Mass = _d("body mass [kg]")
    height_m: Height = _d("standing height (air drag) [m]", 1.75)
    notes: Notes = _d("free text", "")
    cue_policy: CuePolicyIn | None = _d("changes to the default cue policy", None)


class AthletePatch(_In):
    name: Name | None = _d("the athlete's name, one line", None)
    body_mass_kg: Mass | None = _d("body mass [kg]", None)
    height_m: Height | None = _d("standing height (air drag) [m]", None)
    notes: Notes | None = _d("free text", None)
    cue_policy: CuePolicyIn | None = _d("changes to the default cue policy (null: none)", None)


class AthleteOut(BaseModel):
    id: int = _d("the athlete's id")
    uuid: str = _d("the athlete's id across a club's lanes and centre (docs/club.md)")
    name: str = _d("the athlete's name")
    body_mass_kg: float = _d("body mass [kg]")
    height_m: float = _d("standing height [m]")
    notes: str = _d("free text")
    baseline: dict | None = _d("the athlete's own baseline (null: population defaults)")
    cue_policy: dict | None = _d("changes to the default cue policy")
    created_at: datetime = _d("when the athlete was added (ISO 8601, UTC)")


class BaselineIn(_In):
    session_ids: Annotated[list[Id], Field(min_length=1, max_length=100)] = _d(
        "sessions of the athlete's normal, good running"
    )


class BaselinePreview(BaseModel):
    steps: int = _d("the rep steps it would be learnt from")
    at_m_s: float = _d("the speed the references are given at [m/s]")
    now: dict | None = _d(
        "the baseline in force at that speed (null: none; each session learns from its"
        " first rep): ratio_of_force, swing_lag, trunk_pitch_rate_rms_deg_s"
    )
    learnt: dict = _d("what learning from the sessions would set, the same references")


class SessionStart(_In):
    athlete_id: Id = _d("whose session it is")
    notes: Notes = _d("free text", "")
    cues: CuePolicyIn | None = _d("this session's changes to the cue policy", None)


class SessionOut(BaseModel):
    id: int = _d("the session's id")
    uuid: str = _d("the session's id across a club's lanes and centre (docs/club.md)")
    node: str | None = _d("the lane it was recorded on, at a club's centre; null: this node")
    athlete_id: int = _d("whose session it is")
    status: Literal["recording", "stopped", "interrupted"] = _d(
        "interrupted: the service stopped without stopping it (power cut, crash)"
    )
    started_at: datetime = _d("wall-clock start (ISO 8601, UTC)")
    stopped_at: datetime | None = _d("wall-clock stop (ISO 8601, UTC)")
    clock_origin_s: float = _d(
        "the host's monotonic clock at the start: raw sample times minus this are the"
        " session's times [s]"
    )
    notes: str = _d("free text")
    model_version: str = _d("the scoring model the session was recorded with")
    athlete_snapshot: dict = _d("the athlete's body mass and height as at the start")
    baseline: dict | None = _d("the baseline the session scored against (null: population)")
    cue_policy: dict | None = _d("the cue policy the session used")


class StreamOut(BaseModel):
    device_id: str = _d("the device's 64-bit id, hex")
    device_name: str = _d("the device's name (its HELLO)")
    stream_id: int = _d("the stream's id on its device")
    key: str = _d("DEVICE:STREAM, for ?stream= in exports (the device's name works too)")
    expected_at_start: bool = _d("the stream was there when the session started")
    info: dict = _d("kind, placement, rate and channels (units, scales), as its HELLO said")


class SessionDetail(SessionOut):
    streams: list[StreamOut] = _d("the session's raw streams")
    steps: int = _d("steps stored")
    reps: int = _d("reps stored")
    raw_samples: int = _d("raw samples stored, all streams")
    raw_bytes: int = _d("compressed raw bytes stored [bytes]")
    raw_span_s: float = _d("sample time from the first raw sample stored to the last [s]")


class MarkIn(_In):
    label: Label = _d("what happened, e.g. 'rep 3: flying 30 m'")


class MarkOut(BaseModel):
    id: int = _d("the mark's id")
    session_id: int = _d("its session")
    time_s: float = _d("when, since the session started [s]")
    label: str = _d("what happened")


class RescoreIn(_In):
    model_version: Annotated[str, Field(min_length=1, max_length=16)] = _d(
        "the scoring model to run (default: this engine's)", MODEL_VERSION
    )


def _event_model(name: str, doc: str, fields) -> type[BaseModel]:
    """A response schema from the one definition of an event (service/engine/events.py):
    every field with its type, unit and meaning in the OpenAPI document."""
    spec = {
        f.name: (
            f.type | None if f.optional else f.type,
            Field(None if f.optional else ..., description=f.description),
        )
        for f in fields
    }
    return create_model(name, __doc__=doc, __config__=ConfigDict(extra="allow"), **spec)


StepOut = _event_model(
    "StepOut",
    "One step (docs/scoring.md): every field of `stridesync replay`, and `n`.",
    STEP_FIELDS,
)
RepOut = _event_model(
    "RepOut",
    "One rep: its steps' summary and its sprint profile (docs/scoring.md).",
    REP_FIELDS,
)


class RepCard(BaseModel):
    """A rep's card (docs/progress.md): splits, the velocity curve, the profile, phases."""

    rep: int = _d("the rep's number in the session")
    steps: int = _d("its steps")
    body_mass_kg: float = _d("the athlete's body mass for this session [kg]")
    profile: dict = _d(
        "mss_m_s [m/s], tau_s [s], f0_n [N], f0_n_kg [N/kg], v0_m_s [m/s], pmax_w [W],"
        " pmax_w_kg [W/kg], rf_max [1], drf [1 per m/s]; null where not measured"
    )
    splits: list[dict] = _d(
        "from_m, to_m [m], time_s (between the marks) and at_s (since the start) [s]"
    )
    splits_from: Literal["speed sensor", "step lengths"] | None = _d(
        "what the splits come from: the speed sensor, else the steps' lengths (coarser)"
    )
    velocity: dict | None = _d(
        "t_s (since the start) [s], measured_m_s and model_m_s [m/s] at 20 Hz; null"
        " without a speed sensor"
    )
    phases: dict = _d(
        "acceleration (below 90 % of MSS) and max_velocity: steps, contact_time_s,"
        " flight_time_s [s] (means)"
    )
    feet: dict = _d("left and right: steps, contact_time_s, flight_time_s [s] (means)")
    verdict: dict = _d("the rep's steps by verdict: aligned, push, swing, torso, none")


class Progress(BaseModel):
    """An athlete's measure over weeks against its noise (docs/progress.md)."""

    athlete_id: int = _d("whose trend it is")
    measure: str = _d("the measure (one of the rep's, or per kg)")
    kind: str | None = _d("only reps of this kind (the last mark's label before them)")
    unit: str = _d("its unit")
    doc: str = _d("what it is")
    higher_is_better: bool = _d("whether a rise is an improvement")
    sessions: list[dict] = _d(
        "by date: session_id, started_at (ISO 8601, UTC), reps, best and typical (median)"
        " rep, in the measure's unit"
    )
    typical_error: float | None = _d(
        "within-athlete SD from rep to rep, pooled over sessions (Hopkins 2000), in the"
        " measure's unit; null without repeated reps"
    )
    swc: float | None = _d("the smallest worthwhile change, in the measure's unit")
    swc_from: Literal["squad", "coach"] | None = _d(
        "0.2 x the SD of every athlete's mean (squad), or the coach's value"
    )
    swc_athletes: int | None = _d(
        "with swc_from squad: how many athletes' finished sessions in the period it is from"
    )
    change: dict | None = _d(
        "the earliest two sessions' reps against the latest two's: before, after, change,"
        " lower and upper (its confidence interval), confidence, typical_error, swc,"
        " flagged (the interval beyond the SWC), direction, better; null with fewer than"
        " four sessions"
    )


class RescoreOut(BaseModel):
    session_id: int = _d("the session rescored")
    model_version: str = _d("the scoring model that ran: every step and rep here is its")
    recorded_with: str = _d("the scoring model the session was recorded with (what is stored)")
    identical: bool = _d("the rescore equals what was stored live")
    steps: list[StepOut] = _d("the steps, times since the session started")
    reps: list[RepOut] = _d("the reps, times since the session started")
    differences: list[str] = _d("the first differences from what was stored, if any")


class Ticket(BaseModel):
    ticket: str = _d("pass as /ws/live?ticket=...; good once")
    expires_in_s: float = _d("how long it stays good [s]")
    role: Literal["admin", "viewer"] = _d("the role the websocket gets")


class Problem(BaseModel):
    detail: str = _d("what was wrong, one line")
