"""Power cut: SIGKILL the service at 8 random moments while it records.

Each time the SQLite database must open clean (`PRAGMA integrity_check`), the
interrupted session must be kept and marked as such at the next start, and at
most the last second of samples and steps may be missing."""

from __future__ import annotations

import json
import random
import sqlite3
import time

import pytest

from service.engine import AthleteInfo
from service.recorder import StoredChunk, StoredStream, rescore, stream_from_json
from tests.service_helpers import Service, SimAthlete, free_port, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KILLS = 8


def test_sigkill_while_recording_loses_at_most_the_last_second(tmp_path):
    rng = random.Random(20261128)
    sim = SimAthlete("aligned", duration_s=900)
    db = tmp_path / "stridesync.db"
    url = f"sqlite+aiosqlite:///{db}"
    cfg = write_config(tmp_path / "cfg.toml", url, sim.paths, free_port())
    port = int(cfg.read_text().split("port = ")[1].split()[0])
    athlete_id = None
    with_steps = 0
    sids: list[int] = []
    rescored: dict[int, tuple] = {}
    try:
        for _i in range(KILLS):
            svc = Service(cfg, port, tmp_path / "log")
            svc.wait_devices(len(sim.paths))
            with svc.client() as c:
                if athlete_id is None:
                    athlete_id = c.post(
                        "/api/athletes", json={"name": "Cut", "body_mass_kg": 75, "height_m": 1.8}
                    ).json()["id"]
                else:  # the session the last kill cut short was kept, marked interrupted
                    last = c.get("/api/sessions", params={"limit": 1}).json()[0]
                    assert last["status"] == "interrupted"
                r = c.post("/api/sessions", json={"athlete_id": athlete_id})
                assert r.status_code == 201, r.text
                sid = r.json()["id"]
            time.sleep(rng.uniform(0.5, 4.0))
            killed_at = time.monotonic()
            svc.kill()
            with_steps += _check(db, sid, killed_at)
            sids.append(sid)
        # Each interrupted session, rescored from what it stored, is what it stored.
        svc = Service(cfg, port, tmp_path / "log")
        try:
            with svc.client() as c:
                for sid in sids:
                    r = c.post(f"/api/sessions/{sid}/rescore", json={}).json()
                    rescored[sid] = (r["identical"], r["differences"][:3])
        finally:
            svc.close()
    finally:
        sim.close()
    # The random moments fell both inside sprints and between them.
    assert with_steps >= 2
    assert all(same for same, _ in rescored.values()), rescored


def _check(db, sid: int, killed_at: float) -> bool:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (status,) = con.execute("SELECT status FROM sessions WHERE id = ?", (sid,)).fetchone()
        assert status == "recording"  # as the kill left it; the next start marks it
        streams = con.execute(
            "SELECT device_id, device_name, stream_id, info, expected_at_start"
            " FROM session_streams WHERE session_id = ? ORDER BY id",
            (sid,),
        ).fetchall()
        assert len(streams) == 8
        chunks = con.execute(
            "SELECT device_id, stream_id, first_sample, lost_before, data, t_end"
            " FROM raw_chunks WHERE session_id = ? ORDER BY id",
            (sid,),
        ).fetchall()
        # Samples: every stream is stored up to at most a second before the kill (a
        # session younger than that may have none yet).
        (origin,) = con.execute(
            "SELECT clock_origin_s FROM sessions WHERE id = ?", (sid,)
        ).fetchone()
        for device_id, _name, stream_id, _info, _ in streams:
            ends = [c[5] for c in chunks if c[0] == device_id and c[1] == stream_id]
            if killed_at - 1.0 > origin:
                assert ends and max(ends) >= killed_at - 1.0, (device_id, stream_id)
        stored = [
            json.loads(d)
            for (d,) in con.execute(
                "SELECT data FROM steps WHERE session_id = ? ORDER BY seq", (sid,)
            )
        ]
    finally:
        con.close()
    # Steps: every step the engine finds in the stored samples, up to a second before
    # the kill (and its own confirmation delay), was stored too.
    events = rescore(
        AthleteInfo(75, 1.8),
        None,
        [
            StoredStream(int(d, 16), n, stream_from_json(json.loads(i)), bool(a))
            for d, n, _s, i, a in streams
        ],
        [StoredChunk(int(c[0], 16), c[1], c[2], c[3], c[4]) for c in chunks],
    )
    expected = [e for e in events if e["type"] == "step" and e["to_time_s"] < killed_at - 1.2]
    stored_ic = {s["ic_time_s"] for s in stored}
    missing = [e["ic_time_s"] for e in expected if e["ic_time_s"] not in stored_ic]
    assert not missing, f"{len(missing)} steps lost, the first at {missing[0] - killed_at:.2f} s"
    return bool(expected)
