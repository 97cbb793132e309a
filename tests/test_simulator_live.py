"""`stridesync simulate --pty`: the rig served live on pseudo-terminals, read by the
real bridge (a real-time test: tests/conftest.py groups it)."""

import asyncio
import json
import sys

import pytest

from firmware_bridge import link


@pytest.mark.asyncio
async def test_cli_serves_the_rig_live_on_ptys():
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "simulate",
        "--pty",
        "--rig",
        "imu-speed",
        "--scenario",
        "aligned",
        "--duration",
        "600",
        stdout=asyncio.subprocess.PIPE,
    )
    paths = [
        json.loads(await asyncio.wait_for(proc.stdout.readline(), 120))["path"] for _ in range(6)
    ]
    got: dict[str, int] = {}

    def count(block):
        got[block.device_name] = got.get(block.device_name, 0) + len(block)

    try:
        async with link.Bridge(paths, count, lambda e: None):
            async with asyncio.timeout(120):  # two seconds of every sensor (a hang bound)
                while len(got) < 6 or got["shank-left"] <= 2000 or got["speed"] <= 200:
                    await asyncio.sleep(0.1)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 60)
    assert set(got) == {"shank-left", "shank-right", "thigh-left", "thigh-right", "trunk", "speed"}
    assert got["shank-left"] > 2000 and got["speed"] > 200
