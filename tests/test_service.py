"""The live service end to end, on SQLite and on PostgreSQL: a simulated athlete on
ptys, `stridesync serve` in its own process, real HTTP. One session is recorded
per backend; the tests read it back, export it and rescore it."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sqlite3
import time

import pytest

from service.engine import MODEL_VERSION
from tests.service_helpers import (
    ADMIN,
    VIEWER,
    Service,
    SimAthlete,
    free_port,
    pg_database,
    write_config,
)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def recorded(request, tmp_path_factory):
    """A service that recorded one session with a full sprint rep; stays up for the tests."""
    tmp = tmp_path_factory.mktemp(request.param)
    with pg_database() if request.param == "postgresql" else _sqlite_url(tmp) as url:
        # Held till the session records: it starts before the sprint, however long the
        # service (and a PostgreSQL migration) takes to come up on a busy machine.
        sim = SimAthlete("aligned", stand_s=2.0, hold=True)
        port = free_port()
        svc = Service(write_config(tmp / "cfg.toml", url, sim.paths, port), port, tmp / "log")
        try:
            svc.wait_devices(len(sim.paths))
            with svc.client() as c:
                athlete = c.post(
                    "/api/athletes", json={"name": "Ada", "body_mass_kg": 75, "height_m": 1.8}
                ).json()
                session = c.post("/api/sessions", json={"athlete_id": athlete["id"]}).json()
                assert session["status"] == "recording"
                c.post(f"/api/sessions/{session['id']}/marks", json={"label": "flying 30"})
                sim.go()
                deadline = time.monotonic() + 120
                while c.get("/api/status").json()["session"]["reps"] < 1:
                    assert time.monotonic() < deadline, "no rep in 120 s"
                    time.sleep(0.2)
                stopped = c.post(f"/api/sessions/{session['id']}/stop").json()
            yield {
                "svc": svc,
                "athlete": athlete,
                "session": stopped,
                "backend": request.param,
                "url": url,
            }
        finally:
            svc.close()
            sim.close()


class _sqlite_url:
    def __init__(self, tmp):
        self.path = tmp / "stridesync.db"

    def __enter__(self):
        return f"sqlite+aiosqlite:///{self.path}"

    def __exit__(self, *exc):
        return False


def test_session_recorded_with_steps_reps_and_raw_samples(recorded):
    svc, sid = recorded["svc"], recorded["session"]["id"]
    assert recorded["session"]["status"] == "stopped"
    with svc.client(VIEWER) as c:
        detail = c.get(f"/api/sessions/{sid}").json()
        steps = c.get(f"/api/sessions/{sid}/steps").json()
        reps = c.get(f"/api/sessions/{sid}/reps").json()
        marks = c.get(f"/api/sessions/{sid}/marks").json()
    assert detail["reps"] >= 1 and len(reps) == detail["reps"]
    # A 7-second sprint: 25-40 steps, every one of them stored once and in order.
    assert detail["steps"] == len(steps) >= 20
    assert [s["n"] for s in steps] == list(range(1, len(steps) + 1))
    # Plates cover part of the runway: the steps there are fused, the rest from the IMUs.
    assert "fused" in {s["source"] for s in steps} <= {"fused", "imu"}
    assert all(s["model_version"] == recorded["session"]["model_version"] for s in steps)
    assert reps[0]["steps"] >= 20 and reps[0]["mss_m_s"] == pytest.approx(9.5, rel=0.05)
    assert [m["label"] for m in marks] == ["flying 30"]
    # Eight devices: seven streams at 1 kHz and one at 100 Hz, for the whole session.
    assert len(detail["streams"]) == 8
    from datetime import datetime

    # Stored whole: from the first sample of the session to the stop, 7100 samples a
    # second of sample time (not of wall time: a busy host reads late, never less).
    span_s = detail["raw_span_s"]
    assert span_s > 5.0
    assert detail["raw_samples"] == pytest.approx(7100 * span_s, rel=0.01)
    started = datetime.fromisoformat(detail["started_at"])
    # (The samples' times carry the clock sync's error, ms on a starved host: 2.4 ms
    # past the stop once beside a busy core; a tick is 10 ms.)
    wall_s = (datetime.fromisoformat(detail["stopped_at"]) - started).total_seconds()
    assert span_s <= wall_s + 0.02
    # Compressed: a 1 kHz IMU sample is 12 B of int16 on the wire, 56 B as float64 with its time.
    assert detail["raw_bytes"] < detail["raw_samples"] * 10


def test_rescore_reproduces_the_live_results_exactly(recorded):
    svc, s = recorded["svc"], recorded["session"]
    with svc.client(VIEWER) as c:
        r = c.post(f"/api/sessions/{s['id']}/rescore", json={"model_version": s["model_version"]})
        stored = c.get(f"/api/sessions/{s['id']}/steps").json()
        bad = c.post(f"/api/sessions/{s['id']}/rescore", json={"model_version": "9.9"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["differences"] == [] and body["identical"] is True
    assert body["model_version"] == body["recorded_with"] == s["model_version"] == MODEL_VERSION
    assert body["steps"] == stored
    assert bad.status_code == 422 and "unknown scoring model version" in bad.json()["detail"]


def test_step_filters(recorded):
    svc, sid = recorded["svc"], recorded["session"]["id"]
    with svc.client(VIEWER) as c:
        every = c.get(f"/api/sessions/{sid}/steps").json()
        left = c.get(f"/api/sessions/{sid}/steps", params={"foot": "left"}).json()
        page = c.get(f"/api/sessions/{sid}/steps", params={"limit": 5, "offset": 3}).json()
        aligned = c.get(f"/api/sessions/{sid}/steps", params={"aligned": "true"}).json()
    assert left and all(s["foot"] == "left" for s in left)
    assert len(left) == sum(s["foot"] == "left" for s in every)
    assert page == every[3:8]
    assert len(aligned) == sum(bool(s["aligned"]) for s in every)


def test_exports_parse(recorded):
    svc, sess = recorded["svc"], recorded["session"]
    sid = sess["id"]
    with svc.client(VIEWER) as c:
        steps = c.get(f"/api/sessions/{sid}/steps").json()
        detail = c.get(f"/api/sessions/{sid}").json()
        r = c.get(f"/api/sessions/{sid}/export", params={"format": "csv", "table": "steps"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert len(rows) == len(steps)
        # Times count from the session's start, in the export as in REST.
        assert float(rows[0]["ic_time_s"]) == steps[0]["ic_time_s"]
        assert float(rows[0]["contact_time_s"]) == steps[0]["contact_time_s"]

        doc = c.get(f"/api/sessions/{sid}/export", params={"format": "json"}).json()
        assert doc["format"] == "stridesync-session" and len(doc["steps"]) == len(steps)
        assert doc["session"]["id"] == sid and len(doc["reps"]) == detail["reps"]

        plate = next(s for s in detail["streams"] if s["info"]["kind"] == "force_3axis")
        r = c.get(
            f"/api/sessions/{sid}/export",
            params={"format": "csv", "table": "raw", "stream": plate["key"]},
        )
        assert r.status_code == 200, r.text
        lines = r.text.splitlines()
        assert lines[0] == "time_s,sample,fx_N,fy_N,fz_N"
        body = [[float(x) for x in ln.split(",")] for ln in lines[1:]]
        t = [row[0] for row in body]
        assert all(b > a for a, b in itertools.pairwise(t))
        assert len(body) == pytest.approx(1000 * (t[-1] - t[0]), abs=5)
        assert max(row[4] for row in body) > 2 * 75 * 9.81  # the plate saw running steps

        missing = c.get(f"/api/sessions/{sid}/export", params={"table": "raw"})
        assert missing.status_code == 422 and plate["key"] in missing.json()["detail"]

        import pyarrow.parquet as pq

        r = c.get(f"/api/sessions/{sid}/export", params={"format": "parquet", "table": "steps"})
        table = pq.read_table(io.BytesIO(r.content))
        assert table.num_rows == len(steps)
        assert table.column("contact_time_s").to_pylist() == [s["contact_time_s"] for s in steps]
        r = c.get(
            f"/api/sessions/{sid}/export",
            params={"format": "parquet", "table": "raw", "stream": plate["key"]},
        )
        assert pq.read_table(io.BytesIO(r.content)).num_rows == len(body)


def test_access_control(recorded):
    svc, sid, aid = recorded["svc"], recorded["session"]["id"], recorded["athlete"]["id"]
    with svc.client(None) as anon, svc.client(VIEWER) as viewer, svc.client("wrong") as wrong:
        assert anon.get("/healthz").status_code == 200
        assert anon.get("/api/athletes").status_code == 401
        assert wrong.get("/api/athletes").status_code == 401
        assert anon.get(f"/api/sessions/{sid}/export").status_code == 401
        assert viewer.get("/api/athletes").status_code == 200
        r = viewer.post("/api/athletes", json={"name": "X", "body_mass_kg": 70})
        assert r.status_code == 403 and "viewer" in r.json()["detail"]
        assert viewer.delete(f"/api/athletes/{aid}").status_code == 403
        assert viewer.post("/api/sessions", json={"athlete_id": aid}).status_code == 403
        # CORS is closed by default: no header allows another origin.
        r = viewer.get("/api/athletes", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_bad_input_is_a_4xx_and_stores_nothing(recorded):
    svc, aid = recorded["svc"], recorded["athlete"]["id"]
    with svc.client(ADMIN) as c:
        before = c.get("/api/athletes").json()
        for body in (
            {"name": "", "body_mass_kg": 70},
            {"name": "Bo", "body_mass_kg": 1e9},
            {"name": "Bo", "body_mass_kg": "heavy"},
            {"name": "Bo\x00", "body_mass_kg": 70},
            {"name": "Bo", "body_mass_kg": 70, "shoe_size": 44},
            {"body_mass_kg": 70},
        ):
            r = c.post("/api/athletes", json=body)
            assert r.status_code == 422, (body, r.text)
            assert isinstance(r.json()["detail"], str) and r.json()["detail"]
        r = c.post(
            "/api/athletes", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422
        assert c.patch(f"/api/athletes/{aid}", json={"body_mass_kg": None}).status_code == 422
        assert c.get("/api/athletes/99999").status_code == 404
        assert c.get(f"/api/athletes/{2**40}").status_code == 422
        assert c.post("/api/sessions", json={"athlete_id": 99999}).status_code == 404
        r = c.post(f"/api/sessions/{recorded['session']['id']}/stop")
        assert r.status_code == 409 and "not recording" in r.json()["detail"]
        r = c.delete(f"/api/athletes/{aid}")
        assert r.status_code == 409 and "sessions" in r.json()["detail"]
        assert c.get("/api/athletes").json() == before
        assert c.get("/api/sessions", params={"status": "running"}).status_code == 422


def test_athlete_crud(recorded):
    svc = recorded["svc"]
    with svc.client(ADMIN) as c:
        a = c.post("/api/athletes", json={"name": "  Bea ", "body_mass_kg": 61.5}).json()
        assert a["name"] == "Bea" and a["height_m"] == 1.75 and a["baseline"] is None
        b = c.patch(f"/api/athletes/{a['id']}", json={"height_m": 1.68, "notes": "400 m"}).json()
        assert (b["height_m"], b["notes"], b["body_mass_kg"]) == (1.68, "400 m", 61.5)
        assert c.get(f"/api/athletes/{a['id']}").json() == b
        assert c.delete(f"/api/athletes/{a['id']}").status_code == 204
        assert c.get(f"/api/athletes/{a['id']}").status_code == 404


def test_metrics_and_health(recorded):
    svc = recorded["svc"]
    with svc.client(None) as c:
        health = c.get("/healthz").json()
        text = c.get("/metrics").text
    assert health["ok"] and health["components"]["bridge"]["connected"] == 8
    assert 'stridesync_device_frames_total{device="535353494d000001",name="plate-0"}' in text
    for name in (
        "stridesync_device_crc_errors_total",
        "stridesync_device_lost_samples_total",
        "stridesync_device_clock_drift_ppm",
        "stridesync_engine_lag_seconds",
        "stridesync_websocket_clients",
        "stridesync_websocket_dropped_messages_total",
        "stridesync_storage_commits_total",
    ):
        assert name in text
    commits = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("stridesync_storage_commits_total")
    )
    assert commits > 10


def test_the_log_says_which_paths_run_and_the_start_is_frozen(recorded):
    """The compiled parts where they are built (as `make test` builds them), and the
    heap of the start out of the garbage collector's full collections."""
    from firmware_bridge import speedups

    log = recorded["svc"].log.read_text()
    frozen = re.search(r"garbage collector: (\d+) objects of the start frozen", log)
    assert frozen and int(frozen[1]) > 10_000, log[:3000]
    if speedups.native is not None:
        assert "serial decoding: compiled speed-ups" in log, log[:3000]
        assert "thigh and trunk filter: compiled Fusion AHRS" in log, log[:3000]


