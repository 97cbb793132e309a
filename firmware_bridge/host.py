"""The host side of one device connection, without I/O.

Bytes in, sample blocks and events out. The live serial link (link.py), the
simulated USB link (linksim.py) and the replay of a wire capture (capture.py)
all use this one class, so they handle hellos, resets and clock replies
identically; they differ only in when they send commands.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from .codec import Ack, AckStatus, ClockReply, Command, FrameDecoder, Hello, MsgType, SampleBatch
from .device import DeviceEvent, DeviceSession, SampleBlock
from .device import error as DeviceError

log = logging.getLogger("stridesync.bridge")

BlockSink = Callable[[SampleBlock], None]
EventSink = Callable[[DeviceEvent], None]


class HostProtocol:
    """Decode a device's bytes and keep its DeviceSession up to date."""

    # A HELLO this soon after an IDENTIFY is its answer, or the boot HELLO of a device
    # that started as the port opened and crossed it: not a restart. (A restart in
    # this window still shows, as a sample index and clock that go back.)
    HELLO_ANSWER_S = 0.5
    # Each IDENTIFY sent is answered by a HELLO, however late (the link retries it every
    # 0.25 s: on a busy host, or a slow emulated board, the answers come after the
    # window above, one an IDENTIFY): a HELLO while an IDENTIFY is unanswered is its
    # answer. One unanswered for this long never will be.
    IDENTIFY_ANSWER_MAX_S = 5.0

    def __init__(self, on_block: BlockSink, on_event: EventSink, label: str = "") -> None:
        self.decoder = FrameDecoder()
        self.session: DeviceSession | None = None
        self.label = label
        self.on_block = on_block
        self.on_event = on_event
        self.hello: Hello | None = None  # the answer to IDENTIFY, before a session is attached
        self.awaiting_hello = True
        self.needs_sync = False  # the device restarted: query its clock and START again
        self.last_frame_s: float | None = None
        self.identify_sent_s = float("-inf")
        self._unanswered: deque[float] = deque()  # send times of IDENTIFYs not yet answered

    def attach(self, session: DeviceSession) -> None:
        """Stream into `session` (a device known before keeps its session)."""
        self.session = session
        self.awaiting_hello = False
        session.on_reconnect()

    def expect_hello(self) -> None:
        self.awaiting_hello = True

    def feed(self, data: bytes, now: float) -> None:
        for msg in self.decoder.feed(data):
            self.last_frame_s = now
            if isinstance(msg, SampleBatch):
                if self.session is not None:
                    self._deliver(self.session.on_samples(msg, now))
            elif isinstance(msg, ClockReply):
                if self.session is not None:
                    self._deliver(self.session.on_clock(msg, now))
            elif isinstance(msg, Hello):
                self._on_hello(msg, now)
            elif isinstance(msg, Ack) and msg.status != AckStatus.OK:
                log.warning(
                    "%s: command 0x%02x refused: %s", self.label, msg.command, msg.status.name
                )

    def _on_hello(self, hello: Hello, now: float) -> None:
        if self.awaiting_hello or self.session is None:
            self._answers_identify(now)  # the answer it waited for
            self.hello = hello
            self.awaiting_hello = False
            return
        if hello.device_id != self.session.device_id:
            return
        solicited = self._answers_identify(now)
        try:
            self._deliver(self.session.on_hello(hello, now, solicited=solicited))
        except DeviceError as exc:
            log.error("%s: %s", self.label, exc)

    def _deliver(self, items: list) -> None:
        name = self.session.name if self.session is not None else "?"
        for item in items:
            if isinstance(item, SampleBlock):
                self.on_block(item)
                continue
            self.on_event(item)
            if item.kind == "reset":
                log.warning("%s: %s reset (%s)", self.label, name, item.detail)
                self.needs_sync = True
            elif item.kind == "hello":  # a restart, perhaps: sync and START again
                log.info("%s: %s said HELLO unasked", self.label, name)
                self.needs_sync = True

    def _answers_identify(self, now: float) -> bool:
        """Whether a HELLO at `now` answers an IDENTIFY (else the MCU restarted)."""
        while self._unanswered and now - self._unanswered[0] > self.IDENTIFY_ANSWER_MAX_S:
            self._unanswered.popleft()
        if self._unanswered:
            self._unanswered.popleft()
            return True
        return now - self.identify_sent_s <= self.HELLO_ANSWER_S

    def observe_command(self, cmd: Command, now: float) -> None:
        """A command sent to the device (replay: as recorded) — remember clock queries."""
        if cmd.type == MsgType.CLOCK_QUERY and self.session is not None:
            self.session.note_query(cmd.token, now)
        elif cmd.type == MsgType.IDENTIFY:
            self.identify_sent_s = now
            self._unanswered.append(now)
            if self.session is None:
                self.awaiting_hello = True
