"""The storage writer: what a session produces, committed about four times a second.

Nothing on the sample path waits for the database: rows and raw chunks go
into waiting lists, and one task commits them in one transaction, at most every
`recording.commit_interval_s` (a commit costs the event loop a few ms of
SQLAlchemy whatever it holds: one a chunk, 16 a second, held a starved Pi's loop for
tens of ms at a time), the chunks as one executemany of plain rows. A database
that cannot be written (a full disk) is retried; the chunks wait in memory up
to `recording.max_pending_s`, then the oldest go, counted and marked in the
session so that the hole is never silent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import RecordingConfig
from ..recorder import Chunk
from ..store import Store
from ..store.writes import (
    ChunkRow,
    MarkMade,
    Operation,
    StreamRecorded,
    commit,
    event_operation,
)
from .counters import Counters

log = logging.getLogger("stridesync.live")


@dataclass
class Waiting:
    streams: list[StreamRecorded] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)  # in order

    def empty(self) -> bool:
        return not (self.streams or self.chunks or self.operations)


class Writer:
    """Commits what waits; `new_streams()` gives the streams a recording found since."""

    def __init__(
        self,
        store: Store,
        settings: RecordingConfig,
        counters: Counters,
        new_streams: Callable[[], list[StreamRecorded]],
    ) -> None:
        self.store = store
        self.settings = settings
        self.counters = counters
        self.new_streams = new_streams
        self.waiting = Waiting()
        self.error: str | None = None
        self.last_commit_s: float | None = None
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one commit at a time: a batch leaves after it

    def add_event(self, session_id: int, event: dict) -> None:
        op = event_operation(session_id, event)
        if op is not None:
            self.waiting.operations.append(op)

    def add(self, op: Operation) -> None:
        """An operation to commit, after those before it."""
        self.waiting.operations.append(op)

    async def flush_until_empty(self, deadline: float | None = None) -> None:
        """Commit until nothing waits; retry a failing database until `deadline`
        (default: three tries)."""
        tries = 0
        while True:
            ok = await self.flush()
            tries += 1
            if ok and self.waiting.empty():
                return
            late = time.monotonic() >= deadline if deadline is not None else tries >= 3
            if late:
                raise OSError(f"the database cannot be written: {self.error}")
            if not ok:
                await asyncio.sleep(0.2)

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            started = time.monotonic()
            if not await self.flush():
                await asyncio.sleep(1.0)  # then retry what waits
                self.wake.set()
                continue
            # What comes in meanwhile waits for the next commit, together.
            rest = self.settings.commit_interval_s - (time.monotonic() - started)
            if rest > 0:
                await asyncio.sleep(rest)

    async def flush(self) -> bool:
        """Commit what waits, in one transaction. A batch leaves the waiting lists only
        once committed: on failure, or if the writer is cancelled, it is still there."""
        async with self._lock:
            return await self._commit_waiting()

    async def _commit_waiting(self) -> bool:
        w = self.waiting
        w.streams.extend(self.new_streams())
        streams, chunks, ops = list(w.streams), list(w.chunks), list(w.operations)
        if not (streams or chunks or ops):
            return True
        try:
            blobs = await asyncio.to_thread(self._encode, chunks)
            rows = [ChunkRow(c.session_id, b, c.row()) for c, b in zip(chunks, blobs, strict=True)]
            await commit(self.store, streams, rows, ops)
        except Exception as exc:  # a full disk, a lost server: keep the data, say so
            self._failed(exc)
            return False
        # Committed: now they leave (what came in meanwhile stays, after them).
        del w.streams[: len(streams)], w.chunks[: len(chunks)], w.operations[: len(ops)]
        if self.error is not None:
            log.warning("storage works again")
        self.error = None
        c = self.counters
        c.commits += 1
        c.chunks_stored += len(chunks)
        c.bytes_stored += sum(len(b) for b in blobs)
        self.last_commit_s = time.monotonic()
        return True

    def _failed(self, exc: Exception) -> None:
        self.counters.commit_errors += 1
        first = self.error is None
        self.error = str(exc).splitlines()[0][:200]
        if first:
            log.error("storage failing, will retry: %s", self.error)
        self._drop_excess()

    def _encode(self, chunks: list[Chunk]) -> list[bytes]:
        """In a worker thread: the chunks compressed (its CPU counted as storage's)."""
        t0 = time.thread_time()
        blobs = [c.encode() for c in chunks]
        self.counters.cpu_s["storage"] += time.thread_time() - t0
        return blobs

    def _drop_excess(self) -> None:
        """Beyond the memory cap the oldest chunks go: counted, and marked in the
        session so that the hole is never silent."""
        chunks = self.waiting.chunks
        limit = self.settings.max_pending_s / self.settings.chunk_s
        streams = max(len({(c.device_id, c.stream.stream_id) for c in chunks}), 1)
        excess = len(chunks) - int(limit * streams)
        if excess <= 0:
            return
        gone = chunks[:excess]
        del chunks[:excess]
        self.counters.chunks_dropped += excess
        t0 = min(float(c.time_s[0]) for c in gone)
        t1 = max(float(c.time_s[-1]) for c in gone)
        label = (
            f"storage: {sum(len(c.time_s) for c in gone)} samples not stored"
            f" ({t1 - t0:.1f} s; the database could not be written)"
        )
        self.waiting.operations.append(MarkMade(gone[0].session_id, t0, label[:200]))
        log.error("%s", label)

    def backlog_s(self) -> float:
        """How long ago the oldest sample waiting to be stored was taken."""
        chunks = self.waiting.chunks
        if not chunks:
            return 0.0
        return max(time.monotonic() - min(float(c.time_s[0]) for c in chunks[:64]), 0.0)

    def health(self) -> dict:
        backlog = self.backlog_s()
        return {
            "ok": self.error is None,
            "error": self.error,
            "behind": backlog > self.settings.degraded_backlog_s,
            "backlog_s": round(backlog, 3),
            "pending_chunks": len(self.waiting.chunks),
            "last_commit_age_s": None
            if self.last_commit_s is None
            else round(time.monotonic() - self.last_commit_s, 3),
            "commit_errors": self.counters.commit_errors,
            "chunks_dropped": self.counters.chunks_dropped,
        }