def test_sqlite_is_wal_and_intact(recorded):
    if recorded["backend"] != "sqlite":
        pytest.skip("SQLite only")
    path = recorded["url"].split("///", 1)[1]
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


def test_openapi_documents_every_route(recorded):
    with recorded["svc"].client(None) as c:
        spec = c.get("/openapi.json").json()
    paths = set(spec["paths"])
    for p in (
        "/api/athletes",
        "/api/athletes/{athlete_id}",
        "/api/sessions",
        "/api/sessions/{session_id}",
        "/api/sessions/{session_id}/stop",
        "/api/sessions/{session_id}/steps",
        "/api/sessions/{session_id}/reps",
        "/api/sessions/{session_id}/export",
        "/api/sessions/{session_id}/rescore",
        "/api/ws-ticket",
        "/healthz",
        "/metrics",
    ):
        assert p in paths, p
    json.dumps(spec)


def test_the_athletes_own_baseline_from_chosen_sessions(recorded):
    svc, sid, aid = recorded["svc"], recorded["session"]["id"], recorded["athlete"]["id"]
    with svc.client(ADMIN) as c:
        r = c.post(f"/api/athletes/{aid}/baseline", json={"session_ids": [sid]})
        assert r.status_code == 200, r.text
        base = r.json()["baseline"]
        assert base["source"] == "athlete"
        # The other leg's swing peak comes after IC at 0.6-1.0 contact times at a
        # sprint's speeds, and the scores vary from step to step a little.
        assert 0.5 < base["swing_lag_at_zero"] + 8.0 * base["swing_lag_per_m_s"] < 1.1
        assert 0.0 < base["push_sd"] < 1.0 and 0.0 < base["torso_sd"] < 0.5
        assert -0.15 < base["rf_per_m_s"] < 0  # RF falls as speed rises (Morin et al.)
        # A session started now scores against it, and keeps it.
        s2 = c.post("/api/sessions", json={"athlete_id": aid}).json()
        c.post(f"/api/sessions/{s2['id']}/stop")
        assert s2["baseline"] == base
        # That session has no steps: not enough for a baseline.
        r = c.post(f"/api/athletes/{aid}/baseline", json={"session_ids": [s2["id"]]})
        assert r.status_code == 422 and "at least 8" in r.json()["detail"]
        r = c.post(f"/api/athletes/{aid}/baseline", json={"session_ids": [99999]})
        assert r.status_code == 404 and "no session 99999" in r.json()["detail"]
        assert c.get(f"/api/athletes/{aid}").json()["baseline"] == base
        assert c.delete(f"/api/athletes/{aid}/baseline").json()["baseline"] is None


