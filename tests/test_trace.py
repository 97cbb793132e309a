"""The live plot's binning against a reference written here: whatever the blocks and
whenever it is taken, each complete bin is the mean of its finite samples, once."""

import numpy as np

from firmware_bridge.codec import Placement
from firmware_bridge.device import SampleBlock
from firmware_bridge.streams import force_plate_stream, imu_stream
from service.live.trace import Trace

HZ = 50.0


def _blocks(rng, stream, n: int, rate_hz: float, name: str):
    t = 100.0 + np.arange(n) / rate_hz
    values = rng.normal(size=(n, len(stream.channels)))
    values[rng.random(n) < 0.01] = np.nan  # a dead channel's samples: not plotted
    cuts = np.sort(rng.choice(np.arange(1, n), size=n // 12, replace=False))
    return (
        t,
        values,
        [
            SampleBlock(7, name, stream, int(i0), t[i0:i1], values[i0:i1])
            for i0, i1 in zip([0, *cuts], [*cuts, n], strict=True)
        ],
    )


def _reference(t, y, dt):
    """Each bin's mean of finite samples, every bin but the newest (still open)."""
    bins = np.floor(t / dt).astype(int)
    out = {}
    for b in np.unique(bins)[:-1]:
        ys = y[(bins == b) & np.isfinite(y)]
        if len(ys):
            out[round((b + 0.5) * dt, 4)] = ys.mean()
    return out


def test_bins_are_the_mean_of_their_finite_samples_however_blocks_and_takes_fall():
    rng = np.random.default_rng(4)
    plate = force_plate_stream()
    shank = imu_stream(Placement.SHANK_LEFT, stream_id=1)
    tp, vp, bp = _blocks(rng, plate, 3000, 1000.0, "plate-0")
    ts, vs, bs = _blocks(rng, shank, 3000, 1000.0, "shank-left")
    trace = Trace(HZ)
    got: dict[str, dict] = {"plate-0": {}, "shank-left": {}}
    for i, block in enumerate(sorted(bp + bs, key=lambda b: b.time_s[-1])):
        trace.add(block)
        if rng.random() < 0.05 or i % 97 == 0:
            for series in trace.take():
                points = got[series["device"]]
                for t, y in zip(series["t"], series["y"], strict=True):
                    assert t not in points  # each bin once
                    points[t] = y
    for series in trace.take():
        got[series["device"]].update(zip(series["t"], series["y"], strict=True))
    fz = [c.channel.name for c in plate.channels].index("FZ")
    gy = [c.channel.name for c in shank.channels].index("GY")
    for name, t, y in (("plate-0", tp, vp[:, fz]), ("shank-left", ts, vs[:, gy])):
        want = _reference(t, y, 1.0 / HZ)
        assert got[name].keys() == want.keys(), name
        assert np.allclose([got[name][k] for k in want], list(want.values()), rtol=1e-12)
