"""Real lab trials from C3D files: their plates' ground reaction, and what IMUs
strapped to the shanks, thighs and trunk would have measured, derived from their
motion capture.

Method (docs/validation.md, "Real kinematics"):

1. Markers (mm) are filtered with a zero-lag 2nd-order Butterworth at 20 Hz run
   forwards and backwards (4th order in effect), the usual cut-off for running
   kinematics (Winter 2009), and the lab is turned so that the athlete runs
   along +Y with +Z up (+X is then the athlete's right).
2. Each segment gets a frame as docs/protocol.md defines it: z along the segment
   towards its distal end, y the athlete's right (the lab's +X, made orthogonal
   to z), x = y × z (anterior). The segments' own rotations about their long
   axes and out of the sagittal plane are left out (a lateral marker set gives
   them poorly); `sensor.py` adds mounting misalignment and off-sagittal motion.
   - shank: knee (lateral epicondyle) → ankle (lateral malleolus); the sensor at
     mid-shank.
   - thigh: hip joint centre (Bell et al. 1990: 14 % of the pelvic width
     posterior, 30 % inferior and 36 % medial of the ASIS) → knee; the sensor at
     mid-thigh.
   - trunk: C7 → sacrum; the sensor at T7.
3. Orientation R(t) and sensor position p(t) are splined (cubic, exact at the
   250 Hz frames) and sampled at the IMU's rate; angular velocity in the segment
   frame is vee(Rᵀ dR/dt), specific force Rᵀ (p̈ + g ẑ).

Motion capture sees the skeleton through skin markers and a 20 Hz filter: it
has no impact shock, no soft-tissue ringing and no sensor noise. Those are
`sensor.py`'s to add.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import butter, filtfilt

from ..errors import StridesyncError
from ..physics import STANDARD_GRAVITY_M_S2

G = STANDARD_GRAVITY_M_S2
FILTER_HZ = 20.0

# Dorn et al. (2012) marker names (a Vicon lower-body set with trunk markers).
SHANK = {"knee": "LEPI", "ankle": "LMAL"}
TRUNK = {"top": "C7", "bottom": "SACR", "sensor": "T7"}


class error(StridesyncError):
    """A file whose markers cannot give the segments."""


@dataclass
class Trial:
    """Markers in metres (lab turned: +Y the direction of travel, +Z up) at `time_s`."""

    time_s: np.ndarray
    markers: dict[str, np.ndarray]  # name -> (n, 3)
    rate_hz: float

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.markers[name]
        except KeyError:
            raise error(f"marker {name!r} missing") from None


def read_trial(path: str | Path, filter_hz: float = FILTER_HZ) -> Trial:
    """The markers of a C3D file, filtered, in the lab frame of the run."""
    import c3d

    with open(path, "rb") as f, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No analog data found")
        warnings.filterwarnings("ignore", "No point data found")
        reader = c3d.Reader(f)
        labels = [label.strip() for label in reader.point_labels]
        frames = np.array([p[:, :3] for _, p, _ in reader.read_frames(copy=True)])
        rate = float(reader.point_rate)
        start = (reader.first_frame - 1) / rate  # the plates' clock (service/recordings.py)
    if frames.size == 0:
        raise error(f"{path}: no marker data")
    xyz = frames / 1000.0
    b, a = butter(2, filter_hz / (rate / 2))
    markers = {}
    for k, name in enumerate(labels):
        m = xyz[:, k]
        if np.all(np.isfinite(m)) and np.any(m):
            markers[name] = filtfilt(b, a, m, axis=0)
    turn = _travel_turn(markers)
    markers = {k: v @ turn.T for k, v in markers.items()}
    return Trial(start + np.arange(len(xyz)) / rate, markers, rate)


def _travel_turn(markers: dict[str, np.ndarray]) -> np.ndarray:
    """A rotation about the vertical that points the run along +Y."""
    pelvis = markers.get("SACR")
    if pelvis is None:
        raise error("no sacrum marker to find the direction of travel")
    d = pelvis[-1] - pelvis[0]
    heading = np.arctan2(d[0], d[1])  # angle of travel from +Y towards +X
    c, s = np.cos(heading), np.sin(heading)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _frame(z_from: np.ndarray, z_to: np.ndarray) -> np.ndarray:
    """Rotation matrices (n, 3, 3) whose columns are the segment's x, y, z in the lab:
    z along the segment, y the lab's right (+X) made orthogonal to it, x = y × z."""
    z = z_to - z_from
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    right = np.array([1.0, 0.0, 0.0])
    y = right - np.sum(right * z, axis=1, keepdims=True) * z
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=2)


