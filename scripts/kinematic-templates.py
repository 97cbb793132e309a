#!/usr/bin/env python3
"""Write firmware_bridge/simulator/templates.py: the simulator's segment waveforms,
taken from the real sprint and jog of Dorn et al. (2012) in ../shared/data.

    .venv/bin/python scripts/kinematic-templates.py

Run it again when the method in firmware_bridge/simulator/mocap.py changes; the
simulator needs only the table it writes (no data files at run time)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firmware_bridge.simulator import mocap  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "dorn2012"
TRIALS = {"sprint": ("JA1Gait35.c3d", 9.5), "jog": ("JA1Gait21.c3d", 3.5)}


def main() -> int:
    lines = [
        '"""Segment waveforms from real running (generated: scripts/kinematic-templates.py).',
        "",
        "Sagittal angular velocity of the shank and thigh over one stride, from the",
        "motion capture of Dorn, Schache & Pandy (2012), J Exp Biol 215:1944-1956 (the",
        '"runningspeeds" data set, MIT licence): one athlete, 75.9 kg, sprinting at',
        "9.5 m/s and jogging at 3.5 m/s. Each row: STANCE points from IC to TO, then",
        "SWING points from TO to the next IC of the same foot, divided by the stride's",
        "shank swing peak; the method is firmware_bridge/simulator/mocap.py's. TRUNK:",
        "the trunk's pitch (deg) over a stride less its mean: its rock within a stride.",
        "SWING_PEAK_AT: where in the swing the shank's peak comes, the strides' mean.",
        '"""',
        "",
        "import numpy as np",
        "",
        f"STANCE, SWING = {mocap.STANCE_POINTS}, {mocap.SWING_POINTS}",
        "SPEED_M_S = {" + ", ".join(f'"{k}": {v[1]}' for k, v in TRIALS.items()) + "}",
        "",
    ]
    lines.append(f"STEP = {mocap.STEP_POINTS}  # trunk: points a step, two steps (a stride) a row")
    lines.append("")
    lines.append("# fmt: off")
    for name, (file, _) in TRIALS.items():
        curves = mocap.stride_templates(DATA / file)
        curves["trunk"] = mocap.trunk_template(DATA / file)
        lines.append(f"{name.upper()}_SWING_PEAK_AT = {curves.pop('swing_peak_at')[0]:.3f}")
        for seg, curve in curves.items():
            lines.append(f"{name.upper()}_{seg.upper()} = np.array([")
            values = [f"{x:.4f}," for x in curve]
            for i in range(0, len(values), 10):
                lines.append("    " + " ".join(values[i : i + 10]))
            lines.append("])")
    lines.append("# fmt: on")
    out = ROOT / "firmware_bridge" / "simulator" / "templates.py"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
