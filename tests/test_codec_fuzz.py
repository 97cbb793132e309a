"""A million malformed frames with valid CRCs through the whole host path: every one
is a counted reject or a message the session copes with, and no exception escapes.

The frames are what a buggy or hostile firmware could send: the golden vectors'
bodies with bytes flipped, cut, inserted or appended, headers kept or not, and
random bodies, each with a correct CRC and COBS framing, so that they reach the
parsers (a CRC alone would stop almost all of them at the door)."""

from __future__ import annotations

import binascii
import struct

import numpy as np
import pytest
from cobs import cobs

from firmware_bridge.codec import MsgType, crc16
from firmware_bridge.device import DeviceSession
from firmware_bridge.host import HostProtocol
from firmware_bridge.streams import demo_devices
from tests.helpers import load_vectors

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FRAMES = 1_000_000
PER_READ = 500  # frames per feed, as a burst from the port


def _bodies() -> list[bytes]:
    out = []
    for v in load_vectors():
        body = cobs.decode(binascii.unhexlify(v["frame"])[:-1])
        out.append(body[:-2])  # without its CRC
    return out


def _frame(body: bytes) -> bytes:
    return cobs.encode(body + struct.pack("<H", crc16(body))) + b"\0"


def _mutate(rng: np.random.Generator, bodies: list[bytes]) -> bytes:
    kind = rng.integers(6)
    if kind == 0:  # random bytes behind a valid header of any message type
        n = int(rng.integers(0, 64))
        t = int(rng.choice([int(m) for m in MsgType]))
        return bytes([1, t]) + rng.bytes(n)
    if kind == 1:  # anything at all
        return rng.bytes(int(rng.integers(0, 300)))
    b = bytearray(bodies[int(rng.integers(len(bodies)))])
    if kind == 2:  # flipped bytes
        for _ in range(int(rng.integers(1, 6))):
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
    elif kind == 3:  # cut short
        del b[int(rng.integers(2, len(b) + 1)) :]
    elif kind == 4:  # bytes inserted
        at = int(rng.integers(2, len(b) + 1))
        b[at:at] = rng.bytes(int(rng.integers(1, 8)))
    else:  # trailing bytes, or a flipped byte in the header (version, type)
        b += rng.bytes(int(rng.integers(1, 8)))
        if rng.integers(2):
            b[int(rng.integers(2))] = int(rng.integers(256))
    return bytes(b)


def test_a_million_mutated_frames_never_raise_and_are_all_accounted_for():
    rng = np.random.default_rng(20261202)
    bodies = _bodies()
    model = demo_devices()[0]
    events, blocks = [], []
    host = HostProtocol(blocks.append, events.append, label="fuzz")
    host.attach(DeviceSession(model.hello()))
    sent = 0
    t = 0.0
    while sent < FRAMES:
        burst = b"".join(_frame(_mutate(rng, bodies)) for _ in range(PER_READ))
        host.feed(burst, t)  # raises if any exception escapes: the test fails
        sent += PER_READ
        t += 0.01
    c = host.decoder.counters
    assert c.frames + c.malformed + c.unsupported_version + c.crc_errors == sent
    assert c.crc_errors == 0  # every frame had a valid CRC: all reached the parsers
    assert c.malformed > sent // 2 and c.frames > 0
