"""One device's state on the host: streams, sequence, losses, time stamps.

Pure: messages and host times in, typed sample blocks and events out. The
serial link (link.py) owns the I/O; replay and tests drive this directly.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from . import speedups
from .clocksync import ClockSync, SampleTimeline, WrapExtender
from .errors import StridesyncError
from .protocol import (
    REQUIRED_CHANNELS,
    ClockReply,
    Command,
    Hello,
    MsgType,
    SampleBatch,
    StreamInfo,
)


class error(StridesyncError):
    pass


@dataclass(slots=True)
class SampleBlock:
    """Consecutive samples of one stream, in physical units, with host times. (Not
    changed once made; not frozen, as a frozen dataclass is slow to make and one is
    made a frame.)"""

    device_id: int
    device_name: str
    stream: StreamInfo
    first_sample: int  # index of values[0] since the device started streaming
    time_s: np.ndarray = field(repr=False)  # host monotonic seconds, one per sample
    values: np.ndarray = field(repr=False)  # shape (n, n_channels), float64
    lost_before: int = 0  # samples missing between the previous block and this one

    def __len__(self) -> int:
        return len(self.time_s)

    def since(self, t_s: float) -> SampleBlock | None:
        """The samples at or after host time `t_s` (a session's start): the block
        itself, a later part of it (nothing said lost before that part: what came
        before `t_s` is not this session's), or None."""
        i = int(np.searchsorted(self.time_s, t_s, "left"))
        if i == 0:
            return self
        if i == len(self.time_s):
            return None
        return SampleBlock(
            self.device_id,
            self.device_name,
            self.stream,
            self.first_sample + i,
            self.time_s[i:],
            self.values[i:],
        )


@dataclass(frozen=True)
class DeviceEvent:
    kind: str  # "reset", "hello" (unasked), "gap", "duplicate", "unknown-stream"
    device_id: int
    host_time_s: float
    detail: str = ""


@dataclass
class StreamCounters:
    samples: int = 0
    lost_samples: int = 0  # lost on the wire (sequence gaps not explained by overflow)
    overflow_samples: int = 0  # dropped on the MCU, as its overflow counter says
    duplicates: int = 0  # replayed or duplicated batches, discarded


@dataclass
class _Stream:
    info: StreamInfo
    scale: np.ndarray
    offset: np.ndarray
    timeline: SampleTimeline
    index_ext: WrapExtender = field(default_factory=WrapExtender)
    next_index: int | None = None
    last_overflow: int | None = None
    last_time_s: float | None = None  # host time of the last sample emitted
    pending_lost: int = 0
    reconnected: bool = False  # the next batch is the first since the port was opened
    counters: StreamCounters = field(default_factory=StreamCounters)


def validate_hello(hello: Hello) -> None:
    """Raise `error` when a hello describes streams this host cannot use."""
    seen = set()
    for s in hello.streams:
        if s.stream_id in seen:
            raise error(f"stream id {s.stream_id} appears twice")
        seen.add(s.stream_id)
        have = tuple(c.channel for c in s.channels)
        need = REQUIRED_CHANNELS[s.kind]
        if have[: len(need)] != need:
            names = ", ".join(c.name.lower() for c in need)
            raise error(f"stream {s.stream_id} ({s.kind.name.lower()}) must start with {names}")
        if not 1.0 <= s.sample_rate_hz <= 20000.0:
            raise error(f"stream {s.stream_id}: sample rate {s.sample_rate_hz} Hz out of range")


class DeviceSession:
    """Everything the host knows about one device, across reconnects and resets."""

    # Batches that arrive before the clock is synchronised wait this long.
    MAX_PENDING_BATCHES = 2000

    def __init__(self, hello: Hello) -> None:
        validate_hello(hello)
        self.hello = hello
        self.clock = ClockSync()
        self.resets = 0
        self._clock_ext = WrapExtender()
        self._tokens = itertools.count(1)
        self._queries: dict[int, float] = {}
        self._pending: deque[tuple[SampleBatch, float]] = deque()
        self.unsynced_dropped = 0  # samples dropped while waiting for the clock (counted lost)
        self._dropping = False
        self._streams = {s.stream_id: self._new_stream(s) for s in hello.streams}
        self.unknown_stream_batches = 0

    @staticmethod
    def _new_stream(info: StreamInfo) -> _Stream:
        scale, offset = info.scales()
        return _Stream(info, scale, offset, SampleTimeline(info.sample_rate_hz))

    @property
    def device_id(self) -> int:
        return self.hello.device_id

    @property
    def name(self) -> str:
        return self.hello.name

    def stream_counters(self) -> dict[int, StreamCounters]:
        return {sid: st.counters for sid, st in self._streams.items()}

    # --- clock queries ---------------------------------------------------

    def clock_query(self, host_time_s: float) -> Command:
        """The next clock query to send, remembered with its send time."""
        token = next(self._tokens) & 0xFFFF
        self.note_query(token, host_time_s)
        return Command(MsgType.CLOCK_QUERY, token)

    def note_query(self, token: int, host_time_s: float) -> None:
        """A clock query sent at this host time (replay: as recorded)."""
        self._queries.pop(token, None)
        self._queries[token] = host_time_s
        if len(self._queries) > 64:  # replies that never came
            del self._queries[next(iter(self._queries))]

    # A reboot takes the MCU clock back to zero: replies this far behind the fit
    # mean the device restarted (a jump of less is the fit's own business).
    RESTART_JUMP_US = 1_000_000

    def on_clock(self, reply: ClockReply, host_time_s: float) -> list[DeviceEvent]:
        """A clock reply. When replies agree with each other but are far behind the
        fit, the MCU restarted (its HELLO came and asked for the sync burst whose
        replies show it, or was lost: a reset in the middle of a frame takes the
        HELLO with it): the device is reset here, and the link starts it again."""
        sent = self._queries.pop(reply.token, None)
        if sent is None:
            return []
        jumps = self.clock.stats.resets
        predicted = self.clock.host_to_mcu(0.5 * (sent + host_time_s)) if self.clock.ready else None
        self.clock.add_sample(sent, host_time_s, self._clock_ext.extend(reply.mcu_time_us))
        if self.clock.stats.resets == jumps or predicted is None:
            return []
        behind = ((int(predicted) - reply.mcu_time_us + 2**31) & 0xFFFFFFFF) - 2**31
        if behind < self.RESTART_JUMP_US:
            return []
        event = self._reset(host_time_s, "its clock went back: it restarted")
        self.clock.add_sample(sent, host_time_s, self._clock_ext.extend(reply.mcu_time_us))
        return [event]

    # --- resets ------------------------------------------------------------

    def on_hello(self, hello: Hello, host_time_s: float, solicited: bool) -> list[DeviceEvent]:
        """A hello: the answer to IDENTIFY, or the MCU announcing that it booted.

        An unasked HELLO alone does not prove a restart: a boot HELLO held by a layer
        between the MCU and the host (a USB-serial bridge, an emulator's port) can come
        late, while the MCU streams on. So it asks for a "hello" event (the link
        synchronises and sends START again: a restarted MCU waits for it), and a
        restart is counted when the clock replies or the samples show it (their clock
        and index go back: `on_clock`, `_accept`), once."""
        changed = hello.streams != self.hello.streams
        if changed:
            validate_hello(hello)
            self._streams = {s.stream_id: self._new_stream(s) for s in hello.streams}
        self.hello = hello
        if solicited:
            return []
        if changed:  # other streams: it restarted, whatever its clock says
            return [self._reset(host_time_s, "device restarted with other streams")]
        return [DeviceEvent("hello", self.device_id, host_time_s, "unasked: started again")]

    def on_reconnect(self) -> None:
        """The port was opened (again): the MCU clock may have restarted."""
        self._restart_clock()
        for st in self._streams.values():
            st.reconnected = True

    def _restart_clock(self) -> None:
        self.clock.reset()
        self._clock_ext.reset()
        self._queries.clear()

    def _reset(self, host_time_s: float, why: str) -> DeviceEvent:
        self.resets += 1
        self._restart_clock()
        for st in self._streams.values():
            self._restart_stream(st)
        return DeviceEvent("reset", self.device_id, host_time_s, why)

    @staticmethod
    def _restart_stream(st: _Stream) -> None:
        st.timeline = SampleTimeline(st.info.sample_rate_hz)
        st.index_ext.reset()
        st.next_index = None
        st.last_overflow = None
        st.reconnected = False

    # --- samples -----------------------------------------------------------

    def on_samples(self, batch: SampleBatch, host_time_s: float) -> list[SampleBlock | DeviceEvent]:
        if batch.stream_id not in self._streams:
            self.unknown_stream_batches += 1
            return [
                DeviceEvent("unknown-stream", self.device_id, host_time_s, str(batch.stream_id))
            ]
        st = self._streams[batch.stream_id]
        if len(batch.data) != batch.n_samples * st.info.bytes_per_sample:
            self.unknown_stream_batches += 1
            return [DeviceEvent("unknown-stream", self.device_id, host_time_s, "wrong size")]
        # Batches wait, in order, until the clock is synchronised (after a
        # connect or a reset); a reset met while draining stops the drain.
        self._pending.append((batch, host_time_s))
        out: list[SampleBlock | DeviceEvent] = []
        if len(self._pending) > self.MAX_PENDING_BATCHES:
            event = self._drop_unsynced(host_time_s)
            if not self._dropping:  # one event an episode, not one a batch
                self._dropping = True
                out.append(event)
        if self.clock.ready:
            self._dropping = False
        while self._pending and self.clock.ready:
            b, t = self._pending.popleft()
            if b.stream_id in self._streams:  # a new hello may have changed the streams
                out.extend(self._accept(self._streams[b.stream_id], b, t))
        return out

    def _drop_unsynced(self, host_time_s: float) -> DeviceEvent:
        """The clock is still unknown and too much waits: the oldest batch goes, counted
        as lost on its stream (its samples leave a gap the next batch's index shows)."""
        b, _ = self._pending.popleft()
        self.unsynced_dropped += b.n_samples
        st = self._streams.get(b.stream_id)
        if st is not None and st.next_index is None:
            # Not yet counted by any sequence: count it here, once.
            st.counters.lost_samples += b.n_samples
        return DeviceEvent(
            "gap", self.device_id, host_time_s, "samples dropped while the clock is unknown"
        )

    def _accept(self, st: _Stream, batch: SampleBatch, host_time_s: float):
        if st.reconnected:
            st.reconnected = False
            if st.next_index is not None and batch.first_sample < (st.next_index & 0xFFFFFFFF):
                # Back on the port, counting from the start: the MCU restarted while
                # away (a USB-powered one always does). Its old sequence is no
                # reference for duplicates.
                self.resets += 1
                self._restart_stream(st)
        first = st.index_ext.extend(batch.first_sample)
        clock = self._clock_ext.extend(batch.mcu_time_us)
        if st.next_index is not None and first < st.next_index:
            if self._is_duplicate(st, first, batch.n_samples, clock):
                st.counters.duplicates += 1
                return [DeviceEvent("duplicate", self.device_id, host_time_s, f"sample {first}")]
            # Sequence and clock both went back: the MCU restarted under us.
            # Its clock must be learnt again before this batch has a time.
            self._pending.appendleft((batch, host_time_s))
            return [self._reset(host_time_s, f"stream {st.info.stream_id} restarted")]
        self._count_losses(st, first, batch.overflow)
        st.timeline.add(first, clock)
        return [self._block(st, first, batch)]

    def _is_duplicate(self, st: _Stream, first: int, n: int, clock: int) -> bool:
        tolerance_us = max(2.0 * st.timeline.period_us, 1000.0)
        return (
            st.next_index is not None
            and first + n <= st.next_index
            and abs(st.timeline.residual_us(first, clock)) < tolerance_us
        )

    def _count_losses(self, st: _Stream, first: int, overflow: int) -> None:
        overflowed = 0
        if st.last_overflow is not None:
            overflowed = (overflow - st.last_overflow) & 0xFFFF
        st.last_overflow = overflow
        if st.next_index is None:
            return
        missing = first - st.next_index
        st.counters.overflow_samples += min(overflowed, missing)
        st.counters.lost_samples += max(missing - overflowed, 0)
        st.pending_lost += missing

    def _block(self, st: _Stream, first: int, batch: SampleBatch) -> SampleBlock:
        n = batch.n_samples
        if speedups.native is not None:  # the same arithmetic in C (speedups/_speedups.c)
            time_s, values = np.empty(n), np.empty((n, len(st.scale)))
            fill = speedups.native.fill_block
            fill(batch.data, n, st.info.dtype.itemsize, st.scale, st.offset, first,
                 *st.timeline.line(), *self.clock.line(), time_s, values)  # fmt: skip
        else:
            indices = np.arange(first, first + n, dtype=np.float64)
            time_s = self.clock.mcu_to_host(st.timeline.mcu_time(indices))
            values = batch.raw(st.info) * st.scale + st.offset
        lost = st.pending_lost
        if st.next_index is None and st.last_time_s is not None:
            # First block after a restart: the count is lost, the time is not.
            gap_s = time_s[0] - st.last_time_s
            lost = max(round(gap_s * st.info.sample_rate_hz) - 1, 0)
            st.counters.lost_samples += lost
        st.pending_lost = 0
        st.next_index = first + n
        st.last_time_s = float(time_s[-1])
        st.counters.samples += n
        return SampleBlock(self.device_id, self.name, st.info, first, time_s, values, lost)
