"""Prometheus metrics, read from the live pipeline when scraped (official client)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from firmware_bridge.host import HostProtocol

from . import httpguard

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LiveCollector(Collector):
    def __init__(self, live, hub) -> None:
        self.live = live
        self.hub = hub

    def collect(self):
        stats = self.live.bridge.stats()
        per_device = [
            ("frames", "frames received", "counter", lambda s: s.frames),
            ("crc_errors", "frames failing their CRC", "counter", lambda s: s.crc_errors),
            ("malformed_frames", "frames not decodable", "counter", lambda s: s.malformed_frames),
            (
                "dropped_bytes",
                "bytes outside any valid frame",
                "counter",
                lambda s: s.dropped_bytes,
            ),
            (
                "lost_samples",
                "samples lost on the link (gaps)",
                "counter",
                lambda s: s.lost_samples,
            ),
            (
                "overflow_samples",
                "samples dropped on the MCU",
                "counter",
                lambda s: s.overflow_samples,
            ),
            ("duplicates", "duplicate batches discarded", "counter", lambda s: s.duplicates),
            ("resets", "MCU restarts detected", "counter", lambda s: s.resets),
            ("reconnects", "reconnections", "counter", lambda s: s.reconnects),
            ("connected", "1 while the device is connected", "gauge", lambda s: int(s.connected)),
            ("frames_per_second", "frame rate, last second", "gauge", lambda s: s.frames_per_s),
            (
                "clock_drift_ppm",
                "MCU clock drift against the host",
                "gauge",
                lambda s: s.clock_drift_ppm,
            ),
            (
                "clock_rtt_seconds",
                "best clock query round trip",
                "gauge",
                lambda s: s.clock_rtt_ms / 1e3,
            ),
        ]
        for name, doc, kind, get in per_device:
            fam = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
                f"stridesync_device_{name}", doc, labels=["device", "name"]
            )
            for s in stats:
                fam.add_metric([s.device_id, s.name], get(s))
            yield fam
        c = self.live.counters
        storage = self.live.storage_health()
        yield GaugeMetricFamily(
            "stridesync_recording",
            "1 while a session records",
            value=int(self.live.recording is not None),
        )
        yield CounterMetricFamily("stridesync_samples", "samples received", value=c.samples)
        yield CounterMetricFamily(
            "stridesync_engine_events", "steps and reps emitted", value=c.events
        )
        yield CounterMetricFamily(
            "stridesync_engine_busy_seconds", "time spent in the engine", value=c.engine_s
        )
        cpu = CounterMetricFamily(
            "stridesync_cpu_seconds",
            "CPU seconds by part: decode (frames to sample blocks, clock mapping), engine,"
            " trace (live plot binning), fan-out (messages made and queued for websockets and"
            " MQTT; the sockets' own sending is not counted), storage (chunk encoding; the"
            " database's own work is not counted)",
            labels=["part"],
        )
        parts = dict(c.cpu_s)
        parts["decode"] = max(HostProtocol.cpu_s_total - parts.pop("blocks"), 0.0)
        for part, seconds in parts.items():
            cpu.add_metric([part], seconds)
        yield cpu
        yield GaugeMetricFamily(
            "stridesync_engine_lag_seconds",
            "age of the newest sample when the engine finished its block",
            value=c.engine_lag_s,
        )
        yield GaugeMetricFamily(
            "stridesync_overloaded",
            "1 while the host is behind the sensors by more than live.overload_lag_s",
            value=int(self.live.overloaded),
        )
        yield CounterMetricFamily(
            "stridesync_overloads", "times the host fell behind", value=c.overloads
        )
        yield CounterMetricFamily(
            "stridesync_trace_blocks_shed",
            "sample blocks left out of the live trace while overloaded",
            value=c.trace_blocks_shed,
        )
        yield GaugeMetricFamily(
            "stridesync_storage_backlog_seconds",
            "age of the oldest sample waiting to be stored",
            value=storage["backlog_s"],
        )
        yield GaugeMetricFamily(
            "stridesync_websocket_clients",
            "connected websocket clients",
            value=len(self.hub.clients),
        )
        yield CounterMetricFamily(
            "stridesync_websocket_messages", "messages published", value=self.hub.published
        )
        yield CounterMetricFamily(
            "stridesync_websocket_dropped_messages",
            "messages dropped from slow clients' queues",
            value=self.hub.dropped,
        )
        yield CounterMetricFamily("stridesync_storage_commits", "commits", value=c.commits)
        yield CounterMetricFamily(
            "stridesync_storage_commit_errors", "failed commits (retried)", value=c.commit_errors
        )
        yield CounterMetricFamily(
            "stridesync_storage_bytes", "compressed raw bytes stored", value=c.bytes_stored
        )
        yield CounterMetricFamily(
            "stridesync_storage_chunks_dropped",
            "raw chunks dropped while storage failed for too long",
            value=c.chunks_dropped,
        )
        yield GaugeMetricFamily(
            "stridesync_storage_pending_chunks",
            "chunks waiting to be stored",
            value=storage["pending_chunks"],
        )
        mqtt = self.live.mqtt
        if mqtt is not None:
            yield GaugeMetricFamily(
                "stridesync_mqtt_connected",
                "1 while connected to the broker",
                value=int(mqtt.connected),
            )
            yield CounterMetricFamily("stridesync_mqtt_sent", "messages sent", value=mqtt.sent)
            dropped = CounterMetricFamily(
                "stridesync_mqtt_dropped", "messages not sent, by reason", labels=["reason"]
            )
            dropped.add_metric(["queue_full"], mqtt.dropped_full)
            dropped.add_metric(["expired"], mqtt.dropped_expired)
            yield dropped
            yield GaugeMetricFamily(
                "stridesync_mqtt_queued", "messages waiting", value=len(mqtt.queue)
            )
        yield CounterMetricFamily("stridesync_cues", "cues given", value=self.live.cues_sent)
        events = CounterMetricFamily(
            "stridesync_device_events", "device events by kind (gap, reset...)", labels=["kind"]
        )
        for kind, n in sorted(c.device_events.items()):
            events.add_metric([kind], n)
        yield events
        refused = CounterMetricFamily(
            "stridesync_http_refused",
            "connections and requests refused at the front door, by reason",
            labels=["reason"],
        )
        for reason, n in sorted(httpguard.COUNTERS.items()):
            refused.add_metric([reason], n)
        yield refused


def registry_for(live, hub) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(LiveCollector(live, hub))
    return reg


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
