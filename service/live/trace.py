"""The live plot: each stream's one telling channel, averaged into bins and sent in batches.

Blocks are only kept as they come (a reference to the plotted column: no work a
block); every `take()` (ten a second) bins what came since with numpy, a stream at a
time. A bin is sent once a later sample shows it complete; its samples wait till then.
"""

from __future__ import annotations

import numpy as np

from firmware_bridge.codec import Channel, SensorKind
from firmware_bridge.device import SampleBlock

PLOTTED = {
    SensorKind.FORCE_3AXIS: Channel.FZ,
    SensorKind.FORCE_VERTICAL: Channel.FZ,
    SensorKind.IMU_6AXIS: Channel.GY,  # the sagittal plane
    SensorKind.SPEED: Channel.VELOCITY,
}


def _trace_channel(block: SampleBlock) -> tuple[str, int] | None:
    """The one channel of a stream worth plotting live, and its column."""
    s = block.stream
    labels = [c.channel for c in s.channels]
    want = PLOTTED.get(s.kind)
    if want is None or want not in labels:
        return None
    return s.channels[labels.index(want)].label, labels.index(want)


class Trace:
    """Each stream's plotted channel averaged into bins of 1/`hz` s; sent every interval."""

    def __init__(self, hz: float) -> None:
        self.dt = 1.0 / hz
        self._column: dict[tuple, int | None] = {}  # per stream: its plotted column
        self._parts: dict[tuple, list[tuple[np.ndarray, np.ndarray]]] = {}  # not yet binned
        self._meta: dict[tuple, dict] = {}

    def add(self, block: SampleBlock) -> None:
        key = (block.device_id, block.stream.stream_id)
        column = self._column.get(key, -1)
        if column == -1:
            column = self._column[key] = self._first_block(key, block)
        if column is not None:
            self._parts[key].append((block.time_s, block.values[:, column]))

    def _first_block(self, key: tuple, block: SampleBlock) -> int | None:
        ch = _trace_channel(block)
        if ch is None:
            return None
        self._meta[key] = {
            "device": block.device_name,
            "stream_id": block.stream.stream_id,
            "placement": block.stream.placement.name.lower(),
            "channel": ch[0],
        }
        self._parts[key] = []
        return ch[1]

    def take(self) -> list[dict]:
        out = []
        for key, parts in self._parts.items():
            if not parts:
                continue
            t = np.concatenate([p[0] for p in parts])
            y = np.concatenate([p[1] for p in parts])
            bins = np.floor(t / self.dt).astype(np.int64)
            done = bins < bins[-1]  # the newest bin may still get samples
            parts[:] = [(t[~done], y[~done])]
            good = done & np.isfinite(y)
            if not good.any():
                continue
            b, y = bins[good], y[good]
            starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
            means = np.add.reduceat(y, starts) / np.diff(np.r_[starts, len(b)])
            centres = (b[starts] + 0.5) * self.dt
            out.append(
                {**self._meta[key], "t": [round(v, 4) for v in centres.tolist()],
                 "y": means.tolist()}
            )  # fmt: skip
        return out
