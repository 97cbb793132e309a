"""Athlete cues: the policy, and delivery over a real Mosquitto to the cue device."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.cues.policy import CueMaker, CuePolicy, summary_text
from service.engine import Baseline
from service.store import queries
from tests.service_helpers import ADMIN, Broker, SimAthlete, running

# --- the policy (pure) ---------------------------------------------------------------------


def _step(limiter=None, aligned=False, score=0.7):
    return {"type": "step", "limiter": limiter, "aligned": aligned, "system_score": score}


def test_sparse_by_default_a_cue_when_the_limiter_changes():
    m = CueMaker(CuePolicy())
    cues = [m.on_step(_step("swing")) for _ in range(8)]
    assert [c and c["text"] for c in cues] == ["swing late"] + [None] * 7
    # Another link limits: cued at once? Not within min_gap_steps of the last cue.
    m2 = CueMaker(CuePolicy(min_gap_steps=4))
    got = [m2.on_step(_step(lim)) for lim in ["swing", "push", "push", "push", "torso"]]
    assert [c and c["sound"] for c in got] == ["swing", None, None, None, "torso"]


def test_out_of_band_steps_are_cued_again_after_the_gap():
    m = CueMaker(CuePolicy(min_gap_steps=3, out_of_band=0.6))
    got = [m.on_step(_step("push", score=0.4)) for _ in range(7)]
    assert [bool(c) for c in got] == [True, False, False, True, False, False, True]


def test_aligned_reinforcement_after_a_run_of_aligned_steps():
    m = CueMaker(CuePolicy(aligned_streak=3))
    got = [m.on_step(_step(aligned=True)) for _ in range(7)]
    assert [c and c["kind"] for c in got] == [None, None, "aligned", None, None, None, None]
    m.on_step(_step("swing"))  # the run is broken; a new one earns a new cue
    got = [m.on_step(_step(aligned=True)) for _ in range(3)]
    assert got[-1]["kind"] == "aligned"


def test_step_cues_fade_across_a_block_of_reps_and_summaries_stay():
    m = CueMaker(CuePolicy(fade_after_reps=2, fade_every=2))
    cued = []
    for rep in range(1, 7):
        cued.append(m.on_step(_step("swing")) is not None)
        summary = m.on_rep({"type": "rep", "rep": rep, "steps": 10, "aligned_steps": 4})
        assert summary["kind"] == "summary"
    assert cued == [True, True, False, True, False, True]


def test_every_step_and_off():
    m = CueMaker(CuePolicy(mode="every-step"))
    assert all(m.on_step(_step("torso")) for _ in range(5))
    off = CueMaker(CuePolicy(mode="off"))
    assert off.on_step(_step("torso")) is None and off.on_rep({"rep": 1, "steps": 3}) is None


def test_summary_words():
    rep = {"rep": 3, "steps": 12, "aligned_steps": 8, "main_limiter": "swing"}
    assert summary_text(rep) == "Rep three: aligned eight of twelve, swing late."
    rep = {"rep": 2, "steps": 10, "aligned_steps": 10, "main_limiter": None}
    assert summary_text(rep) == "Rep two: aligned ten of ten."
    # Of the steps judged; a rep learnt from judged none, and is not "zero of eighteen".
    rep = {"rep": 4, "steps": 14, "judged_steps": 11, "aligned_steps": 9, "main_limiter": "push"}
    assert summary_text(rep) == "Rep four: aligned nine of eleven, push."
    rep = {"rep": 1, "steps": 18, "judged_steps": 0, "aligned_steps": 0, "main_limiter": None,
           "baseline_state": "learning"}  # fmt: skip
    assert summary_text(rep) == "Rep one: learning your running, nothing judged yet."
    rep = {**rep, "steps": 0, "baseline_state": "set"}  # a speed sensor's rep: no steps
    assert summary_text(rep) == "Rep one: nothing judged."


# --- delivery: service -> Mosquitto -> cue device ------------------------------------------


def _device(broker, athlete, tmp, user="cue-1"):
    pw = tmp / f"{user}.pw"
    pw.write_text(Broker.USERS[user])
    return subprocess.Popen(
        [
            sys.executable, "-m", "service.cli", "cue-device", "--broker", broker.address,
            "--athlete", str(athlete), "--username", user, "--password-file", str(pw),
            "--wav-dir", str(tmp / "wav"), "--sound", "tones", "--log", str(tmp / "cues.jsonl"),
        ],
        stderr=open(tmp / "device.log", "ab"),
    )  # fmt: skip


def _records(tmp):
    path = tmp / "cues.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _dominant_hz(path):
    with wave.open(str(path)) as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    x = np.frombuffer(pcm, "<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return rate, len(x) / rate, np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)]


@pytest.mark.asyncio
@pytest.mark.timeout(180)
async def test_cues_play_and_survive_a_broker_restart(tmp_path):
    broker = Broker(tmp_path)
    sim = SimAthlete("late-swing", duration_s=300, stand_s=1.0, hold=True)
    device = _device(broker, 1, tmp_path)
    try:
        async with running(
            tmp_path,
            ports=sim.paths,
            mqtt={"broker": broker.address, "username": "service", "password": "service-pw"},
        ) as (app, addr):
            live = app.state.live
            auth = {"Authorization": f"Bearer {ADMIN}"}
            async with httpx.AsyncClient(base_url=f"http://{addr}", headers=auth, timeout=60) as c:
                devices = live.bridge.device_sessions
                deadline = time.monotonic() + 120
                while len(devices()) < len(sim.paths) or not live.mqtt.connected:
                    assert time.monotonic() < deadline, "sensors or broker not connected"
                    await asyncio.sleep(0.05)
                a = (await c.post("/api/athletes", json={"name": "A", "body_mass_kg": 75})).json()
                assert a["id"] == 1
                # A baseline the coach set: judged, and cued, from the first rep (an
                # athlete with none is learnt from it first, and told nothing meanwhile).
                set_ = {"baseline": Baseline(source="athlete").as_dict()}
                await queries.update_athlete(app.state.store, 1, set_)
                r = await c.post(
                    "/api/sessions", json={"athlete_id": 1, "cues": {"mode": "every-step"}}
                )
                assert r.json()["cue_policy"]["mode"] == "every-step"
                sim.go()
                # Cues arrive and play.
                deadline = time.monotonic() + 120
                while not any(x.get("played") for x in _records(tmp_path)):
                    assert time.monotonic() < deadline, (tmp_path / "device.log").read_text()
                    await asyncio.sleep(0.05)

                # The broker dies mid-rep, and comes back once the athlete made three
                # steps without it (their cues expire in the service's queue).
                broker.stop()
                steps_at_stop = live.recording.steps
                deadline = time.monotonic() + 120
                while live.recording.steps < steps_at_stop + 3:
                    assert time.monotonic() < deadline, "no steps while the broker was away"
                    await asyncio.sleep(0.05)
                assert (await c.get("/healthz")).status_code == 200  # the service goes on
                steps_during = live.recording.steps
                await asyncio.sleep(0.5)  # the first of them is past its expiry (0.4 s)
                broker.start()
                restarted = time.time()
                deadline = time.monotonic() + 120
                while not any(
                    x.get("played") and x["received_unix"] > restarted for x in _records(tmp_path)
                ):
                    assert time.monotonic() < deadline, "no cue after the broker came back"
                    await asyncio.sleep(0.05)
                assert live.recording.steps > steps_during
                # Cues made while the broker was away expired in the service's queue.
                assert live.mqtt.dropped_expired > 0
                # Let the rep end: its summary comes too.
                deadline = time.monotonic() + 120
                while not any(x.get("kind") == "summary" for x in _records(tmp_path)):
                    assert time.monotonic() < deadline, "no rep summary"
                    await asyncio.sleep(0.1)
        records = _records(tmp_path)
        played = [x for x in records if x.get("played")]
        # Nothing received after its expiry is played (the device's rule).
        assert all(x["received_unix"] <= x["expires_unix"] for x in played)
        assert all(x.get("reason") in ("expired", "duplicate") for x in records if not x["played"])
        # The late-swing athlete hears the swing pattern: two 70 ms beeps at 660 Hz.
        swing = sorted((tmp_path / "wav").glob("*-limiter-swing.wav"))
        assert swing
        rate, duration, hz = _dominant_hz(swing[0])
        assert rate == 22050 and duration == pytest.approx(0.19, abs=0.002)
        assert hz == pytest.approx(660, abs=10)
        assert any(x["kind"] == "summary" and x["text"].startswith("Rep ") for x in played)
        # The device measures receive -> audio start for every cue it played (its
        # distribution, and the device's memory, are `python -m bench cues`).
        assert all(isinstance(x.get("receive_to_audio_ms"), float) for x in played)
    finally:
        device.terminate()
        device.wait(10)
        sim.close()
        broker.stop()


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_acl_keeps_a_device_off_another_athletes_cues(tmp_path):
    import aiomqtt

    broker = Broker(tmp_path)
    try:

        def client(user):
            return aiomqtt.Client(
                "127.0.0.1",
                broker.port,
                username=user,
                password=Broker.USERS[user],
                protocol=aiomqtt.ProtocolVersion.V5,
            )

        async with client("cue-2") as intruder, client("cue-1") as owner, client("service") as svc:
            # Mosquitto grants the subscription and then delivers nothing the ACL forbids.
            await intruder.subscribe("stridesync/pi/athletes/1/cue", qos=1)
            await intruder.subscribe("stridesync/#", qos=1)
            await owner.subscribe("stridesync/pi/athletes/1/cue", qos=1)
            # A device may not send cues either (no spoofing).
            await owner.publish("stridesync/pi/athletes/1/cue", b'{"fake": true}', qos=1)
            await svc.publish("stridesync/pi/athletes/1/cue", b'{"real": true}', qos=1)

            async def first(c):
                async for m in c.messages:
                    return json.loads(m.payload)

            assert await asyncio.wait_for(first(owner), 5) == {"real": True}
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(first(intruder), 1.0)
        # Wrong password: refused.
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", broker.port, username="cue-1", password="wrong"):
                pass
    finally:
        broker.stop()


# --- the cue device's own logic -----------------------------------------------------------


def _cue_device(tmp, sound="tones"):
    import argparse

    from stridesync_cue.device import CueDevice

    args = argparse.Namespace(
        wav_dir=str(tmp / "wav"), sound=sound, log=str(tmp / "log.jsonl"), node="+", athlete=1
    )
    return CueDevice(args)


def _cue(**kw):
    now = time.time()
    cue = {"id": "1-1", "kind": "limiter", "sound": "push", "text": "push"}
    cue |= {"sent_unix": now, "expires_unix": now + 0.4}
    return json.dumps(cue | kw).encode()


def test_the_device_drops_stale_duplicate_and_malformed_cues(tmp_path):
    dev = _cue_device(tmp_path)
    now = time.time()
    assert dev.handle(_cue(), now)["played"] is True
    assert dev.handle(_cue(), now)["reason"] == "duplicate"
    stale = dev.handle(_cue(id="1-2", expires_unix=now - 0.01), now)
    assert stale == stale | {"played": False, "reason": "expired"}
    assert dev.handle(b"\xff not json", now)["played"] is False
    assert dev.handle(_cue(id="1-3", sound="kazoo"), now)["reason"] == "unknown sound 'kazoo'"
    assert len(list((tmp_path / "wav").glob("*.wav"))) == 1
    _rate, duration, hz = _dominant_hz(next((tmp_path / "wav").glob("*.wav")))
    assert duration == pytest.approx(0.18, abs=0.002) and hz == pytest.approx(330, abs=10)


def test_spoken_words_start_at_once(tmp_path):
    import array
    import shutil

    from stridesync_cue import sound as cuedevice

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/system-deps.sh installs it)")
    dev = _cue_device(tmp_path, sound="words")
    for name in ("push", "swing", "torso", "aligned"):
        pcm = array.array("h")
        pcm.frombytes(dev.sounds[name])
        first = next(i for i, v in enumerate(pcm) if abs(v) > 500)
        # espeak-ng starts with ~12 ms of silence: trimmed to at most 2 ms.
        assert first <= 0.0021 * cuedevice.RATE, name
        assert 0.2 < len(pcm) / cuedevice.RATE < 1.2


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_tls_to_a_broker_by_configuration(tmp_path):
    """`[mqtt] tls = true` with a CA file: the service's publisher connects over TLS."""
    import shutil
    import ssl

    import aiomqtt

    from service.cues.mqtt import MqttOut
    from tests.service_helpers import free_port, wait_for_port

    openssl = shutil.which("openssl")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if openssl is None or not Path(exe).exists():
        pytest.skip("openssl and mosquitto are needed")

    def run(*args):
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=tmp_path)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (tmp_path / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    port = free_port()
    conf = tmp_path / "tls.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        f"cafile {tmp_path / 'ca.crt'}",
        f"certfile {tmp_path / 'server.crt'}",
        f"keyfile {tmp_path / 'server.key'}",
    ]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    broker = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
    out = MqttOut("127.0.0.1", port, "tlsnode", tls=True, ca_file=str(tmp_path / "ca.crt"))
    try:
        wait_for_port(port, broker)
        ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        async with aiomqtt.Client("127.0.0.1", port, tls_context=ctx) as listener:
            await listener.subscribe("stridesync/tlsnode/#")
            await out.start()
            deadline = time.monotonic() + 10
            while not out.connected:
                assert time.monotonic() < deadline, out.error
                await asyncio.sleep(0.05)
            out.publish(out.topics["cue"].format(athlete=1), {"hello": "tls"}, qos=1)

            async def first():
                async for m in listener.messages:
                    if m.topic.matches("stridesync/tlsnode/athletes/1/cue"):
                        return json.loads(m.payload)

            assert await asyncio.wait_for(first(), 10) == {"hello": "tls"}
        # Without the CA, the certificate is refused: TLS is really checked.
        plain = MqttOut("127.0.0.1", port, "x", tls=True)
        await plain.start()
        await asyncio.sleep(1.0)
        assert not plain.connected and "certificate" in (plain.error or "").lower()
        await plain.close()
    finally:
        await out.close()
        broker.kill()
        broker.wait()
