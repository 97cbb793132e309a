"""Raw chunks: lossless, compact, and a damaged chunk is a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.store import rawcodec


def _chunk(n: int, rng, t0: float = 1234.5678, rate: float = 1000.0):
    scale = np.array([0.061, 0.061, 0.061, 0.0024, 0.0024, 0.0024])
    offset = np.array([0.0, 0.0, 0.0, 0.0, 0.0, -0.5])
    raw = rng.integers(-32768, 32767, size=(n, 6), dtype=np.int16)
    # Times as the clock sync makes them: affine in the sample index, per block.
    idx = np.arange(n, dtype=np.float64)
    time_s = (t0 + idx * (1.0 / rate) * (1 + 37e-6)) + 1e-9
    return time_s, raw * scale + offset, scale, offset


@given(st.integers(1, 700), st.integers(0, 2**32 - 1), st.floats(0.001, 1e6))
def test_round_trip_is_bit_exact(n, seed, t0):
    t, v, scale, offset = _chunk(n, np.random.default_rng(seed), t0)
    t2, v2 = rawcodec.decode(rawcodec.encode(t, v, scale, offset), scale, offset)
    assert t2.tobytes() == t.tobytes()
    assert v2.tobytes() == v.tobytes()


def test_values_that_are_not_sensor_integers_are_kept_as_floats():
    rng = np.random.default_rng(1)
    t, v, scale, offset = _chunk(500, rng)
    v = v + rng.normal(0, 1e-7, v.shape)  # not raw * scale + offset any more
    v[3, 2] = np.nan
    data = rawcodec.encode(t, v, scale, offset)
    t2, v2 = rawcodec.decode(data, scale, offset)
    assert v2.tobytes() == v.tobytes() and t2.tobytes() == t.tobytes()


def test_size_of_a_second_of_imu():
    """1 kHz IMU: 12 bytes of int16 a sample on the wire; the times cost under 2 bytes."""
    rng = np.random.default_rng(2)
    t, _, scale, offset = _chunk(1000, rng)
    # A real signal is smooth plus noise, not uniform random.
    phase = np.linspace(0, 8 * np.pi, 1000)[:, None]
    raw = (8000 * np.sin(phase + np.arange(6)) + rng.normal(0, 30, (1000, 6))).astype(np.int16)
    data = rawcodec.encode(t, raw * scale + offset, scale, offset)
    assert len(data) / 1000 < 12


@pytest.mark.parametrize(
    "data", [b"", b"SSR1", b"XXXX" + bytes(20), rawcodec.MAGIC + bytes(7) + b"garbage"]
)
def test_damaged_chunks_are_a_clear_error(data):
    with pytest.raises(rawcodec.error):
        rawcodec.decode(data, np.ones(6), np.zeros(6))
