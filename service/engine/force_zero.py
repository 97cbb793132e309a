"""A force stream's zero: its unloaded reading, followed as it drifts (force.py).

Unloaded samples at least `tare_guard_s` clear of any contact are queued by
tare window (`tare_window_s` of the stream's time). Once a window's samples
are all `tare_guard_s` old, the zero follows their median, weighted as that many
samples of an exponential follow with time constant `tare_time_constant_s`,
by at most `max_tare_step_n` in all since the last contact, or drops to it at
once when it is clearly (the off threshold) lower over at least `tare_min_s` of
samples. The windows are aligned to the
stream's time, so the zero depends on the samples alone, however they came in
blocks. (force.py says why a median: a treadmill vibrates between stances.)
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np


class Zero:
    """(fy, fz) of the stream unloaded; `cfg` is the ForceDetectorConfig."""

    def __init__(self, dt: float, cfg: Any) -> None:
        self.cfg, self.dt = cfg, dt
        self.y = self.z = 0.0  # the plate's own tare until the data say otherwise
        self.last5: deque[float] = deque(maxlen=5)  # the raw readings: a median drops it
        self.held: list[tuple[float, float]] = []  # (z, y) while never unloaded ...
        self.held_since = math.inf  # ... since then
        # Unloaded samples waiting to be followed, by window: [t], [y], [z] lists of the
        # samples taken one by one, and (t, y, z) arrays of those taken a block at a time
        # (a window's median does not depend on their order).
        self.windows: dict[int, tuple[list, list, list, list]] = {}
        self.next_due = math.inf  # when the oldest window waiting is followed
        self.moved = 0.0  # since the last contact
        self.clear_after = -math.inf  # no tare before this (a contact's end + guard)
        self.dropping = False  # following a load taken off down to where it settles

    def window_of(self, t: float) -> int:
        return math.floor(t / self.cfg.tare_window_s)

    def due(self, w: int) -> float:
        return (w + 1) * self.cfg.tare_window_s + self.cfg.tare_guard_s

    def queue_one(self, t: float, y: float, z: float) -> None:
        w = self.window_of(t)
        rows = self.windows.get(w)
        if rows is None:
            rows = self.windows[w] = ([], [], [], [])
            self.next_due = min(self.next_due, self.due(w))
        rows[0].append(t)
        rows[1].append(y)
        rows[2].append(z)

    def queue(self, t: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
        """Unloaded samples (in time order), into their windows."""
        if not len(t):
            return
        ids = np.floor(t / self.cfg.tare_window_s)
        cuts = np.flatnonzero(np.diff(ids)) + 1
        for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(t)], strict=True):
            w = int(ids[a])
            rows = self.windows.get(w)
            if rows is None:
                rows = self.windows[w] = ([], [], [], [])
                self.next_due = min(self.next_due, self.due(w))
            rows[3].append((t[a:b], y[a:b], z[a:b]))

    def follow_due(self, t: float) -> None:
        """Follow each window due by t, in order."""
        if t < self.next_due:
            return
        cfg = self.cfg
        for w in sorted(self.windows):
            if self.due(w) > t:
                break
            _, y_rows, z_rows, chunks = self.windows.pop(w)
            zs, ys = np.array(z_rows), np.array(y_rows)
            if chunks:
                zs = np.concatenate([zs, *(c[2] for c in chunks)])
                ys = np.concatenate([ys, *(c[1] for c in chunks)])
            if not len(zs):
                continue
            zmed, ymed = float(np.median(zs)), float(np.median(ys))
            a = 1.0 - (1.0 - self.dt / cfg.tare_time_constant_s) ** len(zs)
            lasting = len(zs) * self.dt >= cfg.tare_min_s
            if lasting and zmed < self.z - cfg.off_threshold_n:
                self.z = zmed  # clearly lower, for long enough: the plate's level now
            else:
                room = cfg.max_tare_step_n - abs(self.moved)
                step = max(min(a * (zmed - self.z), room), -room)
                self.z += step
                self.moved += step
            self.y += a * (ymed - self.y)
        self.next_due = self.due(min(self.windows)) if self.windows else math.inf

    def contact_started(self, t: float) -> None:
        """Samples this near a contact's start are not unloaded ground truth."""
        self.dropping = False
        keep = t - self.cfg.tare_guard_s
        for ts, ys, zs, chunks in self.windows.values():
            while ts and ts[-1] > keep:
                ts.pop()
                ys.pop()
                zs.pop()
            for i, (ct, cy, cz) in enumerate(chunks):
                if len(ct) and ct[-1] > keep:
                    n = int(np.searchsorted(ct, keep, "right"))
                    chunks[i] = (ct[:n], cy[:n], cz[:n])

    def hold(self, t: float, y: float, z: float) -> None:
        """A sample of a stream never seen unloaded since `held_since`: after acquire_s
        of them, the zero is their lowest tenth (where the force rests between stances,
        not a vibration dip)."""
        self.dropping = False
        if not self.held:
            self.held_since = t
        self.held.append((z, y))
        if t - self.held_since >= self.cfg.acquire_s:
            self.z, self.y = sorted(self.held)[len(self.held) // 10]
            self.held = []

    def drop_to_median(self, z: float) -> None:
        """An unloaded raw reading `z` (the newest of last5). A 5-sample median far
        (drop_n) below the zero is a load taken off the plate: the zero goes down with
        the fall (each median clearly, by the off threshold, lower) till it settles."""
        cfg = self.cfg
        if self.dropping:
            level = sorted(self.last5)[len(self.last5) // 2]
            if level < self.z - cfg.off_threshold_n:
                self.z = level
            else:
                self.dropping = False
        elif z < self.z - cfg.drop_n:
            level = sorted(self.last5)[len(self.last5) // 2]
            if level < self.z - cfg.drop_n:
                self.z = level
                self.dropping = True

    def contact_ended(self, t: float) -> None:
        self.moved = 0.0
        self.clear_after = t + self.cfg.tare_guard_s
