"""Serial links to the sensor MCUs: identify, synchronise, stream, reconnect.

`Bridge` watches a set of port paths (globs allowed, e.g. /dev/serial/by-id/*),
opens each new one, identifies the device on it, and keeps one
`DeviceSession` per device id, so a sensor that is unplugged and comes back,
even under a new /dev name, continues its session. Sample blocks and events
go to callbacks that must not block. Per-device statistics are logged once a
second and returned by `Bridge.stats()`.

Reading and processing are apart, as in Klipper's host (its serial thread stamps
what it reads; the rest works in batches). A port's bytes are read as they come,
each read stamped with its arrival time (a clock reply's time must be when it came,
not when it was looked at), and kept. Every `tick_s` (10 ms) the bridge decodes what
every port brought, hands on the sample blocks of the whole tick in one call, and
sends the clock queries that are due, all devices in one pass: one wake-up a tick
for the work, whatever the number of ports and frames, instead of one a frame and
a timer a device.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .codec import Command, DecoderCounters, Hello, MsgType, encode_frame
from .device import DeviceEvent, DeviceSession, SampleBlock, validate_hello
from .device import error as DeviceError
from .errors import StridesyncError
from .host import BlockSink, EventSink, HostProtocol
from .stats import DeviceStats, add_counters
from .transport import SerialTransport
from .transport import error as TransportError

log = logging.getLogger("stridesync.bridge")
stats_log = logging.getLogger("stridesync.bridge.stats")

DEFAULT_PORTS = ("/dev/stridesync/*", "/dev/serial/by-id/*", "/dev/ttyACM*", "/dev/ttyUSB*")


class error(StridesyncError):
    """A device that cannot be used; the message is one line for the user."""


class NotOurDevice(error):
    pass


class DeviceConnection:
    """One open port, from the identify handshake until the cable is pulled."""

    IDENTIFY_TIMEOUT_S = 1.0
    IDENTIFY_RETRY_S = 0.25
    SYNC_BURST = 8
    SYNC_BURST_INTERVAL_S = 0.02
    STALL_S = 1.0

    def __init__(self, path: str, on_block: BlockSink, on_event: EventSink) -> None:
        self.path = path
        self.protocol = HostProtocol(on_block, on_event, label=path)
        self.transport = SerialTransport(path, self._received, self._on_lost)
        self.lost_reason: str | None = None
        self._on_event = on_event
        self._lost = asyncio.Event()
        self._tokens = 0
        self._resync: asyncio.Task | None = None
        self._stalled = False
        self._inbox: list[tuple[bytes, float]] = []  # reads not yet decoded, with their times
        self.streaming = False  # synchronised and started: the tick sends its clock queries
        self.next_query_s = 0.0

    def _received(self, data: bytes, now: float) -> None:
        self._inbox.append((data, now))

    def drain(self) -> None:
        """Decode what the port brought since the last drain, each read at its time."""
        inbox, self._inbox = self._inbox, []
        for data, now in inbox:
            self.protocol.feed(data, now)

    @property
    def decoder(self):
        return self.protocol.decoder

    @property
    def session(self) -> DeviceSession | None:
        return self.protocol.session

    @property
    def last_frame_s(self) -> float | None:
        return self.protocol.last_frame_s

    # --- handshake -----------------------------------------------------------

    async def identify(self) -> Hello:
        """Open the port and ask who is there; raise `error` with a clear reason."""
        try:
            self.transport.open()
        except TransportError as exc:
            raise error(str(exc)) from None
        deadline = time.monotonic() + self.IDENTIFY_TIMEOUT_S
        self.protocol.expect_hello()
        while time.monotonic() < deadline and not self._lost.is_set():
            self._send(Command(MsgType.IDENTIFY, self._next_token()))
            retry_at = time.monotonic() + self.IDENTIFY_RETRY_S
            while time.monotonic() < retry_at and self.protocol.hello is None:
                await asyncio.sleep(0.01)
                self.drain()
            hello = self.protocol.hello
            if hello is not None:
                try:
                    validate_hello(hello)
                except DeviceError as exc:
                    raise error(f"{self.path}: device {hello.device_hex}: {exc}") from None
                return hello
        raise self._identify_failure()

    def _identify_failure(self) -> error:
        c = self.decoder.counters
        version = self.decoder.newest_unsupported_version
        if version is not None:
            return error(
                f"{self.path}: device speaks protocol v{version}; this stridesync speaks v1"
                " (upgrade stridesync)"
            )
        if self._lost.is_set():
            return error(f"{self.path}: {self.lost_reason}")
        if c.bytes:
            return NotOurDevice(
                f"{self.path}: not a Stridesync device ({c.bytes} bytes received,"
                f" no valid frame in {self.IDENTIFY_TIMEOUT_S:.1f} s)"
            )
        return NotOurDevice(
            f"{self.path}: no answer in {self.IDENTIFY_TIMEOUT_S:.1f} s"
            " (not a Stridesync device, or its firmware is not running)"
        )

    # --- streaming -------------------------------------------------------------

    async def run(self, session: DeviceSession) -> str:
        """Stream until the port is lost; return why it was lost. (The bridge's tick
        decodes what comes and sends the clock queries: `tick`.)"""
        self.protocol.attach(session)
        await self._synchronise()
        try:
            await self._lost.wait()
        finally:
            self.streaming = False
            if self._resync:
                self._resync.cancel()
        return self.lost_reason or "closed"

    def tick(self, now: float) -> None:
        """After a drain: a clock query if one is due, a restart's resync, a stall."""
        if not self.streaming or self._lost.is_set():
            return
        if self.protocol.needs_sync and (self._resync is None or self._resync.done()):
            self._resync = asyncio.ensure_future(self._synchronise())
        if now >= self.next_query_s:
            # Its send time is when it goes (not the tick's start): half the round trip
            # of a reply is the clock's error bound.
            sent, session = time.monotonic(), self._attached()
            self._send(session.clock_query(sent))
            self.next_query_s = sent + session.clock.query_interval_s()
        self._check_stall(now)

    async def _synchronise(self) -> None:
        """A quick burst of clock queries, then start the streams."""
        self.protocol.needs_sync = False
        self.streaming = False
        for _ in range(self.SYNC_BURST):
            if self._lost.is_set():
                return
            self._send(self._attached().clock_query(time.monotonic()))
            await asyncio.sleep(self.SYNC_BURST_INTERVAL_S)
        self._send(Command(MsgType.START, self._next_token()))
        self.streaming = True

    def _check_stall(self, now: float) -> None:
        last = self.last_frame_s
        stalled = last is not None and now - last > self.STALL_S
        if stalled != self._stalled:
            self._stalled = stalled
            kind = "stall" if stalled else "resumed"
            self._on_event(DeviceEvent(kind, self._attached().device_id, now, self.path))

    def _attached(self) -> DeviceSession:
        """The device session a streaming connection has (run attaches it)."""
        session = self.protocol.session
        assert session is not None, "streaming without a device session"
        return session

    def _on_lost(self, why: str) -> None:
        self.lost_reason = why
        self._lost.set()

    # --- output --------------------------------------------------------------------

    def _next_token(self) -> int:
        self._tokens = (self._tokens + 1) & 0xFFFF
        return self._tokens

    def _send(self, cmd: Command) -> None:
        if cmd.type == MsgType.IDENTIFY:  # a HELLO soon after is its answer
            self.protocol.observe_command(cmd, time.monotonic())
        self.transport.write(encode_frame(cmd))

    def send_command(self, type_: MsgType, stream_id: int = 0xFF) -> None:
        self._send(Command(type_, self._next_token(), stream_id))

    def close(self) -> None:
        self.transport.close()
        self._lost.set()


