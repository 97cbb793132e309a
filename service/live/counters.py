"""What the live pipeline counts: for /metrics, /healthz and `python -m bench service`."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    commits: int = 0
    commit_errors: int = 0
    chunks_stored: int = 0
    chunks_dropped: int = 0
    bytes_stored: int = 0
    overloads: int = 0  # times the host fell behind by more than live.overload_lag_s
    trace_blocks_shed: int = 0
