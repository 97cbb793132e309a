"""Raw wire captures: every byte each way, with the host time it crossed.

A capture is what the host saw, so replaying it gives the same sample blocks
(same clock fits, same losses) as the live run did. Format, little-endian:

    b"STRIDESYNC-CAPTURE\\n"
    one line of JSON: {"format": "stridesync-capture", "version": 1, "devices": [...], ...}
    records, each:  host_time_s f64 | device u16 | kind u8 | length u32 | data

kind: 0 = bytes from the device, 1 = bytes to the device, 2 = port opened,
3 = port lost. `devices` lists {"index", "name", "port"} of each device.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .codec import Command, FrameDecoder
from .device import DeviceEvent, DeviceSession
from .errors import StridesyncError
from .host import BlockSink, EventSink, HostProtocol

MAGIC = b"STRIDESYNC-CAPTURE\n"
VERSION = 1
_RECORD = struct.Struct("<dHBI")
FROM_DEVICE, TO_DEVICE, OPENED, LOST = 0, 1, 2, 3
MAX_RECORD_BYTES = 1 << 24


class error(StridesyncError):
    """Not a capture, or a damaged one; the message says which."""


@dataclass(frozen=True)
class Record:
    time_s: float
    device: int
    kind: int
    data: bytes


class CaptureWriter:
    def __init__(self, path: str | Path, header: dict) -> None:
        self._f = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._f.write(MAGIC)
        meta = {"format": "stridesync-capture", "version": VERSION, **header}
        self._f.write(json.dumps(meta).encode() + b"\n")

    def record(self, time_s: float, device: int, kind: int, data: bytes = b"") -> None:
        self._f.write(_RECORD.pack(time_s, device, kind, len(data)))
        self._f.write(data)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_capture(path: str | Path) -> tuple[dict, Iterator[Record]]:
    """The header, and an iterator over the records. Raises `error` on a non-capture."""
    f = open(path, "rb")  # noqa: SIM115 - closed by the iterator
    if f.read(len(MAGIC)) != MAGIC:
        f.close()
        raise error(f"{path}: not a Stridesync wire capture")
    try:
        header = json.loads(f.readline())
    except ValueError:
        f.close()
        raise error(f"{path}: damaged capture header") from None
    if header.get("version", 0) > VERSION:
        f.close()
        raise error(f"{path}: capture version {header['version']} is newer than this stridesync")

    def records() -> Iterator[Record]:
        with f:
            while True:
                head = f.read(_RECORD.size)
                if len(head) < _RECORD.size:
                    return  # a capture cut short by a power cut ends at its last whole record
                t, dev, kind, n = _RECORD.unpack(head)
                if n > MAX_RECORD_BYTES:
                    raise error(f"{path}: damaged record at offset {f.tell() - _RECORD.size}")
                data = f.read(n)
                if len(data) < n:
                    return
                yield Record(t, dev, kind, data)

    return header, records()


def replay(path: str | Path, on_block: BlockSink, on_event: EventSink) -> dict:
    """Feed a capture through the host protocol as if it were live; return its header."""
    header, records = read_capture(path)
    hosts: dict[int, HostProtocol] = {}
    sessions: dict[int, DeviceSession] = {}  # by device id, across reconnects
    commands: dict[int, FrameDecoder] = {}
    for rec in records:
        host = hosts.get(rec.device)
        if rec.kind == OPENED or host is None:
            host = hosts[rec.device] = HostProtocol(
                on_block, on_event, label=f"device {rec.device}"
            )
        if rec.kind == FROM_DEVICE:
            host.feed(rec.data, rec.time_s)
            if host.session is None and host.hello is not None:
                session = sessions.get(host.hello.device_id) or DeviceSession(host.hello)
                sessions[host.hello.device_id] = session
                host.attach(session)
                on_event(DeviceEvent("connected", session.device_id, rec.time_s, ""))
        elif rec.kind == TO_DEVICE:
            for msg in commands.setdefault(rec.device, FrameDecoder()).feed(rec.data):
                if isinstance(msg, Command):
                    host.observe_command(msg, rec.time_s)
        elif rec.kind == LOST and host.session is not None:
            on_event(DeviceEvent("disconnected", host.session.device_id, rec.time_s, "port lost"))
    return header
