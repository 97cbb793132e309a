"""DeviceSession: losses, overflow, resets and wrap-around, driven message by message."""

import numpy as np
import pytest

from firmware_bridge.codec import ClockReply, Hello, SampleBatch
from firmware_bridge.device import DeviceEvent, DeviceSession, SampleBlock, error, validate_hello
from firmware_bridge.streams import force_plate_stream, speed_stream

RATE = 1000.0
N = 10


class Rig:
    """A session fed by hand: MCU clock = host time in µs plus an offset."""

    def __init__(self, offset_us: int = 0, first_index: int = 0):
        self.info = force_plate_stream(rate_hz=RATE)
        self.hello = Hello(42, (1, 0, 0), "plate-0", (self.info,))
        self.session = DeviceSession(self.hello)
        self.offset_us = offset_us
        self.index = self.start_index = first_index
        self.t = 1.0
        self.sync()

    def sync(self, n: int = 4):
        for _ in range(n):
            q = self.session.clock_query(self.t)
            self.session.on_clock(ClockReply(q.token, self.clock(self.t + 0.0001)), self.t + 0.0002)
            self.t += 0.01

    def clock(self, t: float) -> int:
        return int(t * 1e6 + self.offset_us) & 0xFFFFFFFF

    def batch(self, overflow: int = 0, send: bool = True):
        stamp_t = (self.index - self.start_index) / RATE
        raw = np.arange(N * 3, dtype="<i2").reshape(N, 3) + (self.index % 1000)
        b = SampleBatch(0, self.index & 0xFFFFFFFF, overflow, self.clock(stamp_t), N, raw.tobytes())
        self.index += N
        if not send:
            return []
        return self.session.on_samples(b, stamp_t + 0.012)

    def blocks(self, items):
        return [x for x in items if isinstance(x, SampleBlock)]


def test_blocks_carry_values_in_newtons_and_host_times_from_sample_counts():
    rig = Rig()
    (block,) = rig.blocks(rig.batch())
    assert block.values[1, 2] == pytest.approx((1 * 3 + 2) * 0.25)
    assert np.allclose(np.diff(block.time_s), 1e-3, atol=1e-7)
    assert block.time_s[0] == pytest.approx(0.0, abs=1e-4)


def test_lost_frames_are_counted_in_samples_and_marked_on_the_next_block():
    rig = Rig()
    rig.batch()
    rig.batch(send=False)
    rig.batch(send=False)
    (block,) = rig.blocks(rig.batch())
    assert block.lost_before == 2 * N
    assert rig.session.stream_counters()[0].lost_samples == 2 * N
    assert block.time_s[0] == pytest.approx(3 * N / RATE, abs=1e-4)


def test_mcu_overflow_is_told_apart_from_wire_loss():
    rig = Rig()
    rig.batch(overflow=0)
    rig.batch(send=False)  # 10 samples the MCU dropped itself ...
    rig.batch(send=False)  # ... and 10 lost on the wire
    rig.batch(overflow=N)
    c = rig.session.stream_counters()[0]
    assert (c.overflow_samples, c.lost_samples) == (N, N)


def test_counters_and_clock_wrap_without_a_glitch():
    rig = Rig(offset_us=2**32 - 50_000, first_index=2**32 - 2 * N)
    times = []
    for _ in range(10):
        times += [b.time_s for b in rig.blocks(rig.batch())]
    t = np.concatenate(times)
    assert np.allclose(np.diff(t), 1e-3, atol=1e-7)
    assert rig.session.stream_counters()[0].lost_samples == 0


def test_an_unasked_hello_asks_for_a_restart_that_the_clock_or_samples_confirm():
    """An unasked HELLO: started again (the link syncs and sends START), counted as a
    reset only when the device shows one (issue: a boot HELLO that came late while the
    emulated MCU streamed on was counted as a restart, its clock unbroken)."""
    rig = Rig()
    rig.batch()
    (event,) = rig.session.on_hello(rig.hello, rig.t, solicited=False)
    assert event.kind == "hello" and rig.session.resets == 0
    assert rig.session.clock.ready  # a stale HELLO: the clock and samples run on
    assert len(rig.blocks(rig.batch())) == 1 and rig.session.resets == 0
    assert rig.session.on_hello(rig.hello, rig.t, solicited=True) == []
    # A real restart: the sync burst's replies agree with each other and jump back.
    rig.session.on_hello(rig.hello, rig.t, solicited=False)
    rig.offset_us -= 5_000_000  # its clock started again 5 s ago
    kinds = []
    for _ in range(8):  # the link's burst
        q = rig.session.clock_query(rig.t)
        reply = ClockReply(q.token, rig.clock(rig.t + 0.0001))
        kinds += [e.kind for e in rig.session.on_clock(reply, rig.t + 0.0002)]
        rig.t += 0.02
    assert kinds == ["reset"] and rig.session.resets == 1
    # Other streams in a HELLO: it restarted, whatever its clock says.
    other = Hello(42, (1, 0, 0), "plate-0", (force_plate_stream(rate_hz=500.0),))
    (event,) = rig.session.on_hello(other, rig.t, solicited=False)
    assert event.kind == "reset" and rig.session.resets == 2


