"""Prometheus metrics, read from the live pipeline when scraped (official client)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from . import httpguard
from .live.counters import LAG_BUCKETS_S

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


PER_DEVICE = (  # name, help, kind, DeviceStats attribute (or a function of it)
    ("frames", "frames received", "counter", "frames"),
    ("crc_errors", "frames failing their CRC", "counter", "crc_errors"),
    ("malformed_frames", "frames not decodable", "counter", "malformed_frames"),
    ("dropped_bytes", "bytes outside any valid frame", "counter", "dropped_bytes"),
    ("lost_samples", "samples lost on the link (gaps)", "counter", "lost_samples"),
    ("overflow_samples", "samples dropped on the MCU", "counter", "overflow_samples"),
    ("duplicates", "duplicate batches discarded", "counter", "duplicates"),
    ("resets", "MCU restarts detected", "counter", "resets"),
    ("reconnects", "reconnections", "counter", "reconnects"),
    ("connected", "1 while the device is connected", "gauge", lambda s: int(s.connected)),
    ("frames_per_second", "frame rate, last second", "gauge", "frames_per_s"),
    ("clock_drift_ppm", "MCU clock drift against the host", "gauge", "clock_drift_ppm"),
    ("clock_rtt_seconds", "best clock query round trip", "gauge", lambda s: s.clock_rtt_ms / 1e3),
)
CPU_HELP = (
    "CPU seconds by part: decode (frames to sample blocks, clock mapping), engine,"
    " trace (live plot binning), fan-out (messages made and queued for websockets and"
    " MQTT; the sockets' own sending is not counted), storage (chunk encoding; the"
    " database's own work is not counted)"
)


def _metric(kind: str, name: str, doc: str, value: float):
    family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return family(f"stridesync_{name}", doc, value=value)


def _labelled(kind: str, name: str, doc: str, label: str, values: dict):
    family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    fam = family(f"stridesync_{name}", doc, labels=[label])
    for key, value in values.items():
        fam.add_metric([key], value)
    return fam


class LiveCollector(Collector):
    def __init__(self, live, hub) -> None:
        self.live = live
        self.hub = hub

    def collect(self):
        yield from self._devices()
        yield from self._pipeline()
        yield from self._fan_out()
        yield from self._storage()
        yield from self._mqtt()
        yield _metric("counter", "cues", "cues given", self.live.cues_sent)
        yield _labelled(
            "counter",
            "device_events",
            "device events by kind (gap, reset...)",
            "kind",
            dict(sorted(self.live.counters.device_events.items())),
        )
        yield _labelled(
            "counter",
            "http_refused",
            "connections and requests refused at the front door, by reason",
            "reason",
            dict(sorted(httpguard.COUNTERS.items())),
        )

    def _devices(self):
        stats = self.live.bridge.stats()
        for name, doc, kind, get in PER_DEVICE:
            fam = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
                f"stridesync_device_{name}", doc, labels=["device", "name"]
            )
            for s in stats:
                fam.add_metric([s.device_id, s.name], get(s) if callable(get) else getattr(s, get))
            yield fam

    def _pipeline(self):
        live, c = self.live, self.live.counters
        yield _metric("gauge", "recording", "1 while a session records", live.recording is not None)
        yield _metric("counter", "samples", "samples received", c.samples)
        yield _metric("counter", "engine_events", "steps and reps emitted", c.events)
        yield _metric("counter", "engine_busy_seconds", "time spent in the engine", c.engine_s)
        parts = {**c.cpu_s, "decode": live.bridge.decode_cpu_s}
        yield _labelled("counter", "cpu_seconds", CPU_HELP, "part", parts)
        cumulative = [sum(c.lag_ticks[: i + 1]) for i in range(len(LAG_BUCKETS_S))]
        yield HistogramMetricFamily(
            "stridesync_tick_lag_seconds",
            "each tick's newest sample's age when its blocks were handed on (the lag behind"
            " the sensors)",
            buckets=[(f"{le:g}" if le != float("inf") else "+Inf", n)
                     for le, n in zip(LAG_BUCKETS_S, cumulative, strict=True)],
            sum_value=c.lag_sum_s,
        )  # fmt: skip
        yield _metric("gauge", "tick_lag_max_seconds", "the most behind so far", c.lag_max_s)
        yield _metric(
            "gauge",
            "engine_lag_seconds",
            "age of the newest sample when the engine finished its block",
            c.engine_lag_s,
        )
        yield _metric(
            "gauge",
            "overloaded",
            "1 while the host is behind the sensors by more than live.overload_lag_s",
            int(live.overloaded),
        )
        yield _metric("counter", "overloads", "times the host fell behind", c.overloads)
        yield _metric(
            "counter",
            "trace_blocks_shed",
            "sample blocks left out of the live trace while overloaded",
            c.trace_blocks_shed,
        )

    def _fan_out(self):
        hub = self.hub
        yield _metric("gauge", "websocket_clients", "connected websocket clients", len(hub.clients))
        yield _metric("counter", "websocket_messages", "messages published", hub.published)
        yield _metric(
            "counter",
            "websocket_dropped_messages",
            "messages dropped from slow clients' queues",
            hub.dropped,
        )

    def _storage(self):
        c, storage = self.live.counters, self.live.storage_health()
        yield _metric(
            "gauge",
            "storage_backlog_seconds",
            "age of the oldest sample waiting to be stored",
            storage["backlog_s"],
        )
        yield _metric("counter", "storage_commits", "commits", c.commits)
        yield _metric(
            "counter", "storage_commit_errors", "failed commits (retried)", c.commit_errors
        )
        yield _metric("counter", "storage_bytes", "compressed raw bytes stored", c.bytes_stored)
        yield _metric(
            "counter",
            "storage_chunks_dropped",
            "raw chunks dropped while storage failed for too long",
            c.chunks_dropped,
        )
        yield _metric(
            "gauge",
            "storage_pending_chunks",
            "chunks waiting to be stored",
            storage["pending_chunks"],
        )

    def _mqtt(self):
        mqtt = self.live.mqtt
        if mqtt is None:
            return
        yield _metric("gauge", "mqtt_connected", "1 while connected to the broker", mqtt.connected)
        yield _metric("counter", "mqtt_sent", "messages sent", mqtt.sent)
        yield _labelled(
            "counter",
            "mqtt_dropped",
            "messages not sent, by reason",
            "reason",
            {"queue_full": mqtt.dropped_full, "expired": mqtt.dropped_expired},
        )
        yield _metric("gauge", "mqtt_queued", "messages waiting", len(mqtt.queue))


def registry_for(live, hub) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(LiveCollector(live, hub))
    return reg


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
