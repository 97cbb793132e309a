"""Stridesync wire protocol, version 1: the one host module that knows the bytes.

A frame on the wire is ``COBS(body) 0x00``; the body is::

    version u8 | type u8 | payload ... | crc16 u16 LE

The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over version, type and
payload. COBS makes 0x00 appear only as the delimiter, so after any garbage,
lost or inserted bytes the decoder is back in step at the next 0x00. The
framing and the CRC never change between protocol versions; only the payloads
do, which lets a host recognise a device that speaks a newer version.

The byte layouts are documented in docs/protocol.md; the reference encoder for
the firmware side is firmware/stridesync_proto.c and both are tested against
tests/vectors/vectors.json.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cobs import cobs

from . import speedups
from .protocol import (
    COMMAND_TYPES,
    DELIMITER,
    MAX_BODY_BYTES,
    MAX_ENCODED_BYTES,
    PROTOCOL_VERSION,
    Ack,
    AckStatus,
    Channel,
    ChannelInfo,
    ClockReply,
    Command,
    Hello,
    Message,
    MsgType,
    Placement,
    SampleBatch,
    SampleFormat,
    SensorKind,
    StreamInfo,
    Unit,
    UnsupportedVersion,
    error,
)

# The messages are protocol.py's; importers of the codec get them here too.
__all__ = [
    "COMMAND_TYPES",
    "MAX_ENCODED_BYTES",
    "Ack",
    "AckStatus",
    "Channel",
    "ChannelInfo",
    "ClockReply",
    "Command",
    "DecoderCounters",
    "FrameDecoder",
    "Hello",
    "Message",
    "MsgType",
    "Placement",
    "SampleBatch",
    "SampleFormat",
    "SensorKind",
    "StreamInfo",
    "Unit",
    "crc16",
    "decode_body",
    "encode_body",
    "encode_frame",
    "error",
]

# --- encoding -------------------------------------------------------------

_HEADER = struct.Struct("<BB")
_HELLO_HEAD = struct.Struct("<QBBBB")  # device id, fw major/minor/patch, n streams
_STREAM = struct.Struct("<BBBBIBB")  # id, kind, placement, index, rate mHz, format, n ch
_CHANNEL = struct.Struct("<BBff")
_SAMPLES_HEAD = struct.Struct("<BIHIB")
_CLOCK = struct.Struct("<HI")
_ACK = struct.Struct("<BHB")
_COMMAND = struct.Struct("<H")
_TARE = struct.Struct("<HB")
_CRC = struct.Struct("<H")


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, as computed by the firmware's ss_crc16()."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode_payload(msg: Message) -> tuple[MsgType, bytes]:
    if isinstance(msg, SampleBatch):
        head = _SAMPLES_HEAD.pack(
            msg.stream_id, msg.first_sample, msg.overflow, msg.mcu_time_us, msg.n_samples
        )
        return MsgType.SAMPLES, head + msg.data
    if isinstance(msg, Hello):
        return MsgType.HELLO, _encode_hello(msg)
    if isinstance(msg, ClockReply):
        return MsgType.CLOCK, _CLOCK.pack(msg.token, msg.mcu_time_us)
    if isinstance(msg, Ack):
        return MsgType.ACK, _ACK.pack(msg.command, msg.token, msg.status)
    if isinstance(msg, Command):
        if msg.type == MsgType.TARE:
            return msg.type, _TARE.pack(msg.token, msg.stream_id)
        return msg.type, _COMMAND.pack(msg.token)
    raise TypeError(f"not a protocol message: {msg!r}")


def _encode_hello(msg: Hello) -> bytes:
    name = msg.name.encode()
    if len(name) > 32:
        raise ValueError("device name is limited to 32 bytes")
    parts = [_HELLO_HEAD.pack(msg.device_id, *msg.firmware, len(msg.streams))]
    parts.append(bytes([len(name)]) + name)
    for s in msg.streams:
        rate_mhz = round(s.sample_rate_hz * 1000)
        parts.append(
            _STREAM.pack(
                s.stream_id,
                s.kind,
                s.placement,
                s.index,
                rate_mhz,
                s.sample_format,
                len(s.channels),
            )
        )
        parts.extend(_CHANNEL.pack(c.channel, c.unit, c.scale, c.offset) for c in s.channels)
    return b"".join(parts)


def encode_body(msg: Message, version: int = PROTOCOL_VERSION) -> bytes:
    msg_type, payload = encode_payload(msg)
    body = _HEADER.pack(version, msg_type) + payload
    if len(body) + _CRC.size > MAX_BODY_BYTES:
        raise ValueError(f"message of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    return body + _CRC.pack(crc16(body))


def encode_frame(msg: Message, version: int = PROTOCOL_VERSION) -> bytes:
    """The bytes that go on the wire for one message, delimiter included."""
    return cobs.encode(encode_body(msg, version)) + DELIMITER


# --- decoding -------------------------------------------------------------


def decode_body(body: bytes) -> Message:
    """Parse a de-stuffed body whose CRC was already checked."""
    if len(body) < _HEADER.size:
        raise error("frame too short")
    version, msg_type = _HEADER.unpack_from(body)
    if version != PROTOCOL_VERSION:
        raise UnsupportedVersion(version)
    payload = memoryview(body)[_HEADER.size :]
    try:
        parse = _PARSERS[msg_type]
    except KeyError:
        raise error(f"unknown message type 0x{msg_type:02x}") from None
    try:
        return parse(msg_type, payload)
    except (struct.error, ValueError, IndexError) as exc:  # short, or a field out of range
        raise error(f"malformed {MsgType(msg_type).name} payload: {exc!r}") from None


def _parse_samples(_t: int, p: memoryview) -> SampleBatch:
    stream_id, first, overflow, clock, n = _SAMPLES_HEAD.unpack_from(p)
    data = bytes(p[_SAMPLES_HEAD.size :])
    if n == 0 or len(data) % n:
        raise ValueError(f"{len(data)} data bytes do not divide into {n} samples")
    return SampleBatch(stream_id, first, overflow, clock, n, data)


def _parse_hello(_t: int, p: memoryview) -> Hello:
    device_id, major, minor, patch, n_streams = _HELLO_HEAD.unpack_from(p)
    pos = _HELLO_HEAD.size
    name_len = p[pos]
    raw_name = bytes(p[pos + 1 : pos + 1 + name_len])
    if len(raw_name) != name_len:
        raise ValueError("truncated name")
    name = raw_name.decode("utf-8", errors="replace")
    pos += 1 + name_len
    streams = []
    for _ in range(n_streams):
        sid, kind, placement, index, rate_mhz, fmt, n_ch = _STREAM.unpack_from(p, pos)
        pos += _STREAM.size
        channels = []
        for _ in range(n_ch):
            ch, unit, scale, offset = _CHANNEL.unpack_from(p, pos)
            pos += _CHANNEL.size
            channels.append(ChannelInfo(Channel(ch), Unit(unit), scale, offset))
        if rate_mhz == 0:
            raise ValueError(f"stream {sid} has a sample rate of 0")
        streams.append(
            StreamInfo(
                sid,
                SensorKind(kind),
                Placement(placement),
                rate_mhz / 1000.0,
                tuple(channels),
                index,
                SampleFormat(fmt),
            )
        )
    if pos != len(p):
        raise ValueError(f"{len(p) - pos} trailing bytes")
    return Hello(device_id, (major, minor, patch), name, tuple(streams))


def _parse_clock(_t: int, p: memoryview) -> ClockReply:
    return ClockReply(*_CLOCK.unpack(p))


def _parse_ack(_t: int, p: memoryview) -> Ack:
    command, token, status = _ACK.unpack(p)
    return Ack(command, token, AckStatus(status))


def _parse_command(t: int, p: memoryview) -> Command:
    if t == MsgType.TARE:
        token, stream_id = _TARE.unpack(p)
        return Command(MsgType.TARE, token, stream_id)
    (token,) = _COMMAND.unpack(p)
    return Command(MsgType(t), token)


_PARSERS: dict[int, Callable[[int, memoryview], Message]] = {
    MsgType.HELLO: _parse_hello,
    MsgType.SAMPLES: _parse_samples,
    MsgType.CLOCK: _parse_clock,
    MsgType.ACK: _parse_ack,
    **{t: _parse_command for t in COMMAND_TYPES},
}


@dataclass
class DecoderCounters:
    bytes: int = 0
    frames: int = 0
    crc_errors: int = 0
    malformed: int = 0  # bad COBS, too short, unknown type, bad payload
    unsupported_version: int = 0
    dropped_bytes: int = 0  # every byte that did not end up in a good frame


class FrameDecoder:
    """Incremental decoder: feed it byte chunks of any size, get messages.

    It never raises on bad input: every rejected byte is counted and the
    decoder resynchronises on the next delimiter.
    """

    def __init__(self) -> None:
        self.counters = DecoderCounters()
        self.newest_unsupported_version: int | None = None
        self._buf = bytearray()
        self._discarding = False  # inside an over-long run: skip to the next delimiter

    def feed(self, data: bytes) -> list[Message]:
        self.counters.bytes += len(data)
        self._buf += data
        if DELIMITER not in data:
            self._check_overflow()
            return []
        if speedups.native is not None:
            return self._feed_native()
        *chunks, rest = self._buf.split(DELIMITER)
        self._buf = bytearray(rest)
        messages = []
        for chunk in chunks:
            if self._discarding:
                self._discarding = False
                self.counters.dropped_bytes += len(chunk) + 1
                continue
            if not chunk:  # a stray delimiter: frames never start with one
                self.counters.dropped_bytes += 1
                continue
            msg = self._decode_chunk(bytes(chunk))
            if msg is not None:
                messages.append(msg)
        self._check_overflow()
        return messages

    def _feed_native(self) -> list[Message]:
        """feed()'s loop in C (speedups/_speedups.c): the same frames and counts."""
        buf, c = self._buf, self.counters
        if self._discarding:  # the rest of an over-long run, up to its delimiter
            end = buf.index(DELIMITER)
            self._discarding = False
            c.dropped_bytes += end + 1
            del buf[: end + 1]
        consumed, items, counts = speedups.native.split_frames(buf)
        del buf[:consumed]
        samples, crc_errors, malformed, unsupported, newest, dropped = counts
        c.frames += samples
        c.crc_errors += crc_errors
        c.malformed += malformed
        c.unsupported_version += unsupported
        c.dropped_bytes += dropped
        if newest >= 0:
            self.newest_unsupported_version = newest
        messages: list[Message] = []
        for item in items:
            if len(item) == 6:
                messages.append(SampleBatch._make(item))
                continue
            body, encoded = item
            try:
                msg = decode_body(body)
            except error:
                c.malformed += 1
                c.dropped_bytes += encoded + 1
                continue
            c.frames += 1
            messages.append(msg)
        self._check_overflow()
        return messages

    def _check_overflow(self) -> None:
        if len(self._buf) > MAX_ENCODED_BYTES:
            self.counters.dropped_bytes += len(self._buf)
            self._buf.clear()
            self._discarding = True

    def _decode_chunk(self, chunk: bytes) -> Message | None:
        c = self.counters
        try:
            body = cobs.decode(chunk)
        except cobs.DecodeError:
            self._reject(chunk, "malformed")
            return None
        if len(body) < _HEADER.size + _CRC.size:
            self._reject(chunk, "malformed")
            return None
        (crc,) = _CRC.unpack_from(body, len(body) - _CRC.size)
        if crc16(body[: -_CRC.size]) != crc:
            self._reject(chunk, "crc_errors")
            return None
        try:
            msg = decode_body(body[: -_CRC.size])
        except UnsupportedVersion as exc:
            self.newest_unsupported_version = exc.version
            self._reject(chunk, "unsupported_version")
            return None
        except error:
            self._reject(chunk, "malformed")
            return None
        c.frames += 1
        return msg

    def _reject(self, chunk: bytes, counter: str) -> None:
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
        self.counters.dropped_bytes += len(chunk) + 1
