"""Virtual microcontrollers that speak the real protocol, with no hardware.

`McuModel` is the firmware's behaviour with no I/O and no clock of its own:
give it the true time and it says what bytes the MCU would send. `PtyMcu`
serves a model on a pseudo-terminal, so the host opens it with pyserial like a
USB serial port. Signal sources are pluggable: any callable that maps true
times (seconds) to sample values in the stream's units.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .codec import (
    Ack,
    AckStatus,
    ClockReply,
    Command,
    FrameDecoder,
    Hello,
    MsgType,
    SampleBatch,
    StreamInfo,
    encode_frame,
)

SignalSource = Callable[[np.ndarray], np.ndarray]  # true times (n,) -> values (n, n_channels)


@dataclass
class VirtualStream:
    info: StreamInfo
    source: SignalSource
    batch_size: int = 10
    # The sensor's own oscillator against the MCU clock; 0 = sampled on an MCU timer.
    rate_error_ppm: float = 0.0
    # firmware state
    next_index: int = 0
    overflow: int = 0
    start_mcu_us: float = 0.0
    tare: np.ndarray | None = None
    # Values computed ahead: (clock anchor, first index, values). A source is a pure
    # function of time, so half a second at once gives the same samples for far
    # less Python per batch (the simulator's own cost, not the product's).
    ahead: tuple[float, int, np.ndarray] | None = None

    @property
    def period_mcu_us(self) -> float:
        return 1e6 / self.info.sample_rate_hz * (1.0 + self.rate_error_ppm * 1e-6)


@dataclass
class McuModel:
    """What a Stridesync MCU sends, as a function of true time."""

    device_id: int
    name: str
    streams: list[VirtualStream]
    firmware: tuple[int, int, int] = (1, 0, 0)
    clock_ppm: float = 0.0  # the MCU crystal's error
    clock_offset_us: float = 0.0  # MCU clock at true time `boot_time_s`
    boot_time_s: float = 0.0
    streaming: bool = False

    # --- the MCU clock ---------------------------------------------------

    def mcu_us(self, t: float) -> float:
        return (t - self.boot_time_s) * (1.0 + self.clock_ppm * 1e-6) * 1e6 + self.clock_offset_us

    def true_time(self, mcu_us):
        return (np.asarray(mcu_us) - self.clock_offset_us) / 1e6 / (
            1.0 + self.clock_ppm * 1e-6
        ) + self.boot_time_s

    def clock32(self, t: float) -> int:
        return int(self.mcu_us(t)) & 0xFFFFFFFF

    # --- behaviour ---------------------------------------------------------

    def hello(self) -> Hello:
        return Hello(self.device_id, self.firmware, self.name, tuple(s.info for s in self.streams))

    def boot(self, t: float, clock_offset_us: float = 0.0) -> list[bytes]:
        """Power-up or reset: clock and sequences restart; announce with a hello."""
        self.boot_time_s = t
        self.clock_offset_us = clock_offset_us
        self.streaming = False
        for s in self.streams:
            s.next_index = 0
            s.overflow = 0
        return [encode_frame(self.hello())]

    def handle(self, cmd: Command, t: float) -> list[bytes]:
        if cmd.type == MsgType.CLOCK_QUERY:
            return [encode_frame(ClockReply(cmd.token, self.clock32(t)))]
        if cmd.type == MsgType.IDENTIFY:
            return [encode_frame(self.hello())]
        status = AckStatus.OK
        if cmd.type == MsgType.START:
            self._start(t)
        elif cmd.type == MsgType.STOP:
            self.streaming = False
        elif cmd.type == MsgType.TARE:
            status = self._tare(cmd.stream_id, t)
        else:
            status = AckStatus.UNKNOWN_COMMAND
        return [encode_frame(Ack(cmd.type, cmd.token, status))]

    def _start(self, t: float) -> None:
        if self.streaming:
            return
        self.streaming = True
        now = self.mcu_us(t)
        for s in self.streams:
            # Sample indices keep counting across stop/start; only the clock anchors anew.
            s.start_mcu_us = now - s.next_index * s.period_mcu_us

    def _tare(self, stream_id: int, t: float) -> AckStatus:
        targets = [s for s in self.streams if stream_id in (0xFF, s.info.stream_id)]
        if not targets:
            return AckStatus.BAD_ARGUMENT
        for s in targets:
            s.tare = s.source(np.array([t]))[0]
        return AckStatus.OK

    def poll(self, t: float) -> list[tuple[VirtualStream, SampleBatch]]:
        """Every full batch whose last sample has been taken by true time t."""
        if not self.streaming:
            return []
        now = self.mcu_us(t)
        out = []
        for s in self.streams:
            while True:
                last_mcu = s.start_mcu_us + (s.next_index + s.batch_size - 1) * s.period_mcu_us
                if last_mcu > now:
                    break
                out.append((s, self._take_batch(s)))
        return out

    def next_batch_time(self) -> float:
        """True time at which the next batch of any stream is complete."""
        due = min(
            s.start_mcu_us + (s.next_index + s.batch_size - 1) * s.period_mcu_us
            for s in self.streams
        )
        return float(self.true_time(due))

    AHEAD_S = 0.5

    def _values(self, s: VirtualStream, first: int, n: int) -> np.ndarray:
        a = s.ahead
        if a is None or a[0] != s.start_mcu_us or not a[1] <= first <= a[1] + len(a[2]) - n:
            count = max(n, int(self.AHEAD_S * s.info.sample_rate_hz) // n * n)
            idx = np.arange(first, first + count)
            a = s.ahead = (
                s.start_mcu_us,
                first,
                s.source(self.true_time(s.start_mcu_us + idx * s.period_mcu_us)),
            )
        return a[2][first - a[1] : first - a[1] + n]

    def _take_batch(self, s: VirtualStream) -> SampleBatch:
        n = s.batch_size
        mcu_times = s.start_mcu_us + np.arange(s.next_index, s.next_index + n) * s.period_mcu_us
        values = self._values(s, s.next_index, n)
        if s.tare is not None:
            values = values - s.tare
        raw = quantise(values, s.info)
        batch = SampleBatch(
            s.info.stream_id,
            s.next_index & 0xFFFFFFFF,
            s.overflow & 0xFFFF,
            int(mcu_times[0]) & 0xFFFFFFFF,
            n,
            raw.tobytes(),
        )
        s.next_index += n
        return batch

    def dropped(self, s: VirtualStream, batch: SampleBatch) -> None:
        """The USB buffer was full: the firmware counts the batch as overflow."""
        s.overflow += batch.n_samples


def quantise(values: np.ndarray, info: StreamInfo) -> np.ndarray:
    scale, offset = info.scales()
    info_max = np.iinfo(info.dtype).max
    raw = np.rint((values - offset) / scale)
    return np.clip(raw, -info_max, info_max).astype(info.dtype)


class PtyMcu:
    """A McuModel served on a pseudo-terminal.

    The host side opens `path` with pyserial exactly as it opens /dev/ttyACM0.
    `unplug()` closes the terminal (the host's reads fail as on a pulled
    cable); `replug()` serves the same MCU on a new pty, under a new name.
    """

    TX_BUFFER_BYTES = 8192  # like the MCU's USB transmit FIFO: full means overflow
    TICK_S = 0.002

    def __init__(
        self,
        model: McuModel,
        time_fn: Callable[[], float] = time.monotonic,
        frame_filter: Callable[[bytes], list[bytes]] | None = None,
    ):
        self.model = model
        self.time_fn = time_fn
        self.frame_filter = frame_filter  # wire faults: what really goes out for a frame
        # Benchmarks: called (device id, batch, monotonic time) once a batch is written.
        self.on_sent: Callable[[int, SampleBatch, float], None] | None = None
        self.path: str | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._decoder = FrameDecoder()
        self._tx = bytearray()
        self._task: asyncio.Task | None = None
        self._own_pump = True

    def open(self, boot: bool = True) -> str:
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        self._decoder = FrameDecoder()
        self._tx.clear()
        if boot:
            self.model.boot(self.time_fn(), clock_offset_us=self.model.clock_offset_us)
        return self.path

    async def start(self, pump: bool | None = None) -> str:
        """Serve on the pty; `pump`: a task of its own sends the batches (else call
        `pump_once`, as `pump_all` does for a whole rig: one wake-up for all). A replug
        keeps the choice."""
        if pump is not None:
            self._own_pump = pump
        path = self.open() if self._master is None or self.path is None else self.path
        assert self._master is not None
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._on_readable)
        if self._own_pump:
            self._task = asyncio.create_task(self._pump(), name=f"pty-mcu-{self.model.name}")
        return path

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close_fds()

    def _close_fds(self) -> None:
        if self._master is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._master)
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        self._master = self._slave = None

    async def unplug(self) -> None:
        await self.stop()

    async def replug(self, reset: bool = True) -> str:
        """Plug back in: a USB-powered MCU reboots, so by default it resets."""
        self.open(boot=reset)
        return await self.start()

    def reset(self) -> None:
        """A watchdog or brown-out reset: sequence and clock restart, hello sent."""
        self._send(self.model.boot(self.time_fn()))

    def _on_readable(self) -> None:
        if self._master is None:  # closed meanwhile
            return
        try:
            data = os.read(self._master, 4096)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):
                return
            raise
        now = self.time_fn()
        for msg in self._decoder.feed(data):
            if isinstance(msg, Command):
                self._send(self.model.handle(msg, now))

    async def _pump(self) -> None:
        while True:
            self.pump_once()
            await asyncio.sleep(self.TICK_S)

    def pump_once(self) -> None:
        """Send every batch complete by now."""
        if self._master is None:
            return
        sent = []
        for stream, batch in self.model.poll(self.time_fn()):
            frame = encode_frame(batch)
            if len(self._tx) + len(frame) > self.TX_BUFFER_BYTES:
                self.model.dropped(stream, batch)
            else:
                self._queue(frame)
                sent.append(batch)
        self._flush()
        if self.on_sent is not None and sent:
            t = time.monotonic()
            for batch in sent:
                self.on_sent(self.model.device_id, batch, t)

    @classmethod
    async def pump_all(cls, devices: list[PtyMcu]) -> None:
        """Send every device's batches as they complete, one wake-up a tick for all."""
        while True:
            for dev in devices:
                dev.pump_once()
            await asyncio.sleep(cls.TICK_S)

    def _queue(self, frame: bytes) -> None:
        for sent in self.frame_filter(frame) if self.frame_filter else [frame]:
            self._tx += sent

    def _send(self, frames: list[bytes]) -> None:
        for f in frames:
            self._queue(f)
        self._flush()

    def _flush(self) -> None:
        if not self._tx or self._master is None:
            return
        try:
            n = os.write(self._master, self._tx)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # nobody has the port open: bytes go nowhere
                self._tx.clear()
                return
            raise
        del self._tx[:n]