def test_sequence_restart_is_a_reset_and_the_gap_is_estimated_from_time():
    rig = Rig()
    for _ in range(5):
        rig.batch()
    rig.offset_us = -2_000_000  # MCU clock restarted 2 s after host time 0 ...
    rig.index = rig.start_index = 0  # ... and its sample count; 0.5 s later it sends
    stamp_t = 2.5
    raw = np.zeros((N, 3), dtype="<i2")
    b = SampleBatch(0, 0, 0, rig.clock(stamp_t), N, raw.tobytes())
    items = rig.session.on_samples(b, stamp_t + 0.01)
    assert [x.kind for x in items if isinstance(x, DeviceEvent)] == ["reset"]
    rig.t = stamp_t + 0.02
    rig.sync()
    b2 = SampleBatch(0, N, 0, rig.clock(stamp_t + N / RATE), N, raw.tobytes())
    blocks = rig.blocks(rig.session.on_samples(b2, stamp_t + 0.03))
    assert [b.first_sample for b in blocks] == [0, N]
    assert blocks[0].time_s[0] == pytest.approx(stamp_t, abs=1e-3)
    # 5 batches ended at 0.05 s; the restart's first sample is at 2.5 s.
    assert blocks[0].lost_before == pytest.approx((2.5 - 0.05) * RATE, abs=2)


def test_batches_before_clock_sync_wait_rather_than_being_lost():
    rig = Rig()
    rig.session.on_reconnect()
    assert rig.batch() == []
    rig.sync()
    blocks = rig.blocks(rig.batch())
    assert [b.first_sample for b in blocks] == [0, N]


def test_hello_validation_names_the_problem():
    bad = speed_stream()
    bad = type(bad)(bad.stream_id, bad.kind, bad.placement, bad.sample_rate_hz, ())
    with pytest.raises(error, match="must start with velocity"):
        validate_hello(Hello(1, (1, 0, 0), "x", (bad,)))


def test_unknown_stream_is_counted_not_fatal():
    rig = Rig()
    items = rig.session.on_samples(SampleBatch(9, 0, 0, 0, 1, b"\0" * 6), 0.0)
    assert items[0].kind == "unknown-stream"
    assert rig.session.unknown_stream_batches == 1


def test_after_a_reconnect_a_restarted_mcu_is_a_new_epoch_not_a_replay():
    """A USB-powered MCU re-counts from 0 with a clock that restarts where it did
    before: its batches must not be taken for replays of the old ones."""
    rig = Rig()
    for _ in range(5):
        rig.batch()
    rig.session.on_reconnect()
    rig.index = rig.start_index = 0  # counting from zero again, same clock epoch
    rig.t = 10.0
    rig.sync()
    blocks = rig.blocks(rig.batch())
    assert [b.first_sample for b in blocks] == [0]
    assert rig.session.stream_counters()[0].duplicates == 0
    assert rig.session.resets == 1


def test_a_reset_found_while_draining_queued_batches_never_crashes():
    rig = Rig()
    rig.batch()
    rig.session.on_reconnect()  # clock unknown: batches queue up
    queued = [rig.batch() for _ in range(3)]
    assert queued == [[], [], []]
    rig.index = rig.start_index = 0  # ... and the MCU restarted among them
    rig.batch()
    rig.sync()
    items = rig.batch()  # drains: meets the restart, stops, waits for the new clock
    assert isinstance(items, list)


def test_batches_waiting_for_the_clock_are_never_dropped_uncounted():
    """A device whose clock replies never come: past the waiting cap the oldest batches
    go, and every one of their samples is counted lost, with one gap event."""
    from firmware_bridge.codec import SampleBatch
    from firmware_bridge.device import DeviceSession
    from firmware_bridge.streams import demo_devices

    model = demo_devices()[0]
    session = DeviceSession(model.hello())
    info = model.hello().streams[0]
    n = 10
    events = []
    extra = 25
    for k in range(DeviceSession.MAX_PENDING_BATCHES + extra):
        batch = SampleBatch(
            info.stream_id, k * n, 0, k * 10_000, n, b"\0" * (n * info.bytes_per_sample)
        )
        events += session.on_samples(batch, float(k) * 0.01)
    assert not session.clock.ready
    assert session.unsynced_dropped == extra * n
    counters = session.stream_counters()[info.stream_id]
    assert counters.lost_samples == extra * n
    assert [e.kind for e in events] == ["gap"]


def test_late_answers_to_retried_identifies_are_not_restarts():
    """The link asks IDENTIFY every 0.25 s until a HELLO comes; a slow board (an
    emulated one on a busy host) answers each of them, seconds late. Those HELLOs are
    answers; a HELLO with no IDENTIFY unanswered is the MCU saying it restarted."""
    from firmware_bridge.codec import Command, MsgType, encode_frame
    from firmware_bridge.host import HostProtocol

    rig = Rig()
    events = []
    host = HostProtocol(lambda block: None, events.append)
    for k, at in enumerate((0.0, 0.25, 0.5)):
        host.observe_command(Command(MsgType.IDENTIFY, k + 1), at)
    host.feed(encode_frame(rig.hello), 1.9)  # the first answer: the device is known
    host.attach(rig.session)
    host.feed(encode_frame(rig.hello) * 2, 2.4)  # the other two, 2 s late
    assert [e.kind for e in events] == []
    host.feed(encode_frame(rig.hello), 30.0)  # unasked: started again, perhaps restarted
    assert [e.kind for e in events] == ["hello"] and host.needs_sync
