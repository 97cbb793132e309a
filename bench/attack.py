"""The service under the attacks of issue 13, item 5, while it records: what they
cost in memory, in /healthz latency and in sensor samples.

`stridesync serve` (its own process, 1,024 file descriptors as systemd's default)
records the standard rig, simulated in this process on ptys at real-time rate.
Phases, each followed by a quiet spell so memory can settle:

1. bodies: ten concurrent 10 MB JSON bodies and one of 40 MB, no token
   (from 127.0.0.3);
2. half-open: 1,050 half-sent requests (from 127.0.0.2), held until the
   service closes them;
3. websockets: 200 viewers at full rate (from 127.0.0.10-16, under the
   per-address limit) for 10 s, six rounds.

A quiet phase first, as long as a websocket round, is the control: what the
recording itself adds to memory in that time.

Figures: resident memory (VmRSS) before, at the peak and after each phase;
/healthz latency from 127.0.0.1 during the attacks; samples the sensors lost
(link gaps + MCU overflow) per phase. Targets: no sample lost; memory bounded
(after the first round of websockets, flat from round to round).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.service import TOKEN, _rss_mb, distribution, distribution_line, serve

NAME = "attack"
SETTLE_S = 8.0


def run(quick: bool = False) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(4096, hard)), hard))
    return asyncio.run(_run(rounds=2 if quick else 6))


async def _run(rounds: int) -> dict:
    import httpx

    from firmware_bridge.simulator import simulate_session
    from firmware_bridge.virtual import PtyMcu

    sim = simulate_session("aligned", 600, seed=7, rig="standard")
    t0 = time.monotonic()
    devices = [PtyMcu(m, time_fn=lambda: time.monotonic() - t0) for m in sim.models]
    paths = [await d.start() for d in devices]
    tmp = Path(tempfile.mkdtemp(prefix="stridesync-attack-"))
    proc, port = serve(paths, tmp, tmp / "a.db", nofile=1024)  # systemd's default
    base = f"http://127.0.0.1:{port}"
    out: dict = {"phases": []}
    try:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as http:
            await _wait_connected(http, len(paths))
            a = (await http.post("/api/athletes", json={"name": "A", "body_mass_kg": 75})).json()
            await http.post("/api/sessions", json={"athlete_id": a["id"]})
            await asyncio.sleep(SETTLE_S)
            out["baseline_rss_mb"] = _rss_mb(proc.pid)
            phases = [("quiet", _quiet), ("bodies", _bodies), ("half-open", _half_open)]
            phases += [(f"websockets, round {k + 1}", _websockets) for k in range(rounds)]
            for name, attack in phases:
                out["phases"].append(await _phase(name, attack, http, port, proc.pid))
    finally:
        proc.terminate()
        proc.wait(30)
        for d in devices:
            await d.stop()
    out["too_many_open_files"] = b"Too many open files" in (tmp / "log").read_bytes()
    return out


async def _wait_connected(http, n: int) -> None:
    import httpx

    for _ in range(600):
        with contextlib.suppress(httpx.HTTPError):
            h = (await http.get("/healthz")).json()
            if h["components"]["bridge"]["connected"] == n:
                return
        await asyncio.sleep(0.05)
    raise RuntimeError("the service did not see the sensors")


async def _lost(http) -> int:
    devices = (await http.get("/api/status")).json()["devices"]
    return sum(d["lost_samples"] + d["overflow_samples"] for d in devices)


async def _phase(name: str, attack, http, port: int, pid: int) -> dict:
    """Run `attack` while probing /healthz and sampling memory, then settle."""
    lost_before, rss_peak, probes = await _lost(http), _rss_mb(pid), []
    task = asyncio.create_task(attack(port))
    while not task.done():
        t = time.monotonic()
        await http.get("/healthz")
        probes.append((time.monotonic() - t) * 1e3)
        rss_peak = max(rss_peak, _rss_mb(pid))
        await asyncio.sleep(0.2)
    detail = await task
    await asyncio.sleep(SETTLE_S)
    return {
        "phase": name,
        "detail": detail,
        "rss_peak_mb": round(rss_peak, 1),
        "rss_after_mb": round(_rss_mb(pid), 1),
        "healthz": distribution(np.array(probes)),
        "samples_lost": await _lost(http) - lost_before,
    }


async def _quiet(_port: int) -> str:
    """The control: as long as a websocket round, no attack (a recording's own growth)."""
    await asyncio.sleep(10.0)
    return "no attack"


async def _bodies(port: int) -> str:
    async def one(size: int) -> int:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.3", 0)
        )
        writer.write(
            f"POST /api/athletes HTTP/1.1\r\nHost: pi\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n".encode()
        )
        try:  # answered before the body? (the service refuses unread)
            answer = await asyncio.wait_for(reader.read(), 1.0)
        except TimeoutError:  # no: send it all, as a naive client would
            chunk = b"[" + b"1," * (1 << 19)
            with contextlib.suppress(ConnectionError):
                for _ in range(size // len(chunk)):
                    writer.write(chunk)
                    await writer.drain()
            answer = await reader.read()
        writer.close()
        return int(answer.split(b" ", 2)[1]) if answer else 0

    codes = await asyncio.gather(*(one(10_000_000) for _ in range(10)), one(40_000_000))
    return "answers " + ", ".join(f"{c}" for c in sorted(set(codes)))


async def _half_open(port: int) -> str:
    socks, closed = [], 0
    for _ in range(1050):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.2", 0)
        )
        writer.write(b"GET / HTTP/1.1\r\nHost: pi\r\n")
        socks.append((reader, writer))
    for reader, writer in socks:  # until the service has closed every one of them
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(reader.read(), 60)
        closed += 1
        writer.close()
    return f"{len(socks)} opened, {closed} closed by the service"


async def _websockets(port: int) -> str:
    from websockets.asyncio.client import connect

    received = 0

    async def viewer(k: int) -> None:
        nonlocal received
        sock = await asyncio.get_running_loop().run_in_executor(None, _bound_socket, k, port)
        async with connect(
            f"ws://127.0.0.1:{port}/ws/live",
            sock=sock,
            additional_headers={"Authorization": f"Bearer {TOKEN}"},
        ) as ws:
            end = time.monotonic() + 10.0
            with contextlib.suppress(TimeoutError):
                while time.monotonic() < end:
                    await asyncio.wait_for(ws.recv(), end - time.monotonic())
                    received += 1

    await asyncio.gather(*(viewer(k) for k in range(200)))
    return f"200 viewers, {received} messages"


def _bound_socket(k: int, port: int):
    import socket

    s = socket.socket()
    s.bind((f"127.0.0.{10 + k // 30}", 0))  # 30 an address: under the per-address limit
    s.connect(("127.0.0.1", port))
    return s


def report(r: dict) -> str:
    lines = [
        "attack: the service recording the standard rig while attacked"
        " (targets: no sample lost; memory flat from round to round of websockets)",
        f"  baseline resident memory {r['baseline_rss_mb']:.1f} MB;"
        f" 'Too many open files' in the log: {'yes' if r['too_many_open_files'] else 'no'}",
    ]
    for p in r["phases"]:
        lines.append(
            f"  {p['phase']} ({p['detail']}): memory peak {p['rss_peak_mb']:.1f} MB, after"
            f" {p['rss_after_mb']:.1f} MB; samples lost {p['samples_lost']}"
        )
        lines.append("  " + distribution_line("/healthz during it", p["healthz"], "probes"))
    return "\n".join(lines)


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv)
    print(json.dumps(result, indent=2) if "--json" in sys.argv else report(result))
