"""A USB link in simulated time: virtual MCUs, the host's protocol, and faults.

Real USB CDC delivers MCU data to the host in bursts: frames wait in the
device's FIFO until the host polls, the kernel hands them to the reader a few
milliseconds later, and now and then nothing arrives for tens of
milliseconds. `SimLink` replays that byte for byte between `McuModel`s and the
host's real `HostProtocol` and `DeviceSession`, so the code under test is the
production code; only time is simulated (ten minutes take seconds). Wire
faults (corrupted, dropped and duplicated frames, stalls, unplugging, MCU
resets) are injected at a rate, and every byte can be written to a capture.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from .capture import FROM_DEVICE, LOST, OPENED, TO_DEVICE, CaptureWriter
from .codec import Command, FrameDecoder, MsgType, encode_frame
from .device import DeviceEvent, DeviceSession, SampleBlock
from .host import HostProtocol
from .virtual import McuModel

POLL_S = 1e-5  # firmware latency from the last sample of a batch to its frame
FIFO_BYTES = 16384  # the MCU's transmit buffer; full means overflow
IDENTIFY_RETRY_S = 0.25
SYNC_BURST, SYNC_BURST_INTERVAL_S = 8, 0.02


@dataclass
class UsbTiming:
    out_delay_s: tuple[float, float] = (0.0001, 0.0011)  # host -> MCU (next 1 ms USB frame)
    burst_gap_s: tuple[float, float] = (0.0, 0.008)  # MCU -> host: time between deliveries
    stall_s: float = 0.030
    stalls_per_s: float = 0.2


@dataclass
class Faults:
    """Wire faults, each off by default. Rates are per frame sent by an MCU."""

    corrupt_rate: float = 0.0  # one byte of the frame changed
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    stalls_per_min: float = 0.0  # long stalls: nothing delivered for stall_s
    stall_s: float = 0.5
    unplug: tuple[tuple[float, float], ...] = ()  # (at s, for s): cable out, MCU unpowered
    reset_at: tuple[float, ...] = ()  # MCU watchdog resets
    # (at s, for s): every channel of the device reads full scale, valid frames and all
    # (a radar locked on a passing car, an amplifier saturated): a value glitch.
    saturate: tuple[tuple[float, float], ...] = ()
    devices: tuple[int, ...] = ()  # which devices unplug, reset and saturate (empty: all)

    def applies_to(self, device: int) -> bool:
        return not self.devices or device in self.devices

    def on_frame(self, frame: bytes, rng: np.random.Generator) -> list[bytes]:
        """What actually goes on the wire for one frame the MCU sends."""
        if self.drop_rate and rng.random() < self.drop_rate:
            return []
        if self.corrupt_rate and rng.random() < self.corrupt_rate:
            damaged = bytearray(frame)
            damaged[int(rng.integers(len(damaged)))] ^= int(rng.integers(1, 256))
            frame = bytes(damaged)
        if self.duplicate_rate and rng.random() < self.duplicate_rate:
            return [frame, frame]
        return [frame]

    def saturate_sources(self, models: list[McuModel]) -> None:
        """Make the `saturate` windows part of the affected devices' signals."""
        if not self.saturate:
            return
        for i, m in enumerate(models):
            if self.applies_to(i):
                for s in m.streams:
                    s.source = _saturating(s.source, s.info, self.saturate)

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """From the command line: corrupt=0.01,drop=0.01,duplicate=0.005,stalls=2,
        stall=0.5,unplug=20:2,reset=40,saturate=30:0.1 (unplug, reset and saturate may
        repeat, separated by +)."""
        f = cls()
        for item in filter(None, spec.split(",")):
            key, _, value = item.partition("=")
            try:
                if key in ("corrupt", "drop", "duplicate"):
                    rate = float(value)
                    if not 0.0 <= rate <= 1.0:
                        raise ValueError
                    setattr(f, f"{key}_rate", rate)
                elif key == "stalls":
                    f.stalls_per_min = float(value)
                elif key == "stall":
                    f.stall_s = float(value)
                elif key in ("unplug", "saturate"):
                    windows = tuple(tuple(map(float, u.split(":"))) for u in value.split("+"))
                    if any(len(u) != 2 for u in windows):
                        raise ValueError
                    setattr(f, key, windows)
                elif key == "reset":
                    f.reset_at = tuple(map(float, value.split("+")))
                elif key == "devices":
                    f.devices = tuple(map(int, value.split("+")))
                else:
                    raise KeyError
            except KeyError:
                raise ValueError(
                    f"unknown fault {key!r}: use corrupt, drop, duplicate, stalls, stall,"
                    " unplug, reset, saturate, devices"
                ) from None
            except ValueError:
                raise ValueError(f"bad value for fault {key!r}: {value!r}") from None
        return f