def test_force_plates_export_as_c3d_and_replay_to_the_same_contacts(recorded, tmp_path):
    """The C3D of a session holds the plates' forces (checked against the raw CSV of
    each plate), and `stridesync replay`'s own C3D reader finds the plate contacts
    of the session again."""
    import numpy as np

    from service.engine import AthleteInfo
    from service.recordings import c3d_ground_reaction
    from service.replay import replay_events

    svc, sess = recorded["svc"], recorded["session"]
    sid = sess["id"]
    with svc.client(VIEWER) as c:
        r = c.get(f"/api/sessions/{sid}/export", params={"format": "c3d", "table": "raw"})
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"].endswith('-force.c3d"')
        bad = c.get(f"/api/sessions/{sid}/export", params={"format": "c3d"})
        assert bad.status_code == 422 and "table=raw" in bad.json()["detail"]
        steps = c.get(f"/api/sessions/{sid}/steps", params={"source": "fused"}).json()
        plates = [
            s["key"]
            for s in c.get(f"/api/sessions/{sid}").json()["streams"]
            if s["info"]["kind"] == "force_3axis"
        ]
        raw = [
            np.loadtxt(
                io.StringIO(
                    c.get(
                        f"/api/sessions/{sid}/export",
                        params={"format": "csv", "table": "raw", "stream": key},
                    ).text
                ),
                delimiter=",",
                skiprows=1,
            )
            for key in plates
        ]
    path = tmp_path / "session.c3d"
    path.write_bytes(r.content)
    # The forces: the summed vertical force of the plates, on the C3D's 1 kHz grid.
    t, grf = c3d_ground_reaction(path)
    # Within every plate's samples, a period clear of either end: the CSV's times are
    # rounded to the µs, and a grid point just past a plate's last sample is a gap in
    # the C3D (zero) where the CSV's interpolation still gives its last value.
    inside = (t >= max(p[0, 0] for p in raw) + 0.002) & (t <= min(p[-1, 0] for p in raw) - 0.002)
    fz = sum(np.interp(t[inside], p[:, 0], p[:, 4]) for p in raw)
    assert inside.sum() > 5000
    assert np.abs(grf[inside, 2] - fz).max() < 0.5  # N; float32 and 6-digit CSV
    # The contacts: the plates' steps of the session, found again by the replay.
    replayed = np.array(
        [
            e["ic_time_s"]
            for e in replay_events(path, AthleteInfo(75, 1.8), "c3d", sprints_only=False)
            if e["type"] == "step"
        ]
    )
    assert steps
    # REST times count from the session's start, as the C3D's do.
    off = [float(np.abs(replayed - s["ic_time_s"]).min()) for s in steps]
    assert max(off) <= 0.0015, off
    ics = np.array([s["ic_time_s"] for s in steps])
    extra = [float(np.abs(ics - ic).min()) for ic in replayed]
    assert max(extra) <= 0.0015, extra  # and no contact the session did not have
    # A second reader, which turns each plate's frame into the lab's from its corners
    # (ezc3d): the ground reaction with Z up, in newtons, the same as the CSV's.
    import ezc3d

    lab = ezc3d.c3d(str(path), extract_forceplat_data=True)
    platforms = lab["data"]["platform"]
    assert len(platforms) == len(plates)
    assert {p["unit_force"] for p in platforms} == {"N"}
    units = lab["parameters"]["ANALOG"]["UNITS"]["value"]
    assert units == ["N", "N", "N", "Nmm", "Nmm", "Nmm"] * len(plates)
    lab_force = sum(p["force"][:, : len(t)] for p in platforms)[:, inside]
    csv = [sum(np.interp(t[inside], p[:, 0], p[:, k]) for p in raw) for k in (2, 3, 4)]
    assert np.abs(lab_force[2] - csv[2]).max() < 0.5  # Z up: fz
    assert np.abs(lab_force[0] - csv[1]).max() < 0.5  # X forward: fy
    assert np.abs(lab_force[1] + csv[0]).max() < 0.5  # Y left: -fx (fx is + to the right)
    assert lab_force[2].max() > 500.0  # a foot on a plate pushes the ground reaction up


def test_odd_dashboard_paths_are_not_found_not_server_errors(recorded):
    with recorded["svc"].client(None) as c:
        for path in (
            "/dashboard/a%00b",
            "/dashboard/" + "a" * 5000,
            "/dashboard/../pyproject.toml",
        ):
            r = c.get(path)
            assert r.status_code == 404, (path[:40], r.status_code)
