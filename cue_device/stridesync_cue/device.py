"""The athlete's cue device: subscribe, drop what is stale, play at once.

Runs on a Pi Zero 2 W class device with an earpiece or buzzer. Light on
purpose: the standard library and aiomqtt only (no numpy), under 40 MB
resident. At start every sound is rendered to PCM: a tone pattern per cue,
and, when espeak-ng is installed, the words ("swing late") with espeak-ng's
leading silence trimmed. Audio goes to one `aplay` process that stays open
(starting a process per cue would cost tens of milliseconds on a Pi Zero);
`--wav-dir` writes each cue as a WAV file instead. Rep summaries are spoken
when espeak-ng is there, else a short closing pattern.

Each cue says when it expires (wall clock; the Pi is the device's time
server): a cue received after that is logged and not played. The device logs,
per cue, the network delay (sent → received) and its own receive → audio
start, and keeps a retained online/offline status with a last will.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import aiomqtt

from . import contract
from .mqttlink import MqttLink
from .sound import PATTERNS, RATE, Output, error, speak, tone

log = logging.getLogger("stridesync.cuedevice")


class CueDevice:
    def __init__(self, args) -> None:
        self.args = args
        self.output = Output(args.wav_dir, getattr(args, "alsa_device", None))
        self.sounds = self._render(args.sound)
        self.seen: dict[str, float] = {}  # cue id -> received (QoS 1 may deliver twice)
        self.latencies_ms: list[float] = []
        self.out = open(args.log, "a") if args.log else sys.stdout  # noqa: SIM115
        self.topic = contract.cue_topic(args.athlete, args.node)
        self.status_topic = contract.device_status_topic(args.athlete)

    def _render(self, sound: str) -> dict[str, bytes]:
        t0 = time.monotonic()
        sounds = {name: tone(p) for name, p in PATTERNS.items()}
        self.words = sound == "words" and shutil.which("espeak-ng") is not None
        if sound == "words" and not self.words:
            log.warning("espeak-ng is not installed: tone patterns instead of words")
        if self.words:
            for name, text in contract.WORDS.items():
                pcm = speak(text)
                if pcm:
                    sounds[name] = pcm
        log.info("sounds ready in %.0f ms (%s)", 1e3 * (time.monotonic() - t0), sorted(sounds))
        return sounds

    def handle(self, payload: bytes, received: float) -> dict:
        """One cue message: play it, or say why not. Returns the log record."""
        try:
            cue = json.loads(payload)
            cue_id, kind, sound = cue["id"], cue["kind"], cue["sound"]
            expires = float(cue["expires_unix"])
        except (ValueError, KeyError, TypeError) as exc:
            return {"played": False, "reason": f"not a cue: {exc}"}
        rec = {
            "id": cue_id,
            "kind": kind,
            "text": cue.get("text", ""),
            "sent_unix": cue.get("sent_unix"),
            "received_unix": received,
            "expires_unix": expires,
        }
        if isinstance(cue.get("sent_unix"), int | float):
            rec["network_ms"] = round(1e3 * (received - cue["sent_unix"]), 2)
        if cue_id in self.seen:
            return {**rec, "played": False, "reason": "duplicate"}
        self.seen[cue_id] = received
        if len(self.seen) > 1000:
            self.seen.pop(next(iter(self.seen)))
        if received > expires:
            return {**rec, "played": False, "reason": "expired"}
        if kind == "summary":
            pcm = (speak(cue.get("text", "")) if self.words else None) or self.sounds["summary"]
        else:
            pcm = self.sounds.get(sound)
            if pcm is None:
                return {**rec, "played": False, "reason": f"unknown sound {sound!r}"}
        started = self.output.play(pcm, f"{kind}-{sound}")
        latency = 1e3 * (started - received)
        if kind != "summary":  # a summary is spoken after rendering: not a reflex cue
            self.latencies_ms.append(latency)
        return {
            **rec,
            "played": True,
            "audio_start_unix": started,
            "receive_to_audio_ms": round(latency, 3),
            "duration_s": round(len(pcm) / 2 / RATE, 3),
        }

    def _client(self):
        return aiomqtt.Client(
            self.args.host,
            self.args.port,
            username=self.args.username,
            password=self.args.password,
            identifier=f"stridesync-cue-{self.args.athlete}",
            protocol=aiomqtt.ProtocolVersion.V5,
            will=aiomqtt.Will(self.status_topic, b'{"state": "offline"}', qos=1, retain=True),
            keepalive=10,
            timeout=5,
            # Small messages that must go at once: no Nagle delay (40 ms with delayed ACKs).
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )

    async def run(self) -> None:
        # (Only the broker's errors: an OSError here is the output's, e.g. a closed
        # pipe, and ends the device with its message.)
        where = f"broker {self.args.host}:{self.args.port}"
        await MqttLink(self._client, where, log, retry_on=(aiomqtt.MqttError,)).run(self._listen)

    async def _listen(self, client) -> None:
        result = await client.subscribe(self.topic, qos=1)
        codes = [getattr(r, "value", r) for r in result]
        if any(c >= 0x80 for c in codes):
            raise error(f"the broker refused the subscription to {self.topic}")
        await client.publish(
            self.status_topic,
            json.dumps({"state": "online", "since": time.time()}),
            qos=1,
            retain=True,
        )
        log.info("listening on %s", self.topic)
        async for message in client.messages:
            received = time.time()
            rec = self.handle(message.payload, received)
            self.out.write(json.dumps(rec) + "\n")
            self.out.flush()

    def close(self) -> None:
        self.output.close()
        if self.latencies_ms:
            s = sorted(self.latencies_ms)
            log.info(
                "%d cues: receive -> audio start p50 %.2f ms, max %.2f ms",
                len(s),
                s[len(s) // 2],
                s[-1],
            )


def main(args) -> int:
    host, sep, port = args.broker.rpartition(":")
    if not sep or not port.isdigit():
        raise error("--broker is HOST:PORT")
    args.host, args.port = host, int(port)
    args.password = None
    if args.password_file:
        try:
            args.password = Path(args.password_file).read_text().strip()
        except OSError as exc:
            raise error(f"{args.password_file}: {exc.strerror}") from None
    device = CueDevice(args)

    async def go():
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(device.run())
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(go())
    finally:
        device.close()
    return 0