def _saturating(source, info, windows):
    """`source`, reading full scale on every channel inside the windows."""
    scale, offset = info.scales()
    full = np.iinfo(info.dtype).max * scale + offset

    def saturated(t: np.ndarray) -> np.ndarray:
        out = np.array(source(t), dtype=np.float64)
        for at, length in windows:
            out[(t >= at) & (t < at + length)] = full
        return out

    return saturated


@dataclass
class DeviceTrace:
    """Estimated against true host time for every sample the host time-stamped."""

    name: str
    true_s: list[np.ndarray] = field(default_factory=list)
    est_s: list[np.ndarray] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.true_s), np.concatenate(self.est_s)


class _Device:
    def __init__(self, index: int, model: McuModel) -> None:
        self.index = index
        self.model = model
        self.link_up = False
        self.fifo = bytearray()
        self.commands = FrameDecoder()
        self.host: HostProtocol | None = None
        self.tokens = 0
        self.stall_until = 0.0

    def token(self) -> int:
        self.tokens = (self.tokens + 1) & 0xFFFF
        return self.tokens

    @property
    def link(self) -> HostProtocol:
        """The host's side of the link that is up (a plug makes it)."""
        assert self.host is not None, "the link is down"
        return self.host


class SimLink:
    def __init__(
        self,
        models: list[McuModel],
        timing: UsbTiming | None = None,
        faults: Faults | None = None,
        seed: int = 0,
        on_block=None,
        on_event=None,
        recorder: CaptureWriter | None = None,
    ) -> None:
        self.timing = timing or UsbTiming()
        self.faults = faults or Faults()
        self.rng = np.random.default_rng(seed)
        self.devices = [_Device(i, m) for i, m in enumerate(models)]
        self.on_block = on_block or (lambda index, block: None)
        self.on_event = on_event or (lambda event: None)
        self.recorder = recorder
        self.sessions: dict[int, DeviceSession] = {}
        self._events: list = []
        self._order = 0

    def _push(self, t: float, kind: str, dev: _Device, payload=None) -> None:
        self._order += 1
        heapq.heappush(self._events, (t, self._order, kind, dev.index, payload))

    def run(self, duration_s: float) -> None:
        f = self.faults
        for d in self.devices:
            d.model.boot(0.0, d.model.clock_offset_us)
            self._push(0.0, "plug", d)
            if f.applies_to(d.index):
                for at, length in f.unplug:
                    self._push(at, "unplug", d)
                    self._push(at + length, "plug", d)
                for at in f.reset_at:
                    self._push(at, "reset", d)
        while self._events:
            t, _, kind, i, payload = heapq.heappop(self._events)
            if t > duration_s:
                break
            getattr(self, "_on_" + kind.replace("-", "_"))(t, self.devices[i], payload)

    # --- the host side -------------------------------------------------------------

    def _send(self, t: float, d: _Device, cmd: Command) -> None:
        data = encode_frame(cmd)
        if self.recorder:
            self.recorder.record(t, d.index, TO_DEVICE, data)
        if cmd.type == MsgType.CLOCK_QUERY:
            d.link.observe_command(cmd, t)
        self._push(t + self.rng.uniform(*self.timing.out_delay_s), "mcu-receive", d, data)

    def _on_plug(self, t: float, d: _Device, _) -> None:
        if d.link_up:
            return
        d.link_up = True
        if t > 0:  # plugged back in: a USB-powered MCU boots
            d.model.boot(t, d.model.clock_offset_us)
        d.fifo.clear()
        d.host = HostProtocol(self._block(d), self.on_event, label=d.model.name)
        if self.recorder:
            self.recorder.record(t, d.index, OPENED)
        self._push(t, "identify", d)
        self._push(t + self.rng.uniform(*self.timing.burst_gap_s), "deliver", d)

    def _on_unplug(self, t: float, d: _Device, _) -> None:
        d.link_up = False
        d.model.streaming = False
        d.fifo.clear()
        if self.recorder:
            self.recorder.record(t, d.index, LOST)
        if d.host and d.host.session:
            self.on_event(DeviceEvent("disconnected", d.host.session.device_id, t, "unplugged"))

    def _on_identify(self, t: float, d: _Device, _) -> None:
        if not d.link_up or d.link.session is not None:
            return
        d.link.expect_hello()
        self._send(t, d, Command(MsgType.IDENTIFY, d.token()))
        self._push(t + IDENTIFY_RETRY_S, "identify", d)

    def _after_delivery(self, t: float, d: _Device) -> None:
        host = d.link
        if host.session is None and host.hello is not None:
            session = self.sessions.get(host.hello.device_id) or DeviceSession(host.hello)
            self.sessions[host.hello.device_id] = session
            host.attach(session)
            self.on_event(DeviceEvent("connected", session.device_id, t, d.model.name))
            self._synchronise(t, d)
            self._push(t + 0.2, "query", d, host)
        elif host.needs_sync:
            self._synchronise(t, d)

    def _synchronise(self, t: float, d: _Device) -> None:
        d.link.needs_sync = False
        for k in range(SYNC_BURST):
            self._push(t + k * SYNC_BURST_INTERVAL_S, "burst-query", d, d.host)
        self._push(t + SYNC_BURST * SYNC_BURST_INTERVAL_S, "start", d, d.host)

    def _on_burst_query(self, t: float, d: _Device, host) -> None:
        if d.link_up and host is d.host:
            self._send(t, d, _attached(host).clock_query(t))

    def _on_query(self, t: float, d: _Device, host) -> None:
        if not d.link_up or host is not d.host:
            return  # that connection is gone
        session = _attached(host)
        self._send(t, d, session.clock_query(t))
        self._push(t + session.clock.query_interval_s(), "query", d, host)

    def _on_start(self, t: float, d: _Device, host) -> None:
        if d.link_up and host is d.host:
            self._send(t, d, Command(MsgType.START, d.token()))

    def _on_deliver(self, t: float, d: _Device, _) -> None:
        if not d.link_up:
            return
        if t >= d.stall_until and d.fifo:
            data = bytes(d.fifo)
            d.fifo.clear()
            if self.recorder:
                self.recorder.record(t, d.index, FROM_DEVICE, data)
            d.link.feed(data, t)
            self._after_delivery(t, d)
        gap = self.rng.uniform(*self.timing.burst_gap_s)
        if self.rng.random() < self.timing.stalls_per_s * gap:
            gap += self.timing.stall_s
        if self.faults.stalls_per_min and self.rng.random() < self.faults.stalls_per_min / 60 * gap:
            d.stall_until = t + gap + self.faults.stall_s
        self._push(t + max(gap, 0.0001), "deliver", d)

    def _block(self, d: _Device):
        def on_block(block: SampleBlock) -> None:
            self.on_block(d.index, block)

        return on_block

    # --- the MCU side ----------------------------------------------------------------

    def _on_mcu_receive(self, t: float, d: _Device, data: bytes) -> None:
        if not d.link_up:
            return
        was_streaming = d.model.streaming
        for msg in d.commands.feed(data):
            if isinstance(msg, Command):
                self._transmit(d, d.model.handle(msg, t))
        if d.model.streaming and not was_streaming:
            self._push(d.model.next_batch_time() + POLL_S, "poll", d)

    def _on_poll(self, t: float, d: _Device, _) -> None:
        if not d.link_up or not d.model.streaming:
            return
        for stream, batch in d.model.poll(t):
            frame = encode_frame(batch)
            if len(d.fifo) + len(frame) > FIFO_BYTES:
                d.model.dropped(stream, batch)
            else:
                self._transmit(d, [frame])
        self._push(d.model.next_batch_time() + POLL_S, "poll", d)

    def _on_reset(self, t: float, d: _Device, _) -> None:
        if d.link_up:
            self._transmit(d, d.model.boot(t, d.model.clock_offset_us))

    def _transmit(self, d: _Device, frames: list[bytes]) -> None:
        for frame in frames:
            for sent in self.faults.on_frame(frame, self.rng):
                d.fifo += sent


