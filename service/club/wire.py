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
    model_config = ConfigDict(extra="forbid")


class AthleteWire(_Wire):
    uuid: Uuid
    name: str = Field(max_length=100)
    body_mass_kg: float = Field(gt=0, le=300)
    height_m: float = Field(gt=0, le=3)
    notes: str = ""


class SessionWire(_Wire):
    uuid: Uuid
    status: str = Field(pattern="^(recording|stopped|interrupted)$")
    started_at: datetime
    stopped_at: datetime | None
    clock_origin_s: Seconds
    notes: str
    model_version: str = Field(max_length=16)
    athlete_snapshot: dict[str, Any]
    baseline: dict[str, Any] | None
    cue_policy: dict[str, Any] | None


class StreamWire(_Wire):
    device_id: str = Field(pattern="^[0-9a-f]{16}$")
    device_name: str = Field(max_length=64)
    stream_id: int = Field(ge=0, le=255)
    info: dict[str, Any]
    expected_at_start: bool


class StepWire(_Wire):
    seq: int = Field(ge=1)
    rep: int | None
    foot: str | None
    ic_time_s: Seconds
    limiter: str | None
    aligned: bool | None
    source: str = Field(max_length=8)
    data: dict[str, Any]


class RepWire(_Wire):
    number: int = Field(ge=1)
    start_s: Seconds | None
    end_s: Seconds | None
    steps: int = Field(ge=0)
    data: dict[str, Any]


class MarkWire(_Wire):
    time_s: Seconds
    label: str = Field(max_length=100)
    created_at: datetime


class ChunkWire(_Wire):
    device_id: str = Field(pattern="^[0-9a-f]{16}$")
    stream_id: int = Field(ge=0, le=255)
    first_sample: int = Field(ge=0)
    n: int = Field(ge=1)
    t_start: Seconds
    t_end: Seconds
    lost_before: int = Field(ge=0)
    data: str  # base64 of the stored bytes (service/store/rawcodec.py)


class SessionUpload(_Wire):
    """`PUT /api/club/sessions/{uuid}`: everything of a session but its steps and raw
    chunks, which follow in batches."""

    session: SessionWire
    athlete: AthleteWire
    streams: list[StreamWire]
    reps: list[RepWire]
    marks: list[MarkWire]


class StepsUpload(_Wire):
    steps: list[StepWire] = Field(max_length=5000)


class ChunksUpload(_Wire):
    first: int = Field(ge=0, description="the index in the session of the first chunk here")
    chunks: list[ChunkWire] = Field(max_length=5000)


class Complete(_Wire):
    """The lane's last word: the steps it keeps (a retracted one is gone) and how many
    raw chunks the session has. The centre drops any other step and says whether it
    holds exactly these."""

    seqs: list[int] = Field(max_length=200_000)
    chunks: int = Field(ge=0)


class Held(BaseModel):
    """What the centre holds of a session: the lane resumes from `chunks`."""

    chunks: int
    steps: int
    complete: bool


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
