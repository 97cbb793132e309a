"""A session as it is recorded: the engine, the raw chunks, and their replay.

`Recording` feeds every block to the session's engine and cuts the same
blocks into chunks of about `chunk_s` per stream for storage. `rescore`
decodes the stored chunks and runs a fresh engine over them: because the
engine's output does not depend on how blocks are cut or interleaved, and
the chunks hold the samples bit for bit, it reproduces the live steps and
reps exactly. Nothing here does I/O but `rescore_stored`, which pages a stored
session out of the database; the service's writer stores the rows.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from firmware_bridge.codec import (
    Channel,
    ChannelInfo,
    Placement,
    SampleFormat,
    SensorKind,
    StreamInfo,
    Unit,
)
from firmware_bridge.device import SampleBlock

from .engine import AthleteInfo, Baseline, Engine, EngineConfig, settled
from .hub import clean
from .store import Session, Store, queries, rawcodec
from .store.writes import StreamRecorded

log = logging.getLogger("stridesync.recorder")


def stream_to_json(s: StreamInfo) -> dict:
    return {
        "stream_id": s.stream_id,
        "kind": s.kind.name.lower(),
        "placement": s.placement.name.lower(),
        "index": s.index,
        "sample_rate_hz": s.sample_rate_hz,
        "sample_format": s.sample_format.name.lower(),
        "channels": [
            {
                "channel": c.channel.name.lower(),
                "unit": c.unit.name.lower(),
                "scale": c.scale,
                "offset": c.offset,
                "label": c.label,
            }
            for c in s.channels
        ],
    }


def stream_from_json(d: dict) -> StreamInfo:
    return StreamInfo(
        stream_id=d["stream_id"],
        kind=SensorKind[d["kind"].upper()],
        placement=Placement[d["placement"].upper()],
        sample_rate_hz=d["sample_rate_hz"],
        channels=tuple(
            ChannelInfo(
                Channel[c["channel"].upper()], Unit[c["unit"].upper()], c["scale"], c["offset"]
            )
            for c in d["channels"]
        ),
        index=d["index"],
        sample_format=SampleFormat[d["sample_format"].upper()],
    )


@dataclass
class Chunk:
    session_id: int
    device_id: int
    device_name: str
    stream: StreamInfo
    first_sample: int
    lost_before: int
    time_s: np.ndarray
    values: np.ndarray

    def encode(self) -> bytes:
        scale, offset = self.stream.scales()
        return rawcodec.encode(self.time_s, self.values, scale, offset)

    def row(self) -> dict:
        return {
            "device_id": f"{self.device_id:016x}",
            "stream_id": self.stream.stream_id,
            "first_sample": self.first_sample,
            "n": len(self.time_s),
            "t_start": float(self.time_s[0]),
            "t_end": float(self.time_s[-1]),
            "lost_before": self.lost_before,
        }


@dataclass
class _Buffer:
    blocks: list[SampleBlock] = field(default_factory=list)
    next_sample: int | None = None


class Chunker:
    """Blocks of each stream, cut into chunks of about `chunk_s`; a gap starts a new chunk."""

    def __init__(self, chunk_s: float, session_id: int = 0) -> None:
        self.chunk_s = chunk_s
        self.session_id = session_id
        self._buffers: dict[tuple[int, int], _Buffer] = {}

    def add(self, block: SampleBlock) -> list[Chunk]:
        key = (block.device_id, block.stream.stream_id)
        buf = self._buffers.setdefault(key, _Buffer())
        out = []
        if buf.blocks and (block.lost_before or block.first_sample != buf.next_sample):
            out.append(self._cut(buf))
        buf.blocks.append(block)
        buf.next_sample = block.first_sample + len(block)
        span = float(block.time_s[-1] - buf.blocks[0].time_s[0]) + 1.0 / block.stream.sample_rate_hz
        if span >= self.chunk_s - 1e-9:
            out.append(self._cut(buf))
        return out

    def flush(self) -> list[Chunk]:
        return [self._cut(b) for b in self._buffers.values() if b.blocks]

    def buffered_s(self) -> float:
        """The longest stretch of samples not yet in a chunk."""
        spans = [
            float(b.blocks[-1].time_s[-1] - b.blocks[0].time_s[0])
            for b in self._buffers.values()
            if b.blocks
        ]
        return max(spans, default=0.0)

    def _cut(self, buf: _Buffer) -> Chunk:
        blocks, buf.blocks = buf.blocks, []
        first = blocks[0]
        return Chunk(
            self.session_id,
            first.device_id,
            first.device_name,
            first.stream,
            first.first_sample,
            first.lost_before,
            np.concatenate([b.time_s for b in blocks]),
            np.concatenate([b.values for b in blocks]),
        )


class Recording:
    """One session under way: blocks in, events and rows to store out."""

    def __init__(
        self,
        session_id: int,
        athlete: AthleteInfo,
        baseline: Baseline | None,
        chunk_s: float,
        config: EngineConfig | None = None,
    ) -> None:
        self.session_id = session_id
        self.engine = Engine(athlete, config, baseline)
        self.chunker = Chunker(chunk_s, session_id)
        self.streams: dict[tuple[int, int], tuple[str, StreamInfo, bool]] = {}
        self.new_streams: list[StreamRecorded] = []  # to store
        self.steps = 0
        self.reps = 0
        self.samples = 0
        self.engine_errors = 0

    def expect(self, device_id: int, device_name: str, stream: StreamInfo) -> None:
        """A stream the rig has at the start: steps wait for it."""
        self.engine.expect(device_id, stream)
        self._note_stream(device_id, device_name, stream, True)

    def _note_stream(self, device_id: int, name: str, stream: StreamInfo, at_start: bool) -> None:
        key = (device_id, stream.stream_id)
        if key not in self.streams:
            self.streams[key] = (name, stream, at_start)
            info = stream_to_json(stream)
            row = StreamRecorded(self.session_id, device_id, name, info, at_start)
            self.new_streams.append(row)

    def take_new_streams(self) -> list[StreamRecorded]:
        out, self.new_streams = self.new_streams, []
        return out

    def add(self, block: SampleBlock) -> tuple[list[dict], list[Chunk]]:
        """Store first: whatever the engine makes of a block, its samples are kept."""
        self._note_stream(block.device_id, block.device_name, block.stream, False)
        self.samples += len(block)
        chunks = self.chunker.add(block)
        try:
            events = self.engine.feed(block)
        except Exception:  # a bug must cost at most this block's events, never samples
            self._failed()
            events = []
        return self._account(events), chunks

    def add_many(self, blocks: list[SampleBlock]) -> tuple[list[dict], list[Chunk], int | None]:
        """A tick's blocks at once (Engine.feed_many: the same events as one at a time,
        looked for once): (events, chunks, the index of the first block after which
        steps were looked for, or None: the sample that finished a step came with it
        or with a later block of the tick). Every block's samples are kept whatever
        the engine does; an engine bug costs at most this tick's events."""
        chunks: list[Chunk] = []
        confirmed_by = None
        for i, block in enumerate(blocks):
            self._note_stream(block.device_id, block.device_name, block.stream, False)
            self.samples += len(block)
            chunks += self.chunker.add(block)
            try:
                if self.engine.take(block) and confirmed_by is None:
                    confirmed_by = i
            except Exception:  # a bug must cost at most this block's events, never samples
                self._failed()
        events: list[dict] = []
        if confirmed_by is not None:
            try:
                events = self.engine.advance()
            except Exception:
                self._failed()
        return self._account(events), chunks, confirmed_by

    def _failed(self) -> None:
        self.engine_errors += 1
        if self.engine_errors == 1:
            log.exception("session %d: the engine failed on a block", self.session_id)

    def replay(self, block: SampleBlock) -> list[dict]:
        """A stored block through the engine (a rescore): counted, not chunked again;
        an engine error raises."""
        self.samples += len(block)
        return self._account(self.engine.feed(block))

    def pause(self, device_id: int) -> list[dict]:
        """A device was unplugged: the engine does not wait for it (Engine.pause)."""
        return self._account(self.engine.pause(device_id))

    def finish(self) -> tuple[list[dict], list[Chunk]]:
        return self._account(self.engine.finish()), self.chunker.flush()

    def _account(self, events: list[dict]) -> list[dict]:
        """The engine's events, cleaned for JSON, counted as the session keeps them
        (a retracted step is not kept: service/engine/reps.py)."""
        out = []
        for e in events:
            e = clean(e)
            if e["type"] == "step":
                self.steps += 1
            elif e["type"] == "steps_retracted":
                self.steps -= len(e["steps"])
            elif e["type"] == "rep":
                self.reps += 1
            out.append(e)
        return out


