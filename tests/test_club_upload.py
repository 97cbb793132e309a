"""A lane's upload to a club's centre, cut mid-transfer and resumed (a Pi rebooted),
and the club's one athlete registry (docs/club.md). The centre is the real app in
its central role on a throwaway PostgreSQL database, over real HTTP; the lane is a
real SQLite store with a session written as the recorder writes one."""

from __future__ import annotations

import hashlib
import random
import subprocess
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from service import config
from service.club.lane import Uploader
from service.store import Athlete, RawChunk, Rep, Session, SessionStream, Step, Store
from tests.service_helpers import ADMIN, PG_DSN, pg_database, running

LANE = "lane-token-for-tests-0123456789abcdef"
OTHER_LANE = "other-lane-token-for-tests-0123456789"
N_CHUNKS, N_STEPS = 120, 50


def _pg(db_url: str, query: str) -> list[tuple[str, ...]]:
    out = subprocess.run(
        ["psql", f"{PG_DSN}/{db_url.rsplit('/', 1)[1]}", "-AtF", "\t", "-c", query],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def _centre(pg_url: str) -> dict:
    """A centre's settings on this database, with lanes 7 and 8 and their tokens."""
    tokens = {"lane-7": config.hash_token(LANE), "lane-8": config.hash_token(OTHER_LANE)}
    return {"database": {"url": pg_url}, "club": {"role": "central", "node_token_hashes": tokens}}


async def _recorded_session(store: Store, athlete_uuid: str, name: str) -> Session:
    """A stopped session as the recorder leaves one: streams, steps, a rep, raw chunks."""
    rng = random.Random(7)
    async with store.session() as s, s.begin():
        a = Athlete(uuid=athlete_uuid, name=name, body_mass_kg=70.0, height_m=1.75, notes="")
        s.add(a)
        await s.flush()
        row = Session(
            athlete_id=a.id, status="stopped", clock_origin_s=1000.0, notes="",
            model_version="0.4", athlete_snapshot={"body_mass_kg": 70.0, "height_m": 1.75},
            stopped_at=datetime.now(UTC),
        )  # fmt: skip
        s.add(row)
        await s.flush()
        s.add(
            SessionStream(
                session_id=row.id,
                device_id="5353494d00000001",
                device_name="imu",
                stream_id=0,
                info={"kind": "imu_6axis"},
                expected_at_start=True,
            )
        )
        for k in range(1, N_STEPS + 1):
            step = {"type": "step", "n": k, "ic_time_s": 1000.0 + k * 0.21, "foot": "left"}
            s.add(Step(session_id=row.id, seq=k, rep=1, foot="left", ic_time_s=step["ic_time_s"],
                       limiter=None, aligned=True, source="imu", data=step))  # fmt: skip
        s.add(Rep(session_id=row.id, number=1, start_s=1000.0, end_s=1011.0, steps=N_STEPS,
                  data={"type": "rep", "rep": 1, "steps": N_STEPS}))  # fmt: skip
        for i in range(N_CHUNKS):
            s.add(RawChunk(session_id=row.id, device_id="5353494d00000001", stream_id=0,
                           first_sample=i * 500, n=500, t_start=1000 + i * 0.5,
                           t_end=1000 + i * 0.5 + 0.499, lost_before=0,
                           data=rng.randbytes(rng.randint(500, 9000))))  # fmt: skip
    return row


@pytest.mark.asyncio
async def test_an_upload_cut_mid_transfer_resumes_and_lands_exactly_once(tmp_path):
    with pg_database() as pg_url:
        central = _centre(pg_url)
        async with running(tmp_path, **central) as (_app, addr):
            # The club's registry has an athlete the lane also has, under another name.
            async with httpx.AsyncClient(base_url=f"http://{addr}") as c:
                known = (
                    await c.post(
                        "/api/athletes",
                        headers={"Authorization": f"Bearer {ADMIN}"},
                        json={"name": "Ada (centre)", "body_mass_kg": 61},
                    )
                ).json()
            lane = Store(f"sqlite+aiosqlite:///{tmp_path}/lane.db")
            await lane.open()
            row = await _recorded_session(lane, known["uuid"], "Ada (lane)")
            settings = config.load(
                None,
                database={"url": f"sqlite+aiosqlite:///{tmp_path}/lane.db"},
                club={"central_url": f"http://{addr}", "token": LANE, "upload_batch_bytes": 10_000},
            )

            # The first boot: the power goes after three batches of raw chunks.
            first = Uploader(settings, lane)
            batches = first._chunk_batches

            async def cut(sid, start):
                sent = 0
                async for item in batches(sid, start):
                    if sent == 3:
                        raise ConnectionResetError("the power went")
                    yield item
                    sent += 1

            first._chunk_batches = cut
            with pytest.raises(ConnectionResetError):
                await first.sync()
            held = int(_pg(pg_url, "SELECT count(*) FROM raw_chunks")[0][0])
            assert 0 < held < N_CHUNKS
            # A step the centre had live and the lane then retracted.
            _pg(pg_url, "INSERT INTO steps (session_id, seq, ic_time_s, source, data)"
                        " SELECT id, 999, 0, 'imu', '{}' FROM sessions")  # fmt: skip

            # The next boot resumes from what the centre holds, and finishes.
            second = Uploader(settings, lane)
            await second.sync()
            assert second.uploaded == 1
            assert second.chunks_sent == N_CHUNKS - held  # resumed, not started again
            async with lane.session() as s:
                assert (await s.get(Session, row.id)).replicated_at is not None
            await second.sync()  # nothing left to send
            assert second.uploaded == 1

            # Again from the start (the lane forgets it sent it): the same, once.
            async with lane.session() as s, s.begin():
                (await s.get(Session, row.id)).replicated_at = None
            await Uploader(settings, lane).sync()
            await _another_lane_cannot_write_it(addr, lane, row)
            await _check_centre_holds_the_lanes_session(lane, row, pg_url, known)
            await lane.close()


async def _another_lane_cannot_write_it(addr: str, lane: Store, row: Session) -> None:
    """A session belongs to the lane that recorded it; other tokens are refused."""
    from service.club.lane import _record

    record, uuid = await _record(lane, row.id)
    base = f"/api/club/sessions/{uuid}"
    async with httpx.AsyncClient(base_url=f"http://{addr}") as c:
        other = {"Authorization": f"Bearer {OTHER_LANE}", "Content-Type": "application/json"}
        assert (await c.put(base, content=record, headers=other)).status_code == 409
        chunks = {"first": 0, "chunks": []}
        assert (await c.post(f"{base}/chunks", json=chunks, headers=other)).status_code == 409
        # A lane's token is for uploads only; an admin's is not a lane's.
        lane_only = {"Authorization": f"Bearer {LANE}"}
        assert (await c.get("/api/sessions", headers=lane_only)).status_code == 403
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert (await c.get(base, headers=admin)).status_code == 401


async def _check_centre_holds_the_lanes_session(lane: Store, row: Session, pg_url: str, known):
    async with lane.session() as s:
        chunks = (
            await s.scalars(select(RawChunk.data).where(RawChunk.session_id == row.id)
                            .order_by(RawChunk.id))
        ).all()  # fmt: skip
        ada = await s.scalar(select(Athlete).where(Athlete.uuid == known["uuid"]))
    central = _pg(pg_url, "SELECT seq, encode(sha256(data), 'hex') FROM raw_chunks ORDER BY seq")
    assert [int(q) for q, _ in central] == list(range(N_CHUNKS))  # each once, in order
    assert [h for _, h in central] == [hashlib.sha256(d).hexdigest() for d in chunks]
    steps = _pg(pg_url, "SELECT seq, count(*) FROM steps GROUP BY seq ORDER BY seq")
    assert steps == [(str(k), "1") for k in range(1, N_STEPS + 1)]  # the retracted one gone
    assert _pg(pg_url, "SELECT uuid, node, status FROM sessions") == [
        (row.uuid, "lane-7", "stopped")
    ]
    # One registry: the centre's record of an athlete it knew wins, on both sides.
    assert _pg(pg_url, "SELECT uuid, name FROM athletes") == [(known["uuid"], "Ada (centre)")]
    assert ada.name == "Ada (centre)"


@pytest.mark.asyncio
async def test_a_refused_session_is_set_aside_and_the_lanes_own_sessions_upload(tmp_path):
    """A Pi set up from a copy of another lane's SD card holds that lane's sessions:
    the centre refuses them (409, recorded on another lane). The uploader sets them
    aside, says why (a copied card), and uploads the lane's own sessions; the centre's
    lane card shows the refusals. (Before: it stopped at the first refusal, for ever.)"""
    import shutil

    from tests.service_helpers import VIEWER

    with pg_database() as pg_url:
        central = _centre(pg_url)
        async with running(tmp_path, **central) as (_app, addr):
            seven = Store(f"sqlite+aiosqlite:///{tmp_path}/lane7.db")
            await seven.open()
            await _recorded_session(seven, "a0000000-0000-4000-8000-000000000007", "Ada")
            await seven.close()
            shutil.copy(tmp_path / "lane7.db", tmp_path / "lane8.db")  # the cloned card
            for name, token in (("lane7", LANE), ("lane8", OTHER_LANE)):
                store = Store(f"sqlite+aiosqlite:///{tmp_path}/{name}.db")
                await store.open()
                if name == "lane8":  # its own session, after the copy
                    await _recorded_session(store, "b0000000-0000-4000-8000-000000000008", "Bob")
                settings = config.load(
                    None,
                    database={"url": f"sqlite+aiosqlite:///{tmp_path}/{name}.db"},
                    club={"central_url": f"http://{addr}", "token": token},
                )
                uploader = Uploader(settings, store)
                await uploader.sync()
                await store.close()
            assert uploader.uploaded == 1  # lane-8's own session
            (refused,) = uploader.health()["sessions_refused"]
            assert "recorded on" in refused["reason"] and "copied" in refused["reason"]
            async with httpx.AsyncClient(base_url=f"http://{addr}") as c:
                viewer = {"Authorization": f"Bearer {VIEWER}"}
                lanes = (await c.get("/api/club/lanes", headers=viewer)).json()
            card = next(lane for lane in lanes if lane["lane"] == "lane-8")
            assert card["refused_uploads"] >= 1 and "recorded on" in card["refused_reason"]
            assert len(_pg(pg_url, "SELECT id FROM sessions")) == 2  # one of each lane


@pytest.mark.asyncio
async def test_upload_input_is_bounded_and_a_lane_sees_only_its_own(tmp_path):
    """What a lane's token can send is checked as a REST body is (422, nothing stored):
    integers beyond the columns, NaN, NUL, a step time as text; a chunk sent again must
    be the one held (409); another lane's session is not this lane's to read (404)."""
    import base64
    import json

    with pg_database() as pg_url:
        central = _centre(pg_url)
        async with running(tmp_path, **central) as (_app, addr):
            lane = Store(f"sqlite+aiosqlite:///{tmp_path}/lane.db")
            await lane.open()
            row = await _recorded_session(lane, "c0000000-0000-4000-8000-000000000007", "Cy")
            from service.club.lane import _record

            record, uuid = await _record(lane, row.id)
            await lane.close()
            base = f"/api/club/sessions/{uuid}"
            mine = {"Authorization": f"Bearer {LANE}", "Content-Type": "application/json"}
            other = {"Authorization": f"Bearer {OTHER_LANE}"}
            async with httpx.AsyncClient(base_url=f"http://{addr}", timeout=60) as c:
                assert (await c.put(base, content=record, headers=mine)).status_code == 200
                doc = json.loads(record)

                async def refused(path, body) -> int:
                    text = body if isinstance(body, str) else json.dumps(body)
                    return (await c.request("PUT" if path == base else "POST", path,
                                            content=text, headers=mine)).status_code  # fmt: skip

                nul = {**doc, "session": {**doc["session"], "notes": "a\x00b"}}
                assert await refused(base, nul) == 422
                nan = json.dumps(doc).replace('"clock_origin_s": 1000.0', '"clock_origin_s": NaN')
                assert "NaN" in nan and await refused(base, nan) == 422
                step = {"seq": 1, "rep": 1, "foot": "left", "ic_time_s": 1.0, "limiter": None,
                        "aligned": True, "source": "imu",
                        "data": {"type": "step", "n": 1, "ic_time_s": 1.0}}  # fmt: skip
                for bad in (
                    {**step, "seq": 2**40},
                    {**step, "data": {**step["data"], "ic_time_s": "x"}},
                ):
                    assert await refused(f"{base}/steps", {"steps": [bad]}) == 422
                chunk = {"device_id": "5353494d00000001", "stream_id": 0, "first_sample": 0,
                         "n": 500, "t_start": 1000.0, "t_end": 1000.499, "lost_before": 0,
                         "data": base64.b64encode(b"abc").decode()}  # fmt: skip
                for bad in ({**chunk, "first_sample": 2**63}, {**chunk, "n": 2**40},
                            {**chunk, "data": "not base64!"}):  # fmt: skip
                    assert await refused(f"{base}/chunks", {"first": 0, "chunks": [bad]}) == 422
                # A chunk sent again must be the one held.
                ok = {"first": 0, "chunks": [chunk]}
                assert (await c.post(f"{base}/chunks", json=ok, headers=mine)).status_code == 200
                forged = {
                    "first": 0,
                    "chunks": [{**chunk, "data": base64.b64encode(b"abd").decode()}],
                }
                assert (
                    await c.post(f"{base}/chunks", json=forged, headers=mine)
                ).status_code == 409
                assert (await c.post(f"{base}/chunks", json=ok, headers=mine)).status_code == 200
                # Another lane's token reads nothing of it.
                assert (await c.get(base, headers=other)).status_code == 404
                assert (await c.get(base, headers=mine)).status_code == 200
            assert _pg(pg_url, "SELECT count(*) FROM steps") == [("0",)]
