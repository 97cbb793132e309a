"""Simulated against real IMU signals: shank, thigh and trunk over a sprint stride
and a jog stride (docs/simulator.md).

The real ones are derived from the motion capture of Dorn et al. (2012)
(firmware_bridge/simulator/mocap.py), the simulated ones drawn by the simulator
for a stride of the same speed and timing; both with no sensor effects.

    python docs/figures/imu_overlay.py   # needs the 'docs' extra and ../shared/data
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from firmware_bridge.simulator import mocap, simulate_session
from firmware_bridge.simulator.limbs import SegmentKinematics

HERE = Path(__file__).parent
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "dorn2012"
TRIALS = {
    "sprint, 9.5 m/s": ("JA1Gait35.c3d", "aligned", 9.0),
    "jog, 3.5 m/s": ("JA1Gait21.c3d", "jog", 3.0),
}


def real_stride(c3d: Path):
    """(time from IC, shank gy, thigh gy, trunk gy, contact time) of the trial's first
    whole stride on the plates, from the less filtered markers as the templates use."""
    trial = mocap.read_trial(c3d, 50.0)
    t_f, force = mocap.ground_reaction(c3d)
    contacts = [(t_f[i], t_f[j]) for i, j in mocap.plate_contacts(t_f, force[:, 2])]
    feet = [mocap.foot_of(trial, *c) for c in contacts]
    (ic, to), foot = contacts[0], feet[0]
    ic_next = next(c[0] for c, f in zip(contacts[1:], feet[1:], strict=True) if f == foot)
    out = []
    for placement in (f"shank-{foot}", f"thigh-{foot}", "trunk"):
        t, gyro, _ = mocap.imu_signals(trial, placement)
        inside = (t >= ic) & (t < ic_next)
        out.append(gyro[inside, 1])
    t = np.arange(len(out[0])) / 1000.0
    return t, *out, to - ic


def simulated_stride(scenario: str, speed: float):
    """The same for a simulated stride at about that speed."""
    from firmware_bridge.simulator.signals import TrunkSource

    sim = simulate_session(scenario, 30.0, seed=2, noise=False)
    s = sim.plan.steps
    fast = [k for k in range(len(s)) if abs(s.velocity_m_s[k]) >= speed and s.foot[k] == 0]
    j = fast[2]  # a few strides in: steady
    nxt = next(k for k in range(j + 1, len(s)) if s.foot[k] == 0)
    t = np.arange(s.ic_s[j], s.ic_s[nxt], 0.001)
    shank = SegmentKinematics(sim.plan, 0, "shank").angular_velocity(t)
    thigh = SegmentKinematics(sim.plan, 0, "thigh").angular_velocity(t)
    trunk = TrunkSource(sim.plan, noise=False)(t)[:, 1]
    return t - t[0], shank, thigh, trunk, s.to_s[j] - s.ic_s[j]


def main() -> None:
    fig, axes = plt.subplots(3, 2, figsize=(10, 8), sharex="col")
    for col, (title, (file, scenario, speed)) in enumerate(TRIALS.items()):
        real = real_stride(DATA / file)
        sim = simulated_stride(scenario, speed)
        for row, name in enumerate(("shank", "thigh", "trunk")):
            ax = axes[row, col]
            ax.plot(real[0] * 1e3, real[row + 1], color="black", label="real (motion capture)")
            ax.plot(sim[0] * 1e3, sim[row + 1], color="tab:orange", label="simulated")
            ax.axvspan(0, real[4] * 1e3, color="0.9", zorder=0)
            ax.set_ylabel(f"{name} gy, deg/s")
            if row == 0:
                ax.set_title(f"{title}: a stride from IC (stance shaded)", fontsize=10)
        axes[2, col].set_xlabel("ms after initial contact")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "imu_overlay.png", dpi=90)


if __name__ == "__main__":
    main()
