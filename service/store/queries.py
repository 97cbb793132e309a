"""Every query the API and the exports make: the SQL lives here, not in the handlers.

Each function opens its own short database session (a unit of work), so a
long export never holds a transaction open. Missing rows raise
`service.errors.NotFound`; a row that cannot go raises `Conflict`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select

from ..errors import Conflict, NotFound
from .db import Store
from .models import Athlete, Mark, RawChunk, Rep, Session, SessionStream, Step

STEP_PAGE = 1000  # steps a page of an export
RAW_PAGE = 40  # raw chunks a page: ~2 s of a 1 kHz plate at the rig's 1 s chunks × streams


async def get_athlete(s, athlete_id: int) -> Athlete:
    row = await s.get(Athlete, athlete_id)
    if row is None:
        raise NotFound(f"no athlete {athlete_id}")
    return row


async def get_session(s, session_id: int) -> Session:
    row = await s.get(Session, session_id)
    if row is None:
        raise NotFound(f"no session {session_id}")
    return row


# --- athletes ---------------------------------------------------------------------------


async def athletes(store: Store, limit: int, offset: int) -> Sequence[Athlete]:
    async with store.session() as s:
        q = select(Athlete).order_by(Athlete.id).limit(limit).offset(offset)
        return (await s.scalars(q)).all()


async def athlete(store: Store, athlete_id: int) -> Athlete:
    async with store.session() as s:
        return await get_athlete(s, athlete_id)


async def add_athlete(store: Store, fields: dict[str, Any]) -> Athlete:
    async with store.session() as s, s.begin():
        row = Athlete(**fields)
        s.add(row)
    return row


async def update_athlete(store: Store, athlete_id: int, fields: dict[str, Any]) -> Athlete:
    async with store.session() as s, s.begin():
        row = await get_athlete(s, athlete_id)
        for k, v in fields.items():
            setattr(row, k, v)
    return row


async def delete_athlete(store: Store, athlete_id: int) -> None:
    async with store.session() as s, s.begin():
        row = await get_athlete(s, athlete_id)
        n = await s.scalar(select(func.count()).where(Session.athlete_id == athlete_id))
        if n:
            raise Conflict(f"athlete {athlete_id} has {n} sessions; delete them first")
        await s.delete(row)


async def rep_steps_of(store: Store, athlete_id: int, session_ids: set[int]) -> list[dict]:
    """The steps within reps of these sessions, which must all be the athlete's."""
    async with store.session() as s:
        await get_athlete(s, athlete_id)
        owned = set(
            await s.scalars(
                select(Session.id).where(
                    Session.id.in_(session_ids), Session.athlete_id == athlete_id
                )
            )
        )
        if owned != session_ids:
            missing = ", ".join(str(i) for i in sorted(session_ids - owned))
            raise NotFound(f"athlete {athlete_id} has no session {missing}")
        q = select(Step.data).where(Step.session_id.in_(session_ids), Step.rep.is_not(None))
        return list(await s.scalars(q))


# --- sessions ---------------------------------------------------------------------------


async def sessions(
    store: Store, athlete_id: int | None, status: str | None, limit: int, offset: int
) -> Sequence[Session]:
    q = select(Session).order_by(Session.id.desc()).limit(limit).offset(offset)
    if athlete_id is not None:
        q = q.where(Session.athlete_id == athlete_id)
    if status is not None:
        q = q.where(Session.status == status)
    async with store.session() as s:
        return (await s.scalars(q)).all()


async def session(store: Store, session_id: int) -> Session:
    async with store.session() as s:
        return await get_session(s, session_id)


async def streams(store: Store, session_id: int) -> list[SessionStream]:
    """The session's streams (404 if there is no such session)."""
    async with store.session() as s:
        await get_session(s, session_id)
        q = select(SessionStream).where(SessionStream.session_id == session_id)
        return list((await s.scalars(q.order_by(SessionStream.id))).all())


async def counts(store: Store, session_id: int) -> tuple[int, int]:
    """Steps and reps stored for the session."""
    async with store.session() as s:
        n_steps = await s.scalar(select(func.count()).where(Step.session_id == session_id))
        n_reps = await s.scalar(select(func.count()).where(Rep.session_id == session_id))
    return int(n_steps), int(n_reps)


async def delete_session(store: Store, session_id: int) -> None:
    async with store.session() as s, s.begin():
        row = await get_session(s, session_id)
        for table in (RawChunk, Step, Rep, Mark, SessionStream):
            await s.execute(table.__table__.delete().where(table.session_id == session_id))
        await s.delete(row)


async def marks(store: Store, session_id: int) -> Sequence[Mark]:
    async with store.session() as s:
        await get_session(s, session_id)
        q = select(Mark).where(Mark.session_id == session_id).order_by(Mark.id)
        return (await s.scalars(q)).all()


async def reps(store: Store, session_id: int) -> list[dict]:
    async with store.session() as s:
        rows = await s.scalars(select(Rep).where(Rep.session_id == session_id).order_by(Rep.id))
        return [r.data for r in rows]


