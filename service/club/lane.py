"""A lane's side of the club link: finished sessions up to the centre, the club's
roster down (docs/club.md).

Over HTTP, not MQTT: a session's raw samples are megabytes, which a broker
would hold in its queue beside the live steps (Mosquitto keeps queued messages
in memory) and which want a reply saying what arrived. Each request is
idempotent and the centre says what it holds, so an upload cut by a reboot or
the link resumes from there: `PUT` the record, steps (all: small), raw chunks
from the centre's count in batches of `club.upload_batch_bytes`, then
`complete`; only when the centre answers that it holds exactly the session is
it marked replicated here. A lane records whatever the link does: nothing here
is on the sample path, and JSON and base64 are made in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import ssl
import time
from datetime import UTC, datetime

import httpx

from ..config import Settings
from ..live.session import athlete_json
from ..store import Store, replication
from .wire import (
    MARK_COLS,
    REP_COLS,
    SESSION_FIELDS,
    STEP_COLS,
    STREAM_COLS,
    chunk_wire,
    columns,
)

log = logging.getLogger("stridesync.club")

STEP_BATCH = 2000
CHUNK_PAGE = 100
ROSTER_FIELDS = ("name", "body_mass_kg", "height_m", "notes")  # the centre's record wins


class Uploader:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.cfg = settings.club
        self.store = store
        self.wake = asyncio.Event()
        self.error: str | None = None
        self.uploaded = 0  # sessions the centre confirmed
        self.chunks_sent = 0
        # Sessions the centre refused: session id -> (why, when); tried again after
        # REFUSED_RETRY_S, the others going on meanwhile.
        self.refused: dict[int, tuple[str, float]] = {}
        self._task: asyncio.Task | None = None

    REFUSED_RETRY_S = 600.0

    def health(self) -> dict:
        return {
            "ok": self.error is None,
            "central_url": self.cfg.central_url,
            "error": self.error,
            "sessions_uploaded": self.uploaded,
            "chunks_sent": self.chunks_sent,
            "sessions_refused": [
                {"session_id": sid, "reason": why} for sid, (why, _) in sorted(self.refused.items())
            ],
        }

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="club-upload")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.sync()
                self.error = None
            except (httpx.HTTPError, OSError, UploadRefused) as exc:
                if self.error is None:
                    log.warning("club: %s: %s; will retry", self.cfg.central_url, exc)
                self.error = str(exc)[:200] or type(exc).__name__
            except Exception as exc:  # a bug must not end the uploads for good: said, retried
                log.exception("club: the upload failed; will retry")
                self.error = f"{type(exc).__name__}: {exc}"[:200]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.cfg.upload_interval_s)
            self.wake.clear()

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.cfg.central_url,
            headers={"Authorization": f"Bearer {self.cfg.secret() or ''}"},
            verify=ssl.create_default_context(cafile=self.cfg.ca_file or None),
            timeout=30,
        )

    async def sync(self) -> None:
        """The roster down, then every finished session the centre lacks, oldest first. A
        session the centre refuses is set aside (shown in health, tried again later) and
        the next goes: one refusal must not hold back every later session. The link
        down stops the round (raised), to be tried again."""
        async with self._client() as c:
            await self._pull_roster(c)
            now = time.monotonic()
            for sid in await replication.pending(self.store):
                if now - self.refused.get(sid, ("", -math.inf))[1] < self.REFUSED_RETRY_S:
                    continue
                try:
                    await self._upload(c, sid)
                except UploadRefused as exc:
                    self._refused(sid, str(exc))
                else:
                    self.refused.pop(sid, None)

    def _refused(self, sid: int, why: str) -> None:
        if "recorded on" in why:  # the centre holds it from another lane
            why = (
                f"{why[:160]}; this Pi's database looks copied from another lane's SD card:"
                " its own sessions upload, those from before the copy stay here"
            )
        if self.refused.get(sid, ("",))[0] != why:
            log.warning("club: session %d refused by the centre: %s", sid, why)
        self.refused[sid] = (why[:400], time.monotonic())

    async def _pull_roster(self, c: httpx.AsyncClient) -> None:
        r = await _ok(await c.get("/api/club/athletes"))
        await replication.merge_roster(self.store, r.json(), ROSTER_FIELDS)

    async def _upload(self, c: httpx.AsyncClient, sid: int) -> None:
        record, uuid = await _record(self.store, sid)
        base = f"/api/club/sessions/{uuid}"
        held = (await _ok(await c.put(base, content=record, headers=JSON))).json()
        seqs = []
        async for batch in _step_batches(self.store, sid):
            seqs += [s["seq"] for s in batch]
            body = await asyncio.to_thread(json.dumps, {"steps": batch}, default=str)
            await _ok(await c.post(f"{base}/steps", content=body, headers=JSON))
        async for first, body in self._chunk_batches(sid, held["chunks"]):
            held = (await _ok(await c.post(f"{base}/chunks", content=body, headers=JSON))).json()
            self.chunks_sent += held["chunks"] - first
        total = await replication.chunk_count(self.store, sid)
        done = {"seqs": seqs, "chunks": total}
        held = (await _ok(await c.post(f"{base}/complete", json=done))).json()
        if not held["complete"]:
            raise UploadRefused(f"session {uuid}: the centre holds {held}, not {done['chunks']}")
        await replication.mark_replicated(self.store, sid, datetime.now(UTC))
        self.uploaded += 1
        log.info("club: session %d (%s) is at the centre, %d chunks", sid, uuid, total)

    async def _chunk_batches(self, sid: int, start: int):
        """(index of the first, JSON body) of the chunks from `start`, in stored order,
        each body at most about `upload_batch_bytes`."""
        index, batch, size = start, [], 0
        first = start
        while True:
            rows = await replication.chunk_page(self.store, sid, index, CHUNK_PAGE)
            for row in rows:
                wire = chunk_wire(row)
                batch.append(wire)
                size += len(wire["data"]) + 200
                index += 1
                if size >= self.cfg.upload_batch_bytes:
                    yield first, await _body(first, batch)
                    first, batch, size = index, [], 0
            if len(rows) < CHUNK_PAGE:
                break
        if batch:
            yield first, await _body(first, batch)


JSON = {"Content-Type": "application/json"}


class UploadRefused(Exception):
    """The centre answered, and not with what was asked: said once, retried later."""


async def _ok(r: httpx.Response) -> httpx.Response:
    if r.is_success:
        return r
    raise UploadRefused(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:200]}")


async def _body(first: int, batch: list[dict]) -> bytes:
    return await asyncio.to_thread(lambda: json.dumps({"first": first, "chunks": batch}).encode())


async def _record(store: Store, sid: int) -> tuple[bytes, str]:
    """The `PUT` body of a session (service/club/wire.py SessionUpload), and its UUID."""
    r = await replication.session_rows(store, sid)
    row = r["session"]
    body = {
        "session": {"uuid": row.uuid, **columns(row, SESSION_FIELDS)},
        "athlete": athlete_json(r["athlete"]),
        "streams": [columns(x, STREAM_COLS) for x in r["streams"]],
        "reps": [columns(x, REP_COLS) for x in r["reps"]],
        "marks": [columns(x, MARK_COLS) for x in r["marks"]],
    }
    return await asyncio.to_thread(lambda: json.dumps(body, default=_iso).encode()), row.uuid


def _iso(v):
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat()
    raise TypeError(f"{type(v).__name__} is not JSON")


async def _step_batches(store: Store, sid: int):
    last = 0
    while True:
        rows = await replication.step_page(store, sid, last, STEP_BATCH)
        if not rows:
            return
        yield [columns(r, STEP_COLS) for r in rows]
        last = rows[-1].seq
