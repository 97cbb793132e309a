"""A real lab trial as a rig of virtual MCUs: its force plates as recorded, and the
IMUs its motion capture implies (mocap.py) as a strapped sensor would report them
(sensor.py), all speaking the wire protocol.

`trial_rig()` gives the MCU models (their sources replay the derived arrays,
pure functions of time) and the trial's plate contacts with their feet (the
ground truth); `write_trial()` runs them through the simulated USB link into a
wire capture, so the engine meets a real trial exactly as it meets a live rig.
Used by the tests on real kinematics (tests/test_imu_real.py) and by
docs/validation.md's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

from ..capture import CaptureWriter
from ..codec import Placement
from ..linksim import SimLink
from ..streams import force_plate_stream, imu_stream
from ..virtual import McuModel, VirtualStream
from . import mocap, sensor

LEAD_S = 2.0  # before the trial: the host connects and learns the clocks
TAIL_S = 1.0
EDGE_S = 0.05  # left out at each end of the derived IMU signals
PLACEMENTS = {
    "shank-left": Placement.SHANK_LEFT,
    "shank-right": Placement.SHANK_RIGHT,
    "thigh-left": Placement.THIGH_LEFT,
    "thigh-right": Placement.THIGH_RIGHT,
    "trunk": Placement.TRUNK,
}
SHANKS = ("shank-left", "shank-right")
GYRO_FILTER_HZ = 50.0  # the rotation a skin-mounted gyro sees (mocap.stride_templates)


@dataclass(frozen=True)
class Contact:
    ic_s: float  # on the rig's clock (the trial starts at LEAD_S)
    to_s: float
    foot: str


class _Replay:
    """A source replaying (time, values) arrays once a lap (every `lap_s`, `laps`
    times), reading `rest` outside them; after `live_laps` it reads zeros (a plate the
    athlete no longer runs over)."""

    def __init__(self, t, values, lap_s, laps, live_laps=None, rest=None):
        self.t, self.values, self.lap_s, self.laps = t, values, lap_s, laps
        self.live_laps = laps if live_laps is None else live_laps
        self.rest = np.zeros(values.shape[1]) if rest is None else rest

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        lap = np.clip(np.floor(t / self.lap_s), 0, self.laps - 1)
        local = t - lap * self.lap_s
        out = np.column_stack(
            [np.interp(local, self.t, self.values[:, c]) for c in range(self.values.shape[1])]
        )
        outside = (local < self.t[0]) | (local > self.t[-1])
        out[outside] = self.rest
        out[lap >= self.live_laps] = 0.0
        return out


def _imu_replay(t_s, gyro, accel, lap_s: float, laps: int) -> _Replay:
    """An IMU's samples replayed every lap. Outside the trial the sensor is still, in
    the trial's mean posture (a stride's mean kinematic acceleration is ~0: the mean
    is gravity's), so that an orientation filter starts the trial settled."""
    edge = int(EDGE_S * 1000)
    keep = slice(edge, len(t_s) - edge)  # the splines' ends ring
    values = np.column_stack([gyro, accel])[keep]
    rest = np.concatenate([np.zeros(3), values[:, 3:].mean(axis=0)])
    return _Replay(t_s[keep], values, lap_s, laps, rest=rest)


def trial_rig(
    c3d_path: str | Path,
    body_mass_kg: float,
    seed: int = 0,
    effects: sensor.SensorEffects | None = None,
    placements: tuple[str, ...] = SHANKS,
    plates: bool = True,
    laps: int = 1,
    plate_laps: int | None = None,
) -> tuple[list[McuModel], list[Contact], float]:
    """(MCU models, the plate contacts of every lap, duration of the session in s).

    With `laps`, the trial is run again every LEAD_S + its length + TAIL_S (the same
    motion, the sensors' noise drawn once); the plates see only the first
    `plate_laps` laps (default: all), so that later laps are IMU-only."""
    effects = effects or sensor.SensorEffects()
    rng = np.random.default_rng(seed)
    trial = mocap.read_trial(c3d_path)
    gyro_trial = mocap.read_trial(c3d_path, GYRO_FILTER_HZ)
    t_force, force = mocap.ground_reaction(c3d_path)
    start = trial.time_s[0]
    contacts = [
        (t_force[i], t_force[j], mocap.foot_of(trial, t_force[i], t_force[j]))
        for i, j in mocap.plate_contacts(t_force, force[:, 2])
    ]
    models: list[McuModel] = []

    def mcu(name: str, stream: VirtualStream) -> None:
        models.append(
            McuModel(
                device_id=0x5354_5249_0000_0000 + len(models) + 1,  # "STRI" + number
                name=name,
                streams=[stream],
                clock_ppm=float(rng.uniform(-40.0, 40.0)),
                clock_offset_us=float(rng.uniform(0, 2**32)),
            )
        )

    lap_s = LEAD_S + (trial.time_s[-1] - start) + TAIL_S
    if plates:
        source = _Replay(t_force - start + LEAD_S, force, lap_s, laps, plate_laps)
        info = force_plate_stream(0, rate_hz=1.0 / float(np.median(np.diff(t_force))))
        mcu("plates", VirtualStream(info, source, batch_size=15))
    for name in placements:
        t, gyro, accel, shock = _imu(
            trial, gyro_trial, name, contacts, t_force, force, body_mass_kg
        )
        gyro, accel = sensor.apply(t, gyro, accel, effects, rng, shock)
        source = _imu_replay(t - start + LEAD_S, gyro, accel, lap_s, laps)
        mcu(name, VirtualStream(imu_stream(PLACEMENTS[name]), source, batch_size=10))
    truth = [
        Contact(ic - start + LEAD_S + k * lap_s, to - start + LEAD_S + k * lap_s, foot)
        for k in range(laps)
        for ic, to, foot in contacts
    ]
    return models, truth, laps * lap_s


def _imu(trial, gyro_trial, name, contacts, t_force, force, body_mass_kg):
    """The segment's rate (from the less filtered markers), its specific force, and
    for a shank the shock of its own foot's contacts in its frame (else None)."""
    t, _, accel = mocap.imu_signals(trial, name)
    _, gyro, _ = mocap.imu_signals(gyro_trial, name)
    if not name.startswith("shank"):
        return t, gyro, accel, None
    foot = name.split("-")[1]
    own = np.zeros_like(force)
    for ic, to, f in contacts:
        if f == foot:
            near = (t_force >= ic - 0.01) & (t_force <= to + 0.01)
            own[near] = force[near]
    lab = sensor.shock_m_s2(t_force, own, body_mass_kg)
    lab_at = np.column_stack([np.interp(t, t_force, lab[:, k]) for k in range(3)])
    rot, _ = mocap.segment(trial, name)
    r = CubicSpline(trial.time_s, rot.reshape(len(rot), 9), axis=0)(t).reshape(-1, 3, 3)
    return t, gyro, accel, np.einsum("nji,nj->ni", r, lab_at)


def write_trial(models: list[McuModel], duration_s: float, out: str | Path, seed: int = 0) -> Path:
    """The rig through the simulated USB link into a wire capture at `out`."""
    out = Path(out)
    header = {
        "source": "stridesync recorded trial",
        "devices": [{"index": i, "name": m.name} for i, m in enumerate(models)],
    }
    with CaptureWriter(out, header) as rec:
        SimLink(models, None, None, seed, recorder=rec).run(duration_s)
    return out
