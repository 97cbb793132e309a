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

import array
import asyncio
import contextlib
import io
import json
import logging
import math
import shutil
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

log = logging.getLogger("stridesync.cuedevice")

RATE = 22050
# Tone patterns: (frequency Hz, duration s) pairs, 0 Hz is a rest. Distinct by
# pitch and rhythm, so they are told apart mid-sprint without words.
PATTERNS = {
    "push": [(330.0, 0.18)],
    "swing": [(660.0, 0.07), (0.0, 0.05), (660.0, 0.07)],
    "torso": [(990.0, 0.15)],
    "aligned": [(523.0, 0.08), (784.0, 0.12)],
    "summary": [(784.0, 0.08), (523.0, 0.12)],
}
WORDS = {"push": "push", "swing": "swing late", "torso": "torso", "aligned": "aligned"}


class error(Exception):
    pass


def tone(pattern: list[tuple[float, float]], amplitude: float = 0.5) -> bytes:
    """16-bit mono PCM of a tone pattern, with 5 ms ramps (no clicks)."""
    out = array.array("h")
    ramp = int(0.005 * RATE)
    for freq, dur in pattern:
        n = int(dur * RATE)
        for i in range(n):
            if freq <= 0:
                out.append(0)
                continue
            env = min(1.0, i / ramp, (n - 1 - i) / ramp)
            out.append(int(32767 * amplitude * env * math.sin(2 * math.pi * freq * i / RATE)))
    return out.tobytes()


def trim_leading_silence(pcm: bytes, threshold: int = 500) -> bytes:
    samples = array.array("h")
    samples.frombytes(pcm)
    for i, v in enumerate(samples):
        if abs(v) > threshold:
            start = max(i - int(0.002 * RATE), 0)
            return samples[start:].tobytes()
    return b""


def speak(text: str) -> bytes | None:
    """PCM of `text` spoken by espeak-ng at RATE, or None without espeak-ng."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    r = subprocess.run([exe, "--stdout", "-s", "190", text], capture_output=True, timeout=20)
    if r.returncode != 0 or not r.stdout:
        return None
    with wave.open(io.BytesIO(r.stdout)) as w:
        pcm, rate = w.readframes(w.getnframes()), w.getframerate()
    if rate != RATE:  # espeak-ng speaks at 22050 Hz; resample simply if not
        src = array.array("h")
        src.frombytes(pcm)
        step = rate / RATE
        pcm = array.array("h", (src[int(i * step)] for i in range(int(len(src) / step)))).tobytes()
    return trim_leading_silence(pcm)


def wav_bytes(pcm: bytes) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return buf.getvalue()


class Output:
    """Where sound goes: one open aplay, or WAV files."""

    def __init__(self, wav_dir: str | None, alsa_device: str | None = None) -> None:
        self.wav_dir = Path(wav_dir) if wav_dir else None
        self.proc: subprocess.Popen | None = None
        self.count = 0
        if self.wav_dir is not None:
            self.wav_dir.mkdir(parents=True, exist_ok=True)
            return
        exe = shutil.which("aplay")
        if exe is None:
            raise error("no audio output: install alsa-utils (aplay), or use --wav-dir DIR")
        device = ["-D", alsa_device] if alsa_device else []
        self.proc = subprocess.Popen(
            [exe, "-q", *device, "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", str(RATE), "-"],
            stdin=subprocess.PIPE,
        )

    def play(self, pcm: bytes, name: str) -> float:
        """Start playing; returns the time (time.time()) audio started."""
        self.count += 1
        if self.wav_dir is not None:
            path = self.wav_dir / f"{self.count:05d}-{name}.wav"
            path.write_bytes(wav_bytes(pcm))
            return time.time()
        self.proc.stdin.write(pcm)
        self.proc.stdin.flush()
        return time.time()

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            self.proc.terminate()


class CueDevice:
    RETRY_MIN_S = 0.25
    RETRY_MAX_S = 2.0  # a broker back after a restart is found within 2 s

    def __init__(self, args) -> None:
        self.args = args
        self.output = Output(args.wav_dir, getattr(args, "alsa_device", None))
        self.sounds = self._render(args.sound)
        self.seen: dict[str, float] = {}  # cue id -> received (QoS 1 may deliver twice)
        self.latencies_ms: list[float] = []
        self.out = open(args.log, "a") if args.log else sys.stdout  # noqa: SIM115
        self.topic = f"stridesync/{args.node}/athletes/{args.athlete}/cue"
        self.status_topic = f"stridesync/cue-devices/{args.athlete}/status"

    def _render(self, sound: str) -> dict[str, bytes]:
        t0 = time.monotonic()
        sounds = {name: tone(p) for name, p in PATTERNS.items()}
        self.words = sound == "words" and shutil.which("espeak-ng") is not None
        if sound == "words" and not self.words:
            log.warning("espeak-ng is not installed: tone patterns instead of words")
        if self.words:
            for name, text in WORDS.items():
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
        import aiomqtt

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
        import aiomqtt

        backoff = self.RETRY_MIN_S
        while True:
            try:
                async with self._client() as client:
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
                    backoff = self.RETRY_MIN_S
                    async for message in client.messages:
                        received = time.time()
                        rec = self.handle(message.payload, received)
                        self.out.write(json.dumps(rec) + "\n")
                        self.out.flush()
            except aiomqtt.MqttError as exc:
                log.warning("broker %s:%d: %s; retrying", self.args.host, self.args.port, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.RETRY_MAX_S)

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
        import signal

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
