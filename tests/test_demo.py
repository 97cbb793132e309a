"""`stridesync demo`: serve + a simulated athlete, as `make demo` runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.service_helpers import free_port

pytestmark = [pytest.mark.asyncio, pytest.mark.slow, pytest.mark.timeout(120)]


async def test_demo_prints_where_and_the_token_and_streams_steps(tmp_path):
    port = free_port()
    env = {**os.environ, "STRIDESYNC_TOKEN": "demo-token-from-env"}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "service.cli", "demo", "--port", str(port), "--duration", "18",
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
            deadline = time.monotonic() + 20
            while len(steps) < 10 and time.monotonic() < deadline:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if msg["type"] == "step":
                    steps.append(msg)
        assert len(steps) >= 10
        assert all(0 < s["contact_time_s"] < 0.3 for s in steps)
        r = httpx.get(
            f"http://127.0.0.1:{port}/api/athletes", headers={"Authorization": "Bearer x"}
        )
        assert r.status_code == 401
        assert proc.wait(40) == 0
        rest = proc.stdout.read()
        assert "rep 1:" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in proc.stderr.read()