async def steps(
    store: Store, session_id: int, where: dict[str, Any], limit: int, offset: int
) -> Sequence[dict]:
    """A page of steps; `where`: column name → value (None: any)."""
    q = select(Step.data).where(Step.session_id == session_id)
    for name, value in where.items():
        if value is not None:
            q = q.where(getattr(Step, name) == value)
    async with store.session() as s:
        return (await s.scalars(q.order_by(Step.seq).limit(limit).offset(offset))).all()


async def all_steps(store: Store, session_id: int) -> AsyncIterator[dict]:
    """Every step of the session in order, a page at a time."""
    last = 0
    while True:
        async with store.session() as s:
            rows = (
                await s.execute(
                    select(Step.seq, Step.data)
                    .where(Step.session_id == session_id, Step.seq > last)
                    .order_by(Step.seq)
                    .limit(STEP_PAGE)
                )
            ).all()
        for r in rows:
            yield r.data
        if len(rows) < STEP_PAGE:
            return
        last = rows[-1].seq


# --- raw samples --------------------------------------------------------------------------


async def raw_pages(
    store: Store,
    session_id: int,
    stream: SessionStream | None = None,
    page: int = RAW_PAGE,
    between_s: tuple[float, float] | None = None,
) -> AsyncIterator[list]:
    """The session's raw chunks (one stream's, or all; those overlapping `between_s`, host
    clock, if given) in time order, a page at a time: rows of (id, device_id, stream_id,
    first_sample, lost_before, data, t_start)."""
    last = (-1e300, 0)  # (t_start, id) of the last chunk given
    where = [RawChunk.session_id == session_id]
    if stream is not None:
        where += [RawChunk.device_id == stream.device_id, RawChunk.stream_id == stream.stream_id]
    if between_s is not None:
        where += [RawChunk.t_end >= between_s[0], RawChunk.t_start <= between_s[1]]
    while True:
        async with store.session() as s:
            rows = (
                await s.execute(
                    select(
                        RawChunk.id,
                        RawChunk.device_id,
                        RawChunk.stream_id,
                        RawChunk.first_sample,
                        RawChunk.lost_before,
                        RawChunk.data,
                        RawChunk.t_start,
                    )
                    .where(
                        *where,
                        # in time order, whatever order they were stored in
                        or_(
                            RawChunk.t_start > last[0],
                            and_(RawChunk.t_start == last[0], RawChunk.id > last[1]),
                        ),
                    )
                    .order_by(RawChunk.t_start, RawChunk.id)
                    .limit(page)
                )
            ).all()
        if rows:
            yield rows
        if len(rows) < page:
            return
        last = (rows[-1].t_start, rows[-1].id)


async def raw_stats(store: Store, session_id: int) -> tuple[int, int, float]:
    """Samples, bytes, and the sample-time span of a session's raw chunks."""
    async with store.session() as s:
        n, size, first, last = (
            await s.execute(
                select(
                    func.coalesce(func.sum(RawChunk.n), 0),
                    func.coalesce(func.sum(func.length(RawChunk.data)), 0),
                    func.min(RawChunk.t_start),
                    func.max(RawChunk.t_end),
                ).where(RawChunk.session_id == session_id)
            )
        ).one()
    return int(n), int(size), (last - first) if first is not None else 0.0


async def athlete_named(store: Store, fields: dict[str, Any]) -> Athlete:
    """The athlete of this name, made with `fields` if there is none (the demo's)."""
    async with store.session() as s, s.begin():
        row = await s.scalar(select(Athlete).where(Athlete.name == fields["name"]))
        if row is None:
            row = Athlete(**fields)
            s.add(row)
            await s.flush()
    return row


async def squad_reps(store: Store) -> list[tuple[int, int, Any, str, dict, dict]]:
    """Every stored rep with its athlete, session, start and status and the athlete as at
    that session: (athlete_id, session_id, started_at, status, athlete_snapshot, rep)."""
    q = (
        select(
            Session.athlete_id,
            Session.id,
            Session.started_at,
            Session.status,
            Session.athlete_snapshot,
            Rep.data,
        )
        .join(Rep, Rep.session_id == Session.id)
        .order_by(Session.started_at, Rep.number)
    )
    async with store.session() as s:
        return [tuple(r) for r in (await s.execute(q)).all()]


async def squad_marks(store: Store) -> dict[int, list[tuple[float, str]]]:
    """Every session's marks in order: session id -> [(time_s host clock, label)]."""
    async with store.session() as s:
        q = select(Mark.session_id, Mark.time_s, Mark.label).order_by(Mark.time_s)
        rows = (await s.execute(q)).all()
    out: dict[int, list[tuple[float, str]]] = {}
    for sid, t, label in rows:
        out.setdefault(sid, []).append((t, label))
    return out


async def squad_rep_steps(store: Store) -> dict[tuple[int, int], list[dict]]:
    """Every rep's steps: (session id, rep number) -> step data, in order."""
    q = select(Step.session_id, Step.rep, Step.data).where(Step.rep.is_not(None))
    out: dict[tuple[int, int], list[dict]] = {}
    async with store.session() as s:
        for sid, rep, data in (await s.execute(q.order_by(Step.session_id, Step.seq))).all():
            out.setdefault((sid, rep), []).append(data)
    return out
