"""End-to-end latency of the live service, and its storage cost per hour.

A simulated athlete (the standard rig: two 3-axis plates, five IMUs at 1 kHz,
a 100 Hz speed sensor) runs in this process on ptys at real-time rate and
logs the moment each batch of samples is written to its serial link. The
service (`stridesync serve`, its own process) records a session. Five
websocket clients, in a thread of their own, stamp each step message as it
arrives. A step's latency is its arrival minus the write of the batch that
confirmed it (the step message names it: `confirmed_by`), so it covers the
serial link, decoding, clock mapping, the engine's work once the confirming
sample is in, fan-out and the websocket; the detector's own confirmation
window (how long after the true event that sample comes) is measured by
`python -m bench engine`.

Two phases: five readers; then five readers plus a client that never reads.
Storage: compressed raw bytes and database growth per hour of recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

NAME = "service"
TOKEN = "bench-token-0123456789"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Clients(threading.Thread):
    """N websocket readers (and optionally a stalled one) on an event loop of their own."""

    def __init__(self, url: str, n: int) -> None:
        super().__init__(daemon=True)
        self.url, self.n = url, n
        self.arrivals: list[tuple[int, float, dict]] = []  # client, time, confirmed_by
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stalled_sock = None

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {TOKEN}"}
        conns = [await connect(self.url, additional_headers=headers) for _ in range(self.n)]
        self.ready.set()
        await asyncio.gather(*(self._read(i, ws) for i, ws in enumerate(conns)))

    async def _read(self, i: int, ws) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                t = time.monotonic()
                if '"type": "step"' in raw[:40]:
                    msg = json.loads(raw)
                    self.arrivals.append((i, t, msg.get("confirmed_by") or {}, msg["n"]))

    def stall(self, host: str, port: int) -> None:
        """Connect a client that completes the handshake and then never reads."""
        import socket

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, port))
        sock.sendall(
            (
                f"GET /ws/live HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.stalled_sock = sock


def run(
    quick: bool = False,
    phase_s: float | None = None,
    soak: bool = False,
    cpu_quota: float | None = None,
    period_ms: float = 10.0,
) -> dict:
    """Two phases of `phase_s` (90 s; 25 s quick; an hour each with `soak`: the
    memory of a 2-hour session). `cpu_quota`: the service held to that share of one
    core from the session's start (bench/cpuquota.py: a Pi proxy)."""
    phase_s = phase_s or (3600.0 if soak else 25.0 if quick else 90.0)
    return asyncio.run(_run(phase_s, cpu_quota, period_ms / 1e3))