def simulate(
    models: list[McuModel],
    duration_s: float,
    timing: UsbTiming | None = None,
    seed: int = 0,
    faults: Faults | None = None,
) -> list[DeviceTrace]:
    """Run the devices and the host; return true and estimated time of every sample."""
    traces = [DeviceTrace(m.name) for m in models]

    def on_block(index: int, block: SampleBlock) -> None:
        model = models[index]
        stream = next(s for s in model.streams if s.info.stream_id == block.stream.stream_id)
        idx = np.arange(block.first_sample, block.first_sample + len(block))
        traces[index].true_s.append(
            model.true_time(stream.start_mcu_us + idx * stream.period_mcu_us)
        )
        traces[index].est_s.append(block.time_s)

    SimLink(models, timing, faults, seed, on_block=on_block).run(duration_s)
    return traces


def alignment_error_s(a: DeviceTrace, b: DeviceTrace, after_s: float) -> np.ndarray:
    """Difference of the two devices' time-stamp errors at common true times."""
    ta, ea = a.arrays()
    tb, eb = b.arrays()
    err_a = ea - ta
    err_b = np.interp(ta, tb, eb - tb)
    keep = (ta >= after_s) & (ta <= tb[-1])
    return (err_a - err_b)[keep]


def _attached(host: HostProtocol | None) -> DeviceSession:
    assert host is not None and host.session is not None, "a query before the device's session"
    return host.session
