"""The live pipeline: bridge → engine → websocket fan-out, MQTT and storage.

Everything runs on the service's one event loop and nothing on the sample
path waits: the bridge calls `on_block` for each block, the training
session's engine turns it into events, the hub queues them for every
client, and the rows to store go to the writer (writer.py), which commits
about twice a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from datetime import UTC, datetime

from firmware_bridge.device import DeviceEvent, SampleBlock
from firmware_bridge.link import Bridge

from ..config import Settings
from ..cues.mqtt import MqttOut
from ..cues.payload import cue_payload
from ..cues.policy import CueMaker
from ..errors import Conflict
from ..hub import Hub, RawJson, clean
from ..recorder import Recording
from ..store import Session, Store
from ..store.writes import MarkMade, SessionStopped, StreamRecorded
from ..timebase import relative
from .active import ActiveSession
from .counters import Counters
from .journal import Journal
from .session import new_session, session_json
from .trace import Trace
from .writer import Writer

log = logging.getLogger("stridesync.live")


class Live:
    """Bridge, engine and storage for one service; at most one training session records."""

    CAUGHT_UP_S = 2.0  # this long under a fifth of the overload bound: caught up

    def __init__(
        self, settings: Settings, store: Store, hub: Hub, mqtt: MqttOut | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.bridge = Bridge(
            settings.devices.ports,
            on_blocks=self.on_blocks,
            on_event=self.on_event,
            scan_interval_s=settings.devices.scan_interval_s,
            tick_s=settings.devices.tick_s,
            log_stats=False,
        )
        self.trace = Trace(settings.live.trace_hz)
        self.journal = Journal()  # the session's last messages, for late joiners
        hub.listeners.append(self.journal.note)
        self.counters = Counters()
        self.writer = Writer(store, settings.recording, self.counters, self._new_streams)
        self.active: ActiveSession | None = None  # the session under way
        self.overloaded = False
        self.peak_lag_s = 0.0  # the most behind in the overload under way (or the last)
        self._late_at = -math.inf  # when a block last came later than a fifth of the bound
        self._tasks: list[asyncio.Task] = []
        self._lock = asyncio.Lock()  # session start/stop
        self.cues_sent = 0
        self.mqtt = mqtt  # cues and events to the broker (a component of its own: started
        # and closed by the registry, service/components.py), or None
        self.on_stopped: list = []  # called when a session has stopped (the club uploader)
        self.club_health = None  # a lane's uploader's health, in the status (docs/club.md)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        await self.bridge.start()
        self._tasks = [
            asyncio.create_task(self.writer.run(), name="live-writer"),
            asyncio.create_task(self._status_forever(), name="live-status"),
            asyncio.create_task(self._trace_forever(), name="live-trace"),
        ]

    async def close(self) -> None:
        """Stop the session under way and store everything that waits (within
        `recording.stop_flush_s`), then the devices."""
        deadline = time.monotonic() + self.settings.recording.stop_flush_s
        if self.active is not None:
            try:
                await self.stop_session()
            except Exception:
                log.exception("stopping the session at shutdown failed")
        with contextlib.suppress(OSError):
            await self.writer.flush_until_empty(deadline)
        w = self.writer.waiting
        if not w.empty():
            log.error(
                "shutdown: %d chunks and %d rows could not be stored within %.0f s: %s",
                len(w.chunks),
                len(w.operations),
                self.settings.recording.stop_flush_s,
                self.writer.error or "the writer is behind",
            )
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.bridge.close()

    # --- samples ---------------------------------------------------------------------------

    def on_blocks(self, blocks: list[SampleBlock]) -> None:
        """A tick's blocks, every sensor's (the bridge's tick: firmware_bridge/link.py)."""
        c = self.counters
        c.blocks += len(blocks)
        c.samples += sum(len(b) for b in blocks)
        newest = max(float(b.time_s[-1]) for b in blocks)
        c.note_lag(max(time.monotonic() - newest, 0.0))
        self._check_overload(c.engine_lag_s)
        if self.overloaded:  # shed first: the live plot (docs/api.md, "Overload")
            c.trace_blocks_shed += len(blocks)
        else:
            t0 = time.thread_time()
            for block in blocks:
                self.trace.add(block)
            c.cpu_s["trace"] += time.thread_time() - t0
        if self.active is None:
            return
        origin = self.active.origin_s
        t0, cpu0, fan_out0 = time.perf_counter(), time.thread_time(), c.cpu_s["fan-out"]
        # A session holds the samples measured while it records: a block read just after
        # the start may begin before it (a 100 Hz sensor's batch spans 0.1 s).
        ours = [b if b.time_s[0] >= origin else b.since(origin) for b in blocks]
        self._record(self.active.merge.push_many(b for b in ours if b is not None))
        fan_out_s = c.cpu_s["fan-out"] - fan_out0
        c.engine_s += time.perf_counter() - t0 - fan_out_s
        c.cpu_s["engine"] += time.thread_time() - cpu0 - fan_out_s

    def _record(self, blocks: list[SampleBlock]) -> None:
        """A tick's blocks, in time order; steps looked for once (Recording.add_many)."""
        if not blocks:
            return
        events, chunks, confirmed_by = self.active.recording.add_many(blocks)
        if chunks:
            self.writer.waiting.chunks.extend(chunks)
            self.writer.wake.set()
        self._emit(events, None if confirmed_by is None else blocks[confirmed_by])

    def _check_overload(self, lag_s: float) -> None:
        """Behind when samples reach us late; caught up when they have reached us
        early for a while (a starved host catches up in bursts)."""
        bound = self.settings.live.overload_lag_s
        now = time.monotonic()
        if lag_s > bound / 5:
            self._late_at = now
        if self.overloaded:
            self.peak_lag_s = max(self.peak_lag_s, lag_s)
        if not self.overloaded and lag_s > bound:
            self.overloaded, self.peak_lag_s = True, lag_s
            self.counters.overloads += 1
            log.warning("the host is %.1f s behind the sensors: shedding the live trace", lag_s)
        elif self.overloaded and now - self._late_at > self.CAUGHT_UP_S:
            self.overloaded = False
            log.warning("caught up with the sensors: live trace back")

    # --- events out ---------------------------------------------------------------------------

    def _emit(self, events: list[dict], block: SampleBlock | None) -> None:
        if not events:
            return
        t0 = time.thread_time()
        try:
            self._publish(events, block)
        finally:
            self.counters.cpu_s["fan-out"] += time.thread_time() - t0

    def _publish(self, events: list[dict], block: SampleBlock | None) -> None:
        sid, origin = self.active.id, self.active.origin_s
        for e in events:
            self.counters.events += 1
            msg = {**relative(e, origin), "session_id": sid}  # as REST and exports give it
            if block is not None:
                msg["confirmed_by"] = {
                    "device_id": f"{block.device_id:016x}",
                    "stream_id": block.stream.stream_id,
                    "sample": block.first_sample + len(block) - 1,
                }
            self.hub.publish(msg)
            self.writer.add_event(sid, e)
            self._to_athlete(e, msg)
        self.writer.wake.set()

    def _to_athlete(self, e: dict, msg: dict) -> None:
        """MQTT events, and the athlete's cue for this step or rep if the policy gives one."""
        active, mqtt = self.active, self.mqtt
        athlete = active.row.athlete_id
        if mqtt is not None:
            kind = "reps" if e["type"] == "rep" else "steps"
            # QoS 1 and the session's UUID: a club's centre keeps every step (docs/club.md).
            out = {**msg, "session_uuid": active.row.uuid}
            mqtt.publish(mqtt.topics[kind].format(athlete=athlete), out, qos=1)
        cue = active.cues.on_event(e)
        if cue is None:
            return
        self.cues_sent += 1
        out = cue_payload(cue, e, active.id, athlete, self.cues_sent)
        self.hub.publish({"type": "cue", **out})
        if mqtt is not None:
            mqtt.publish_cue(athlete, out, cue["expiry_s"])

    def _announce(self, msg: dict) -> None:
        """A session's start or stop on MQTT, for a club's centre (docs/club.md)."""
        if self.mqtt is not None:
            self.mqtt.publish(self.mqtt.topics["sessions"], msg, qos=1)

    def on_event(self, ev: DeviceEvent) -> None:
        d = self.counters.device_events
        d[ev.kind] = d.get(ev.kind, 0) + 1
        # An unplugged sensor is not waited for any more. A stalled one (no frames for
        # a second) is, up to the engine's stale_s: from here a starved host looks the
        # same as a stalled sensor, and waiting keeps the session identical to its
        # re-score.
        if self.active is not None and ev.kind == "disconnected":
            self._record(self.active.merge.pause(ev.device_id))
            self._emit(self.active.recording.pause(ev.device_id), None)
        msg = {
            "type": "sensor_event",
            "kind": ev.kind,
            "device_id": f"{ev.device_id:016x}",
            "time_s": ev.host_time_s,
            "detail": ev.detail,
        }
        self.hub.publish(msg)

    # --- training sessions -------------------------------------------------------------------

    @property
    def recording(self) -> Recording | None:
        """The session under way's recording (None when none records)."""
        return self.active.recording if self.active is not None else None

    def held_s(self) -> float:
        """How long the oldest block has waited for the other sensors (0 with none)."""
        return self.active.merge.held_s() if self.active is not None else 0.0

    def is_recording(self, session_id: int) -> bool:
        return self.active is not None and self.active.id == session_id

    def refuse_if_recording(self, session_id: int) -> None:
        """A recording session is not deleted or rescored: stop it first (409)."""
        if self.is_recording(session_id):
            raise Conflict(f"session {session_id} is recording; stop it first")

    async def start_session(
        self, athlete_id: int, notes: str = "", cues: dict | None = None
    ) -> Session:
        if self.settings.club.role == "central":  # it has no sensors: a lane records
            raise Conflict("the club's centre records no sessions: its lanes do (docs/club.md)")
        async with self._lock:
            if self.active is not None:
                raise Conflict(f"session {self.active.id} is recording; stop it first")
            row, rec, policy, who = await new_session(
                self.store, self.settings, athlete_id, notes, cues
            )
            for dev in self.bridge.device_sessions():
                for stream in dev.hello.streams:
                    rec.expect(dev.device_id, dev.name, stream)
            self.active = ActiveSession.begin(row, rec, CueMaker(policy))
            self.journal.clear()
            self.hub.publish({"type": "session", "event": "started", **session_json(row)})
            self._announce({"event": "started", **session_json(row), "athlete": who})
            log.info("session %d started for athlete %d", row.id, athlete_id)
            self.writer.wake.set()
            return row

    async def stop_session(self) -> Session:
        async with self._lock:
            active = self.active
            if active is None:
                raise Conflict("no session is recording")
            rec, row = active.recording, active.row
            self.bridge.tick()  # what the ports brought up to now is the session's
            self._record(active.merge.flush())
            try:
                events, chunks = rec.finish()
            except Exception:  # a bug must not keep the session recording for ever
                log.exception("session %d: the engine failed to finish", row.id)
                events, chunks = [], rec.chunker.flush()
            self._emit(events, None)
            w = self.writer.waiting
            w.chunks.extend(chunks)
            w.streams.extend(rec.take_new_streams())
            self.active = None  # dropped as one: nothing of it is used after this
            row.status, row.stopped_at = "stopped", datetime.now(UTC)
            self.writer.add(SessionStopped(row.id, row.stopped_at))
            # Stopped whatever happens; what the database refuses now waits and is retried.
            deadline = time.monotonic() + self.settings.recording.stop_flush_s
            with contextlib.suppress(OSError):
                await self.writer.flush_until_empty(deadline)
            self.hub.publish({"type": "session", "event": "stopped", **session_json(row)})
            self._announce({"event": "stopped", **session_json(row)})
            for wake in self.on_stopped:
                wake()
            log.info("session %d stopped: %d steps, %d reps", row.id, rec.steps, rec.reps)
            return row

    async def add_mark(self, session_id: int, label: str) -> MarkMade:
        if not self.is_recording(session_id):
            raise Conflict(f"session {session_id} is not recording; marks are made live")
        origin = self.active.origin_s
        mark = MarkMade(session_id, time.monotonic(), label)
        self.writer.add(mark)
        await self.writer.flush_until_empty()
        since_start = round(mark.time_s - origin, 6)
        self.hub.publish(
            {"type": "mark", "session_id": session_id, "time_s": since_start, "label": label}
        )
        return mark

    def _new_streams(self) -> list[StreamRecorded]:
        return self.active.recording.take_new_streams() if self.active is not None else []

    # --- status ------------------------------------------------------------------------------

    @property
    def storage_error(self) -> str | None:
        return self.writer.error

    def storage_health(self) -> dict:
        return self.writer.health()

    def health(self) -> dict[str, dict]:
        """Its parts of /healthz: storage, the sensors' bridge, the engine."""
        c = self.counters
        engine = {
            "ok": not self.overloaded,
            "recording": self.active is not None,
            "lag_s": round(c.engine_lag_s, 4),
            "overloaded": self.overloaded,
            "peak_lag_s": round(self.peak_lag_s, 4),
            "overloads": c.overloads,
            "held_s": round(self.held_s(), 3),
        }
        return {"storage": self.writer.health(), "bridge": self.bridge.health(), "engine": engine}

    async def _status_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.live.status_interval_s)
            self.hub.publish(self.status())

    async def _trace_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.live.trace_interval_s)
            series = self.trace.take()
            if series:
                self.hub.publish({"type": "trace", "series": series})

    def hello(self, role: str) -> dict:
        """What a websocket client gets first: the status, its role, and the session's
        last messages to replay (null with no session)."""
        rec = self.recording
        snapshot = RawJson(self.journal.snapshot_json(rec.steps)) if rec is not None else None
        return {**self.status(), "type": "hello", "role": role, "snapshot": snapshot}

    def status(self) -> dict:
        """JSON-safe: a device not yet synchronised reports NaN drift, sent as null."""
        active, session = self.active, None
        if active is not None:
            rec = active.recording
            session = {
                **session_json(active.row),
                "steps": rec.steps,
                "reps": rec.reps,
                "samples": rec.samples,
            }
        return clean(
            {
                "type": "status",
                "time_s": time.monotonic(),
                "devices": [s.as_dict() for s in self.bridge.stats()],
                "session": session,
                "storage": self.storage_health(),
                "engine": {
                    "overloaded": self.overloaded,
                    "lag_s": round(self.counters.engine_lag_s, 3),
                    "peak_lag_s": round(self.peak_lag_s, 3),
                    "overloads": self.counters.overloads,
                },
                "clients": len(self.hub.clients),
                "club": self.club_health() if self.club_health is not None else None,
            }
        )
