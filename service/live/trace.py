"""The live plot: each stream's one telling channel, averaged into bins and sent in batches."""

from __future__ import annotations

import numpy as np

from firmware_bridge.codec import Channel, SensorKind
from firmware_bridge.device import SampleBlock


def _trace_channel(block: SampleBlock) -> tuple[str, int] | None:
    """The one channel of a stream worth plotting live, and its unit."""
    s = block.stream
    labels = [c.channel for c in s.channels]
    want = {
        SensorKind.FORCE_3AXIS: Channel.FZ,
        SensorKind.FORCE_VERTICAL: Channel.FZ,
        SensorKind.IMU_6AXIS: Channel.GY,  # the sagittal plane
        SensorKind.SPEED: Channel.VELOCITY,
    }.get(s.kind)
    if want is None or want not in labels:
        return None
    return s.channels[labels.index(want)].label, labels.index(want)


class Trace:
    """Each stream's plotted channel averaged into bins of 1/`hz` s; sent every interval."""

    def __init__(self, hz: float) -> None:
        self.dt = 1.0 / hz
        self._open: dict[tuple, tuple[int, float, int]] = {}  # key -> bin, sum, count
        self._done: dict[tuple, list[tuple[float, float]]] = {}
        self._meta: dict[tuple, dict] = {}

    def add(self, block: SampleBlock) -> None:
        ch = _trace_channel(block)
        if ch is None:
            return
        key = (block.device_id, block.stream.stream_id)
        if key not in self._meta:
            self._meta[key] = {
                "device": block.device_name,
                "stream_id": block.stream.stream_id,
                "placement": block.stream.placement.name.lower(),
                "channel": ch[0],
            }
        y = block.values[:, ch[1]]
        bins = np.floor(block.time_s / self.dt).astype(np.int64)
        done = self._done.setdefault(key, [])
        cur = self._open.get(key)
        # Bins change rarely within a block: walk the boundaries, not the samples.
        edges = np.flatnonzero(np.diff(bins)) + 1
        for seg in np.split(np.arange(len(bins)), edges):
            b = int(bins[seg[0]])
            ys = y[seg]
            ys = ys[np.isfinite(ys)]
            if cur is not None and cur[0] != b:
                if cur[2]:
                    done.append(((cur[0] + 0.5) * self.dt, cur[1] / cur[2]))
                cur = None
            if cur is None:
                cur = (b, 0.0, 0)
            cur = (b, cur[1] + float(ys.sum()), cur[2] + len(ys))
        self._open[key] = cur

    def take(self) -> list[dict]:
        out = []
        for key, points in self._done.items():
            if points:
                t, y = zip(*points, strict=True)
                out.append({**self._meta[key], "t": [round(v, 4) for v in t], "y": list(y)})
                points.clear()
        return out
