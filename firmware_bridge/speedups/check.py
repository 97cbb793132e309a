"""The compiled speed-ups against the Python path they stand in for: the same frames,
counts, times and values, to the bit. Run by `python -m firmware_bridge.speedups check`
(the installer, on the Pi) and by tests/test_speedups.py."""

from __future__ import annotations

import contextlib
import random

import numpy as np

from .. import speedups


@contextlib.contextmanager
def using(module):
    """Run the serial path with `module` as the speed-ups (None: the Python path)."""
    saved = speedups.native
    speedups.native = module
    try:
        yield
    finally:
        speedups.native = saved


def wire_bytes(seed: int, n_frames: int = 3000) -> bytes:
    """A device's bytes with every kind of frame and fault: batches of both formats,
    hellos, clock replies, acks, garbage, corrupted and cut frames, stray and doubled
    delimiters, an unknown type, a newer protocol version, an over-long run."""
    from ..codec import Ack, AckStatus, ClockReply, SampleBatch, encode_frame
    from ..streams import demo_devices

    rng = random.Random(seed)
    hello = demo_devices()[0].hello()
    out = bytearray()
    for _ in range(n_frames):
        r = rng.random()
        if r < 0.6:
            n = rng.randint(1, 20)
            size = n * rng.choice((2, 4, 6, 12))
            batch = SampleBatch(
                rng.randrange(4), rng.randrange(2**32), rng.randrange(2**16),
                rng.randrange(2**32), n, rng.randbytes(size),
            )  # fmt: skip
            frame = encode_frame(batch)
        elif r < 0.65:
            frame = encode_frame(hello)
        elif r < 0.75:
            frame = encode_frame(ClockReply(rng.randrange(2**16), rng.randrange(2**32)))
        elif r < 0.78:
            frame = encode_frame(Ack(0x81, rng.randrange(2**16), AckStatus.OK))
        elif r < 0.8:
            frame = encode_frame(ClockReply(1, 2), version=2)
        elif r < 0.82:
            frame = bytes([0x02, 0x01, 0x77, 0x00])  # a body too short for its CRC
        elif r < 0.86:
            frame = rng.randbytes(rng.randint(1, 60)) + b"\x00"
        elif r < 0.88:
            frame = b"\x00" * rng.randint(1, 3)
        elif r < 0.9:
            frame = bytes(rng.randrange(1, 256) for _ in range(1500))  # over-long, no delimiter
        else:
            flipped = bytearray(encode_frame(ClockReply(3, 4)))
            flipped[rng.randrange(len(flipped) - 1)] ^= rng.randrange(1, 256)
            frame = bytes(flipped)
        if rng.random() < 0.05:
            frame = frame[: rng.randrange(len(frame))]  # cut short: the next frame resyncs
        out += frame
    return bytes(out)


def _decoded(module, data: bytes, seed: int):
    from ..codec import FrameDecoder

    rng = random.Random(seed)
    with using(module):
        decoder = FrameDecoder()
        messages, i = [], 0
        while i < len(data):
            n = rng.choice((1, 7, 64, 138, 4096))
            messages += decoder.feed(data[i : i + n])
            i += n
    return messages, decoder.counters, decoder.newest_unsupported_version


def _blocks(module, seed: int):
    """Blocks of random batches through a DeviceSession, with a clock and timeline."""
    from ..codec import ClockReply, SampleBatch
    from ..device import DeviceSession
    from ..streams import demo_devices

    rng = np.random.default_rng(seed)
    out = []
    with using(module):
        for model in demo_devices():
            session = DeviceSession(model.hello())
            for k in range(3):
                query = session.clock_query(10.0 + k)
                session.on_clock(ClockReply(query.token, 10_000_000 + 1_000_003 * k), 10.0002 + k)
            for s in model.hello().streams:
                first = int(rng.integers(0, 2**31))
                for _ in range(50):
                    n = int(rng.integers(1, 30))
                    raw = rng.integers(-(2**15), 2**15, size=(n, len(s.channels)))
                    data = raw.astype(s.dtype).tobytes()
                    clock = 10_000_000 + (first % 10**6) * 1000 + int(rng.integers(0, 50))
                    batch = SampleBatch(s.stream_id, first, 0, clock & 0xFFFFFFFF, n, data)
                    out += session.on_samples(batch, 12.0)
                    first += n
    return out


def check(module=None) -> list[str]:
    """What differs between `module` (default: the built one, loaded afresh) and the
    Python path; empty when they agree."""
    if module is None:
        module, why = speedups._load()
        if module is None:
            return [f"no compiled speed-ups to check: {why}"]
    problems = []
    for seed in range(3):
        data = wire_bytes(seed)
        if _decoded(module, data, seed) != _decoded(None, data, seed):
            problems.append(f"frames differ from the Python decoder's (seed {seed})")
        fast, slow = _blocks(module, seed), _blocks(None, seed)
        same = len(fast) == len(slow) and all(
            a.first_sample == b.first_sample
            and np.array_equal(a.time_s.view(np.uint64), b.time_s.view(np.uint64))
            and np.array_equal(a.values.view(np.uint64), b.values.view(np.uint64))
            for a, b in zip(fast, slow, strict=True)
        )
        if not same:
            problems.append(f"sample times or values differ from numpy's (seed {seed})")
    return problems
