"""A device link's statistics, as `stridesync sensor-stats`, /healthz and /metrics show them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .codec import DecoderCounters


@dataclass(frozen=True)
class DeviceStats:
    device_id: str
    name: str
    port: str | None
    connected: bool
    firmware: str
    frames_per_s: float
    bytes_per_s: float
    samples_per_s: float
    frames: int
    crc_errors: int
    malformed_frames: int
    dropped_bytes: int
    lost_samples: int
    overflow_samples: int
    duplicates: int
    resets: int
    reconnects: int
    clock_drift_ppm: float
    clock_rtt_ms: float
    clock_stddev_us: float
    last_frame_age_s: float | None

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        state = "" if self.connected else " DISCONNECTED"
        return (
            f"{self.name} [{self.device_id}]{state}: {self.frames_per_s:.0f} frames/s"
            f" {self.bytes_per_s / 1000:.1f} kB/s {self.samples_per_s:.0f} samples/s"
            f" crc={self.crc_errors} dropped_bytes={self.dropped_bytes}"
            f" lost={self.lost_samples} overflow={self.overflow_samples}"
            f" dup={self.duplicates} resets={self.resets} reconnects={self.reconnects}"
            f" drift={self.clock_drift_ppm:+.1f}ppm rtt={self.clock_rtt_ms:.2f}ms"
        )


def add_counters(a: DecoderCounters, b: DecoderCounters) -> DecoderCounters:
    return DecoderCounters(**{k: getattr(a, k) + getattr(b, k) for k in asdict(a)})
