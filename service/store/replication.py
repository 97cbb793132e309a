"""A club lane's database side (service/club/lane.py): which sessions still go up to
the centre, their rows page by page, and the club's registry merged into this lane's
cache. Each function opens its own short database session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from .db import Store
from .models import Athlete, Mark, RawChunk, Rep, Session, SessionStream, Step


async def pending(store: Store) -> list[int]:
    """This lane's finished sessions the centre has not confirmed, oldest first."""
    async with store.session() as s:
        q = select(Session.id).where(
            Session.status.in_(("stopped", "interrupted")),
            Session.replicated_at.is_(None),
            Session.node.is_(None),
        )
        return list((await s.scalars(q.order_by(Session.id))).all())


async def chunk_count(store: Store, session_id: int) -> int:
    async with store.session() as s:
        return await s.scalar(select(func.count()).where(RawChunk.session_id == session_id))


async def session_rows(store: Store, session_id: int) -> dict:
    """A session's own rows: the session, its athlete, its streams, reps and marks."""
    async with store.session() as s:
        row = await s.get(Session, session_id)
        athlete = await s.get(Athlete, row.athlete_id)

        async def of(model):
            q = select(model).where(model.session_id == session_id).order_by(model.id)
            return list((await s.scalars(q)).all())

        return {
            "session": row,
            "athlete": athlete,
            "streams": await of(SessionStream),
            "reps": await of(Rep),
            "marks": await of(Mark),
        }


async def chunk_page(store: Store, session_id: int, offset: int, limit: int) -> list[RawChunk]:
    """Raw chunks in stored order, from the `offset`-th."""
    async with store.session() as s:
        q = select(RawChunk).where(RawChunk.session_id == session_id)
        rows = await s.scalars(q.order_by(RawChunk.id).offset(offset).limit(limit))
        return list(rows.all())


async def step_page(store: Store, session_id: int, after_seq: int, limit: int) -> list[Step]:
    async with store.session() as s:
        q = select(Step).where(Step.session_id == session_id, Step.seq > after_seq)
        return list((await s.scalars(q.order_by(Step.seq).limit(limit))).all())


async def mark_replicated(store: Store, session_id: int, at: datetime) -> None:
    async with store.session() as s, s.begin():
        await s.execute(update(Session).where(Session.id == session_id).values(replicated_at=at))


async def merge_roster(store: Store, athletes: Sequence[Mapping], fields: Sequence[str]) -> None:
    """The club's registry into this lane's cache: the centre's record wins for an
    athlete both know; one only this lane knows stays (it goes up with its sessions)."""
    async with store.session() as s, s.begin():
        mine = {a.uuid: a for a in (await s.scalars(select(Athlete))).all()}
        for a in athletes:
            row = mine.get(a["uuid"])
            if row is None:
                s.add(Athlete(uuid=a["uuid"], **{k: a[k] for k in fields}))
            else:
                for k in fields:
                    setattr(row, k, a[k])
