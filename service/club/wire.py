"""What crosses the club link over HTTP: a finished session, its steps and its raw
chunks, as the lane uploads them and the centre validates them. One definition,
imported by both ends (service/club/lane.py, service/api/club.py)."""

from __future__ import annotations

import base64
import functools
import math
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ..engine.events import REP_FIELDS, STEP_FIELDS
from ..store import RawChunk

Uuid = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")]
Seconds = Annotated[float, Field(allow_inf_nan=False)]
SESSION_FIELDS = (
    "status", "started_at", "stopped_at", "clock_origin_s", "notes", "model_version",
    "athlete_snapshot", "baseline", "cue_policy",
)  # fmt: skip


# What a lane may send, by REST and MQTT alike (issue 31): a value of any of these
# shapes is refused alone (422 by REST; dropped and counted by the centre's consumer).
MAX_MESSAGE_BYTES = 64 * 1024  # a step message is ~1.2 KB
MAX_DEPTH = 6  # a step's confirmed_by is 2 deep
MAX_TEXT = 2000  # as the REST API's notes
MAX_INT = 2**53  # any count or index (SQL BIGINT and JSON numbers both hold it)
MAX_CHUNK_BYTES = 16 * 1024 * 1024  # a raw chunk (0.5 s of an IMU is ~6 KB)


class Refused(ValueError):
    """A lane's value the centre does not take; the message says what, for the log."""


def check_value(v, depth: int = 0) -> None:
    """Raise `Refused` for what no field of a session, step or rep may hold: nesting
    deeper than MAX_DEPTH, text longer than MAX_TEXT or with a NUL (PostgreSQL refuses
    it), a number that is not finite or beyond MAX_INT."""
    if depth > MAX_DEPTH:
        raise Refused(f"nested deeper than {MAX_DEPTH}")
    if isinstance(v, str):
        if len(v) > MAX_TEXT or "\x00" in v:
            raise Refused("text too long, or with a NUL")
    elif isinstance(v, bool) or v is None:
        return
    elif isinstance(v, int):
        if abs(v) > MAX_INT:
            raise Refused(f"integer beyond {MAX_INT}")
    elif isinstance(v, float):
        if not math.isfinite(v):
            raise Refused("a number that is not finite")
    elif isinstance(v, dict):
        for k, x in v.items():
            check_value(k, depth + 1)
            check_value(x, depth + 1)
    elif isinstance(v, list | tuple):
        for x in v:
            check_value(x, depth + 1)


def check_event(e: dict) -> None:
    """A step's or rep's own fields as their one definition types them (engine/events.py):
    `ic_time_s: "x"` stored would break every read of the session's steps."""
    fields = STEP_TYPES if e.get("type") == "step" else REP_TYPES if e.get("type") == "rep" else {}
    for name, (kind, optional) in fields.items():
        v = e.get(name)
        if v is None:
            if not optional and name in e:
                raise Refused(f"{name} is null")
            continue
        if kind is float and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise Refused(f"{name} is not a number")
        if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise Refused(f"{name} is not an integer")
        if kind is str and not isinstance(v, str):
            raise Refused(f"{name} is not text")
        if kind is bool and not isinstance(v, bool):
            raise Refused(f"{name} is not true or false")


def _types(fields) -> dict[str, tuple[type, bool]]:
    out = {}
    for f in fields:
        t = f.type
        base = t if t in (float, int, str, bool) else str if get_origin(t) is Literal else None
        if base is not None:
            out[f.name] = (base, f.optional)
    return out


STEP_TYPES = _types(STEP_FIELDS)
REP_TYPES = _types(REP_FIELDS)