class StoredStream(NamedTuple):
    """A stored session's raw stream, as its device's HELLO described it."""

    device_id: int
    device_name: str
    info: StreamInfo
    at_start: bool  # expected from the session's start


class StoredChunk(NamedTuple):
    """A stored raw chunk (rawcodec), in the order the session stored it."""

    device_id: int
    stream_id: int
    first_sample: int
    lost_before: int
    data: bytes


class Rescore:
    """A fresh engine over a stored session's raw chunks, fed page by page: the same
    `Recording` as the live session, replaying blocks (nothing to store again, and an
    engine error raises: a rescore must not quietly differ)."""

    def __init__(
        self,
        athlete: AthleteInfo,
        baseline: Baseline | None,
        streams: list[StoredStream],
        config: EngineConfig | None = None,
    ) -> None:
        self.rec = Recording(0, athlete, baseline, chunk_s=1.0, config=config)
        self.info = {}
        for st in streams:
            self.info[(st.device_id, st.info.stream_id)] = (st.device_name, st.info)
            if st.at_start:
                self.rec.expect(st.device_id, st.device_name, st.info)
        self.events: list[dict] = []

    def feed(self, chunks: list[StoredChunk]) -> None:
        for c in chunks:
            name, stream = self.info[(c.device_id, c.stream_id)]
            time_s, values = rawcodec.decode(c.data, *stream.scales())
            block = SampleBlock(
                c.device_id, name, stream, c.first_sample, time_s, values, c.lost_before
            )
            self.events += self.rec.replay(block)

    def finish(self) -> list[dict]:
        """The steps and reps the session keeps (retracted steps left out)."""
        events, _ = self.rec.finish()
        return settled(self.events + events)