async def _run(phase_s: float, cpu_quota: float | None = None, period_s: float = 0.01) -> dict:
    import httpx

    from bench.cpuquota import CpuQuota
    from firmware_bridge.simulator import simulate_session
    from firmware_bridge.virtual import PtyMcu

    # Sprinting from start to end (a rep takes about 20 s): a soak's second hour too.
    duration_s = 2 * phase_s + 30
    sim = simulate_session(
        "aligned", duration_s, seed=7, rig="standard", n_reps=int(duration_s / 15)
    )
    t0 = time.monotonic()
    writes: dict[tuple[str, int, int], float] = {}

    def on_sent(device_id, batch, t):
        writes[(f"{device_id:016x}", batch.stream_id, batch.first_sample + batch.n_samples - 1)] = t

    devices = [PtyMcu(m, time_fn=lambda: time.monotonic() - t0) for m in sim.models]
    for d in devices:
        d.on_sent = on_sent
    paths = [await d.start() for d in devices]

    tmp = Path(tempfile.mkdtemp(prefix="stridesync-bench-"))
    db = tmp / "bench.db"
    proc, port = serve(paths, tmp, db)
    base = f"http://127.0.0.1:{port}"
    clients = None
    try:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    h = (await http.get("/healthz")).json()
                    if h["components"]["bridge"]["connected"] == len(paths):
                        break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"service did not see the sensors: {(tmp / 'log').read_text()}")
            clients = _Clients(f"ws://127.0.0.1:{port}/ws/live", 5)
            clients.start()
            clients.ready.wait(10)
            a = (
                await http.post("/api/athletes", json={"name": "Bench", "body_mass_kg": 75})
            ).json()
            s = (await http.post("/api/sessions", json={"athlete_id": a["id"]})).json()
            quota = CpuQuota(proc.pid, cpu_quota, period_s) if cpu_quota else None
            if quota is not None:
                quota.__enter__()
            started = time.monotonic()
            cpu_at_start = _cpu_s(proc.pid)
            at_start = await _counts(http)
            rss = [(0.0, _rss_mb(proc.pid))]
            health: list[str] = []

            async def sample(until: float) -> None:
                """Memory every 10 s, health every second (as a dashboard polls it)."""
                next_rss = time.monotonic() + 10.0
                while time.monotonic() < until:
                    await asyncio.sleep(min(1.0, max(until - time.monotonic(), 0.0)))
                    with contextlib.suppress(httpx.HTTPError):
                        health.append((await http.get("/healthz")).json()["status"])
                    if time.monotonic() >= next_rss:
                        rss.append((time.monotonic() - started, _rss_mb(proc.pid)))
                        next_rss += 10.0

            try:
                await sample(started + phase_s)
                split = time.monotonic()
                clients.stall("127.0.0.1", port)
                await sample(split + phase_s)
                cpu_s = _cpu_s(proc.pid) - cpu_at_start
                recorded_s = time.monotonic() - started
                at_end = await _counts(http)
            finally:
                if quota is not None:
                    throttled = quota.stats()
                    quota.__exit__(None, None, None)
            await http.post(f"/api/sessions/{s['id']}/stop")
            detail = (await http.get(f"/api/sessions/{s['id']}")).json()
            kept = {
                step["n"]
                for step in (
                    await http.get(f"/api/sessions/{s['id']}/steps", params={"limit": 10000})
                ).json()
            }
            metrics = (await http.get("/metrics")).text
    finally:
        proc.terminate()
        proc.wait(20)
        for d in devices:
            await d.stop()
    db_bytes = sum(p.stat().st_size for p in tmp.glob("bench.db*"))

    # Each step message whose confirming batch's write is known: (client, arrival,
    # write, confirming device, step).
    timed = []
    for i, t, by, n in clients.arrivals:
        w = writes.get((by.get("device_id"), by.get("stream_id"), by.get("sample")))
        if w is not None:
            timed.append((i, t, w, by.get("device_id"), n))

    def latencies(lo: float, hi: float) -> np.ndarray:
        return np.array([t - w for _i, t, w, _d, _n in timed if lo <= w < hi]) * 1e3

    def slowest(k: int = 8) -> list[dict]:
        """The latest steps (each at its slowest client): which, when, how late."""
        worst: dict = {}  # each step's latest arrival at any client
        for i, t, w, device, n in timed:
            if n not in worst or t - w > worst[n][1] - worst[n][2]:
                worst[n] = (i, t, w, device, n)
        return [
            {"ms": round((t - w) * 1e3, 1), "step": n, "client": i,
             "at_s": round(w - started, 2), "by": device}
            for i, t, w, device, n in sorted(worst.values(), key=lambda r: r[2] - r[1])[:k]
        ]  # fmt: skip

    steps_seen = {n for _i, _t, _by, n in clients.arrivals}
    dropped = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("stridesync_websocket_dropped_messages_total")
    )
    per_hour = 3600.0 / recorded_s
    lag = [e - b for b, e in zip(at_start["lag_ticks"], at_end["lag_ticks"], strict=True)]
    return {
        "cpu_quota": cpu_quota,
        "quota_mode": quota.mode if quota is not None else "none (a whole core)",
        "throttled_periods": (
            f"{throttled.get('nr_throttled', 0)} of {throttled.get('nr_periods', 0)}"
            if quota is not None and throttled
            else None
        ),
        "lag_ticks_by_bucket": dict(zip(at_end["lag_edges"], lag, strict=True)),
        "ticks_lagging_over_100_ms": sum(
            n for le, n in zip(at_end["lag_edges"], lag, strict=True) if le > 0.1
        ),
        "samples_lost_or_overflowed": at_end["lost"] - at_start["lost"],
        "health": {k: health.count(k) for k in sorted(set(health))},
        "clients": 5,
        "recorded_s": round(recorded_s, 1),
        "steps": detail["steps"],
        "steps_received": len(steps_seen & kept),  # of the steps the session kept
        "provisional_steps_retracted": len(steps_seen - kept),
        "latency_5_readers": distribution(latencies(started, split)),
        "latency_5_readers_and_1_stalled": distribution(latencies(split, time.monotonic())),
        "slowest_step_messages": slowest(),
        "stalled_client_dropped_messages": int(dropped),
        "raw_samples_per_hour": round(detail["raw_samples"] * per_hour),
        "raw_mb_per_hour": round(detail["raw_bytes"] * per_hour / 1e6, 1),
        "database_mb_per_hour": round(db_bytes * per_hour / 1e6, 1),
        "service_rss_mb": [(round(t), round(mb, 1)) for t, mb in rss],
        # process time / wall time while recording: the share of one core
        "service_cpu_share_of_one_core": round(cpu_s / recorded_s, 3),
        "service_cpu_split_s": _cpu_split(metrics, recorded_s),
    }


