"""What crosses the club link over HTTP: a finished session, its steps and its raw
chunks, as the lane uploads them and the centre validates them. One definition,
imported by both ends (service/club/lane.py, service/api/club.py)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..store import RawChunk

Uuid = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")]
Seconds = Annotated[float, Field(allow_inf_nan=False)]
SESSION_FIELDS = (
    "status", "started_at", "stopped_at", "clock_origin_s", "notes", "model_version",
    "athlete_snapshot", "baseline", "cue_policy",
)  # fmt: skip


class _Wire(BaseModel):
    # Attribute docstrings are the schema's descriptions (OpenAPI, docs/api.md).
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


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
    seq: int = Field(ge=1)
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


class RepWire(_Wire):
    number: int = Field(ge=1)
    """the rep's number in the session (its key)"""
    start_s: Seconds | None
    """its start on the lane's monotonic clock [s]"""
    end_s: Seconds | None
    """its end on the lane's monotonic clock [s]"""
    steps: int = Field(ge=0)
    """its steps"""
    data: dict[str, Any]
    """every field of the rep as the lane stored it"""


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
    n: int = Field(ge=1)
    """samples in it"""
    t_start: Seconds
    """its first sample's time on the lane's monotonic clock [s]"""
    t_end: Seconds
    """its last sample's time on the lane's monotonic clock [s]"""
    lost_before: int = Field(ge=0)
    """samples lost between the chunk before and this one"""
    data: str
    """base64 of the chunk as the lane stored it (service/store/rawcodec.py)"""


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
