"""Stridesync wire protocol, version 1: what the messages are (enums, message types,
limits). How they are laid out in bytes is codec.py's; docs/protocol.md has both."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import numpy as np

from .errors import StridesyncError

PROTOCOL_VERSION = 1
MAX_BODY_BYTES = 1024
# COBS adds one byte per 254 plus one; anything longer is not a frame of ours.
MAX_ENCODED_BYTES = MAX_BODY_BYTES + MAX_BODY_BYTES // 254 + 2
DELIMITER = b"\x00"
ALL_STREAMS = 0xFF


class error(StridesyncError):
    """A body that is not a valid protocol v1 message."""


class UnsupportedVersion(error):
    def __init__(self, version: int):
        super().__init__(f"protocol version {version} (this host speaks {PROTOCOL_VERSION})")
        self.version = version


class MsgType(IntEnum):
    # MCU -> host
    HELLO = 0x01
    SAMPLES = 0x02
    CLOCK = 0x03
    ACK = 0x04
    # host -> MCU
    IDENTIFY = 0x80
    START = 0x81
    STOP = 0x82
    TARE = 0x83
    CLOCK_QUERY = 0x84


COMMAND_TYPES = frozenset(
    {MsgType.IDENTIFY, MsgType.START, MsgType.STOP, MsgType.TARE, MsgType.CLOCK_QUERY}
)


class SensorKind(IntEnum):
    FORCE_3AXIS = 1
    FORCE_VERTICAL = 2
    IMU_6AXIS = 3
    SPEED = 4


class Placement(IntEnum):
    UNSPECIFIED = 0
    FORCE_PLATE = 1
    TREADMILL = 2
    SHANK_LEFT = 3
    SHANK_RIGHT = 4
    THIGH_LEFT = 5
    THIGH_RIGHT = 6
    TRUNK = 7
    PELVIS = 8
    WRIST_LEFT = 9
    WRIST_RIGHT = 10
    TRACKSIDE = 11


class Channel(IntEnum):
    FX = 1  # mediolateral force, + to the athlete's right
    FY = 2  # anterior-posterior force, + in the direction of travel
    FZ = 3  # vertical force, + up
    GX = 4  # angular velocity about the anterior axis
    GY = 5  # angular velocity about the mediolateral axis (sagittal plane)
    GZ = 6  # angular velocity about the segment's long axis
    AX = 7
    AY = 8
    AZ = 9
    VELOCITY = 10
    DISTANCE = 11


class Unit(IntEnum):
    NEWTON = 1
    DEG_PER_S = 2
    M_PER_S2 = 3
    M_PER_S = 4
    METRE = 5


UNIT_SYMBOL = {
    Unit.NEWTON: "N",
    Unit.DEG_PER_S: "deg/s",
    Unit.M_PER_S2: "m/s^2",
    Unit.M_PER_S: "m/s",
    Unit.METRE: "m",
}


class SampleFormat(IntEnum):
    INT16 = 1
    INT32 = 2


_DTYPE: dict[SampleFormat, np.dtype] = {
    SampleFormat.INT16: np.dtype("<i2"),
    SampleFormat.INT32: np.dtype("<i4"),
}

# Channels each kind must carry, in this order (extra channels may follow).
REQUIRED_CHANNELS = {
    SensorKind.FORCE_3AXIS: (Channel.FX, Channel.FY, Channel.FZ),
    SensorKind.FORCE_VERTICAL: (Channel.FZ,),
    SensorKind.IMU_6AXIS: (
        Channel.GX,
        Channel.GY,
        Channel.GZ,
        Channel.AX,
        Channel.AY,
        Channel.AZ,
    ),
    SensorKind.SPEED: (Channel.VELOCITY,),
}


class AckStatus(IntEnum):
    OK = 0
    UNKNOWN_COMMAND = 1
    BAD_ARGUMENT = 2
    BUSY = 3


# --- messages -------------------------------------------------------------


@dataclass(frozen=True)
class ChannelInfo:
    channel: Channel
    unit: Unit
    scale: float  # value = raw * scale + offset, in `unit`
    offset: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.channel.name.lower()}_{UNIT_SYMBOL[self.unit]}"


@dataclass(frozen=True)
class StreamInfo:
    stream_id: int
    kind: SensorKind
    placement: Placement
    sample_rate_hz: float
    channels: tuple[ChannelInfo, ...]
    index: int = 0  # position in a row of like sensors, e.g. plate 0, 1, 2 along a runway
    sample_format: SampleFormat = SampleFormat.INT16

    @property
    def dtype(self) -> np.dtype:
        return _DTYPE[self.sample_format]

    @property
    def bytes_per_sample(self) -> int:
        return self.dtype.itemsize * len(self.channels)

    def scales(self) -> tuple[np.ndarray, np.ndarray]:
        scale = np.array([c.scale for c in self.channels], dtype=np.float64)
        offset = np.array([c.offset for c in self.channels], dtype=np.float64)
        return scale, offset


@dataclass(frozen=True)
class Hello:
    device_id: int
    firmware: tuple[int, int, int]
    name: str
    streams: tuple[StreamInfo, ...]

    def stream(self, stream_id: int) -> StreamInfo | None:
        for s in self.streams:
            if s.stream_id == stream_id:
                return s
        return None

    @property
    def device_hex(self) -> str:
        return f"{self.device_id:016x}"


class SampleBatch(NamedTuple):
    """One SAMPLES frame. A named tuple, not a dataclass: one is made a frame, and a
    tuple is made in a fraction of the time (the decoder's C part gives its fields)."""

    stream_id: int
    first_sample: int  # u32 index of the first sample since streaming started
    overflow: int  # u16 cumulative count of samples the MCU had to drop
    mcu_time_us: int  # u32 MCU clock when the first sample was taken
    n_samples: int
    data: bytes

    def __repr__(self) -> str:
        return (
            f"SampleBatch(stream_id={self.stream_id}, first_sample={self.first_sample},"
            f" overflow={self.overflow}, mcu_time_us={self.mcu_time_us},"
            f" n_samples={self.n_samples})"
        )

    def raw(self, stream: StreamInfo) -> np.ndarray:
        """Raw integer samples, shape (n_samples, n_channels)."""
        values = np.frombuffer(self.data, dtype=stream.dtype)
        return values.reshape(self.n_samples, len(stream.channels))


@dataclass(frozen=True)
class ClockReply:
    token: int
    mcu_time_us: int


@dataclass(frozen=True)
class Ack:
    command: int
    token: int
    status: AckStatus


@dataclass(frozen=True)
class Command:
    type: MsgType
    token: int
    stream_id: int = ALL_STREAMS  # only TARE uses it


Message = Hello | SampleBatch | ClockReply | Ack | Command