def rescore(
    athlete: AthleteInfo,
    baseline: Baseline | None,
    streams: list[StoredStream],
    chunks: list[StoredChunk],
    config: EngineConfig | None = None,
) -> list[dict]:
    """Steps and reps of a stored session, by a fresh engine over its raw chunks."""
    r = Rescore(athlete, baseline, streams, config)
    r.feed(chunks)
    return r.finish()


async def rescore_stored(store: Store, row: Session) -> tuple[list[dict], list[dict]]:
    """Steps and reps of a stored session by a fresh engine, and the differences from
    what the session stored (none when the model is the session's own).

    Page by page, in a worker thread: an hour of raw samples never sits in memory
    at once, and the event loop keeps serving the live session."""
    streams = await queries.streams(store, row.id)
    job = Rescore(
        AthleteInfo(**row.athlete_snapshot),
        Baseline.from_dict(row.baseline) if row.baseline else None,
        [
            StoredStream(
                int(st.device_id, 16),
                st.device_name,
                stream_from_json(st.info),
                st.expected_at_start,
            )
            for st in streams
        ],
    )
    async for page in queries.raw_pages(store, row.id, page=RESCORE_PAGE):
        chunks = [StoredChunk(int(c[1], 16), *c[2:-1]) for c in page]
        await asyncio.to_thread(job.feed, chunks)
    events = await asyncio.to_thread(job.finish)
    return events, await _differences_from_stored(store, row.id, events)


RESCORE_PAGE = 200  # raw chunks a page: about 12 s of the standard rig


async def _differences_from_stored(store: Store, session_id: int, events: list[dict]) -> list[str]:
    steps_old = [d async for d in queries.all_steps(store, session_id)]
    reps_old = await queries.reps(store, session_id)
    steps_new = [e for e in events if e["type"] == "step"]
    reps_new = [e for e in events if e["type"] == "rep"]
    return differences(steps_old, steps_new, "step") + differences(reps_old, reps_new, "rep")


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def differences(old: list[dict], new: list[dict], what: str) -> list[str]:
    """Each field that differs between stored and rescored events, one line each."""
    if len(old) != len(new):
        return [f"{len(old)} {what}s stored, {len(new)} from the rescore"]
    out = []
    for i, (a, b) in enumerate(zip(old, new, strict=True), 1):
        for k in sorted(set(a) | set(b)):
            if not _same(a.get(k), b.get(k)):
                out.append(f"{what} {i}: {k} was {a.get(k)!r}, now {b.get(k)!r}")
    return out