@dataclass
class _DeviceRecord:
    session: DeviceSession
    connection: DeviceConnection | None = None
    port: str | None = None
    past: DecoderCounters = field(default_factory=DecoderCounters)  # earlier connections
    reconnects: int = 0
    rate_mark: tuple[float, int, int, int] | None = None  # time, frames, bytes, samples
    rates: tuple[float, float, float] = (0.0, 0.0, 0.0)
    last_frame_s: float | None = None  # its last frame on a connection now gone

    def counters(self) -> DecoderCounters:
        if self.connection is None:
            return self.past
        return add_counters(self.past, self.connection.decoder.counters)

    def samples(self) -> int:
        return sum(c.samples for c in self.session.stream_counters().values())


class Bridge:
    """All sensor MCUs on this host, found by port path or glob."""

    RETRY_MIN_S = 0.25
    RETRY_MAX_S = 30.0
    NOT_OURS_RETRY_S = 30.0

    TICK_S = 0.01

    def __init__(
        self,
        ports: Sequence[str] = DEFAULT_PORTS,
        on_block: BlockSink | None = None,
        on_event: EventSink | None = None,
        scan_interval_s: float = 0.5,
        stats_interval_s: float = 1.0,
        log_stats: bool = True,
        on_blocks: Callable[[list[SampleBlock]], None] | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        """Blocks go to `on_blocks`, a tick's at once, or one by one to `on_block`."""
        self.ports = list(ports)
        on_block = on_block or (lambda block: None)
        self._on_blocks = on_blocks or (lambda blocks: [on_block(b) for b in blocks])
        self._on_event = on_event or (lambda event: None)
        self.scan_interval_s = scan_interval_s
        self.stats_interval_s = stats_interval_s
        self.tick_s = tick_s
        self.log_stats = log_stats
        self._devices: dict[int, _DeviceRecord] = {}
        self._serving: dict[tuple, asyncio.Task] = {}  # by device node (st_dev, ino, rdev)
        self._conns: set[DeviceConnection] = set()  # every open port, identifying or streaming
        self._blocks: list[SampleBlock] = []  # decoded this tick, not yet handed on
        self.decode_cpu_s = 0.0  # CPU seconds of this thread spent decoding (the ticks')
        self._retry: dict[tuple, tuple[float, float]] = {}  # node -> (next attempt, back-off)
        self._reported: dict[tuple, str] = {}
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._scan_forever(), name="bridge-scan"),
            asyncio.create_task(self._stats_forever(), name="bridge-stats"),
            asyncio.create_task(self._tick_forever(), name="bridge-tick"),
        ]

    async def close(self) -> None:
        for task in [*self._tasks, *self._serving.values()]:
            task.cancel()
        for task in [*self._tasks, *self._serving.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for record in self._devices.values():
            if record.connection is not None:
                record.connection.send_command(MsgType.STOP)
                record.connection.close()

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # --- finding ports -----------------------------------------------------------

    def candidate_ports(self) -> list[str]:
        return list(self._candidates().values())

    def _candidates(self) -> dict[tuple, str]:
        """Each port found, once, by the device node it is (one stat a path: a link in
        /dev/serial/by-id and /dev/ttyACM0 are the same port)."""
        found: dict[tuple, str] = {}
        for pattern in self.ports:
            for path in sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]:
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                found.setdefault((st.st_dev, st.st_ino, st.st_rdev), path)
        return found

    async def _scan_forever(self) -> None:
        while True:
            self.scan_once()
            await asyncio.sleep(self.scan_interval_s)

    def scan_once(self) -> None:
        now = time.monotonic()
        for node, path in self._candidates().items():
            if node in self._serving or self._retry.get(node, (0.0, 0.0))[0] > now:
                continue
            self._serving[node] = asyncio.create_task(self._serve(path, node), name=f"link {path}")

    async def _serve(self, path: str, node: tuple) -> None:
        conn = DeviceConnection(path, self._collect, self._on_event)
        self._conns.add(conn)
        try:
            hello = await conn.identify()
            record = self._attach(hello, conn, path)
            self._retry.pop(node, None)
            self._reported.pop(node, None)
            why = await conn.run(record.session)
            self.tick()  # what came before the cable was pulled, before it is said pulled
            self._detach(record, conn, why)
            self._retry[node] = (time.monotonic() + self.RETRY_MIN_S, self.RETRY_MIN_S)
        except error as exc:
            self._failed(node, exc)
        finally:
            self._conns.discard(conn)
            conn.close()
            self._serving.pop(node, None)

    # --- the tick -------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            # On a fixed grid: a late tick is followed by the next one on time, not
            # pushed back (nor made up for: a starved host decodes more in one).
            due = max(due + self.tick_s, loop.time())
            await asyncio.sleep(due - loop.time())
            try:
                self.tick()
            except Exception:  # a bug must not stop the sensors being read
                log.exception("bridge tick failed")

    def _collect(self, block: SampleBlock) -> None:
        self._blocks.append(block)

    def tick(self) -> None:
        """Decode every port's reads, hand the tick's blocks on at once, then send the
        clock queries that are due (last: their replies come while the loop is idle,
        and are stamped as they come)."""
        cpu0 = time.thread_time()
        for conn in self._conns:
            conn.drain()
        self.decode_cpu_s += time.thread_time() - cpu0
        blocks, self._blocks = self._blocks, []
        if blocks:
            self._on_blocks(blocks)
        now = time.monotonic()
        for conn in self._conns:
            conn.tick(now)

    def _failed(self, node: tuple, exc: error) -> None:
        _, backoff = self._retry.get(node, (0.0, self.RETRY_MIN_S / 2))
        backoff = min(backoff * 2, self.RETRY_MAX_S)
        if isinstance(exc, NotOurDevice):
            backoff = self.NOT_OURS_RETRY_S
        self._retry[node] = (time.monotonic() + backoff, backoff)
        if self._reported.get(node) != str(exc):  # log a problem when it changes, not every retry
            self._reported[node] = str(exc)
            log.warning("%s", exc)

    def _attach(self, hello: Hello, conn: DeviceConnection, path: str) -> _DeviceRecord:
        record = self._devices.get(hello.device_id)
        if record is None:
            record = _DeviceRecord(DeviceSession(hello))
            self._devices[hello.device_id] = record
        elif record.connection is not None:
            raise error(f"{path}: device {hello.device_hex} is already connected on {record.port}")
        else:
            record.reconnects += 1
        record.connection, record.port = conn, path
        now = time.monotonic()
        log.info(
            "%s: %s %s firmware %d.%d.%d, %d streams",
            path,
            hello.name,
            hello.device_hex,
            *hello.firmware,
            len(hello.streams),
        )
        self._on_event(DeviceEvent("connected", hello.device_id, now, path))
        return record

    def _detach(self, record: _DeviceRecord, conn: DeviceConnection, why: str) -> None:
        record.past = record.counters()
        record.last_frame_s = conn.last_frame_s or record.last_frame_s
        record.connection = None
        log.warning("%s: %s disconnected (%s)", conn.path, record.session.name, why)
        self._on_event(DeviceEvent("disconnected", record.session.device_id, time.monotonic(), why))

    # --- statistics -----------------------------------------------------------------

    def device_sessions(self) -> list[DeviceSession]:
        """Every device seen, connected or not (a device session spans its reconnects)."""
        return [r.session for r in self._devices.values()]

    def connection(self, device_id: int) -> DeviceConnection | None:
        record = self._devices.get(device_id)
        return record.connection if record else None

    def stats(self) -> list[DeviceStats]:
        now = time.monotonic()
        return [self._stats(r, now) for r in self._devices.values()]

    def health(self) -> dict:
        stats = self.stats()
        return {"ok": True, "devices": len(stats), "connected": sum(s.connected for s in stats)}

    def _update_rates(self, now: float) -> None:
        for r in self._devices.values():
            c = r.counters()
            mark = (now, c.frames, c.bytes, r.samples())
            if r.rate_mark is not None:
                dt = max(now - r.rate_mark[0], 1e-9)
                frames, nbytes, samples = ((mark[i] - r.rate_mark[i]) / dt for i in (1, 2, 3))
                r.rates = (frames, nbytes, samples)
            r.rate_mark = mark

    def _stats(self, r: _DeviceRecord, now: float) -> DeviceStats:
        s = r.session
        c = r.counters()
        streams = s.stream_counters().values()
        # Unplugged: its last frame is still when it was last heard ("since HH:MM:SS").
        last = r.connection.last_frame_s if r.connection else r.last_frame_s
        return DeviceStats(
            device_id=s.hello.device_hex,
            name=s.name,
            port=r.port,
            connected=r.connection is not None,
            firmware=".".join(map(str, s.hello.firmware)),
            frames_per_s=r.rates[0],
            bytes_per_s=r.rates[1],
            samples_per_s=r.rates[2],
            frames=c.frames,
            crc_errors=c.crc_errors,
            malformed_frames=c.malformed + c.unsupported_version + s.unknown_stream_batches,
            dropped_bytes=c.dropped_bytes,
            lost_samples=sum(x.lost_samples for x in streams),
            overflow_samples=sum(x.overflow_samples for x in streams),
            duplicates=sum(x.duplicates for x in streams),
            resets=s.resets,
            reconnects=r.reconnects,
            clock_drift_ppm=s.clock.drift_ppm,
            clock_rtt_ms=s.clock.min_rtt_s * 1e3 if s.clock.ready else float("nan"),
            clock_stddev_us=s.clock.prediction_stddev_us,
            last_frame_age_s=None if last is None else now - last,
        )

    async def _stats_forever(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval_s)
            self._update_rates(time.monotonic())
            if self.log_stats:
                for st in self.stats():
                    stats_log.info("%s", st.line())


async def identify_port(path: str, timeout_s: float = 1.0) -> Hello:
    """Open `path`, ask who is there, close it. Raises `error` with a clear reason."""
    conn = DeviceConnection(path, lambda b: None, lambda e: None)
    conn.IDENTIFY_TIMEOUT_S = timeout_s
    try:
        return await conn.identify()
    finally:
        conn.close()
