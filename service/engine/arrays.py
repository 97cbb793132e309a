"""Two small array helpers the detectors share (force.py, imu.py, imu_stages.py)."""

from __future__ import annotations

import numpy as np


def first(mask: np.ndarray) -> int:
    """The index of the first True, or -1."""
    k = int(mask.argmax()) if len(mask) else 0  # (the method: no Python wrapper)
    return k if len(mask) and mask[k] else -1


def earliest(*indices: int) -> int:
    """The smallest of the indices that are not -1 (-1 if all are)."""
    found = [k for k in indices if k >= 0]
    return min(found) if found else -1
