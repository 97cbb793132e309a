"""Property tests of framing: splits, corruption, duplicates."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.codec import ClockReply, FrameDecoder, Hello, SampleBatch, encode_frame
from firmware_bridge.device import DeviceSession, SampleBlock
from firmware_bridge.streams import force_plate_stream

batches = st.builds(
    SampleBatch,
    stream_id=st.integers(0, 255),
    first_sample=st.integers(0, 2**32 - 1),
    overflow=st.integers(0, 2**16 - 1),
    mcu_time_us=st.integers(0, 2**32 - 1),
    n_samples=st.just(4),
    data=st.binary(min_size=24, max_size=24),
)
clocks = st.builds(ClockReply, token=st.integers(0, 65535), mcu_time_us=st.integers(0, 2**32 - 1))
messages = st.lists(st.one_of(batches, clocks), min_size=1, max_size=20)


def wire(msgs) -> bytes:
    return b"".join(encode_frame(m) for m in msgs)


@given(messages, st.lists(st.integers(1, 64), min_size=1, max_size=50))
def test_any_split_decodes_to_the_same_frames(msgs, sizes):
    data = wire(msgs)
    decoder = FrameDecoder()
    got, pos, i = [], 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        got += decoder.feed(data[pos : pos + n])
        pos, i = pos + n, i + 1
    assert got == msgs
    assert decoder.counters.dropped_bytes == 0


@given(messages, st.data())
def test_corruption_never_raises_and_yields_only_real_frames(msgs, data):
    stream = bytearray(wire(msgs))
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "drop", "insert"]))
        pos = data.draw(st.integers(0, len(stream) - 1))
        if op == "flip":
            stream[pos] ^= data.draw(st.integers(1, 255))
        elif op == "drop":
            del stream[pos]
        else:
            stream[pos:pos] = data.draw(st.binary(min_size=1, max_size=40))
    decoder = FrameDecoder()
    got = decoder.feed(bytes(stream))
    for m in got:
        assert m in msgs
    # Every byte is accounted for: in a good frame, dropped, or still buffered.
    good = sum(len(encode_frame(m)) for m in got)
    c = decoder.counters
    assert good + c.dropped_bytes + len(decoder._buf) == c.bytes


@given(st.lists(st.integers(0, 3), min_size=5, max_size=60), st.integers(1, 30))
def test_replayed_frames_are_detected_not_delivered(replays, batch_size):
    """Batches in order, some sent again right after: every sample comes out once."""
    info = force_plate_stream(rate_hz=1000.0)
    session = DeviceSession(Hello(1, (1, 0, 0), "plate", (info,)))
    t = 0.0
    for _ in range(4):  # synchronise the clock first
        session.on_clock(ClockReply(session.clock_query(t).token, int(t * 1e6)), t)
        t += 0.01
    blocks, sent = [], []
    for i, n_replays in enumerate(replays):
        first = i * batch_size
        raw = np.full((batch_size, 3), i, dtype="<i2")
        b = SampleBatch(0, first, 0, first * 1000, batch_size, raw.tobytes())
        for _ in range(1 + n_replays):
            sent.append(b)
            out = session.on_samples(b, t)
            blocks += [x for x in out if isinstance(x, SampleBlock)]
    firsts = [b.first_sample for b in blocks]
    assert firsts == [i * batch_size for i in range(len(replays))]
    counters = session.stream_counters()[0]
    assert counters.duplicates == sum(replays)
    assert counters.lost_samples == 0
