"""Simulated against recorded sprint ground reaction forces (docs/simulator.md).

python docs/figures/force_overlay.py   # needs the 'docs' extra and ../shared/data
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from firmware_bridge.simulator.athlete import Athlete, plan_session, scenario_reps
from firmware_bridge.simulator.signals import ForceSource

HERE = Path(__file__).parent
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "dorn2012"
MASS = 75.9
BW = MASS * 9.81


def recorded():
    d = np.genfromtxt(DATA / "JA1Gait35_forces.csv", delimiter=",", names=True)
    fz = sum(d[c] for c in d.dtype.names if c.endswith("_fz_n"))
    fy = sum(d[c] for c in d.dtype.names if c.endswith("_fy_ap_n"))
    fs = 1.0 / np.median(np.diff(d["time_s"]))
    edges = np.flatnonzero(np.diff((fz > 20).astype(int))) + 1
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=False):
        if (b - a) / fs > 0.05:
            out.append((np.arange(b - a) / fs * 1e3, fz[a:b] / BW, fy[a:b] / BW))
    return out


def simulated():
    plan = plan_session(Athlete(body_mass_kg=MASS, mss_m_s=9.7), scenario_reps("aligned", 1), 3)
    s = plan.steps
    src = ForceSource(plan, np.ones(len(s), bool), noise=False)
    out = []
    for j in np.flatnonzero((np.abs(s.velocity_m_s - 9.5) < 0.3) & (s.phase == "sprint"))[:4]:
        t = np.arange(s.ic_s[j], s.to_s[j], 1 / 1500)
        f = src.exact(t)
        out.append(((t - s.ic_s[j]) * 1e3, f[:, 2] / BW, f[:, 1] / BW))
    return out


def main() -> None:
    fig, (ax_v, ax_h) = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for label, runs, style in (
        ("recorded (Dorn et al. 2012)", recorded(), "-"),
        ("simulated", simulated(), "--"),
    ):
        color = "tab:blue" if style == "-" else "tab:orange"
        for i, (t, fz, fy) in enumerate(runs):
            kw = dict(color=color, ls=style, lw=1.2, alpha=0.8, label=label if i == 0 else None)
            ax_v.plot(t, fz, **kw)
            ax_h.plot(t, fy, **kw)
    ax_v.set(title="vertical force", xlabel="time since foot strike (ms)", ylabel="body weights")
    ax_h.set(title="anterior-posterior force (+ forward)", xlabel="time since foot strike (ms)")
    ax_h.axhline(0, color="grey", lw=0.5)
    ax_v.legend(loc="upper right", fontsize=8)
    fig.suptitle("Sprint contacts at about 9.5 m/s, 75.9 kg: four recorded, four simulated")
    fig.tight_layout()
    fig.savefig(HERE / "force_overlay.png", dpi=110)


if __name__ == "__main__":
    main()
