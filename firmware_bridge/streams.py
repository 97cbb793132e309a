"""The standard streams (a force plate, an IMU, a speed sensor) as their HELLOs describe
them, simple synthetic sources, and the two-device demo rig of `virtual-devices`.
The realistic sprint model is the simulator's (firmware_bridge/simulator/)."""

from __future__ import annotations

import math

import numpy as np

from .codec import Channel, ChannelInfo, Placement, SensorKind, StreamInfo, Unit
from .physics import GRAVITY_M_S2, STANDARD_GRAVITY_M_S2
from .virtual import McuModel, VirtualStream

INT16_MAX = 32767  # full scale of a 16-bit sample


def contact_force_source(body_mass_kg: float = 75.0, step_hz: float = 4.0, contact_s: float = 0.12):
    """Half-sine vertical force contacts with braking then propulsion, repeating."""
    weight = body_mass_kg * GRAVITY_M_S2
    peak = weight * math.pi / 2 / (contact_s * step_hz)  # mean force over a step = body weight

    def source(t: np.ndarray) -> np.ndarray:
        phase = np.mod(t * step_hz, 1.0) / step_hz
        on = phase < contact_s
        s = np.where(on, np.sin(np.pi * phase / contact_s), 0.0)
        fz = peak * s
        fy = np.where(on, -0.3 * peak * np.sin(2 * np.pi * phase / contact_s), 0.0)
        return np.column_stack([np.zeros_like(t), fy, fz])

    return source


def swinging_shank_source(step_hz: float = 4.0, peak_deg_s: float = 900.0):
    def source(t: np.ndarray) -> np.ndarray:
        w = 2 * np.pi * step_hz / 2
        gy = peak_deg_s * np.sin(w * t)
        ax = 20.0 * np.cos(w * t)
        zeros = np.zeros_like(t)
        return np.column_stack([zeros, gy, zeros, ax, zeros, np.full_like(t, -GRAVITY_M_S2)])

    return source


def force_plate_stream(stream_id: int = 0, rate_hz: float = 1000.0, index: int = 0) -> StreamInfo:
    chans = tuple(ChannelInfo(c, Unit.NEWTON, 0.25) for c in (Channel.FX, Channel.FY, Channel.FZ))
    return StreamInfo(
        stream_id, SensorKind.FORCE_3AXIS, Placement.FORCE_PLATE, rate_hz, chans, index
    )


def imu_stream(placement: Placement, stream_id: int = 0, rate_hz: float = 1000.0) -> StreamInfo:
    gyro = tuple(
        ChannelInfo(c, Unit.DEG_PER_S, 2000.0 / INT16_MAX)
        for c in (Channel.GX, Channel.GY, Channel.GZ)
    )
    accel = tuple(
        ChannelInfo(c, Unit.M_PER_S2, 16 * STANDARD_GRAVITY_M_S2 / INT16_MAX)
        for c in (Channel.AX, Channel.AY, Channel.AZ)
    )
    return StreamInfo(stream_id, SensorKind.IMU_6AXIS, placement, rate_hz, gyro + accel)


def speed_stream(stream_id: int = 0, rate_hz: float = 100.0) -> StreamInfo:
    chans = (ChannelInfo(Channel.VELOCITY, Unit.M_PER_S, 0.001),)
    return StreamInfo(stream_id, SensorKind.SPEED, Placement.TRACKSIDE, rate_hz, chans)


def demo_devices(clock_ppm: tuple[float, float] = (50.0, -50.0)) -> list[McuModel]:
    """Two devices for the foundation demo: a force plate and a shank IMU."""
    plate = McuModel(
        0x5353_0000_0000_0001,
        "plate-0",
        [VirtualStream(force_plate_stream(), contact_force_source(), batch_size=20)],
        clock_ppm=clock_ppm[0],
        clock_offset_us=123_456.0,
    )
    shank = McuModel(
        0x5353_0000_0000_0002,
        "shank-left",
        [VirtualStream(imu_stream(Placement.SHANK_LEFT), swinging_shank_source(), batch_size=10)],
        clock_ppm=clock_ppm[1],
        clock_offset_us=4_000_000_000.0,  # wraps 32 bits after ~5 minutes
    )
    return [plate, shank]
