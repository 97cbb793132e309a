"""Websocket fan-out: every message to every client, no client can hold up another.

`Hub.publish` is synchronous and never waits: it serialises a message once
and appends it to each client's bounded queue. Each client has its own
sender task; a client that reads slowly (or not at all) fills only its own
queue, whose oldest messages are then dropped and counted. Before the next
message it does get, the client is sent ``{"type": "lost", "count": N}``, and
every message carries a global ``seq``, so a client always knows what it
missed. Schema: docs/api.md ("Websocket").
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger("stridesync.hub")

SCHEMA_VERSION = 1


def clean(obj: Any) -> Any:
    """JSON-safe: non-finite floats become null (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):  # a dict, or an engine event (service/engine/events.py)
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        return clean(obj.item())
    return obj


class RawJson(str):
    """Text that is JSON already (encoded once, as it was published: live/journal.py),
    to go into a message as it is, not decoded and encoded again."""


def encode(msg: Mapping, seq: int) -> str:
    """A message's text on the websocket: `v`, `seq`, then its fields; a top-level
    RawJson field spliced in as it is."""
    raw = [k for k, v in msg.items() if isinstance(v, RawJson)]
    rest = {k: v for k, v in msg.items() if k not in raw} if raw else msg
    text = json.dumps({"v": SCHEMA_VERSION, "seq": seq, **clean(rest)})
    if not raw:
        return text
    return text[:-1] + "".join(f", {json.dumps(k)}: {msg[k]}" for k in raw) + "}"


TRIM_AFTER_S = 5.0


def release_freed_memory() -> None:
    """glibc keeps the heap that a crowd of departed clients freed, for reuse: 200
    websockets left ~37 MB resident for good (bench attack), although no object
    outlived them (tracemalloc). malloc_trim hands it back to the system. It walks
    the heap, so it runs in a worker thread (ctypes releases the GIL); elsewhere
    than glibc it does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Client:
    def __init__(self, ws: WebSocket, maxlen: int, name: str) -> None:
        self.ws = ws
        self.name = name
        self.queue: deque[str] = deque()
        self.maxlen = maxlen
        self.lost_pending = 0
        self.lost_total = 0
        self.sent = 0
        self.wake = asyncio.Event()

    def put(self, data: str) -> None:
        if len(self.queue) >= self.maxlen:
            self.queue.popleft()
            self.lost_pending += 1
            self.lost_total += 1
        self.queue.append(data)
        self.wake.set()


class Hub:
    def __init__(self, queue_size: int = 2000) -> None:
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.seq = 0
        self.published = 0
        self.dropped = 0  # messages dropped from slow clients' queues, all time
        self.listeners: list = []  # in-process callbacks (the demo's console); must not block
        self._trim: asyncio.TimerHandle | None = None

    def publish(self, msg: dict) -> None:
        """Send to every client (never blocks). Adds `v` and `seq`."""
        self.seq += 1
        data = encode(msg, self.seq)
        self.published += 1
        for listener in self.listeners:
            listener(msg)
        for c in self.clients:
            before = c.lost_total
            c.put(data)
            self.dropped += c.lost_total - before

    async def serve(self, ws: WebSocket, name: str = "", hello: dict | None = None) -> None:
        """Run one accepted websocket until it closes."""
        client = Client(ws, self.queue_size, name)
        if hello is not None:
            client.put(encode(hello, self.seq))
        self.clients.add(client)
        log.info("websocket client %s connected (%d clients)", name, len(self.clients))
        sender = asyncio.create_task(self._send_forever(client))
        receiver = asyncio.create_task(self._receive_forever(client))
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.clients.discard(client)
            for task in (sender, receiver):
                task.cancel()
            for task in (sender, receiver):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            log.info(
                "websocket client %s gone (sent %d, lost %d)", name, client.sent, client.lost_total
            )
            self._trim_later()

    def _trim_later(self) -> None:
        """Once clients have stopped leaving for TRIM_AFTER_S, give freed heap back."""
        if self._trim is not None:
            self._trim.cancel()
        loop = asyncio.get_running_loop()
        self._trim = loop.call_later(
            TRIM_AFTER_S, lambda: loop.run_in_executor(None, release_freed_memory)
        )

    async def _send_forever(self, c: Client) -> None:
        while True:
            await c.wake.wait()
            c.wake.clear()
            while c.queue:
                if c.lost_pending:
                    lost, c.lost_pending = c.lost_pending, 0
                    await c.ws.send_text(
                        json.dumps(
                            {"v": SCHEMA_VERSION, "type": "lost", "count": lost, "seq": None}
                        )
                    )
                data = c.queue.popleft()
                await c.ws.send_text(data)
                c.sent += 1

    @staticmethod
    async def _receive_forever(c: Client) -> None:
        """Clients only listen; reading lets us see them go (and ignore what they say)."""
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                msg = await c.ws.receive()
                if msg["type"] == "websocket.disconnect":
                    return

    def health(self) -> dict:
        return {"ok": True, "clients": len(self.clients)}

    async def close(self) -> None:
        if self._trim is not None:
            self._trim.cancel()
        for c in list(self.clients):
            with contextlib.suppress(Exception):
                await c.ws.close(code=1001)
