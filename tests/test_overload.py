"""Overload: the service starved of CPU mid-session degrades, and never corrupts.

The simulated athlete runs in its own process at its real-time rate, as real
sensors would; only `stridesync serve` is starved (tests/throttle.py: stopped
2.5 s of every 3 s, for 20 s), so the sensors' buffers fill and they drop samples, as MCUs
do when the host does not read. Then: every sample that reached the host is
stored, every lost one counted and marked, the reps are well formed, the
re-score equals the live session, /healthz said `degraded` and says `ok` again,
and the shed live trace came back."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections import defaultdict

import pytest
from websockets.sync.client import connect

from tests.service_helpers import (
    ADMIN,
    Service,
    SimAthlete,
    free_port,
    stored_streams,
    write_config,
)
from tests.throttle import CpuStarver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

# Stopped 2.5 s of every 3 s: longer than the sensors' buffers hold (the MCU's 8 KB
# and the pty's ~13 KB: ~1.5 s of a 1 kHz IMU), so the host falls behind and the
# sensors drop samples on any machine, however fast.
STARVED_SHARE, STARVED_PERIOD_S = 1 / 6, 3.0
STARVED_S = 20.0
STARVED_FROM_PLAN_S = 8.0  # mid-sprint: the first rep runs from 2 to ~10 s of the plan


class HealthLog(threading.Thread):
    """/healthz once a second, as a monitoring probe would."""

    def __init__(self, svc: Service) -> None:
        super().__init__(daemon=True)
        self.svc, self.seen, self.done = svc, [], threading.Event()

    def run(self) -> None:
        with self.svc.client() as c:
            while not self.done.is_set():
                r = c.get("/healthz")
                self.seen.append((r.status_code, r.json()))
                self.done.wait(1.0)


def _wait(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s")


def test_a_starved_service_sheds_degrades_catches_up_and_loses_nothing(tmp_path):
    sim = SimAthlete("aligned", duration_s=900, stand_s=2.0, hold=True)
    db = tmp_path / "s.db"
    port = free_port()
    cfg = write_config(tmp_path / "cfg.toml", f"sqlite+aiosqlite:///{db}", sim.paths, port)
    svc = Service(cfg, port, tmp_path / "log")
    health = HealthLog(svc)
    try:
        svc.wait_devices(len(sim.paths))
        with svc.client() as c:
            sid = svc.start_session("S")
            sim.go()
            health.start()
            sim.sleep_until(STARVED_FROM_PLAN_S)
            with CpuStarver(svc.proc.pid, STARVED_SHARE, STARVED_PERIOD_S):
                time.sleep(STARVED_S)
            # It catches up by itself once the CPU is back.
            caught_up = _wait(
                lambda: (h := c.get("/healthz").json())["status"] == "ok" and h, 120, "catch up"
            )
            assert not caught_up["components"]["engine"]["overloaded"]
            metrics = c.get("/metrics").text
            # The shed live trace is back.
            with connect(
                svc.url.replace("http", "ws") + "/ws/live",
                additional_headers={"Authorization": f"Bearer {ADMIN}"},
            ) as ws:
                _wait(lambda: json.loads(ws.recv(timeout=60))["type"] == "trace", 120, "trace")
            # Stop once the athlete is still (between two reps), at full speed again.
            stop_at = sim.quiet_after(sim.plan_s())
            sim.sleep_until(stop_at)
            assert c.post(f"/api/sessions/{sid}/stop").status_code == 200
            devices = c.get("/api/status").json()["devices"]
            version = c.get(f"/api/sessions/{sid}").json()["model_version"]
            rescore = c.post(f"/api/sessions/{sid}/rescore", json={"model_version": version})
    finally:
        health.done.set()
        svc.close()
        sim.close()

    # /healthz said degraded, with the lag, while starved (never failing: 200).
    degraded = [h for code, h in health.seen if code == 200 and h["status"] == "degraded"]
    assert degraded, health.seen
    assert any(
        h["components"]["engine"]["overloaded"] and h["components"]["engine"]["peak_lag_s"] > 0.5
        for h in degraded
    )
    assert all(code == 200 for code, _ in health.seen)
    assert _metric(metrics, "stridesync_overloads_total") >= 1
    assert _metric(metrics, "stridesync_trace_blocks_shed_total") > 0

    # The sensors had to drop samples, and the host counted them.
    overflow = {d["device_id"]: d["overflow_samples"] + d["lost_samples"] for d in devices}
    assert sum(overflow.values()) > 0

    con = sqlite3.connect(db)
    reps = [json.loads(d) for (d,) in con.execute("SELECT data FROM reps ORDER BY number")]
    steps = [json.loads(d) for (d,) in con.execute("SELECT data FROM steps ORDER BY seq")]
    con.close()
    # Every sample that reached the host is stored: each stream's chunks follow on
    # from each other, and what is missing between them is exactly what was counted.
    marked = defaultdict(int)
    for (device, _), rows in stored_streams(db, sid).items():
        marked[device] += sum(r[2] for r in rows[1:])
    for device in set(marked) | set(overflow):
        assert marked.get(device, 0) == overflow.get(device, 0), device

    # Steps and reps stay well formed: every sprint before the stop (two or more:
    # one mid-starving), each a rep, in order.
    sprints = [w for w in sim.rep_windows() if w[1] < stop_at]
    assert len(sprints) >= 2
    assert len(reps) == len(sprints), [(r["rep"], r["start_s"], r["steps"]) for r in reps]
    # The first rep ran 6 s before the starving began; a rep run while starved keeps
    # the steps whose samples the sensors could still send (fewer, the slower the
    # host: a step needs its stream whole), but it is a rep, with steps.
    assert reps[0]["steps"] >= 8, reps[0]
    assert all(r["steps"] >= 1 for r in reps), [r["steps"] for r in reps]
    assert all(a["end_s"] < b["start_s"] for a, b in itertools.pairwise(reps))
    assert all(r["mss_m_s"] is None or r["mss_m_s"] > 0 for r in reps)
    # No step of walking back (-1.4 m/s); the first step from standing reads ~0 m/s,
    # give or take the speed sensor's noise (0.03 m/s).
    assert all(s["velocity_m_s"] is None or s["velocity_m_s"] > -0.1 for s in steps)
    # Numbered in order; a retracted step (jogging, slowing down) leaves a gap in n.
    numbers = [s["n"] for s in steps]
    assert numbers == sorted(set(numbers)) and numbers[0] >= 1
    assert {s["rep"] for s in steps} == {r["rep"] for r in reps}
    ics = [s["ic_time_s"] for s in steps]
    assert ics == sorted(ics)
    assert all(s["to_time_s"] < b for s, b in zip(steps, ics[1:], strict=False))  # no overlap

    # And the stored samples give the live session back exactly.
    assert rescore.status_code == 200, rescore.text
    assert rescore.json()["identical"], rescore.json()["differences"]


def _metric(text: str, name: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(name + " "))
    return float(line.split()[1])