def hip_joint_centre(trial: Trial, side: str) -> np.ndarray:
    """Bell et al. (1990), from the two ASIS and the sacrum."""
    r, lft, sacr = trial["RASI"], trial["LASI"], trial["SACR"]
    width = np.linalg.norm(r - lft, axis=1, keepdims=True)
    lateral = (r - lft) / width  # to the right
    mid = (r + lft) / 2
    back = sacr - mid
    back -= np.sum(back * lateral, axis=1, keepdims=True) * lateral
    back /= np.linalg.norm(back, axis=1, keepdims=True)
    down = np.cross(back, lateral)  # back × right = down
    asis = r if side == "R" else lft
    inward = -lateral if side == "R" else lateral
    return asis + width * (0.14 * back + 0.30 * down + 0.36 * inward)


def segment(trial: Trial, placement: str) -> tuple[np.ndarray, np.ndarray]:
    """(rotation (n, 3, 3), sensor position (n, 3)) of 'shank-left', 'thigh-right',
    'trunk', ... at the trial's frames."""
    if placement == "trunk":
        top, bottom = trial[TRUNK["top"]], trial[TRUNK["bottom"]]
        return _frame(top, bottom), trial[TRUNK["sensor"]]
    segment_name, side_name = placement.split("-")
    side = {"left": "L", "right": "R"}[side_name]
    knee = trial[side + SHANK["knee"]]
    if segment_name == "shank":
        ankle = trial[side + SHANK["ankle"]]
        return _frame(knee, ankle), (knee + ankle) / 2
    if segment_name == "thigh":
        hip = hip_joint_centre(trial, side)
        return _frame(hip, knee), (hip + knee) / 2
    raise error(f"unknown placement {placement!r}")


def imu_signals(trial: Trial, placement: str, rate_hz: float = 1000.0):
    """(time_s, gyro deg/s (n, 3), specific force m/s² (n, 3)) in the segment frame."""
    rot, pos = segment(trial, placement)
    t = np.arange(trial.time_s[0], trial.time_s[-1], 1.0 / rate_hz)
    r_spline = CubicSpline(trial.time_s, rot.reshape(len(rot), 9), axis=0)
    p_spline = CubicSpline(trial.time_s, pos, axis=0)
    r = r_spline(t).reshape(-1, 3, 3)
    dr = r_spline(t, 1).reshape(-1, 3, 3)
    # Rᵀ Ṙ is skew-symmetric for a true rotation; its antisymmetric part is used,
    # since the splined matrices are only nearly orthonormal between frames.
    w = np.einsum("nji,njk->nik", r, dr)
    w = (w - np.transpose(w, (0, 2, 1))) / 2
    gyro = np.degrees(np.stack([w[:, 2, 1], w[:, 0, 2], w[:, 1, 0]], axis=1))
    accel_lab = p_spline(t, 2) + np.array([0.0, 0.0, G])
    accel = np.einsum("nji,nj->ni", r, accel_lab)
    return t, gyro, accel


def plate_contacts(time_s: np.ndarray, fz_n: np.ndarray, on_n: float = 20.0, off_n: float = 10.0):
    """(IC, TO) sample indices of each contact in a vertical force, by the usual
    20 N / 10 N hysteresis; contacts shorter than 30 ms (a brush) left out."""
    out, start = [], None
    for i, f in enumerate(fz_n):
        if start is None and f > on_n:
            start = i
        elif start is not None and f < off_n:
            if time_s[i] - time_s[start] >= 0.03:
                out.append((start, i))
            start = None
    return out


def foot_of(trial: Trial, ic_s: float, to_s: float) -> str:
    """'left' or 'right': the foot whose heel and toe are lowest in mid-contact."""
    k = int(np.searchsorted(trial.time_s, (ic_s + to_s) / 2))
    height = {
        side: min(trial[side + "HEEL"][k, 2], trial[side + "TOE"][k, 2]) for side in ("L", "R")
    }
    return "left" if height["L"] < height["R"] else "right"


