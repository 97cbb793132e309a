"""Sensor rigs: which virtual MCUs carry which sensors, for a session plan.

| rig | force | IMUs | speed |
| --- | --- | --- | --- |
| standard | 2 plates, 30-31.8 m from each rep's start (3-axis, 1 kHz, an MCU each) | 5 | 100 Hz |
| runway | 6 plates, 20-25.4 m from each rep's start (3-axis, 1 kHz, two MCUs of 3) | 5 | 100 Hz |
| treadmill | a force treadmill: every contact (3-axis, 1 kHz) | 5 | 100 Hz (belt) |
| imu | none | 5 | none |
| imu-speed | none | 5 | 100 Hz |

The five IMUs (1 kHz, one MCU each): shank left/right, thigh left/right, trunk.
"""

from __future__ import annotations

import numpy as np

from ..codec import Placement
from ..streams import force_plate_stream, imu_stream, speed_stream
from ..virtual import McuModel, VirtualStream
from .athlete import WALK, SessionPlan
from .limbs import ImuSource
from .signals import ForceSource, SpeedSource, TrunkSource

RIGS = ("standard", "runway", "treadmill", "imu", "imu-speed")
PLATE_LENGTH_M = 0.9
FOOT_AHEAD_M = 0.3  # the foot lands this far ahead of the body's reference point

IMUS = (
    ("shank-left", Placement.SHANK_LEFT, 0, "shank"),
    ("shank-right", Placement.SHANK_RIGHT, 1, "shank"),
    ("thigh-left", Placement.THIGH_LEFT, 0, "thigh"),
    ("thigh-right", Placement.THIGH_RIGHT, 1, "thigh"),
)


def plate_of_contact(plan: SessionPlan, rig: str) -> np.ndarray:
    """For each contact, the index of the plate it lands on, or -1."""
    s = plan.steps
    if rig == "treadmill":
        return np.zeros(len(s), dtype=int)
    if rig not in ("standard", "runway"):
        return np.full(len(s), -1)
    start, count = (30.0, 2) if rig == "standard" else (20.0, 6)
    # Every rep starts from the same line, so the plates lie at the same distance
    # from each rep's first contact (the plan's positions run on from rep to rep: the
    # athlete walks back only part of the way, and with the plates at a fixed place
    # on that line only the first rep crossed them: 1 step in 462 in the demo).
    line_m = np.full(len(s.rep), np.nan)
    for rep in np.unique(s.rep[s.rep > 0]):
        mine = s.rep == rep
        line_m[mine] = s.position_m[mine][0]
    foot_x = s.position_m - line_m + FOOT_AHEAD_M
    plate = np.floor(np.nan_to_num(foot_x - start, nan=-1.0) / PLATE_LENGTH_M).astype(int)
    # Between reps (walking back, jogging) the athlete is beside the runway.
    on = (s.rep > 0) & (plate >= 0) & (plate < count) & (s.phase != WALK)
    return np.where(on, plate, -1)


def build_rig(plan: SessionPlan, rig: str, seed: int = 0, noise: bool = True) -> list[McuModel]:
    if rig not in RIGS:
        raise ValueError(f"unknown rig {rig!r}; choose from {', '.join(RIGS)}")
    rng = np.random.default_rng(seed + 1000)
    models: list[McuModel] = []

    def mcu(name: str, streams: list[VirtualStream]) -> None:
        n = len(models) + 1
        models.append(
            McuModel(
                device_id=0x5353_5349_4D00_0000 + n,  # "SSSIM" + number
                name=name,
                streams=streams,
                clock_ppm=float(rng.uniform(-40.0, 40.0)),
                clock_offset_us=float(rng.uniform(0, 2**32)),
            )
        )

    plates = plate_of_contact(plan, rig)
    if rig == "treadmill":
        src = ForceSource(plan, plates == 0, seed=seed + 1, noise=noise, standing=True)
        info = force_plate_stream(0)
        info = type(info)(0, info.kind, Placement.TREADMILL, 1000.0, info.channels, 0)
        mcu("treadmill", [VirtualStream(info, src, batch_size=10)])
    elif rig in ("standard", "runway"):
        n_plates = 2 if rig == "standard" else 6
        per_mcu = 1 if rig == "standard" else 3
        for first in range(0, n_plates, per_mcu):
            streams = [
                VirtualStream(
                    force_plate_stream(k - first, index=k),
                    ForceSource(plan, plates == k, seed=seed + 10 + k, noise=noise),
                    batch_size=10,
                )
                for k in range(first, first + per_mcu)
            ]
            name = f"plate-{first}" if per_mcu == 1 else f"plates-{first}-{first + per_mcu - 1}"
            mcu(name, streams)
    for i, (name, placement, foot, segment) in enumerate(IMUS):
        imu = ImuSource(plan, foot, segment, seed=seed + 20 + i, noise=noise)
        mcu(name, [VirtualStream(imu_stream(placement), imu, batch_size=10)])
    trunk = TrunkSource(plan, seed=seed + 30, noise=noise)
    mcu("trunk", [VirtualStream(imu_stream(Placement.TRUNK), trunk, batch_size=10)])
    if rig in ("standard", "runway", "treadmill", "imu-speed"):
        speed = SpeedSource(plan, seed=seed + 40, noise=noise)
        # A sample a frame: speed is only 100 Hz, and waiting for five costs 50 ms.
        mcu("speed", [VirtualStream(speed_stream(), speed, batch_size=1)])
    return models