class _Wire(BaseModel):
    # Attribute docstrings are the schema's descriptions (OpenAPI, docs/api.md).
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    LONG_TEXT: ClassVar[frozenset[str]] = frozenset()  # fields with a length of their own

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data):
        """Its own values; a field that is itself a wire model (or a list of them) is
        checked by that model, and a LONG_TEXT field by its own length."""
        if isinstance(data, dict):
            skip = cls.LONG_TEXT | _nested_fields(cls)
            data_ = {k: v for k, v in data.items() if k not in skip}
        else:
            data_ = data
        _invalid_if_refused(check_value, data_)
        return data


def _invalid_if_refused(check, value):
    """`check(value)`, a refusal made pydantic's ValueError (a 422 by REST); the value."""
    try:
        check(value)
    except Refused as exc:
        raise ValueError(str(exc)) from None
    return value


@functools.cache
def _nested_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of `model` that hold a wire model or a list of them."""
    out = set()
    for name, f in model.model_fields.items():
        t = f.annotation
        inner = t.__args__[0] if get_origin(t) is list else t
        if isinstance(inner, type) and issubclass(inner, _Wire):
            out.add(name)
    return frozenset(out)


class AthleteWire(_Wire):
    uuid: Uuid
    """the athlete's id across the club"""
    name: str = Field(max_length=100)
    """the athlete's name"""
    body_mass_kg: float = Field(gt=0, le=300)
    """body mass [kg]"""
    height_m: float = Field(gt=0, le=3)
    """standing height [m]"""
    notes: str = ""
    """free text"""


class SessionWire(_Wire):
    uuid: Uuid
    """the session's id across the club"""
    status: str = Field(pattern="^(recording|stopped|interrupted)$")
    """as on the lane: stopped, or interrupted by a power cut or crash"""
    started_at: datetime
    """wall-clock start (ISO 8601)"""
    stopped_at: datetime | None
    """wall-clock stop (ISO 8601); null when interrupted"""
    clock_origin_s: Seconds
    """the lane's monotonic clock at the start [s]: every time below counts on it"""
    notes: str
    """free text"""
    model_version: str = Field(max_length=16)
    """the scoring model it was recorded with"""
    athlete_snapshot: dict[str, Any]
    """the athlete's body mass and height as at the start"""
    baseline: dict[str, Any] | None
    """the baseline it scored against (null: population)"""
    cue_policy: dict[str, Any] | None
    """the cue policy it used"""


class StreamWire(_Wire):
    device_id: str = Field(pattern="^[0-9a-f]{16}$")
    """the device's 64-bit id, hex"""
    device_name: str = Field(max_length=64)
    """the device's name (its HELLO)"""
    stream_id: int = Field(ge=0, le=255)
    """the stream's id on its device"""
    info: dict[str, Any]
    """the stream's kind, rate, channels, units and scales (docs/protocol.md)"""
    expected_at_start: bool
    """the stream was there when the session started"""


class StepWire(_Wire):
    seq: int = Field(ge=1, le=2**31 - 1)
    """the step's number in the session (its key)"""
    rep: int | None
    """its rep"""
    foot: str | None
    """left or right"""
    ic_time_s: Seconds
    """initial contact on the lane's monotonic clock [s]"""
    limiter: str | None
    """the limiting link, when one is out of its band"""
    aligned: bool | None
    """every link within its band"""
    source: str = Field(max_length=8)
    """what timed the contact: force, imu or fused"""
    data: dict[str, Any]
    """every field of the step as the lane stored it (times on the lane's clock)"""

    @field_validator("data")
    @classmethod
    def _a_step(cls, v: dict) -> dict:
        return _invalid_if_refused(check_event, v)


class RepWire(_Wire):
    number: int = Field(ge=1, le=2**31 - 1)
    """the rep's number in the session (its key)"""
    start_s: Seconds | None
    """its start on the lane's monotonic clock [s]"""
    end_s: Seconds | None
    """its end on the lane's monotonic clock [s]"""
    steps: int = Field(ge=0, le=2**31 - 1)
    """its steps"""
    data: dict[str, Any]
    """every field of the rep as the lane stored it"""

    @field_validator("data")
    @classmethod
    def _a_rep(cls, v: dict) -> dict:
        return _invalid_if_refused(check_event, v)


