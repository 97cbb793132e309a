"""A full disk mid-session: the session goes on, nothing is lost, storage says so.

SQLite's own "database or disk is full" error is produced for real with
`PRAGMA max_page_count`; then room is made and the writer catches up."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import event, select, text

from service.store import RawChunk, Step
from tests.service_helpers import ADMIN, SimAthlete, running

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(300)]


async def _until(check, what: str, timeout_s: float = 120.0) -> None:
    """A deadline that only catches a hang."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_full_disk_keeps_the_session_and_loses_nothing(tmp_path):
    sim = SimAthlete("aligned", stand_s=1.0, hold=True)
    try:
        async with running(tmp_path, ports=sim.paths) as (app, addr):
            live, store = app.state.live, app.state.store
            auth = {"Authorization": f"Bearer {ADMIN}"}
            async with httpx.AsyncClient(base_url=f"http://{addr}", headers=auth, timeout=60) as c:
                await _until(lambda: len(live.bridge.device_sessions()) == len(sim.paths),
                             "sensors")  # fmt: skip
                a = (await c.post("/api/athletes", json={"name": "D", "body_mass_kg": 75})).json()
                sid = (await c.post("/api/sessions", json={"athlete_id": a["id"]})).json()["id"]
                sim.go()
                await _until(lambda: live.counters.commits > 0, "a first commit")

                # The disk fills: no page may be added from now on.
                async with store.engine.connect() as conn:
                    pages = (await conn.execute(text("PRAGMA page_count"))).scalar()

                def full(dbapi_conn, _):
                    dbapi_conn.cursor().execute(f"PRAGMA max_page_count = {pages}")

                event.listen(store.engine.sync_engine, "connect", full)
                await store.engine.dispose()
                await _until(lambda: live.counters.commit_errors > 0, "the disk full")
                health = await c.get("/healthz")
                assert health.status_code == 503
                storage = health.json()["components"]["storage"]
                assert "full" in storage["error"] and storage["pending_chunks"] > 0
                # Live results go on while the disk is full: the whole first rep.
                steps_before = live.recording.steps
                await _until(lambda: live.recording.reps >= 1, "a rep while the disk is full")
                assert live.recording.steps > steps_before

                # Room again: the writer catches up by itself.
                event.remove(store.engine.sync_engine, "connect", full)
                await store.engine.dispose()
                await _until(lambda: live.storage_error is None, "storage back")
                assert (await c.get("/healthz")).status_code == 200
                r = await c.post(f"/api/sessions/{sid}/stop")
                assert r.status_code == 200
                n_steps = live.counters.events
        # Every chunk of every stream is there, contiguous, and every step.
        from service.store import Store

        store = Store(f"sqlite+aiosqlite:///{tmp_path}/service.db")
        async with store.session() as s:
            chunks = (
                await s.execute(
                    select(
                        RawChunk.device_id, RawChunk.stream_id, RawChunk.first_sample, RawChunk.n
                    )
                    .where(RawChunk.session_id == sid)
                    .order_by(RawChunk.id)
                )
            ).all()
            steps = (await s.scalars(select(Step.seq).where(Step.session_id == sid))).all()
        await store.close()
        nxt = {}
        for dev, stream, first, n in chunks:
            if (dev, stream) in nxt:
                assert first == nxt[(dev, stream)], (dev, stream)
            nxt[(dev, stream)] = first + n
        assert len(nxt) == 8 and live.counters.chunks_dropped == 0
        # Each once; a retracted step (not part of a sprint) leaves a gap in the numbers.
        assert sorted(steps) == sorted(set(steps)) and min(steps) >= 1
        assert len(steps) >= 20 and len(steps) <= n_steps
    finally:
        sim.close()