STANCE_POINTS, SWING_POINTS = 100, 200  # 1.2 ms and 1.7 ms apart at sprint


def stride_templates(c3d_path: str | Path, filter_hz: float = 50.0) -> dict[str, np.ndarray]:
    """Sagittal angular velocity of the shank and thigh over each whole stride on the
    plates (IC and TO from the force, the next IC of the same foot too), resampled
    to STANCE_POINTS over the stance and SWING_POINTS over the swing, divided by
    that stride's shank swing peak, averaged over the strides and both legs.

    The markers are filtered at 50 Hz here, not 20: a skin-mounted gyro sees the
    shank's rotation at foot strike (the retraction stopped at once) that a 20 Hz
    filter smears over 20 ms, and a single derivative of marker positions stays
    quiet at 50 Hz (0.2 mm of marker noise on a 0.4 m shank: ~5 deg/s)."""
    trial = read_trial(c3d_path, filter_hz)
    t_f, force = ground_reaction(c3d_path)
    contacts = [(t_f[i], t_f[j]) for i, j in plate_contacts(t_f, force[:, 2])]
    feet = [foot_of(trial, ic, to) for ic, to in contacts]
    rows: dict[str, list[np.ndarray]] = {"shank": [], "thigh": []}
    peaks_at: list[float] = []
    for k, ((ic, to), foot) in enumerate(zip(contacts, feet, strict=True)):
        nxt = [c for c, f in zip(contacts[k + 1 :], feet[k + 1 :], strict=True) if f == foot]
        if not nxt:
            continue
        ic_next = nxt[0][0]
        grid = np.concatenate(
            [
                ic + (to - ic) * np.arange(STANCE_POINTS) / STANCE_POINTS,
                to + (ic_next - to) * np.arange(SWING_POINTS) / SWING_POINTS,
            ]
        )
        curves = {}
        for seg in rows:
            t, gyro, _ = imu_signals(trial, f"{seg}-{foot}")
            curves[seg] = np.interp(grid, t, gyro[:, 1])
        peak = curves["shank"][STANCE_POINTS:].max()
        peaks_at.append(float(np.argmax(curves["shank"][STANCE_POINTS:])) / SWING_POINTS)
        for seg, curve in curves.items():
            rows[seg].append(curve / peak)
    if not rows["shank"]:
        raise error(f"{c3d_path}: no whole stride on the plates")
    out = {seg: np.mean(curves, axis=0) for seg, curves in rows.items()}
    # Where the shank's swing peak comes, the mean over the strides (the average
    # curve's own peak is broader, and later if the strides' peaks differ).
    out["swing_peak_at"] = np.array([np.mean(peaks_at)])
    return out


MAX_C3D_FRAMES = 10_000_000  # a day at 100 Hz: a larger count is a damaged header


