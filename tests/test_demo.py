"""`stridesync demo`: serve + a simulated athlete, as `make demo` runs it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.service_helpers import free_port

pytestmark = [pytest.mark.asyncio, pytest.mark.slow, pytest.mark.timeout(300)]


async def test_demo_prints_where_and_the_token_and_streams_steps(tmp_path):
    port = free_port()
    env = {**os.environ, "STRIDESYNC_TOKEN": "demo-token-from-env"}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "service.cli", "demo", "--port", str(port),
            "--database", f"sqlite+aiosqlite:///{tmp_path}/demo.db",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        banner = [proc.stdout.readline() for _ in range(4)]
        text = "".join(banner)
        assert "Token:     demo-token-from-env" in text, text
        assert f"http://127.0.0.1:{port}/docs" in text
        headers = {"Authorization": "Bearer demo-token-from-env"}
        steps = []
        async with connect(f"ws://127.0.0.1:{port}/ws/live", additional_headers=headers) as ws:
            hello = json.loads(await ws.recv())
            assert hello["session"]["status"] == "recording"
            assert len(hello["devices"]) == 8
            # Ten steps and a rep, as the demo's athlete sprints (a deadline for a hang).
            deadline = time.monotonic() + 120
            reps = 0
            while (len(steps) < 10 or not reps) and time.monotonic() < deadline:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
                steps += [msg] if msg["type"] == "step" else []
                reps += msg["type"] == "rep"
        assert len(steps) >= 10 and reps
        assert all(0 < s["contact_time_s"] < 0.3 for s in steps)
        r = httpx.get(
            f"http://127.0.0.1:{port}/api/athletes", headers={"Authorization": "Bearer x"},
            timeout=60,
        )  # fmt: skip
        assert r.status_code == 401
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: the demo stops the session and exits
        assert proc.wait(60) == 0
        rest = proc.stdout.read()
        assert "rep 1:" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in proc.stderr.read()
