"""The sensor model's foot-strike shock against a real shank accelerometer (issue 29).

Bach, Dominici & Daffertshofer (2022): seven treadmill jogs (2.2-2.4 m/s) with a
3-axis shank accelerometer (g, rails at -7.97 and +7.95 g, 1/64 g steps) and the
vertical force under the same leg, both at 142.857 Hz (../shared/data/bach2022/README.md).

Reference event: the force's initial contact (IC), where the force, low-passed by a
zero-lag 4th-order Butterworth at 30 Hz (scipy.signal.filtfilt), rises through 20 N
after at least 40 ms below 10 N (sub-sample time by linear interpolation). A rise
counts only if the force then stays at or above 20 N for 100 ms (a stance): the
flight's plate vibration reaches 20-34 N now and then.

Shock component, measured alike on the real and the modelled signals: each contact's
acceleration minus its level just before IC (the mean of the 3 samples 3-24 ms before
the force IC), so the leg's own motion (swing deceleration, gravity's re-orientation)
is held at that level (the models get the same level, so theirs is their shock
alone, but for clipping and 1/64 g steps). The vertical axis is the shank's long axis
pointing distally (standing it reads -1 g; trial 15's sensor is mounted the other way
up and is turned round): a shock (the shank pushed up) reads negative on it. The magnitude is |a| of
the three axes minus 1 g (standing), also taken relative to its pre-IC level.

Model: each trial's measured force, its contacts only (from the last sample at or
below 0 N before IC to the first after the stance, negatives set to 0, as
firmware_bridge/simulator/recorded.py keeps a foot's own contacts), PCHIP-resampled
to the simulator's 0.5 ms grid (firmware_bridge/simulator/limbs.py), through
sensor.shock_m_s2 with the subject's mass and into the shank frame as limbs.py
turns it (distal axis = -up), then sensor.wobble (35 Hz, damping ratio 0.3); added
to the real pre-IC level, sampled at the real sample times (point samples),
quantised to 1/64 g and clipped at the rails as this sensor would. The model's other
shock axis (forward, from the anterior force) is zero here: the treadmill gives no anterior force.
"proposal" is the same with the transient's high-pass of 1st order instead of 2nd
(20 Hz and 6.1 % of body mass kept): the change the report proposes, made here
only, not in sensor.py.

Per contact, on the shock component: peak size (g, searched 0-75 ms after IC), its
time after the force IC (ms, parabolic sub-sample peak; a clipped peak's time is the
middle of its clipped run and its size a lower bound), the 10-90 % rise time (ms,
linearly interpolated crossings), and the ringing: the first opposite-going extremum
within 60 ms after the peak, as a frequency 1 / (2 x peak-to-rebound time) and a
rebound ratio (rebound depth past the pre-IC level / peak size). At 143 Hz (4 samples
a cycle at 35 Hz) the ringing frequency measured this way does not resolve the skin
resonance: it mostly reflects the shock's own width (the model gives 19-23 Hz with a
35 Hz resonance, a 20 Hz one, or none).

    python docs/figures/shank_shock.py   # needs the 'docs' extra and ../shared/data
"""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.signal import butter, filtfilt, sosfilt

from firmware_bridge.simulator import sensor

HERE = Path(__file__).parent
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "bach2022"
G = sensor.G
RAIL_G, STEP_G = 7.953125, 1 / 64  # the real sensor's rails (-7.969, +7.953 g) and step
CLIPPED_G = 7.95
WINDOW_S = (-0.050, 0.150)  # around the force IC
PRE_S = (-0.024, -0.003)  # the pre-IC level
PEAK_S = (0.0, 0.075)  # where the shock's peak is looked for
RING_S = 0.060  # the rebound is looked for this long after the peak
FINE_S = 0.0005  # the simulator's shock grid
GRID_MS = np.arange(-50.0, 150.5, 1.0)  # the figure's common time axis


def read(path: Path) -> dict:
    """A trial: name, mass, time, acceleration (g; vertical distal), force (N)."""
    head = path.open().readline()
    mass = float(re.search(r"([\d.]+) kg", head).group(1))
    trial = re.search(r"trial (\d+)", head).group(1)
    d = np.loadtxt(path, delimiter=",", skiprows=2)
    acc = d[:, 1:4].copy()
    if np.median(acc[:, 0]) > 0:  # mounted the other way up: turn it round (x and y)
        acc[:, :2] *= -1
    return {"trial": trial, "mass": mass, "t": d[:, 0], "acc": acc, "force": d[:, 4]}


