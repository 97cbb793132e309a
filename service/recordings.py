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
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from firmware_bridge.codec import Channel, ChannelInfo, Placement, SensorKind, StreamInfo, Unit
from firmware_bridge.device import SampleBlock
from firmware_bridge.errors import StridesyncError
from firmware_bridge.physics import STANDARD_GRAVITY_M_S2
from firmware_bridge.simulator import mocap

FORMATS = ("csv", "c3d", "wire")
CHUNK = 64


class error(StridesyncError):
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


# What a sensor can read, generously (a sprinter's ground reaction peaks at ~3 kN, a
# radar reads to ~40 m/s, a shank gyro and accelerometer clip at 2000 deg/s and 16 g):
# a value beyond is a damaged file, not a measurement (1e308 N gave a peak of 1e305
# body weights, and exit 0).
MAX_ABS = {"force": 50_000.0, "speed": 100.0, "gyro": 20_000.0, "accel": 2_000.0}
MAX_HEADER_BYTES = 65536  # a CSV recording's first line; a 10 MB one is not one


def _checked(path: Path, what: str, values: np.ndarray, columns: list[str]) -> None:
    """Every value a finite number within what a sensor reads, else `error` naming the
    first that is not (a recording with a hole is not replayed as if it had none)."""
    bad = ~np.isfinite(values) | (np.abs(values) > MAX_ABS[what])
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise error(
            f"{path}: row {row + 2}, column {columns[col]}: {values[row, col]!r} is not a"
            f" {what} a sensor reads (every cell must be a finite number within"
            f" ±{MAX_ABS[what]:g})"
        )


def _read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """The header and the numbers of a CSV recording, or `error` with why in one line.
    The header is read bounded (a 10 MB line is no header) and the rows by numpy's
    parser: memory in proportion to the numbers."""
    try:
        with open(path, "rb") as f:
            head = f.readline(MAX_HEADER_BYTES + 1)
        text = head.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not a CSV recording ({exc.__class__.__name__})") from None
    if len(head) > MAX_HEADER_BYTES or "\x00" in text or not text.strip():
        raise error(f"{path}: not a CSV recording (no header line of column names)")
    header = [name.strip() for name in next(csv.reader([text]))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty input": said below
            data = np.loadtxt(
                path, delimiter=",", skiprows=1, ndmin=2, encoding="utf-8-sig", dtype=float
            )
    except (ValueError, UnicodeDecodeError) as exc:
        why = str(exc).splitlines()[0][:160]
        raise error(f"{path}: not a CSV recording of numbers ({why})") from None
    if data.shape[0] == 0:
        raise error(f"{path}: a CSV recording needs rows of samples under its header")
    if data.shape[1] != len(header):
        raise error(f"{path}: {data.shape[1]} values a row, {len(header)} column names")
    return header, data


def _rate(t: np.ndarray, path: Path) -> float:
    dt = np.diff(t)
    if len(t) < 3 or not np.all(dt > 0):
        raise error(f"{path}: time column is not increasing")
    return float(1.0 / np.median(dt))


def _csv_blocks(path: Path, chunk: int) -> Iterator[SampleBlock]:
    header, data = _read_csv(path)
    col = {name: i for i, name in enumerate(header)}
    time_col = next((c for c in ("time_s", "time") if c in col), None)
    if time_col is not None:
        _checked(path, "speed", data[:, [col[time_col]]], [time_col])  # finite times
    fz_cols = [c for c in col if c.startswith("fp") and c.endswith("_fz_n")]
    if "time_s" in col and fz_cols:
        forces = [i for c, i in col.items() if c.startswith("fp") and c.endswith("_n")]
        _checked(path, "force", data[:, forces], [header[i] for i in forces])
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
        _checked(path, "speed", data[:, [col["velocity"]]], ["velocity"])
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
    for columns in imu.values():
        for k, what in ((slice(0, 3), "gyro"), (slice(3, 6), "accel")):
            cols = [i for i, _ in columns[k]]
            scaled = data[:, cols] * np.array([f for _, f in columns[k]])
            _checked(path, what, scaled, [list(col)[i] for i in cols])
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
        t, values = mocap.ground_reaction(path)
    except mocap.error as exc:
        raise error(str(exc)) from None
    _checked(path, "force", values, ["fx", "fy", "fz"])
    if len(t) < 3:
        raise error(f"{path}: a C3D file with no force samples")
    return t, values


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
