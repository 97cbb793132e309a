"""Decode throughput on one core: 1 kHz IMU batches, bytes to time-stamped blocks.

Two stages are timed over the same capture: framing alone (FrameDecoder:
COBS, CRC, parse) and the full host path (plus sequence tracking, clock
mapping and scaling to physical units in DeviceSession). Reported as frames/s,
MB/s and multiples of one real 1 kHz IMU (100 frames/s at 10 samples a frame).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from firmware_bridge.codec import (
    ClockReply,
    FrameDecoder,
    Hello,
    Placement,
    SampleBatch,
    encode_frame,
)
from firmware_bridge.device import DeviceSession
from firmware_bridge.streams import imu_stream

NAME = "decode"
SAMPLES_PER_FRAME = 10
RATE_HZ = 1000.0
READ_BYTES = 4096  # what one read() of a busy USB serial port returns


def _capture(n_frames: int) -> tuple[Hello, bytes]:
    info = imu_stream(Placement.SHANK_LEFT, rate_hz=RATE_HZ)
    hello = Hello(1, (1, 0, 0), "shank-left", (info,))
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n_frames):
        raw = rng.integers(-20000, 20000, size=(SAMPLES_PER_FRAME, 6), dtype="<i2")
        first = i * SAMPLES_PER_FRAME
        frames.append(
            encode_frame(SampleBatch(0, first, 0, first * 1000, SAMPLES_PER_FRAME, raw.tobytes()))
        )
    return hello, b"".join(frames)


def _time_framing(data: bytes) -> float:
    decoder = FrameDecoder()
    t0 = time.perf_counter()
    for i in range(0, len(data), READ_BYTES):
        decoder.feed(data[i : i + READ_BYTES])
    return time.perf_counter() - t0


def _time_full_path(hello: Hello, data: bytes) -> float:
    session = DeviceSession(hello)
    for k in range(4):
        q = session.clock_query(k * 0.01)
        session.on_clock(ClockReply(q.token, int(k * 1e4 + 100)), k * 0.01 + 0.0002)
    decoder = FrameDecoder()
    t0 = time.perf_counter()
    for i in range(0, len(data), READ_BYTES):
        for msg in decoder.feed(data[i : i + READ_BYTES]):
            session.on_samples(msg, 0.0)
    return time.perf_counter() - t0


def run(quick: bool = False) -> dict:
    n_frames = 2000 if quick else 20000
    hello, data = _capture(n_frames)
    repeats = 3 if quick else 7
    framing = statistics.median(_time_framing(data) for _ in range(repeats))
    full = statistics.median(_time_full_path(hello, data) for _ in range(repeats))
    frames_per_s_realtime = RATE_HZ / SAMPLES_PER_FRAME
    return {
        "frames": n_frames,
        "frame_bytes": len(data) / n_frames,
        "framing_frames_per_s": n_frames / framing,
        "framing_mb_per_s": len(data) / framing / 1e6,
        "full_path_frames_per_s": n_frames / full,
        "full_path_mb_per_s": len(data) / full / 1e6,
        "full_path_x_realtime_1khz_imu": n_frames / full / frames_per_s_realtime,
        "full_path_us_per_frame": full / n_frames * 1e6,
    }


def report(r: dict) -> str:
    return (
        f"decode, one core, 1 kHz IMU in batches of {SAMPLES_PER_FRAME} "
        f"({r['frame_bytes']:.0f}-byte frames, {r['frames']} frames):\n"
        f"  framing (COBS, CRC, parse): {r['framing_frames_per_s']:,.0f} frames/s, "
        f"{r['framing_mb_per_s']:.1f} MB/s\n"
        f"  full host path (+ sequence, clock, units): {r['full_path_frames_per_s']:,.0f} "
        f"frames/s, {r['full_path_mb_per_s']:.1f} MB/s, {r['full_path_us_per_frame']:.1f} us/frame"
        f" = {r['full_path_x_realtime_1khz_imu']:,.0f} x real time for one 1 kHz IMU"
    )


if __name__ == "__main__":
    print(report(run()))