def contacts(t: np.ndarray, force: np.ndarray) -> list[tuple[float, int, int]]:
    """(IC time, first sample at or after IC, first sample after the stance) per contact."""
    fs = 1.0 / float(np.median(np.diff(t)))
    b, a = butter(4, 30.0 / (fs / 2))
    f = filtfilt(b, a, force)
    quiet = int(np.ceil(0.040 * fs))
    stance = int(np.ceil(0.100 * fs))
    out, run, armed = [], 0, False
    for i in range(1, len(f)):
        if armed and f[i - 1] < 20.0 <= f[i] and np.all(f[i : i + stance] >= 20.0):
            if i + stance <= len(f):
                frac = (20.0 - f[i - 1]) / (f[i] - f[i - 1])
                end = i + int(np.argmax(f[i:] < 20.0)) if np.any(f[i:] < 20.0) else len(f)
                out.append((t[i - 1] + frac * (t[i] - t[i - 1]), i, end))
            armed = False
        run = run + 1 if f[i] < 10.0 else 0
        armed = armed or run >= quiet
    return out


def transient_first_order(time_s: np.ndarray, force_n: np.ndarray, mass: float) -> np.ndarray:
    """The proposal (not the simulator): sensor.shock_m_s2 with a 1st-order high-pass."""
    rate_hz = 1.0 / float(np.median(np.diff(time_s)))
    sos = butter(1, 20.0 / (rate_hz / 2), "high", output="sos")
    return sosfilt(sos, force_n, axis=0) / (sensor.SEGMENT_MASS_SHARE * mass)


def model_shock(t: np.ndarray, force: np.ndarray, mass: float, cs, shock=sensor.shock_m_s2):
    """The model's shank shock on the distal axis (g): at the real samples, and on the
    0.5 ms grid (fine time, fine shock)."""
    own = np.zeros_like(force)
    for _, i, end in cs:
        lo = i - 1
        while lo > 0 and force[lo] > 0.0:
            lo -= 1
        hi = min(end, len(force) - 1)
        while hi < len(force) - 1 and force[hi] > 0.0:
            hi += 1
        own[lo : hi + 1] = np.clip(force[lo : hi + 1], 0.0, None)
    fine_t = np.arange(t[0], t[-1], FINE_S)
    fine_f = PchipInterpolator(t, own)(fine_t)
    lab = shock(fine_t, np.column_stack([0 * fine_t, 0 * fine_t, fine_f]), mass)
    seg = np.column_stack([lab[:, 1], 0 * fine_t, -lab[:, 2]])  # limbs.py: x fwd, z distal
    rung, _ = sensor.wobble(fine_t, seg, sensor.SensorEffects())
    fine = rung[:, 2] / G
    return np.interp(t, fine_t, fine), fine_t, fine


def sensor_reads(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x / STEP_G) * STEP_G, -RAIL_G, RAIL_G)


def measure(u_ms: np.ndarray, s: np.ndarray, clipped: np.ndarray) -> dict:
    """Peak, its time, 10-90 % rise and ringing of a shock `s` (g, positive = shock)
    sampled at `u_ms` (ms after the force IC)."""
    inside = np.flatnonzero((u_ms >= PEAK_S[0] * 1e3) & (u_ms <= PEAK_S[1] * 1e3))
    k = int(inside[np.argmax(s[inside])])
    peak, clip = float(s[k]), bool(clipped[k])
    if clip:  # the middle of the clipped run
        lo, hi = k, k
        while lo > 0 and clipped[lo - 1]:
            lo -= 1
        while hi < len(s) - 1 and clipped[hi + 1]:
            hi += 1
        tp = 0.5 * (u_ms[lo] + u_ms[hi])
    else:
        tp = _parabolic(u_ms, s, k)
    # 10-90 % rise, walking back from the peak
    rise = np.nan
    j = k
    while j > 0 and s[j - 1] >= 0.1 * peak:
        j -= 1
    if j > 0 and peak > 0:
        t10 = np.interp(0.1 * peak, [s[j - 1], s[j]], [u_ms[j - 1], u_ms[j]])
        m = j
        while s[m] < 0.9 * peak:
            m += 1
        t90 = u_ms[m] if m == j else np.interp(0.9 * peak, [s[m - 1], s[m]], [u_ms[m - 1], u_ms[m]])
        rise = float(t90 - t10)
    # ringing: the first opposite-going extremum after the peak
    ring_hz, rebound = np.nan, np.nan
    after = np.flatnonzero((u_ms > u_ms[k]) & (u_ms <= u_ms[k] + RING_S * 1e3))
    for m in after[:-1]:
        if s[m] <= s[m - 1] and s[m] < s[m + 1]:
            ring_hz = 1e3 / (2.0 * (_parabolic(u_ms, -s, m) - tp))
            rebound = max(0.0, -float(s[m])) / peak
            break
    return {
        "peak": peak,
        "time": tp,
        "rise": rise,
        "ring": ring_hz,
        "rebound": rebound,
        "clipped": clip,
    }


