"""Recordings as sample blocks, for the engine to replay.

- `csv`, forces: the layout of shared/data/dorn2012/*_forces.csv: `time_s`, then
  per plate `fpN_fx_n`, `fpN_fy_ap_n` (+ = direction of travel) and `fpN_fz_n`
  (+ up). The plates share one clock, so they are summed into one runway.
- `csv`, speed: `time` and `velocity` (m/s) columns, as shared/data/shorts.
- `csv`, IMUs: `time_s`, then per sensor `<placement>_<channel>_<unit>`: placement
  shank_left, shank_right, thigh_left, thigh_right, trunk or pelvis; channels gx,
  gy, gz (unit deg_s or rad_s) and ax, ay, az (m_s2 or g), in the segment frame
  of docs/protocol.md (x forward, y right, z down the segment).
- `c3d`: force plates of type 2 (Fx Fy Fz Mx My Mz) in the FORCE_PLATFORM
  group, read with the `c3d` package. Ground reaction is minus the force on the
  plate; plates are summed; the anterior axis is the horizontal axis along which
  the loaded plates lie, and its sign the one in which contacts brake first.
- `wire`: a raw wire capture (`stridesync simulate --out`, or recorded live),
  replayed through the host protocol as if live.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from firmware_bridge.codec import Channel, ChannelInfo, Placement, SensorKind, StreamInfo, Unit
from firmware_bridge.device import SampleBlock
from firmware_bridge.physics import STANDARD_GRAVITY_M_S2
from firmware_bridge.simulator import mocap

FORMATS = ("csv", "c3d", "wire")
CHUNK = 64


class error(Exception):
    """A file that is not a recording we can read; one line for the user."""


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".c3d":
        return "c3d"
    if suffix == ".csv":
        return "csv"
    return "wire"


def blocks(path: str | Path, fmt: str | None = None, chunk: int = CHUNK) -> Iterator[SampleBlock]:
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        return _csv_blocks(path, chunk)
    if fmt == "c3d":
        return _c3d_blocks(path, chunk)
    if fmt == "wire":
        return _wire_blocks(path)
    raise error(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def _stream(kind: SensorKind, placement: Placement, rate_hz: float, chans) -> StreamInfo:
    infos = tuple(ChannelInfo(c, u, 1.0) for c, u in chans)
    return StreamInfo(0, kind, placement, rate_hz, infos)


def _chunks(stream: StreamInfo, name: str, t: np.ndarray, values: np.ndarray, chunk: int):
    for i in range(0, len(t), chunk):
        yield SampleBlock(0, name, stream, i, t[i : i + chunk], values[i : i + chunk])


def _rate(t: np.ndarray, path: Path) -> float:
    dt = np.diff(t)
    if len(t) < 3 or not np.all(dt > 0):
        raise error(f"{path}: time column is not increasing")
    return float(1.0 / np.median(dt))


def _csv_blocks(path: Path, chunk: int) -> Iterator[SampleBlock]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f))
        data = np.genfromtxt(path, delimiter=",", skip_header=1, encoding="utf-8-sig")
    except (StopIteration, UnicodeDecodeError, ValueError) as exc:
        raise error(f"{path}: not a CSV recording ({exc.__class__.__name__})") from None
    data = np.atleast_2d(data)
    col = {name.strip(): i for i, name in enumerate(header)}
    fz_cols = [c for c in col if c.startswith("fp") and c.endswith("_fz_n")]
    if "time_s" in col and fz_cols:
        t = data[:, col["time_s"]]
        plates = [c[: -len("_fz_n")] for c in fz_cols]
        fx = sum(data[:, col[f"{p}_fx_n"]] for p in plates if f"{p}_fx_n" in col)
        fy = sum(data[:, col[f"{p}_fy_ap_n"]] for p in plates if f"{p}_fy_ap_n" in col)
        fz = sum(data[:, col[c]] for c in fz_cols)
        n = np.zeros_like(t)
        values = np.column_stack([fx if np.ndim(fx) else n, fy if np.ndim(fy) else n, fz])
        stream = _stream(
            SensorKind.FORCE_3AXIS,
            Placement.FORCE_PLATE,
            _rate(t, path),
            [(Channel.FX, Unit.NEWTON), (Channel.FY, Unit.NEWTON), (Channel.FZ, Unit.NEWTON)],
        )
        return _chunks(stream, "runway", t, values, chunk)
    imu = _imu_columns(col, path)
    if "time_s" in col and imu:
        return _imu_blocks(data, col, imu, path, chunk)
    if "time" in col and "velocity" in col:
        t = data[:, col["time"]]
        v = data[:, col["velocity"]][:, None]
        stream = _stream(
            SensorKind.SPEED,
            Placement.TRACKSIDE,
            _rate(t, path),
            [(Channel.VELOCITY, Unit.M_PER_S)],
        )
        return _chunks(stream, "speed", t, v, chunk)
    raise error(
        f"{path}: a CSV recording needs time_s and fpN_fz_n columns (forces, the layout of"
        " dorn2012 *_forces.csv) or time and velocity columns (speed)"
    )


IMU_PLACEMENTS = {
    "shank_left": Placement.SHANK_LEFT,
    "shank_right": Placement.SHANK_RIGHT,
    "thigh_left": Placement.THIGH_LEFT,
    "thigh_right": Placement.THIGH_RIGHT,
    "trunk": Placement.TRUNK,
    "pelvis": Placement.PELVIS,
}
IMU_CHANNELS = ("gx", "gy", "gz", "ax", "ay", "az")
# unit suffix -> (unit of the stream, factor to it)
IMU_UNITS = {
    "deg_s": (Unit.DEG_PER_S, 1.0),
    "rad_s": (Unit.DEG_PER_S, 180.0 / np.pi),
    "m_s2": (Unit.M_PER_S2, 1.0),
    "g": (Unit.M_PER_S2, STANDARD_GRAVITY_M_S2),
}


def _imu_columns(col: dict[str, int], path: Path) -> dict[str, list[tuple[int, float]]]:
    """IMU columns `<placement>_<channel>_<unit>` (docs/scoring.md, "Replay"): per
    placement, the column and unit factor of gx, gy, gz, ax, ay, az."""
    found: dict[str, dict[str, tuple[int, float]]] = {}
    for name, i in col.items():
        for placement in IMU_PLACEMENTS:
            if not name.startswith(placement + "_"):
                continue
            channel, _, unit = name[len(placement) + 1 :].partition("_")
            if channel not in IMU_CHANNELS:
                continue
            if unit not in IMU_UNITS or (IMU_UNITS[unit][0] == Unit.DEG_PER_S) != (
                channel[0] == "g"
            ):
                raise error(
                    f"{path}: column {name}: a unit must end the name: gx/gy/gz in deg_s or"
                    " rad_s, ax/ay/az in m_s2 or g (e.g. shank_left_gy_deg_s)"
                )
            found.setdefault(placement, {})[channel] = (i, IMU_UNITS[unit][1])
    out = {}
    for placement, chans in found.items():
        missing = [c for c in IMU_CHANNELS if c not in chans]
        if missing:
            raise error(f"{path}: {placement} lacks {', '.join(missing)}")
        out[placement] = [chans[c] for c in IMU_CHANNELS]
    return out


def _imu_blocks(data, col, imu, path: Path, chunk: int) -> Iterator[SampleBlock]:
    """One stream per placement, each its own device, blocks in time order."""
    t = data[:, col["time_s"]]
    rate = _rate(t, path)
    units = [Unit.DEG_PER_S] * 3 + [Unit.M_PER_S2] * 3
    per_stream = []
    for k, (placement, columns) in enumerate(imu.items(), start=1):
        values = np.column_stack([data[:, i] * factor for i, factor in columns])
        stream = _stream(
            SensorKind.IMU_6AXIS,
            IMU_PLACEMENTS[placement],
            rate,
            list(zip([Channel[c.upper()] for c in IMU_CHANNELS], units, strict=True)),
        )
        per_stream.append(
            [
                SampleBlock(
                    k, placement.replace("_", "-"), b.stream, b.first_sample, b.time_s, b.values
                )
                for b in _chunks(stream, placement, t, values, chunk)
            ]
        )
    return iter(sorted((b for blocks in per_stream for b in blocks), key=lambda b: b.time_s[0]))


def c3d_ground_reaction(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Times and summed ground reaction force (fx, fy anterior +, fz up) of a C3D file."""
    try:
        return mocap.ground_reaction(path)
    except mocap.error as exc:
        raise error(str(exc)) from None


def _c3d_blocks(path: Path, chunk: int) -> Iterator[SampleBlock]:
    t, values = c3d_ground_reaction(path)
    stream = _stream(
        SensorKind.FORCE_3AXIS,
        Placement.FORCE_PLATE,
        1.0 / np.median(np.diff(t)),
        [(Channel.FX, Unit.NEWTON), (Channel.FY, Unit.NEWTON), (Channel.FZ, Unit.NEWTON)],
    )
    return _chunks(stream, "runway", t, values, chunk)


def _wire_blocks(path: Path) -> Iterator[SampleBlock]:
    from firmware_bridge.capture import error as CaptureError
    from firmware_bridge.capture import replay

    out: list[SampleBlock] = []
    try:
        replay(path, out.append, lambda event: None)
    except CaptureError as exc:
        raise error(str(exc)) from None
    return iter(out)
