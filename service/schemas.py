"""What the API accepts and returns (REST and websocket): the OpenAPI schema's source.

Every input is bounded; text has no control characters (PostgreSQL rejects
NUL, and a name is a name). Step and rep fields are the engine's
(docs/scoring.md); times are host monotonic seconds, as `clock_origin_s`
of the session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

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
Mass = Annotated[float, Field(ge=20.0, le=250.0, allow_inf_nan=False, description="kg")]
Height = Annotated[float, Field(ge=1.0, le=2.5, allow_inf_nan=False, description="m")]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CuePolicyIn(_In):
    """Changes to the cue policy (docs/cues.md); what is left out keeps its default."""

    mode: Literal["off", "changes", "every-step"] | None = None
    out_of_band: Annotated[float, Field(ge=0.0, le=1.5, allow_inf_nan=False)] | None = None
    min_gap_steps: Annotated[int, Field(ge=1, le=100)] | None = None
    aligned_streak: Annotated[int, Field(ge=0, le=100)] | None = None
    rep_summary: bool | None = None
    fade_after_reps: Annotated[int, Field(ge=0, le=100)] | None = None
    fade_every: Annotated[int, Field(ge=1, le=20)] | None = None
    step_expiry_s: Annotated[float, Field(ge=0.05, le=5.0, allow_inf_nan=False)] | None = None
    summary_expiry_s: Annotated[float, Field(ge=1.0, le=120.0, allow_inf_nan=False)] | None = None

    def changes(self) -> dict:
        return self.model_dump(exclude_none=True)


class AthleteIn(_In):
    name: Name
    body_mass_kg: Mass
    height_m: Height = 1.75
    notes: Notes = ""
    cue_policy: CuePolicyIn | None = None


class AthletePatch(_In):
    name: Name | None = None
    body_mass_kg: Mass | None = None
    height_m: Height | None = None
    notes: Notes | None = None
    cue_policy: CuePolicyIn | None = None


class AthleteOut(BaseModel):
    id: int
    name: str
    body_mass_kg: float
    height_m: float
    notes: str
    baseline: dict | None
    cue_policy: dict | None
    created_at: datetime


class BaselineIn(_In):
    session_ids: Annotated[list[Id], Field(min_length=1, max_length=100)]


class SessionStart(_In):
    athlete_id: Id
    notes: Notes = ""
    cues: CuePolicyIn | None = Field(None, description="this session's changes to the cue policy")


class SessionOut(BaseModel):
    id: int
    athlete_id: int
    status: Literal["recording", "stopped", "interrupted"]
    started_at: datetime
    stopped_at: datetime | None
    clock_origin_s: float
    notes: str
    model_version: str
    athlete_snapshot: dict
    baseline: dict | None
    cue_policy: dict | None


class StreamOut(BaseModel):
    device_id: str
    device_name: str
    stream_id: int
    key: str = Field(description="DEVICE:STREAM, for ?stream= in exports")
    expected_at_start: bool
    info: dict


class SessionDetail(SessionOut):
    streams: list[StreamOut]
    steps: int
    reps: int
    raw_samples: int
    raw_bytes: int
    raw_span_s: float = Field(
        description="seconds of sample time from the first raw sample stored to the last"
    )


class MarkIn(_In):
    label: Label


class MarkOut(BaseModel):
    id: int
    session_id: int
    time_s: float
    label: str


class RescoreIn(_In):
    model_version: Annotated[str, Field(min_length=1, max_length=16)]


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


class RescoreOut(BaseModel):
    session_id: int
    model_version: str
    identical: bool = Field(description="the rescore equals what was stored live")
    steps: list[StepOut]
    reps: list[RepOut]
    differences: list[str] = Field(description="the first differences, if any")


class Ticket(BaseModel):
    ticket: str
    expires_in_s: float
    role: Literal["admin", "viewer"]


class Problem(BaseModel):
    detail: str