def ground_reaction(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Times and summed ground reaction force (fx, fy anterior +, fz up) of a C3D file:
    type 2 plates (Fx Fy Fz Mx My Mz); ground reaction is minus the force on the
    plate; the anterior axis is the horizontal one along which the loaded plates
    lie, and its sign the one in which contacts brake first."""
    import c3d

    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            # The later filter is tried first: plates only (no points) is fine, any
            # other warning (a file cut short) makes the file not readable.
            warnings.filterwarnings("error")
            warnings.filterwarnings("ignore", "No point data found")
            reader = c3d.Reader(f)
            frames = reader.last_frame - reader.first_frame + 1
            if not 0 < frames <= MAX_C3D_FRAMES:
                raise ValueError(f"{frames} frames")
            analog = np.hstack([a for _, _, a in reader.read_frames(copy=True)])
            if analog.shape[1] != frames * reader.analog_per_frame:
                raise ValueError(f"{analog.shape[1]} analog samples of {frames} frames: cut short")
            fp = reader.get("FORCE_PLATFORM")
            channels = fp.get("CHANNEL").int16_array if fp else None
            corners = fp.get("CORNERS").float_array if fp and fp.get("CORNERS") else None
            types = fp.get("TYPE").int16_array if fp else None
            start = (reader.first_frame - 1) / reader.point_rate
            rate = reader.analog_rate
    except Exception as exc:  # an untrusted file: whatever the reader meets, one line
        why = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]  # one line
        raise error(f"{path}: not a readable C3D file ({why})") from None
    if not (np.isfinite(rate) and rate > 0 and np.isfinite(start)):
        raise error(f"{path}: not a readable C3D file (analog rate {rate})")
    if channels is None or types is None or not len(types):
        raise error(f"{path}: the C3D file has no force plates")
    if any(tp != 2 for tp in np.ravel(types)):
        raise error(f"{path}: only type 2 force plates (Fx Fy Fz Mx My Mz) are supported")
    chans = np.asarray(channels).reshape(len(types), -1)
    # Ground reaction is the opposite of the force the foot puts on the plate.
    per_plate = np.stack([-analog[chans[p, :3] - 1] for p in range(len(types))])  # (plate, xyz, n)
    grf = per_plate.sum(axis=0)
    t = start + np.arange(grf.shape[1]) / rate
    ap_axis = _anterior_axis(per_plate, corners)
    fy = grf[ap_axis]
    fx = grf[1 - ap_axis]
    fy = fy * _travel_sign(fy, grf[2])
    return t, np.column_stack([fx, fy, grf[2]])


def _anterior_axis(per_plate: np.ndarray, corners) -> int:
    loaded = np.flatnonzero(per_plate[:, 2].max(axis=1) > 200.0)
    if corners is not None and len(loaded) >= 2:
        centres = np.asarray(corners).reshape(-1, 4, 3).mean(axis=1)[loaded]
        spread = centres[:, :2].max(axis=0) - centres[:, :2].min(axis=0)
        return int(np.argmax(spread))
    impulse = np.abs(per_plate[:, :2].sum(axis=0)).sum(axis=1)
    return int(np.argmax(impulse))


def _travel_sign(fy: np.ndarray, fz: np.ndarray) -> float:
    """Running contacts brake first: the first 30 % of each contact's AP force is < 0."""
    on = np.flatnonzero(np.diff((fz > 20.0).astype(int)))
    early = 0.0
    for a, b in zip(on[::2], on[1::2], strict=False):
        n = max((b - a) * 3 // 10, 1)
        early += fy[a + 1 : a + 1 + n].sum()
    return -1.0 if early > 0 else 1.0


STEP_POINTS = 100


def trunk_template(c3d_path: str | Path) -> np.ndarray:
    """The trunk's sagittal pitch (deg, + leaning forward) over each pair of steps on
    the plates (IC to the next IC to the one after: a stride), STEP_POINTS a step,
    less its mean and its drift over the stride, averaged over the strides, each
    turned to start at a left contact: the trunk's own rock within a stride (a left
    step, then a right), which the simulator adds to its lean."""
    trial = read_trial(c3d_path)
    t_f, force = ground_reaction(c3d_path)
    contacts = [(t_f[i], t_f[j]) for i, j in plate_contacts(t_f, force[:, 2])]
    ics = [ic for ic, _ in contacts]
    feet = [foot_of(trial, ic, to) for ic, to in contacts]
    rot, _ = segment(trial, "trunk")
    # The trunk's z axis points down it: leaning forward tilts it back (-y lab).
    lean = np.degrees(np.arctan2(-rot[:, 1, 2], -rot[:, 2, 2]))
    strides = []
    for k, (a, b, c) in enumerate(zip(ics, ics[1:], ics[2:], strict=False)):
        grid = np.concatenate(
            [
                a + (b - a) * np.arange(STEP_POINTS) / STEP_POINTS,
                b + (c - b) * np.arange(STEP_POINTS) / STEP_POINTS,
            ]
        )
        pitch = np.interp(grid, trial.time_s, lean)
        end = np.interp(c, trial.time_s, lean)
        pitch -= np.linspace(0.0, end - pitch[0], len(grid), endpoint=False)  # no drift
        if feet[k] == "right":  # a stride from a right contact: its halves the other way
            pitch = np.roll(pitch, -STEP_POINTS)
        strides.append(pitch - pitch.mean())
    if not strides:
        raise error(f"{c3d_path}: fewer than three contacts on the plates")
    return np.mean(strides, axis=0)
