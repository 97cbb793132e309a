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


@pytest.mark.asyncio
async def test_a_simulator_that_does_not_start_is_one_error_and_no_orphan(tmp_path, monkeypatch):
    """Under load the simulator once took more than the demo waited: a TimeoutError
    traceback, and the simulator left running. Now: a hang bound, one clear error,
    the process gone; and a simulator that says nonsense is the same."""
    from service.cli import demo
    from service.cli.common import UsageError

    started, fake = [], []
    real_exec = asyncio.create_subprocess_exec

    async def fake_exec(*argv, **kw):
        proc = await real_exec(*fake[-1], **kw)
        started.append(proc)
        return proc

    monkeypatch.setattr(demo.asyncio, "create_subprocess_exec", fake_exec)
    monkeypatch.setattr(demo, "SIM_START_MAX_S", 0.5)
    for fake_argv, says in (
        (["sleep", "600"], "did not start within"),
        ([sys.executable, "-c", "print('not json', flush=True); import time; time.sleep(600)"],
         "failed to start"),
    ):  # fmt: skip
        fake.append(fake_argv)
        with pytest.raises(UsageError, match=says):
            await demo.start_simulated_athlete("aligned")
        assert started[-1].returncode is not None  # killed and reaped: no orphan
