"""A club's centre: throughput with N simulated lanes, and the delay from a lane's
broker to the centre's websocket (docs/club.md, docs/benchmarks.md).

Each simulated lane is what a Pi puts on the club link: its own Mosquitto,
bridged over TLS to the central broker by the lines `stridesync club lane-bridge`
prints, and a publisher in this process standing in for the lane's service: a
session started, then one step message (a real step's keys, ~1.3 KB) per
`1 / rate_hz` s at QoS 1, each stamped with its wall-clock send time. The
centre (`stridesync central`, HTTPS) writes each one to a throwaway PostgreSQL
database and puts it on its websocket, where a reader takes the delay (one
machine, one clock). Then one real lane (`serve` with a simulated athlete) gives
the messages and bytes a lane sends per second while recording.

Source checkout only: the rig is the club tests' (tests/club_helpers.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import ssl
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from bench.service import _cpu_s, distribution, distribution_line

NAME = "club"
STEP_HZ = 5.0  # a sprinter's step rate: one message per step per lane


def run(quick: bool = False) -> dict:
    from tests.club_helpers import CentralBroker, Centre, make_tls
    from tests.service_helpers import pg_database

    tmp = Path(tempfile.mkdtemp(prefix="stridesync-club-"))
    tls = make_tls(tmp / "tls")
    # (lanes, steps a second per lane): a club's lanes, then past them to the limit.
    plan = [(1, STEP_HZ), (3, STEP_HZ)]
    if not quick:
        plan += [(10, STEP_HZ), (30, STEP_HZ), (30, 20.0), (30, 50.0)]
    phase_s = 8.0 if quick else 20.0
    most = max(n for n, _ in plan)
    names = [f"lane-{i + 1:02d}" for i in range(most)]
    broker = CentralBroker(tmp / "broker", {n: f"{n}-pw" for n in names}, tls)
    lanes: list[_LaneBroker] = []
    try:
        with pg_database() as db_url:
            centre = Centre(tmp, db_url, broker, tls, {"lane-real": "lane-real-token-0123456789"})
            try:
                for name in names:
                    lanes.append(_LaneBroker(tmp / name, name, broker, tls[0]))
                phases = asyncio.run(_phases(centre, broker, lanes, plan, phase_s))
            finally:
                centre.close()
        rates = _real_lane_rates(tmp / "real", 15.0 if quick else 40.0)
    finally:
        for lane in lanes:
            lane.stop()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"phases": phases, "phase_s": phase_s, "real_lane": rates, "tls": True}


class _LaneBroker:
    """A lane's Mosquitto (anonymous on loopback), bridged to the centre."""

    def __init__(self, d: Path, name: str, central, ca: Path) -> None:
        from service.club import brokers
        from tests.service_helpers import free_port, wait_for_port

        d.mkdir()
        self.name, self.port = name, free_port()
        conf = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false",
                "set_tcp_nodelay true"]  # fmt: skip  # as deploy/mosquitto/stridesync.conf
        if os.geteuid() == 0:
            conf.append("user root")
        bridge = brokers.lane_bridge(
            name, f"127.0.0.1:{central.port}", central.passwords[name], ca_file=str(ca)
        )
        (d / "mosquitto.conf").write_text("\n".join(conf) + "\n" + bridge)
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [exe, "-c", str(d / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _step_template() -> dict:
    """A step message with every key a real one has (service/schemas.py StepOut)."""
    from service.schemas import StepOut

    out: dict = {}
    for i, (key, field) in enumerate(StepOut.model_fields.items()):
        kind = str(field.annotation)
        out[key] = 1 if "int" in kind else (True if "bool" in kind else 0.123456 + i)
    out.update(type="step", foot="left", limiter="swing", source="imu", model_version="0.4")
    return out


async def _phases(centre, central, lanes, plan, phase_s: float) -> list[dict]:
    from websockets.asyncio.client import connect

    from tests.service_helpers import VIEWER

    ctx = ssl.create_default_context(cafile=str(centre.ca))
    arrivals: list[tuple[float, float]] = []  # (arrival, sent) wall clock
    url = centre.url.replace("https", "wss") + "/ws/live"
    async with connect(
        url, additional_headers={"Authorization": f"Bearer {VIEWER}"}, ssl=ctx, max_queue=None
    ) as ws:
        reader = asyncio.create_task(_read(ws, arrivals))
        results = []
        for n, hz in plan:
            results.append(await _phase(centre, central, lanes[:n], hz, phase_s, arrivals))
        reader.cancel()
    return results


async def _read(ws, arrivals) -> None:
    async for raw in ws:
        msg = json.loads(raw)
        if msg.get("type") == "step" and "bench_sent_at" in msg:
            arrivals.append((time.time(), msg["bench_sent_at"]))


async def _phase(centre, central, lanes, hz: float, phase_s: float, arrivals) -> dict:
    import aiomqtt

    template = _step_template()
    arrivals.clear()
    cpu0 = {p.pid: _cpu_s(p.pid) for p in (centre.proc, central.proc)}
    sent = 0

    async def lane_publisher(lane) -> None:
        nonlocal sent
        session = str(uuid.uuid4())
        async with aiomqtt.Client("127.0.0.1", lane.port, identifier=f"bench-{lane.name}") as c:
            started = {
                "event": "started", "uuid": session, "status": "recording",
                "started_at": "2026-12-03T12:00:00Z", "clock_origin_s": 0.0,
                "model_version": "0.4",
                "athlete": {"uuid": str(uuid.uuid4()), "name": f"Bench {lane.name}",
                            "body_mass_kg": 75.0, "height_m": 1.8},
            }  # fmt: skip
            await c.publish(f"stridesync/{lane.name}/sessions", json.dumps(started), qos=1)
            # Lanes do not step in time with each other: each its own phase.
            t_next = time.monotonic() + random.uniform(0, 1 / hz)
            for k in range(int(phase_s * hz)):
                msg = {**template, "n": k + 1, "ic_time_s": k / hz, "session_uuid": session,
                       "bench_sent_at": time.time()}  # fmt: skip
                topic = f"stridesync/{lane.name}/athletes/1/steps"
                await c.publish(topic, json.dumps(msg), qos=1)
                sent += 1
                t_next += 1 / hz
                await asyncio.sleep(max(t_next - time.monotonic(), 0))

    t0 = time.monotonic()
    await asyncio.gather(*(lane_publisher(lane) for lane in lanes))
    # Then up to 60 s for what is still on its way (a centre that keeps up needs ~none).
    deadline = time.monotonic() + 60
    while len(arrivals) < sent and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    took_s = time.monotonic() - t0
    cpu = {pid: _cpu_s(pid) - c for pid, c in cpu0.items()}
    delays = [(a - s) * 1000 for a, s in arrivals]
    return {
        "lanes": len(lanes),
        "step_hz": hz,
        "offered_msg_s": round(len(lanes) * hz, 1),
        "sent": sent,
        "delivered": len(arrivals),
        "delivered_msg_s": round(len(arrivals) / took_s, 1),
        "drain_s": round(took_s - phase_s, 1),
        "delay": distribution(delays),
        "centre_cpu": round(cpu[centre.proc.pid] / took_s, 3),
        "broker_cpu": round(cpu[central.proc.pid] / took_s, 3),
    }


def _real_lane_rates(d: Path, record_s: float) -> dict:
    """One real lane: what its service publishes per second while recording (the
    standard rig, sprinting), and the raw bytes a minute its upload carries."""
    import aiomqtt

    from tests.service_helpers import Broker, Service, SimAthlete, free_port, sql, write_config

    d.mkdir()
    broker = Broker(d)
    sim = SimAthlete("aligned", seed=4, duration_s=record_s + 60)
    port = free_port()
    cfg = write_config(
        d / "lane.toml", f"sqlite+aiosqlite:///{d / 'lane.db'}", sim.paths, port,
        mqtt=f'broker = "{broker.address}"\nnode = "lane-real"\nusername = "service"\n'
        'password = "service-pw"',
    )  # fmt: skip
    svc = Service(cfg, port, d / "serve.log")
    counts: dict[str, list[int]] = {}

    async def listen() -> None:
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username="service", password="service-pw"
        ) as c:
            await c.subscribe("stridesync/lane-real/#", qos=1)
            async for m in c.messages:
                kind = str(m.topic).rsplit("/", 1)[1]
                got = counts.setdefault(kind, [0, 0])
                got[0] += 1
                got[1] += len(m.payload)

    async def record() -> None:
        task = asyncio.create_task(listen())
        await asyncio.sleep(0.5)
        svc.wait_devices(8)
        sid = await asyncio.to_thread(svc.start_session, "Rates")
        await asyncio.sleep(record_s)
        with svc.client() as c:
            await asyncio.to_thread(c.post, f"/api/sessions/{sid}/stop")
        await asyncio.sleep(1.0)
        task.cancel()

    try:
        asyncio.run(record())
        (raw,) = sql(d / "lane.db", "SELECT coalesce(sum(length(data)), 0) FROM raw_chunks")[0]
    finally:
        svc.close()
        sim.close()
        broker.stop()
    return {
        "record_s": record_s,
        "by_topic": {
            k: {"msg_s": round(n / record_s, 2), "bytes_s": round(b / record_s)}
            for k, (n, b) in sorted(counts.items())
        },
        # On the club link: what the bridge carries (the cues stay on the Pi).
        "msg_s": round(sum(n for k, (n, _) in counts.items() if k != "cue") / record_s, 2),
        "bytes_s": round(sum(b for k, (_, b) in counts.items() if k != "cue") / record_s),
        "upload_bytes_per_min": round(raw / record_s * 60),
    }


def report(r: dict) -> str:
    lines = [
        "club: simulated lanes (own Mosquitto, TLS bridge) -> central Mosquitto -> centre"
        f" (PostgreSQL, websocket); {r['phase_s']:.0f} s a phase; target: every message"
        " delivered, delay p99 <= 100 ms at the lanes a club has"
    ]
    for p in r["phases"]:
        lines.append(
            f"  {p['lanes']:>2} lanes x {p['step_hz']:.0f} steps/s ="
            f" {p['offered_msg_s']:.0f} msg/s:"
            f" delivered {p['delivered']}/{p['sent']} ({p['delivered_msg_s']:.0f} msg/s,"
            f" drained {p['drain_s']:.1f} s after), centre CPU {p['centre_cpu']:.0%},"
            f" broker CPU {p['broker_cpu']:.0%}"
        )
        lines.append(
            "  " + distribution_line("delay lane -> centre websocket", p["delay"], "steps")
        )
    rl = r["real_lane"]
    lines.append(
        f"  one real lane (standard rig, {rl['record_s']:.0f} s sprinting): {rl['msg_s']} msg/s,"
        f" {rl['bytes_s']} B/s on the club link; upload {rl['upload_bytes_per_min'] / 1e6:.1f}"
        " MB of raw samples a minute"
    )
    for k, v in rl["by_topic"].items():
        lines.append(f"    {k}: {v['msg_s']} msg/s, {v['bytes_s']} B/s")
    return "\n".join(lines)