async def _counts(http) -> dict:
    """What the service has counted so far: its ticks by lag (the histogram's buckets)
    and the samples its devices lost or overflowed."""
    metrics = (await http.get("/metrics")).text
    edges, cumulative = [], []
    for line in metrics.splitlines():
        if line.startswith("stridesync_tick_lag_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            edges.append(float("inf") if le == "+Inf" else float(le))
            cumulative.append(float(line.split()[-1]))
    ticks = [int(b - a) for a, b in zip([0.0, *cumulative], cumulative, strict=False)]
    devices = (await http.get("/api/status")).json()["devices"]
    lost = sum(d["lost_samples"] + d["overflow_samples"] for d in devices)
    return {"lag_edges": edges, "lag_ticks": ticks, "lost": lost}


def _other(r: dict) -> float:
    return r["service_cpu_share_of_one_core"] - sum(r["service_cpu_split_s"].values())


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_split(metrics: str, recorded_s: float) -> dict:
    """The service's own account of where its CPU went (stridesync_cpu_seconds_total),
    as shares of one core."""
    out = {}
    for line in metrics.splitlines():
        if line.startswith("stridesync_cpu_seconds_total{"):
            part = line.split('part="', 1)[1].split('"', 1)[0]
            out[part] = round(float(line.split()[-1]) / recorded_s, 4)
    return out


def serve(paths: list[str], tmp: Path, db: Path, nofile: int | None = None):
    """`stridesync serve` in a process of its own on a free port, watching `paths`,
    storing in `db`, with the bench's admin token (and at most `nofile` open files):
    (process, port). Its log is tmp/log. With BENCH_PROFILE=path in the environment
    it runs under cProfile, its statistics written to that path when it stops."""
    from service.config import hash_token

    port = _free_port()
    (tmp / "cfg.toml").write_text(
        f'[server]\nport = {port}\n[database]\nurl = "sqlite+aiosqlite:///{db}"\n'
        f"[devices]\nports = {json.dumps(paths)}\nscan_interval_s = 0.5\n"
        f'[auth]\nadmin_token_hashes = ["{hash_token(TOKEN)}"]\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIDESYNC_")}
    limit = None
    if nofile is not None:
        import resource

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    main = "bench.profiled" if os.environ.get("BENCH_PROFILE") else "service.cli"
    proc = subprocess.Popen(
        [sys.executable, "-m", main, "serve", "--config", str(tmp / "cfg.toml")],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "log", "wb"),  # noqa: SIM115 - lives as long as the process
        env=env,
        preexec_fn=limit,
    )
    return proc, port


def _thin(samples: list, most: int) -> list:
    """At most `most` of the samples, evenly spread, the last one kept."""
    step = max(1, -(-len(samples) // most))
    return [*samples[:-1:step], samples[-1]]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def distribution(ms) -> dict:
    """p50, p99 and max of latencies in milliseconds."""
    ms = np.asarray(ms, dtype=float)
    if not len(ms):
        return {"n": 0}
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def distribution_line(name: str, d: dict, what: str) -> str:
    if not d.get("n"):
        return f"  {name}: no {what}"
    return (
        f"  {name}: p50 {d['p50_ms']:.2f} ms, p99 {d['p99_ms']:.2f} ms,"
        f" max {d['max_ms']:.2f} ms ({d['n']} {what})"
    )


def report(r: dict) -> str:
    def line(name, d):
        return distribution_line(name, d, "step messages")

    lag = r["lag_ticks_by_bucket"]
    under = {le: sum(n for e, n in lag.items() if e <= le) for le in (0.01, 0.02, 0.05, 0.1)}
    ticks = max(sum(lag.values()), 1)
    quota = (
        f"CPU quota {100 * r['cpu_quota']:.0f} % of one core ({r['quota_mode']};"
        f" throttled in {r['throttled_periods']} periods)"
        if r["cpu_quota"]
        else "no CPU quota"
    )
    return "\n".join(
        [
            f"service under {quota}: ticks behind the sensors by <= 10 / 20 / 50 / 100 ms:"
            + " / ".join(f" {100 * under[le] / ticks:.1f} %" for le in under)
            + f" ({r['ticks_lagging_over_100_ms']} ticks over 100 ms);"
            f" samples lost or overflowed: {r['samples_lost_or_overflowed']};"
            f" health each second: {r['health']}",
            f"service: confirming sample written to the serial link -> step message at a"
            f" websocket client (loopback, {r['clients']} clients, real time,"
            f" {r['recorded_s']:.0f} s, {r['steps']} steps; target p99 <= 10 ms beyond the"
            " detector's confirmation window)",
            line("5 readers", r["latency_5_readers"]),
            line("5 readers + 1 stalled", r["latency_5_readers_and_1_stalled"]),
            f"  the stalled client lost {r['stalled_client_dropped_messages']} messages;"
            f" readers got {r['steps_received']} of the {r['steps']} steps kept (and"
            f" {r['provisional_steps_retracted']} provisional steps later retracted)",
            f"storage, standard rig: {r['raw_mb_per_hour']:.0f} MB/h of compressed raw samples"
            f" ({r['raw_samples_per_hour'] / 1e6:.1f} M samples/h);"
            f" database grows {r['database_mb_per_hour']:.0f} MB/h",
            "service resident memory, MB, by second of recording: "
            + ", ".join(f"{t}: {mb}" for t, mb in _thin(r["service_rss_mb"], 12)),
            f"service CPU while recording: {100 * r['service_cpu_share_of_one_core']:.1f} % of"
            " one core (process time / wall time)"
            + (
                "; by part: "
                + ", ".join(f"{k} {100 * v:.1f} %" for k, v in r["service_cpu_split_s"].items())
                + f", other {100 * _other(r):.1f} % (event loop, socket I/O, HTTP, database)"
                if r["service_cpu_split_s"]
                else ""
            ),
        ]
    )


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv)  # python -m bench service --cpu-quota 0.25
    print(json.dumps(result, indent=2) if "--json" in sys.argv else report(result))
