"""The live pipeline: bridge → engine → websocket fan-out and storage.

Everything runs on the service's one event loop and nothing on the sample
path waits: the bridge calls `on_block` for each block, the session's
engine turns it into events, the hub queues them for every client, and the
rows to store go into a list that the writer task commits about twice a
second, in one transaction. A database that cannot be written (a full disk)
is retried; the chunks wait in memory up to `recording.max_pending_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, update
from sqlalchemy.sql.dml import Delete, Update

from firmware_bridge.codec import Channel, SensorKind
from firmware_bridge.device import DeviceEvent, SampleBlock
from firmware_bridge.link import Bridge

from .config import Settings
from .cues.mqtt import MqttOut
from .cues.policy import CueMaker, CuePolicy
from .engine import MODEL_VERSION, AthleteInfo, Baseline
from .hub import Hub, clean
from .merge import TimeMerge
from .recorder import Chunk, Recording, stream_to_json
from .store import Mark, RawChunk, Rep, Session, SessionStream, Step, Store

log = logging.getLogger("stridesync.live")


class Conflict(Exception):
    """The request does not fit the state (a session already recording...)."""


# --- live trace --------------------------------------------------------------------------


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


# --- the pipeline ----------------------------------------------------------------------


@dataclass
class _Pending:
    streams: list[tuple] = field(default_factory=list)  # (session, device, name, info, at start)
    chunks: list[Chunk] = field(default_factory=list)
    rows: list = field(default_factory=list)  # ORM objects and updates, in order

    def empty(self) -> bool:
        return not (self.streams or self.chunks or self.rows)


@dataclass
class Counters:
    blocks: int = 0
    samples: int = 0
    events: int = 0
    device_events: dict[str, int] = field(default_factory=dict)
    engine_s: float = 0.0  # time spent in the engine, all blocks
    # CPU seconds of the service by part (bench service reports them as shares of a core)
    cpu_s: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("blocks", "trace", "engine", "fan-out", "storage"), 0.0
        )
    )
    engine_lag_s: float = 0.0  # newest sample's age when its block was done, last block
    commits: int = 0
    commit_errors: int = 0
    chunks_stored: int = 0
    chunks_dropped: int = 0
    bytes_stored: int = 0
    overloads: int = 0  # times the host fell behind by more than live.overload_lag_s
    trace_blocks_shed: int = 0


class Live:
    """Bridge, engine and storage for one service; at most one session records."""

    def __init__(self, settings: Settings, store: Store, hub: Hub) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.bridge = Bridge(
            settings.devices.ports,
            on_block=self.on_block,
            on_event=self.on_event,
            scan_interval_s=settings.devices.scan_interval_s,
            log_stats=False,
        )
        self.trace = Trace(settings.live.trace_hz)
        self.counters = Counters()
        self.recording: Recording | None = None
        self.session_row: Session | None = None
        self.merge: TimeMerge | None = None
        self.overloaded = False
        self.peak_lag_s = 0.0  # the most behind in the overload under way (or the last)
        self._late_at = -math.inf  # when a block last came later than a fifth of the bound
        self._pending = _Pending()
        self._write_lock = asyncio.Lock()  # one commit at a time: a batch leaves after it
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._lock = asyncio.Lock()  # session start/stop
        self.storage_error: str | None = None
        self.last_commit_s: float | None = None
        self.cue_maker: CueMaker | None = None
        self.cues_sent = 0
        self.mqtt: MqttOut | None = None
        m = settings.mqtt
        if m.broker:
            import socket

            host, port = m.address()
            self.mqtt = MqttOut(
                host,
                port,
                m.node or socket.gethostname().split(".")[0],
                username=m.username or None,
                password=m.secret(),
                tls=m.tls,
                ca_file=m.ca_file or None,
                queue_size=m.queue_size,
            )

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        await self._recover()
        await self.bridge.start()
        if self.mqtt is not None:
            await self.mqtt.start()
        self._tasks = [
            asyncio.create_task(self._write_forever(), name="live-writer"),
            asyncio.create_task(self._status_forever(), name="live-status"),
            asyncio.create_task(self._trace_forever(), name="live-trace"),
        ]

    async def close(self) -> None:
        """Stop the session under way and store everything that waits (within
        `recording.stop_flush_s`), then the devices."""
        deadline = time.monotonic() + self.settings.recording.stop_flush_s
        if self.recording is not None:
            try:
                await self.stop_session()
            except Exception:
                log.exception("stopping the session at shutdown failed")
        with contextlib.suppress(OSError):
            await self._flush_until_empty(deadline)
        if not self._pending.empty():
            p = self._pending
            log.error(
                "shutdown: %d chunks and %d rows could not be stored within %.0f s: %s",
                len(p.chunks),
                len(p.rows),
                self.settings.recording.stop_flush_s,
                self.storage_error or "the writer is behind",
            )
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.bridge.close()
        if self.mqtt is not None:
            for _ in range(20):  # a last rep summary may still be on its way
                if not (self.mqtt.connected and self.mqtt.queue):
                    break
                await asyncio.sleep(0.05)
            await self.mqtt.close()

    async def _recover(self) -> None:
        """A session left recording by a crash or power cut is marked interrupted."""
        async with self.store.session() as s, s.begin():
            res = await s.execute(
                update(Session)
                .where(Session.status == "recording")
                .values(status="interrupted")
                .returning(Session.id)
            )
            ids = [r[0] for r in res]
        for sid in ids:
            log.warning("session %d was interrupted (power cut or crash); kept as it was", sid)

    # --- samples ---------------------------------------------------------------------------

    def on_block(self, block: SampleBlock) -> None:
        t0 = time.thread_time()
        try:
            self._on_block(block)
        finally:
            self.counters.cpu_s["blocks"] += time.thread_time() - t0

    def _on_block(self, block: SampleBlock) -> None:
        c = self.counters
        c.blocks += 1
        c.samples += len(block)
        c.engine_lag_s = max(time.monotonic() - float(block.time_s[-1]), 0.0)
        self._check_overload(c.engine_lag_s)
        if self.overloaded:  # shed first: the live plot (docs/api.md, "Overload")
            c.trace_blocks_shed += 1
        else:
            t0 = time.thread_time()
            self.trace.add(block)
            c.cpu_s["trace"] += time.thread_time() - t0
        if self.recording is None:
            return
        for b in self.merge.push(block):
            self._record(b)

    def _record(self, block: SampleBlock) -> None:
        c = self.counters
        t0, cpu0 = time.perf_counter(), time.thread_time()
        events, chunks = self.recording.add(block)
        c.engine_s += time.perf_counter() - t0
        c.cpu_s["engine"] += time.thread_time() - cpu0
        if chunks:
            self._pending.chunks.extend(chunks)
            self._wake.set()
        self._emit(events, block)

    def _pause_engine(self, device_id: int) -> None:
        if self.recording is not None:
            self._emit(self.recording.pause(device_id), None)

    CAUGHT_UP_S = 2.0  # this long under a fifth of the bound: caught up

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

    def _emit(self, events: list[dict], block: SampleBlock | None) -> None:
        if not events:
            return
        t0 = time.thread_time()
        try:
            self._publish(events, block)
        finally:
            self.counters.cpu_s["fan-out"] += time.thread_time() - t0

    def _publish(self, events: list[dict], block: SampleBlock | None) -> None:
        sid = self.session_row.id
        for e in events:
            self.counters.events += 1
            msg = {**e, "session_id": sid}
            if block is not None:
                msg["confirmed_by"] = {
                    "device_id": f"{block.device_id:016x}",
                    "stream_id": block.stream.stream_id,
                    "sample": block.first_sample + len(block) - 1,
                }
            self.hub.publish(msg)
            row = _row(sid, e)
            if row is not None:
                self._pending.rows.append(row)
            self._cue(e, msg)
        self._wake.set()

    def _cue(self, e: dict, msg: dict) -> None:
        """The athlete's cue for this step or rep, if the policy gives one; MQTT events."""
        maker, row = self.cue_maker, self.session_row
        cue = None
        # A provisional step (service/engine/reps.py) may yet be retracted: no cue.
        if maker is not None and e["type"] == "step" and not e.get("provisional"):
            cue = maker.on_step(e)
        elif maker is not None and e["type"] == "rep":
            cue = maker.on_rep(e)
        mqtt = self.mqtt
        athlete = row.athlete_id
        if mqtt is not None:
            kind = "reps" if e["type"] == "rep" else "steps"
            mqtt.publish(
                mqtt.topics[kind].format(athlete=athlete), msg, qos=0 if kind == "steps" else 1
            )
        if cue is None:
            return
        now_unix, now = time.time(), time.monotonic()
        event_s = e.get("to_time_s") if e["type"] == "step" else e.get("end_s")
        event_unix = now_unix - (now - event_s) if event_s is not None else now_unix
        self.cues_sent += 1
        out = {
            "id": f"{row.id}-{self.cues_sent}",
            "athlete_id": athlete,
            "session_id": row.id,
            "step": e.get("n") if e["type"] == "step" else None,
            "rep": e.get("rep"),
            "kind": cue["kind"],
            "sound": cue["sound"],
            "text": cue["text"],
            "event_unix": event_unix,
            "sent_unix": now_unix,
            "expires_unix": now_unix + cue["expiry_s"],
        }
        self.hub.publish({"type": "cue", **out})
        if mqtt is not None:
            mqtt.publish(
                mqtt.topics["cue"].format(athlete=athlete),
                {"v": 1, **out},
                qos=1,
                expiry_s=cue["expiry_s"],
            )

    def on_event(self, ev: DeviceEvent) -> None:
        d = self.counters.device_events
        d[ev.kind] = d.get(ev.kind, 0) + 1
        # An unplugged sensor is not waited for any more. A stalled one (no frames for
        # a second) is, up to the engine's stale_s: from here a starved host looks the
        # same as a stalled sensor, and waiting keeps the session identical to its
        # re-score.
        if self.merge is not None and ev.kind == "disconnected":
            for b in self.merge.pause(ev.device_id):
                self._record(b)
            self._pause_engine(ev.device_id)
        msg = {
            "type": "sensor_event",
            "kind": ev.kind,
            "device_id": f"{ev.device_id:016x}",
            "time_s": ev.host_time_s,
            "detail": ev.detail,
        }
        self.hub.publish(msg)

    # --- sessions -------------------------------------------------------------------------

    async def start_session(
        self, athlete_id: int, notes: str = "", cues: dict | None = None
    ) -> Session:
        from .store import Athlete

        async with self._lock:
            if self.recording is not None:
                raise Conflict(f"session {self.session_row.id} is recording; stop it first")
            async with self.store.session() as s, s.begin():
                athlete = await s.get(Athlete, athlete_id)
                if athlete is None:
                    raise LookupError(f"no athlete {athlete_id}")
                info = AthleteInfo(athlete.body_mass_kg, athlete.height_m)
                baseline = Baseline.from_dict(athlete.baseline) if athlete.baseline else None
                policy = (
                    CuePolicy(**self.settings.cues.model_dump())
                    .updated(athlete.cue_policy)
                    .updated(cues)
                )
                row = Session(
                    athlete_id=athlete_id,
                    status="recording",
                    clock_origin_s=time.monotonic(),
                    notes=notes,
                    model_version=MODEL_VERSION,
                    athlete_snapshot={
                        "body_mass_kg": info.body_mass_kg,
                        "height_m": info.height_m,
                    },
                    baseline=baseline.as_dict() if baseline else None,
                    cue_policy=policy.as_dict(),
                )
                s.add(row)
                await s.flush()
            rec = Recording(row.id, info, baseline, self.settings.recording.chunk_s)
            for dev in self.bridge.sessions():
                for stream in dev.hello.streams:
                    rec.expect(dev.device_id, dev.name, stream)
            self.session_row, self.recording = row, rec
            self.merge = TimeMerge(max_hold_s=rec.engine.cfg.stale_s)
            self.cue_maker = CueMaker(policy)
            self.hub.publish({"type": "session", "event": "started", **session_json(row)})
            log.info("session %d started for athlete %d", row.id, athlete_id)
            self._wake.set()
            return row

    async def stop_session(self) -> Session:
        async with self._lock:
            rec, row = self.recording, self.session_row
            if rec is None:
                raise Conflict("no session is recording")
            for b in self.merge.flush():
                self._record(b)
            self.merge = None
            try:
                events, chunks = rec.finish()
            except Exception:  # a bug must not keep the session recording for ever
                log.exception("session %d: the engine failed to finish", row.id)
                events, chunks = [], rec.chunker.flush()
            self._emit(events, None)
            self._pending.chunks.extend(chunks)
            self._pending.streams.extend(rec.take_new_streams())
            self.recording = None
            row.status, row.stopped_at = "stopped", datetime.now(UTC)
            self._pending.rows.append(
                update(Session)
                .where(Session.id == row.id)
                .values(status="stopped", stopped_at=row.stopped_at)
            )
            self.session_row = None
            # Stopped whatever happens; what the database refuses now waits and is retried.
            deadline = time.monotonic() + self.settings.recording.stop_flush_s
            with contextlib.suppress(OSError):
                await self._flush_until_empty(deadline)
            self.hub.publish({"type": "session", "event": "stopped", **session_json(row)})
            log.info("session %d stopped: %d steps, %d reps", row.id, rec.steps, rec.reps)
            return row

    async def add_mark(self, session_id: int, label: str) -> Mark:
        row = self.session_row
        if row is None or row.id != session_id:
            raise Conflict(f"session {session_id} is not recording; marks are made live")
        mark = Mark(session_id=session_id, time_s=time.monotonic(), label=label)
        self._pending.rows.append(mark)
        await self._flush_until_empty()
        self.hub.publish(
            {"type": "mark", "session_id": session_id, "time_s": mark.time_s, "label": label}
        )
        return mark

    # --- storage ----------------------------------------------------------------------------

    async def _flush_until_empty(self, deadline: float | None = None) -> None:
        """Commit until nothing waits; retry a failing database until `deadline`
        (default: three tries)."""
        tries = 0
        while True:
            ok = await self._flush()
            tries += 1
            if ok and self._pending.empty():
                return
            late = time.monotonic() >= deadline if deadline is not None else tries >= 3
            if late:
                raise OSError(f"the database cannot be written: {self.storage_error}")
            if not ok:
                await asyncio.sleep(0.2)

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not await self._flush():
                await asyncio.sleep(1.0)  # then retry what waits
                self._wake.set()

    async def _flush(self) -> bool:
        """Commit what waits, in one transaction. A batch leaves the waiting lists only
        once committed: on failure, or if the writer is cancelled, it is still there."""
        async with self._write_lock:
            return await self._commit_waiting()

    async def _commit_waiting(self) -> bool:
        p = self._pending
        if self.recording is not None:
            p.streams.extend(self.recording.take_new_streams())
        streams, chunks, rows = list(p.streams), list(p.chunks), list(p.rows)
        if not (streams or chunks or rows):
            return True
        try:
            blobs = await asyncio.to_thread(self._encode, chunks)
            async with self.store.session() as s, s.begin():
                s.add_all(
                    SessionStream(
                        session_id=sid,
                        device_id=f"{d:016x}",
                        device_name=name,
                        stream_id=info.stream_id,
                        info=stream_to_json(info),
                        expected_at_start=at_start,
                    )
                    for sid, d, name, info, at_start in streams
                )
                s.add_all(
                    RawChunk(session_id=c.session_id, data=blob, **c.row())
                    for c, blob in zip(chunks, blobs, strict=True)
                )
                for r in rows:
                    if isinstance(r, Update | Delete):
                        await s.execute(r)
                    else:
                        s.add(r)
        except Exception as exc:  # a full disk, a lost server: keep the data, say so
            self.counters.commit_errors += 1
            first = self.storage_error is None
            self.storage_error = str(exc).splitlines()[0][:200]
            if first:
                log.error("storage failing, will retry: %s", self.storage_error)
            self._drop_excess()
            return False
        # Committed: now they leave (what came in meanwhile stays, after them).
        del p.streams[: len(streams)], p.chunks[: len(chunks)], p.rows[: len(rows)]
        if self.storage_error is not None:
            log.warning("storage works again")
        self.storage_error = None
        self.counters.commits += 1
        self.counters.chunks_stored += len(chunks)
        self.counters.bytes_stored += sum(len(b) for b in blobs)
        self.last_commit_s = time.monotonic()
        return True

    def _encode(self, chunks: list[Chunk]) -> list[bytes]:
        """In a worker thread: the chunks compressed (its CPU counted as storage's)."""
        t0 = time.thread_time()
        blobs = [c.encode() for c in chunks]
        self.counters.cpu_s["storage"] += time.thread_time() - t0
        return blobs

    def _drop_excess(self) -> None:
        """Beyond the memory cap the oldest chunks go: counted, and marked in the
        session so that the hole is never silent."""
        chunks = self._pending.chunks
        limit = self.settings.recording.max_pending_s / self.settings.recording.chunk_s
        streams = max(len({(c.device_id, c.stream.stream_id) for c in chunks}), 1)
        excess = len(chunks) - int(limit * streams)
        if excess > 0:
            gone = chunks[:excess]
            del chunks[:excess]
            self.counters.chunks_dropped += excess
            t0 = min(float(c.time_s[0]) for c in gone)
            t1 = max(float(c.time_s[-1]) for c in gone)
            label = (
                f"storage: {sum(len(c.time_s) for c in gone)} samples not stored"
                f" ({t1 - t0:.1f} s; the database could not be written)"
            )
            sid = gone[0].session_id
            self._pending.rows.append(Mark(session_id=sid, time_s=t0, label=label[:200]))
            log.error("%s", label)

    # --- periodic messages ------------------------------------------------------------------

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

    def status(self) -> dict:
        """JSON-safe: a device not yet synchronised reports NaN drift, sent as null."""
        rec, row = self.recording, self.session_row
        return clean(
            {
                "type": "status",
                "time_s": time.monotonic(),
                "devices": [s.as_dict() for s in self.bridge.stats()],
                "session": None
                if row is None
                else {
                    **session_json(row),
                    "steps": rec.steps if rec else 0,
                    "reps": rec.reps if rec else 0,
                    "samples": rec.samples if rec else 0,
                },
                "storage": self.storage_health(),
                "engine": {
                    "overloaded": self.overloaded,
                    "lag_s": round(self.counters.engine_lag_s, 3),
                    "peak_lag_s": round(self.peak_lag_s, 3),
                    "overloads": self.counters.overloads,
                },
                "clients": len(self.hub.clients),
            }
        )

    def storage_backlog_s(self) -> float:
        """How long ago the oldest sample waiting to be stored was taken."""
        chunks = self._pending.chunks
        if not chunks:
            return 0.0
        return max(time.monotonic() - min(float(c.time_s[0]) for c in chunks[:64]), 0.0)

    def storage_health(self) -> dict:
        backlog = self.storage_backlog_s()
        return {
            "ok": self.storage_error is None,
            "error": self.storage_error,
            "behind": backlog > self.settings.recording.degraded_backlog_s,
            "backlog_s": round(backlog, 3),
            "pending_chunks": len(self._pending.chunks),
            "last_commit_age_s": None
            if self.last_commit_s is None
            else round(time.monotonic() - self.last_commit_s, 3),
            "commit_errors": self.counters.commit_errors,
            "chunks_dropped": self.counters.chunks_dropped,
        }


def _row(session_id: int, e: dict):
    """What the database keeps of an event: a step row, a rep row, or the deletion
    of retracted steps (applied in order with the rest); nothing for a confirmation."""
    if e["type"] == "step":
        return Step(
            session_id=session_id,
            seq=e["n"],
            rep=e.get("rep"),
            foot=e.get("foot"),
            ic_time_s=e["ic_time_s"],
            limiter=e.get("limiter"),
            aligned=e.get("aligned"),
            source=e["source"],
            data={k: v for k, v in e.items() if k != "provisional"},
        )
    if e["type"] == "steps_retracted":
        return delete(Step).where(Step.session_id == session_id, Step.seq.in_(e["steps"]))
    if e["type"] != "rep":
        return None
    return Rep(
        session_id=session_id,
        number=e["rep"],
        start_s=e.get("start_s"),
        end_s=e.get("end_s"),
        steps=e["steps"],
        data=e,
    )


def session_json(row: Session) -> dict:
    return clean(
        {
            "session_id": row.id,
            "athlete_id": row.athlete_id,
            "status": row.status,
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "stopped_at": row.stopped_at.isoformat() if row.stopped_at else None,
            "clock_origin_s": row.clock_origin_s,
            "model_version": row.model_version,
        }
    )
