"""Cue latency: step confirmed in the service → cue received by the device → audio.

The standard rig simulated in this process at real-time rate (the late-swing
scenario, so steps have a limiter to cue), `stridesync serve` recording with
the cue policy at every step, a Mosquitto on a free loopback port, and
`stridesync-cue` (the device's own package) playing through `aplay -D null` (ALSA's null sink:
the real pipe path without a sound card; WAV files when aplay is missing).
Each cue carries the wall-clock moment the engine emitted its step; the
device logs when the cue arrived and when its audio started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.service import TOKEN, _free_port, distribution, distribution_line

NAME = "cues"


def run(quick: bool = False) -> dict:
    return asyncio.run(_run(25.0 if quick else 80.0))


async def _run(duration_s: float) -> dict:
    import httpx

    from firmware_bridge.simulator import simulate_session
    from firmware_bridge.virtual import PtyMcu
    from service.config import hash_token

    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        raise RuntimeError("mosquitto is not installed (scripts/system-deps.sh installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="stridesync-cues-"))
    mqtt_port, port = _free_port(), _free_port()
    conf = [
        f"listener {mqtt_port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        "set_tcp_nodelay true",  # as deploy/mosquitto.conf: cues are small and urgent
    ]
    if os.geteuid() == 0:
        conf.append("user root")
    (tmp / "mosquitto.conf").write_text("\n".join(conf) + "\n")
    procs = [
        subprocess.Popen([mosquitto, "-c", str(tmp / "mosquitto.conf")], stderr=subprocess.DEVNULL)
    ]

    sim = simulate_session("late-swing", duration_s + 30, seed=3, rig="standard")
    t0 = time.monotonic()
    devices = [PtyMcu(m, time_fn=lambda: time.monotonic() - t0) for m in sim.models]
    paths = [await d.start() for d in devices]
    (tmp / "cfg.toml").write_text(
        f'[server]\nport = {port}\n[database]\nurl = "sqlite+aiosqlite:///{tmp}/b.db"\n'
        f"[devices]\nports = {json.dumps(paths)}\nscan_interval_s = 0.1\n"
        f'[auth]\nadmin_token_hashes = ["{hash_token(TOKEN)}"]\n'
        f'[mqtt]\nbroker = "127.0.0.1:{mqtt_port}"\nnode = "bench"\n'
        '[cues]\nmode = "every-step"\nfade_every = 1\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIDESYNC_")}
    cli = [sys.executable, "-m", "service.cli"]
    procs.append(
        subprocess.Popen(
            [*cli, "serve", "--config", str(tmp / "cfg.toml")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    )
    out = ["--alsa-device", "null"] if shutil.which("aplay") else ["--wav-dir", str(tmp / "wav")]
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "stridesync_cue", "--broker", f"127.0.0.1:{mqtt_port}",
             "--athlete", "1", "--sound", "tones", "--log", str(tmp / "cues.jsonl"), *out],
            stderr=subprocess.DEVNULL,
        )
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        ) as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    h = (await http.get("/healthz")).json()["components"]
                    if h["bridge"]["connected"] == len(paths) and h["mqtt"]["ok"]:
                        break
                await asyncio.sleep(0.05)
            a = (
                await http.post("/api/athletes", json={"name": "Bench", "body_mass_kg": 75})
            ).json()
            s = (await http.post("/api/sessions", json={"athlete_id": a["id"]})).json()
            await asyncio.sleep(duration_s)
            device_rss_mb = _rss_mb(procs[-1].pid)
            await http.post(f"/api/sessions/{s['id']}/stop")
            await asyncio.sleep(1.0)
    finally:
        for p in reversed(procs):
            p.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(20)
        for d in devices:
            await d.stop()
    records = [json.loads(x) for x in (tmp / "cues.jsonl").read_text().splitlines()]
    step_cues = [r for r in records if r.get("kind") in ("limiter", "aligned")]
    played = [r for r in step_cues if r.get("played")]

    return {
        "output": "aplay -D null" if out[0] == "--alsa-device" else "WAV files",
        "step_cues": len(step_cues),
        "played": len(played),
        "confirmation_to_received": distribution([r["network_ms"] for r in step_cues]),
        "receive_to_audio_start": distribution([r["receive_to_audio_ms"] for r in played]),
        "device_rss_mb": device_rss_mb,
    }


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(x.split()[1] for x in status if x.startswith("VmRSS"))) / 1024


def report(r: dict) -> str:
    def line(name, d):
        return distribution_line(name, d, "cues")

    return "\n".join(
        [
            "cues: step confirmed in the service -> cue at the device (Mosquitto on loopback,"
            f" real time; {r['played']} of {r['step_cues']} step cues played, via {r['output']})",
            line("confirmation -> received (target p99 <= 20 ms)", r["confirmation_to_received"]),
            line("received -> audio start (budget 50 ms)", r["receive_to_audio_start"]),
            f"  cue device resident memory: {r['device_rss_mb']:.1f} MB (target < 40 MB,"
            " a Pi Zero 2 W has 512 MB)",
        ]
    )


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv)
    print(json.dumps(result, indent=2) if "--json" in sys.argv else report(result))