def _parabolic(u: np.ndarray, s: np.ndarray, k: int) -> float:
    if 0 < k < len(s) - 1:
        den = s[k - 1] - 2 * s[k] + s[k + 1]
        if den < 0:
            return float(u[k] + 0.5 * (s[k - 1] - s[k + 1]) / den * (u[k + 1] - u[k]))
    return float(u[k])


SOURCES = {  # name: the shock function driven by the measured force (None: the real shank)
    "real": None,
    "model": sensor.shock_m_s2,  # as the simulator has it
    "proposal": transient_first_order,  # the change proposed in issue 29's report
}


def analyse(path: Path) -> dict:
    """A trial's contacts: per source and kind (v: vertical, m: magnitude), the measures
    and the curves on GRID_MS (the models' also unsampled, on the 0.5 ms grid)."""
    tr = read(path)
    t, acc, force = tr["t"], tr["acc"], tr["force"]
    cs = contacts(t, force)
    models = {k: model_shock(t, force, tr["mass"], cs, f) for k, f in SOURCES.items() if f}
    rows = {f"{k}_{kind}": [] for k in SOURCES for kind in "vm"}
    curves = {k: [] for k in [*rows, *(f"{k}_fine" for k in models), "force"]}
    for ic, _, _ in cs:
        u = (t - ic) * 1e3
        win = np.flatnonzero((u >= WINDOW_S[0] * 1e3 - 7) & (u <= WINDOW_S[1] * 1e3 + 7))
        if win[0] == 0 or win[-1] == len(t) - 1:
            continue
        u, a = u[win], acc[win]
        pre_i = (u >= PRE_S[0] * 1e3) & (u < PRE_S[1] * 1e3)
        pre = a[pre_i].mean(axis=0)
        signals = {"real": (a, np.any(np.abs(a) >= CLIPPED_G, axis=1))}
        for k, (sampled, fine_t, fine) in models.items():
            # the pre-IC level plus the model's shock, as this sensor would read it
            am = np.tile(pre, (len(u), 1))
            am[:, 0] = sensor_reads(pre[0] + sampled[win])
            signals[k] = (am, np.abs(am[:, 0]) >= CLIPPED_G)
            curves[f"{k}_fine"].append(np.interp(GRID_MS, (fine_t - ic) * 1e3, fine))
        for k, (x, clipped) in signals.items():
            v = x[:, 0] - pre[0]
            mag = np.linalg.norm(x, axis=1)
            m = mag - mag[pre_i].mean()
            rows[f"{k}_v"].append(measure(u, -v, clipped))  # a shock reads negative
            rows[f"{k}_m"].append(measure(u, m, clipped))
            curves[f"{k}_v"].append(np.interp(GRID_MS, u, v))
            curves[f"{k}_m"].append(np.interp(GRID_MS, u, mag - 1.0))
        curves["force"].append(np.interp(GRID_MS, u, force[win]) / (tr["mass"] * G))
    return {"trial": tr["trial"], "mass": tr["mass"], "rows": rows, "curves": curves}


