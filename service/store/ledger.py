"""The centre's database side of club mode (service/club/): everything merges by key.

A session is its UUID, a step its (session, seq), a rep its (session, number), a
raw chunk its (session, index in the session). Whatever reaches the centre twice
(an MQTT message the bridge sent again, an upload resumed after a reboot) lands
on its key once: `INSERT ... ON CONFLICT`. The live MQTT rows come first and are
provisional; a lane's upload is the record, and overwrites them. PostgreSQL only
(`stridesync central` refuses anything else).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from ..club.wire import (
    REP_COLS,
    SESSION_FIELDS,
    STEP_COLS,
    AthleteWire,
    ChunksUpload,
    Complete,
    Held,
    SessionUpload,
    StepsUpload,
    chunk_values,
)
from ..errors import Conflict, NotFound
from ..timebase import absolute
from .db import Store
from .models import Athlete, Mark, RawChunk, Rep, Session, SessionStream, Step

LIVE_ONLY_KEYS = ("session_id", "session_uuid", "confirmed_by", "provisional")


async def athlete_id(s, a: AthleteWire) -> int:
    """The club's one registry: an athlete the centre knows keeps the centre's record
    (the rule in docs/club.md); one it does not know is added as the lane has it."""
    found = await s.scalar(select(Athlete.id).where(Athlete.uuid == a.uuid))
    if found is not None:
        return found
    res = await s.execute(
        insert(Athlete)
        .values(**a.model_dump())
        .on_conflict_do_nothing(index_elements=["uuid"])
        .returning(Athlete.id)
    )
    new = res.scalar()  # None: another request added them a moment ago
    return new or await s.scalar(select(Athlete.id).where(Athlete.uuid == a.uuid))


async def _owned(s, uuid: str, node: str) -> int:
    """A lane writes only its own sessions (as on the broker, its own topics)."""
    row = (await s.execute(select(Session.id, Session.node).where(Session.uuid == uuid))).first()
    if row is None:
        raise NotFound(f"no session {uuid}: PUT it first")
    if row.node != node:
        raise Conflict(f"session {uuid} was recorded on {row.node}, not {node}")
    return row.id


async def held(store: Store, uuid: str, node: str) -> Held:
    """What the centre holds of a lane's own session (another lane's is not its to know:
    404, as for one the centre lacks)."""
    async with store.session() as s:
        try:
            sid = await _owned(s, uuid, node)
        except Conflict:
            raise NotFound(f"no session {uuid} of {node}") from None
        return await _held(s, sid, None)


async def _held(s, sid: int, complete: Complete | None) -> Held:
    chunks = await s.scalar(select(func.count()).where(RawChunk.session_id == sid))
    steps = await s.scalar(select(func.count()).where(Step.session_id == sid))
    whole = complete is not None and chunks == complete.chunks and steps == len(complete.seqs)
    return Held(chunks=chunks, steps=steps, complete=whole)


async def put_session(store: Store, uuid: str, node: str, up: SessionUpload) -> Held:
    """A finished session's record: its row, athlete, streams, reps and marks, as
    the lane stored them (again and again if need be: the same result)."""
    if up.session.uuid != uuid:
        raise Conflict(f"the body is session {up.session.uuid}, the path {uuid}")
    async with store.session() as s, s.begin():
        aid = await athlete_id(s, up.athlete)
        fields = up.session.model_dump(include=set(SESSION_FIELDS))
        sid = await _upsert_session(s, uuid, node, aid, fields)
        await s.execute(delete(SessionStream).where(SessionStream.session_id == sid))
        s.add_all(SessionStream(session_id=sid, **st.model_dump()) for st in up.streams)
        await s.execute(delete(Rep).where(Rep.session_id == sid))
        s.add_all(Rep(session_id=sid, **r.model_dump()) for r in up.reps)
        await s.execute(delete(Mark).where(Mark.session_id == sid))
        s.add_all(Mark(session_id=sid, **m.model_dump()) for m in up.marks)
        await s.flush()
        return await _held(s, sid, None)


async def _upsert_session(s, uuid: str, node: str, aid: int, fields: dict[str, Any]) -> int:
    stmt = insert(Session).values(uuid=uuid, node=node, athlete_id=aid, **fields)
    stmt = stmt.on_conflict_do_update(
        index_elements=["uuid"],
        set_={k: stmt.excluded[k] for k in (*SESSION_FIELDS, "athlete_id")},
        where=Session.node == node,  # a lane never overwrites another lane's session
    ).returning(Session.id)
    sid = (await s.execute(stmt)).scalar()
    if sid is None:
        raise Conflict(f"session {uuid} was recorded on another lane")
    return sid


async def add_steps(store: Store, uuid: str, node: str, up: StepsUpload) -> Held:
    async with store.session() as s, s.begin():
        sid = await _owned(s, uuid, node)
        await upsert_steps(s, sid, [st.model_dump() for st in up.steps])
        return await _held(s, sid, None)


async def upsert_steps(s, sid: int, steps: list[dict]) -> None:
    if not steps:
        return
    stmt = insert(Step).values([{**st, "session_id": sid} for st in steps])
    stmt = stmt.on_conflict_do_update(
        index_elements=["session_id", "seq"],
        set_={k: stmt.excluded[k] for k in STEP_COLS if k != "seq"},
    )
    await s.execute(stmt)


async def add_chunks(store: Store, uuid: str, node: str, up: ChunksUpload) -> Held:
    """Chunks in order: a batch may repeat what the centre has (a resumed upload)
    but not leave a gap before it (409 with what the centre holds)."""
    async with store.session() as s, s.begin():
        sid = await _owned(s, uuid, node)
        have = await s.scalar(select(func.count()).where(RawChunk.session_id == sid))
        if up.first > have:
            raise Conflict(f"the centre holds {have} chunks of {uuid}; send from {have}")
        await _same_as_held(s, sid, uuid, up, have)
        if up.chunks:
            values = [chunk_values(sid, up.first + i, c) for i, c in enumerate(up.chunks)]
            await s.execute(
                insert(RawChunk)
                .values(values)
                .on_conflict_do_nothing(index_elements=["session_id", "seq"])
            )
        return await _held(s, sid, None)


async def _same_as_held(s, sid: int, uuid: str, up: ChunksUpload, have: int) -> None:
    """A chunk sent again (a resumed upload) must be the one held, byte for byte: a
    different one under the same index is a lane's bug or a forgery, refused (409)."""
    again = min(have, up.first + len(up.chunks)) - up.first
    if again <= 0:
        return
    rows = await s.execute(
        select(RawChunk.seq, RawChunk.data).where(
            RawChunk.session_id == sid, RawChunk.seq >= up.first, RawChunk.seq < up.first + again
        )
    )
    for seq, data in rows.all():
        if chunk_values(sid, seq, up.chunks[seq - up.first])["data"] != data:
            raise Conflict(f"chunk {seq} of {uuid} differs from the one the centre holds")