class MarkWire(_Wire):
    time_s: Seconds
    """when, on the lane's monotonic clock [s]"""
    label: str = Field(max_length=100)
    """what happened"""
    created_at: datetime
    """when it was made (ISO 8601)"""


class ChunkWire(_Wire):
    device_id: str = Field(pattern="^[0-9a-f]{16}$")
    """the device's 64-bit id, hex"""
    stream_id: int = Field(ge=0, le=255)
    """the stream's id on its device"""
    first_sample: int = Field(ge=0)
    """the device's index of its first sample"""
    n: int = Field(ge=1, le=10**7)
    """samples in it"""
    t_start: Seconds
    """its first sample's time on the lane's monotonic clock [s]"""
    t_end: Seconds
    """its last sample's time on the lane's monotonic clock [s]"""
    lost_before: int = Field(ge=0, le=2**31 - 1)
    """samples lost between the chunk before and this one"""
    data: str = Field(max_length=4 * -(-MAX_CHUNK_BYTES // 3))
    """base64 of the chunk as the lane stored it (service/store/rawcodec.py)"""

    LONG_TEXT: ClassVar[frozenset[str]] = frozenset({"data"})  # kilobytes, not MAX_TEXT

    @field_validator("data")
    @classmethod
    def _base64(cls, v: str) -> str:
        base64.b64decode(v, validate=True)  # binascii.Error is a ValueError: 422
        return v


class SessionUpload(_Wire):
    """`PUT /api/club/sessions/{uuid}`: everything of a session but its steps and raw
    chunks, which follow in batches."""

    session: SessionWire
    """the session's row"""
    athlete: AthleteWire
    """whose session it is (the centre's record wins if it knows them)"""
    streams: list[StreamWire]
    """its raw streams"""
    reps: list[RepWire]
    """its reps, all of them"""
    marks: list[MarkWire]
    """its marks, all of them"""


class StepsUpload(_Wire):
    steps: list[StepWire] = Field(max_length=5000)
    """up to 5000 steps, as the lane stored them"""


class ChunksUpload(_Wire):
    first: int = Field(ge=0, description="the index in the session of the first chunk here")
    chunks: list[ChunkWire] = Field(max_length=5000)
    """raw chunks in the lane's order, from index `first`"""


class Complete(_Wire):
    """The lane's last word: the steps it keeps (a retracted one is gone) and how many
    raw chunks the session has. The centre drops any other step and says whether it
    holds exactly these."""

    seqs: list[int] = Field(max_length=200_000)
    """the numbers of the steps the lane keeps"""
    chunks: int = Field(ge=0)
    """how many raw chunks the session has"""


class Held(BaseModel):
    """What the centre holds of a session: the lane resumes from `chunks`."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    chunks: int
    """raw chunks held (indices 0 to chunks - 1)"""
    steps: int
    """steps held"""
    complete: bool
    """the centre holds exactly what the lane's `complete` said"""


def columns(row, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: getattr(row, n) for n in names}


STEP_COLS = ("seq", "rep", "foot", "ic_time_s", "limiter", "aligned", "source", "data")
REP_COLS = ("number", "start_s", "end_s", "steps", "data")
MARK_COLS = ("time_s", "label", "created_at")
STREAM_COLS = ("device_id", "device_name", "stream_id", "info", "expected_at_start")
CHUNK_COLS = ("device_id", "stream_id", "first_sample", "n", "t_start", "t_end", "lost_before")


def chunk_wire(c: RawChunk) -> dict[str, Any]:
    return {**columns(c, CHUNK_COLS), "data": base64.b64encode(c.data).decode()}


def chunk_values(session_id: int, seq: int, c: ChunkWire) -> dict[str, Any]:
    return {
        **c.model_dump(exclude={"data"}),
        "session_id": session_id,
        "seq": seq,
        "data": base64.b64decode(c.data, validate=True),
    }
