"""What a recording stores, as named operations, and the SQL each becomes.

The live writer (service/live/writer.py) and the other writers of a session's rows
(a stop, a crash's recovery, the demo's history) hand these over; nothing outside
`service/store/` builds SQL. Each operation is plain data, made on the event loop,
and applied in order inside one transaction by `commit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Store
from .models import Athlete, Mark, RawChunk, Rep, Session, SessionStream, Step
from .queries import get_athlete


@dataclass(frozen=True, slots=True)
class StreamRecorded:
    """A session's raw stream, as its device's HELLO described it."""

    session_id: int
    device_id: int
    device_name: str
    info: Mapping[str, Any]  # the stream's description as JSON (recorder.stream_to_json)
    at_start: bool  # expected from the session's start (its device was connected)

    async def apply(self, s: AsyncSession) -> None:
        s.add(
            SessionStream(
                session_id=self.session_id,
                device_id=f"{self.device_id:016x}",
                device_name=self.device_name,
                stream_id=self.info["stream_id"],
                info=dict(self.info),
                expected_at_start=self.at_start,
            )
        )


@dataclass(frozen=True, slots=True)
class StepKept:
    """A step as the engine gave it (JSON-safe); a later one with its seq replaces it
    only through `StepsRetracted`."""

    session_id: int
    step: Mapping[str, Any]

    async def apply(self, s: AsyncSession) -> None:
        e = self.step
        s.add(
            Step(
                session_id=self.session_id,
                seq=e["n"],
                rep=e.get("rep"),
                foot=e.get("foot"),
                ic_time_s=e["ic_time_s"],
                limiter=e.get("limiter"),
                aligned=e.get("aligned"),
                source=e["source"],
                data={k: v for k, v in e.items() if k != "provisional"},
            )
        )


@dataclass(frozen=True, slots=True)
class StepsRetracted:
    """Provisional steps the engine took back (a sprint that was not one)."""

    session_id: int
    seqs: tuple[int, ...]

    async def apply(self, s: AsyncSession) -> None:
        await s.execute(
            delete(Step).where(Step.session_id == self.session_id, Step.seq.in_(self.seqs))
        )


@dataclass(frozen=True, slots=True)
class RepKept:
    session_id: int
    rep: Mapping[str, Any]

    async def apply(self, s: AsyncSession) -> None:
        e = self.rep
        s.add(
            Rep(
                session_id=self.session_id,
                number=e["rep"],
                start_s=e.get("start_s"),
                end_s=e.get("end_s"),
                steps=e["steps"],
                data=dict(e),
            )
        )


@dataclass(slots=True)
class MarkMade:
    """A coach's mark, at a host monotonic time; `id` is its row's once stored."""

    session_id: int
    time_s: float
    label: str
    id: int | None = None

    async def apply(self, s: AsyncSession) -> None:
        mark = Mark(session_id=self.session_id, time_s=self.time_s, label=self.label)
        s.add(mark)
        await s.flush()
        self.id = mark.id


@dataclass(frozen=True, slots=True)
class SessionStopped:
    session_id: int
    stopped_at: datetime

    async def apply(self, s: AsyncSession) -> None:
        await s.execute(
            update(Session)
            .where(Session.id == self.session_id)
            .values(status="stopped", stopped_at=self.stopped_at)
        )


Operation = StreamRecorded | StepKept | StepsRetracted | RepKept | MarkMade | SessionStopped


def event_operation(session_id: int, e: Mapping[str, Any]) -> Operation | None:
    """What the database keeps of an engine event: a step, a rep, or the retraction of
    steps (applied in order with the rest); nothing for a confirmation."""
    kind = e["type"]
    if kind == "step":
        return StepKept(session_id, e)
    if kind == "rep":
        return RepKept(session_id, e)
    if kind == "steps_retracted":
        return StepsRetracted(session_id, tuple(e["steps"]))
    return None


def event_operations(session_id: int, events: Iterable[Mapping[str, Any]]) -> list[Operation]:
    return [op for op in (event_operation(session_id, e) for e in events) if op is not None]


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A raw chunk, compressed (recorder.Chunk.encode), with its place in the session."""

    session_id: int
    data: bytes
    place: Mapping[str, Any]  # device_id, stream_id, first_sample, n, t_start, t_end, lost_before


Contents = tuple[Sequence[StreamRecorded], Sequence[ChunkRow], Sequence[Operation]]


async def commit(
    store: Store,
    streams: Sequence[StreamRecorded] = (),
    chunks: Sequence[ChunkRow] = (),
    operations: Sequence[Operation] = (),
) -> None:
    """One transaction: the streams first, then the chunks (one executemany of plain
    rows), then the operations in order."""
    async with store.session() as s, s.begin():
        await _apply(s, streams, chunks, operations)


async def _apply(s: AsyncSession, streams, chunks, operations) -> None:
    for st in streams:
        await st.apply(s)
    if chunks:
        await s.flush()  # the streams before the chunks that refer to them
        rows = [{"session_id": c.session_id, "data": c.data, **c.place} for c in chunks]
        await s.execute(insert(RawChunk), rows)
    for op in operations:
        await op.apply(s)


async def add_session(
    store: Store,
    athlete_id: int,
    row_of: Callable[[Athlete], Session],
    contents: Callable[[int], Contents] | None = None,
) -> tuple[Session, Athlete]:
    """A new session of an athlete (NotFound if there is none): its row, made from the
    athlete as stored now, and what it already holds (a simulated history's), made
    once its id is known; in one transaction."""
    async with store.session() as s, s.begin():
        athlete = await get_athlete(s, athlete_id)
        row = row_of(athlete)
        s.add(row)
        await s.flush()
        if contents is not None:
            await _apply(s, *contents(row.id))
    return row, athlete


async def athlete_named(store: Store, name: str, make: Callable[[], Athlete]) -> tuple[int, bool]:
    """The athlete of this name, added with `make` if there is none: (id, was there)."""
    async with store.session() as s, s.begin():
        row = await s.scalar(select(Athlete).where(Athlete.name == name))
        if row is not None:
            return row.id, True
        row = make()
        s.add(row)
        await s.flush()
        return row.id, False


async def replace_events(store: Store, session_id: int, operations: Sequence[Operation]) -> None:
    """A session's steps and reps, all of them, replaced (a crash's recovery)."""
    async with store.session() as s, s.begin():
        await s.execute(delete(Step).where(Step.session_id == session_id))
        await s.execute(delete(Rep).where(Rep.session_id == session_id))
        for op in operations:
            await op.apply(s)


async def mark_interrupted(store: Store) -> list[int]:
    """Sessions left recording (a crash, a power cut) are marked interrupted: their ids."""
    async with store.session() as s, s.begin():
        res = await s.execute(
            update(Session)
            .where(Session.status == "recording")
            .values(status="interrupted")
            .returning(Session.id)
        )
        return [r[0] for r in res]
