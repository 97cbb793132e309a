"""What the live pipeline counts: for /metrics, /healthz and `python -m bench service`."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# The lag behind the sensors, each tick: its distribution's bucket edges, seconds.
LAG_BUCKETS_S = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, float("inf"))


@dataclass
class Counters:
    blocks: int = 0
    samples: int = 0
    events: int = 0
    device_events: dict[str, int] = field(default_factory=dict)
    engine_s: float = 0.0  # time spent in the engine, all blocks
    # CPU seconds of the service by part (bench service reports them as shares of a core)
    cpu_s: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("trace", "engine", "fan-out", "storage"), 0.0)
    )
    engine_lag_s: float = 0.0  # newest sample's age when its block was done, last block
    lag_ticks: list[int] = field(default_factory=lambda: [0] * len(LAG_BUCKETS_S))
    lag_sum_s: float = 0.0
    lag_max_s: float = 0.0
    commits: int = 0
    commit_errors: int = 0
    chunks_stored: int = 0
    chunks_dropped: int = 0
    bytes_stored: int = 0
    overloads: int = 0  # times the host fell behind by more than live.overload_lag_s
    trace_blocks_shed: int = 0

    def note_lag(self, lag_s: float) -> None:
        """A tick's lag behind the sensors (its newest sample's age when handed on)."""
        self.engine_lag_s = lag_s
        self.lag_ticks[bisect.bisect_left(LAG_BUCKETS_S, lag_s)] += 1
        self.lag_sum_s += lag_s
        self.lag_max_s = max(self.lag_max_s, lag_s)
