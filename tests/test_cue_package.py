"""The cue device from its own package: its wheel installed alone in a fresh
environment (no service, no numpy), run as `stridesync-cue` against a real
Mosquitto, playing a cue the service's publisher sends by the shared contract."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from service.cues.mqtt import MqttOut
from stridesync_cue import contract
from tests.service_helpers import Broker, wheels_for_cue

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def cue_venv(tmp_path_factory, cue_wheel) -> Path:
    tmp = tmp_path_factory.mktemp("cue-venv")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index"]
    pip += ["--disable-pip-version-check", "--find-links", str(wheels_for_cue(tmp))]
    subprocess.run([*pip, str(cue_wheel)], check=True, capture_output=True)
    return venv


def test_the_cue_package_installs_alone(cue_venv):
    py, away = str(cue_venv / "bin" / "python"), cue_venv  # away from the checkout
    for absent in ("numpy", "service", "fastapi", "firmware_bridge"):
        r = subprocess.run([py, "-c", f"import {absent}"], capture_output=True, text=True, cwd=away)
        assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr, absent
    r = subprocess.run(
        [py, "-c", "import aiomqtt, stridesync_cue.device"], capture_output=True, cwd=away
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(cue_venv / "bin" / "stridesync-cue"), "--help"], capture_output=True)
    assert r.returncode == 0 and b"--broker" in r.stdout


@pytest.mark.asyncio
async def test_the_installed_device_plays_the_services_cue(tmp_path, cue_venv):
    broker = Broker(tmp_path)
    pw = tmp_path / "cue-1.pw"
    pw.write_text(Broker.USERS["cue-1"])
    log = tmp_path / "cues.jsonl"
    device = subprocess.Popen(
        [str(cue_venv / "bin" / "stridesync-cue"), "--broker", broker.address,
         "--athlete", "1", "--username", "cue-1", "--password-file", str(pw),
         "--wav-dir", str(tmp_path / "wav"), "--sound", "tones", "--log", str(log)],
        cwd=tmp_path,
        stderr=open(tmp_path / "device.log", "ab"),  # noqa: SIM115
    )  # fmt: skip
    out = MqttOut("127.0.0.1", broker.port, "pi", username="service", password="service-pw")
    await out.start()
    try:
        status = await _retained_status(broker)
        assert status["state"] == "online"  # subscribed: the status follows the subscription
        now = time.time()
        cue = {"id": "7-1", "athlete_id": 1, "session_id": 7, "step": 3, "rep": 1}
        cue |= {"kind": "limiter", "sound": "swing", "text": "swing late"}
        cue |= {"event_unix": now, "sent_unix": now, "expires_unix": now + 5.0}
        out.publish_cue(1, cue, expiry_s=5.0)
        records = await _records(log, 1)
        assert records[0] | {"id": "7-1", "kind": "limiter", "played": True} == records[0]
        wav = next((tmp_path / "wav").glob("*.wav"))
        # The "swing" pattern, by its samples (the file's length, not a clock): two 70 ms
        # beeps around a 50 ms rest at the device's 22.05 kHz.
        with wave.open(str(wav)) as w:
            rate = w.getframerate()
            assert rate == 22050
            assert w.getnframes() == 2 * int(0.07 * rate) + int(0.05 * rate)
    finally:
        await out.close()
        device.terminate()
        device.wait(10)
        broker.stop()


async def _retained_status(broker: Broker) -> dict:
    import aiomqtt

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username="service", password="service-pw"
        ) as c:
            await c.subscribe(contract.device_status_topic(1), qos=1)
            try:
                async with asyncio.timeout(1.0):
                    async for m in c.messages:
                        return json.loads(m.payload)
            except TimeoutError:
                pass
    raise AssertionError("the cue device never came online")


async def _records(log: Path, n: int) -> list[dict]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if log.exists():
            lines = log.read_text().splitlines()
            if len(lines) >= n:
                return [json.loads(x) for x in lines]
        await asyncio.sleep(0.1)
    raise AssertionError("the cue device logged nothing")