def fmt(values: list[float], digits: int = 1) -> str:
    """Median [5th, 95th percentile]."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return "—"
    p5, med, p95 = np.percentile(x, [5, 50, 95])
    return f"{med:.{digits}f} [{p5:.{digits}f}, {p95:.{digits}f}]"


def table(results: list[dict], kind: str) -> str:
    lines = [
        "| trial | source | n | clipped | peak, g | time after IC, ms | rise 10-90 %, ms "
        "| ring, Hz | rebound / peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    pooled = {k: [] for k in SOURCES}
    for r in [*results, None]:
        for src in SOURCES:
            if r:
                rows = r["rows"][f"{src}_{kind}"]
                pooled[src] += rows
                name = f"{r['trial']} ({r['mass']:.0f} kg)"
            else:
                rows, name = pooled[src], "**pooled**"
            lines.append(
                f"| {name} | {src} | {len(rows)} | {sum(x['clipped'] for x in rows)} "
                f"| {fmt([x['peak'] for x in rows])} | {fmt([x['time'] for x in rows], 0)} "
                f"| {fmt([x['rise'] for x in rows], 0)} | {fmt([x['ring'] for x in rows], 0)} "
                f"| {fmt([x['rebound'] for x in rows], 2)} |"
            )
    return "\n".join(lines)


def figure(results: list[dict]) -> None:
    c = {k: np.vstack([x for r in results for x in r["curves"][k]]) for k in results[0]["curves"]}
    fig, axes = plt.subplots(3, 1, figsize=(8, 9.5), sharex=True)
    style = {
        "real": ("black", "-", "real shank"),
        "model": ("tab:orange", "-", "model (sensor.py)"),
        "proposal": ("tab:green", "--", "proposal: 1st-order high-pass"),
    }
    panels = (
        ("v", "vertical (distal) axis\nminus its pre-IC level, g"),
        ("m", "|a| of the 3 axes minus 1 g, g"),
    )
    for ax, (kind, label) in zip(axes[:2], panels, strict=True):
        for src, (colour, ls, name) in style.items():
            mu, sd = c[f"{src}_{kind}"].mean(axis=0), c[f"{src}_{kind}"].std(axis=0)
            ax.plot(GRID_MS, mu, color=colour, ls=ls, label=f"{name}, 143 Hz: mean ± SD")
            if src != "proposal":
                ax.fill_between(GRID_MS, mu - sd, mu + sd, color=colour, alpha=0.2, lw=0)
        if kind == "v":
            mu = c["model_fine"].mean(axis=0)
            ax.plot(GRID_MS, mu, color="tab:orange", ls=":", lw=1, label="model, 2 kHz: mean")
        ax.axvline(0, color="0.5", lw=0.8)
        ax.axhline(0, color="0.5", lw=0.5)
        ax.set_ylabel(label)
    axes[0].legend(loc="lower right", fontsize=8)
    axes[0].set_title(
        f"Shank shock, bach2022 jogs (2.2-2.4 m/s): {len(c['real_v'])} contacts of "
        f"{len(results)} trials, aligned on the force's IC",
        fontsize=10,
    )
    mu, sd = c["force"].mean(axis=0), c["force"].std(axis=0)
    axes[2].plot(GRID_MS, mu, color="tab:blue", label="measured (drives the models)")
    axes[2].fill_between(GRID_MS, mu - sd, mu + sd, color="tab:blue", alpha=0.2, lw=0)
    axes[2].axvline(0, color="0.5", lw=0.8)
    axes[2].legend(loc="lower right", fontsize=8)
    axes[2].set_ylabel("vertical force, body weights")
    axes[2].set_xlabel("ms after the force's initial contact (20 N after 30 Hz low-pass)")
    fig.tight_layout()
    fig.savefig(HERE / "shank_shock.png", dpi=90)


def main() -> None:
    results = [analyse(p) for p in sorted(DATA.glob("run*.csv"))]
    print("Median [5 %, 95 %] per contact; peak: g beyond the pre-IC level (a clipped")
    print("peak is a lower bound); time: ms after the force's IC.\n")
    print("### Vertical (distal) axis: shock = pre-IC level minus reading\n")
    print(table(results, "v"))
    print("\n### Magnitude of the 3 axes: shock = |a| minus its pre-IC level\n")
    print(table(results, "m"))
    lo_ms, hi_ms = (x * 1e3 for x in PEAK_S)
    ms = GRID_MS
    on = (ms >= lo_ms) & (ms <= hi_ms)
    print("\nUnsampled and unclipped (0.5 ms grid), vertical axis:")
    for k in SOURCES:
        if SOURCES[k]:
            fine = np.vstack([x for r in results for x in r["curves"][f"{k}_fine"]])[:, on]
            peaks, times = -fine.min(axis=1), ms[on][fine.argmin(axis=1)]
            print(f"- {k}: peak {fmt(peaks)} g at {fmt(times, 0)} ms after IC")
    figure(results)


if __name__ == "__main__":
    main()
