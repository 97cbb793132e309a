"""The tables: athletes, sessions and what a session holds.

Times of samples, steps and marks are host monotonic seconds, the clock the
engine works in; `Session.clock_origin_s` is that clock at the session's
start (exports subtract it) and `Session.started_at` the wall-clock time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator):
    """A moment stored in UTC and read back with its offset, on SQLite too (which
    keeps no time zone): the API's timestamps are ISO 8601 with `+00:00` throughout."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None and value.tzinfo else value

    def process_result_value(self, value: datetime | None, _dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Athlete(Base):
    __tablename__ = "athletes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One registry across a club's lanes (docs/club.md): the id is this database's own.
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid)
    name: Mapped[str] = mapped_column(String(100))
    body_mass_kg: Mapped[float] = mapped_column(Float)
    height_m: Mapped[float] = mapped_column(Float)
    notes: Mapped[str] = mapped_column(Text, default="")
    baseline: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # null: population
    cue_policy: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # changes to the default
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    sessions: Mapped[list[Session]] = relationship(back_populates="athlete")

    __table_args__ = (Index("ux_athletes_uuid", "uuid", unique=True),)


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid)
    # The lane it was recorded on (a club's centre); null: this node.
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # On a lane: when the centre confirmed it holds the session whole (docs/club.md).
    replicated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16))  # recording, stopped, interrupted
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    clock_origin_s: Mapped[float] = mapped_column(Float)
    notes: Mapped[str] = mapped_column(Text, default="")
    model_version: Mapped[str] = mapped_column(String(16))
    # What the engine was given, so a rescore reproduces the live run exactly.
    athlete_snapshot: Mapped[dict] = mapped_column(JSON)
    baseline: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    cue_policy: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # as used

    athlete: Mapped[Athlete] = relationship(back_populates="sessions")

    __table_args__ = (Index("ux_sessions_uuid", "uuid", unique=True),)


class SessionStream(Base):
    """A sensor stream recorded in a session, with its channels, units and scales."""

    __tablename__ = "session_streams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(16))  # 64-bit id, hex
    device_name: Mapped[str] = mapped_column(String(64))
    stream_id: Mapped[int] = mapped_column(Integer)
    info: Mapped[dict] = mapped_column(JSON)
    expected_at_start: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_session_streams_session", "session_id", "device_id", "stream_id"),)


class RawChunk(Base):
    """About half a second of one stream, compressed (service/store/rawcodec.py)."""

    __tablename__ = "raw_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(16))
    stream_id: Mapped[int] = mapped_column(Integer)
    first_sample: Mapped[int] = mapped_column(BigInteger)
    n: Mapped[int] = mapped_column(Integer)
    t_start: Mapped[float] = mapped_column(Float)
    t_end: Mapped[float] = mapped_column(Float)
    lost_before: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # Its index in the session as the lane stored it (the centre's copies); null on a lane.
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        Index("ix_raw_chunks_session_time", "session_id", "t_start"),
        Index("ux_raw_chunks_seq", "session_id", "seq", unique=True),
    )


class Rep(Base):
    __tablename__ = "reps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    steps: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict] = mapped_column(JSON)

    __table_args__ = (Index("ix_reps_session", "session_id", "number"),)


class Step(Base):
    __tablename__ = "steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # order in the session, from 1
    rep: Mapped[int | None] = mapped_column(Integer, nullable=True)
    foot: Mapped[str | None] = mapped_column(String(8), nullable=True)
    ic_time_s: Mapped[float] = mapped_column(Float)
    limiter: Mapped[str | None] = mapped_column(String(16), nullable=True)
    aligned: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    source: Mapped[str] = mapped_column(String(8))
    data: Mapped[dict] = mapped_column(JSON)  # every key of the step, as on the websocket

    __table_args__ = (Index("ix_steps_session", "session_id", "seq"),)


class Mark(Base):
    """A coach's marker: 'rep 3, flying 30 m', at a moment of the session."""

    __tablename__ = "marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    time_s: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
