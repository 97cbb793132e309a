"""Sound for the cue device: tone patterns and espeak-ng words rendered once to PCM,
and one open `aplay` (a process per cue would cost tens of milliseconds on a Pi
Zero), or WAV files with `--wav-dir`."""

from __future__ import annotations

import array
import contextlib
import io
import math
import shutil
import subprocess
import time
import wave
from pathlib import Path

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


class error(Exception):
    """No way to make sound; one line for the user."""


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