async def complete(store: Store, uuid: str, node: str, c: Complete) -> Held:
    async with store.session() as s, s.begin():
        sid = await _owned(s, uuid, node)
        await s.execute(delete(Step).where(Step.session_id == sid, Step.seq.not_in(c.seqs)))
        return await _held(s, sid, c)


# --- live, from MQTT (service/club/centre.py) ----------------------------------------------


async def apply_live(store: Store, items: list[tuple[str, str, dict]]) -> list[bool]:
    """(lane, kind, message) from the lanes' topics, in order, in one transaction (one
    commit for a burst: the centre's throughput, docs/club.md). Per message: False
    if its session is unknown here (it began before the centre first subscribed:
    its upload brings it). Raises on a malformed message: the caller splits the batch."""
    sessions: dict = {}  # (lane, uuid) -> (id, clock origin): looked up once a batch
    async with store.session() as s, s.begin():
        return [await _LIVE[kind](s, node, msg, sessions) for node, kind, msg in items]


async def _started(s, node: str, msg: dict, sessions: dict) -> bool:
    """A lane's session began: its row (recording), so its live steps have a home."""
    sessions.pop((node, msg["uuid"]), None)
    aid = await athlete_id(s, AthleteWire(**msg["athlete"]))
    fields = {k: msg[k] for k in ("status", "clock_origin_s", "model_version")}
    stmt = insert(Session).values(
        uuid=msg["uuid"], node=node, athlete_id=aid, notes="", athlete_snapshot={},
        started_at=datetime.fromisoformat(msg["started_at"]), **fields,
    )  # fmt: skip
    await s.execute(stmt.on_conflict_do_nothing(index_elements=["uuid"]))
    return True


async def _stopped(s, node: str, msg: dict, _sessions: dict) -> bool:
    await s.execute(
        update(Session)
        .where(Session.uuid == msg["uuid"], Session.node == node, Session.status == "recording")
        .values(status=msg["status"])
    )
    return True


async def _event(s, node: str, msg: dict, sessions: dict) -> bool:
    """A step, rep or retraction."""
    key = (node, msg.get("session_uuid"))
    if key not in sessions:
        sessions[key] = (
            await s.execute(
                select(Session.id, Session.clock_origin_s).where(
                    Session.uuid == key[1], Session.node == node
                )
            )
        ).first()
    row = sessions[key]
    if row is None:
        return False
    e = absolute(msg, row.clock_origin_s)
    if e["type"] == "step":
        data = {k: v for k, v in e.items() if k not in LIVE_ONLY_KEYS}
        step = {k: e.get(k) for k in STEP_COLS if k not in ("seq", "data")}
        await upsert_steps(s, row.id, [{**step, "seq": e["n"], "data": data}])
    elif e["type"] == "steps_retracted":
        await s.execute(delete(Step).where(Step.session_id == row.id, Step.seq.in_(e["steps"])))
    elif e["type"] == "rep":
        rep = {k: e.get(k) for k in REP_COLS if k not in ("number", "data")}
        data = {k: v for k, v in e.items() if k not in LIVE_ONLY_KEYS}
        stmt = insert(Rep).values(session_id=row.id, number=e["rep"], data=data, **rep)
        await s.execute(stmt.on_conflict_do_nothing(index_elements=["session_id", "number"]))
    return True


_LIVE = {"started": _started, "stopped": _stopped, "event": _event}
