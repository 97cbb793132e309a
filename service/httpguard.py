"""The HTTP front door, hardened for a Pi on a shared Wi-Fi.

Two layers, each doing what only it can:

- `guarded_protocol(limits)`: uvicorn's httptools protocol with limits on the
  connection itself, before any request exists. A connection beyond
  `server.max_connections` in all, or `server.max_connections_per_client` from
  one address, is answered 503 and closed at once, so half-open sockets can
  never use up the file descriptors the serial ports need; a request whose
  headers are not complete within `server.header_timeout_s`, or larger than
  `MAX_HEADER_BYTES`, is closed (slowloris). uvicorn has neither: it waits for
  headers forever (its keep-alive timer only runs between requests).
- `RequestGuard`: an ASGI middleware that answers before the body is read. A
  body under /api needs a valid token first (401, not a parsed 40 MB array);
  each route takes at most `body_limit(method, path)` bytes (413), whether
  announced by Content-Length or streamed in chunks.

Counters for both are in `COUNTERS` and on /metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import resource
from collections import Counter
from dataclasses import dataclass

import uvicorn
from starlette.exceptions import HTTPException
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .auth import NEED_TOKEN

log = logging.getLogger("stridesync.http")

MAX_HEADER_BYTES = 32 * 1024  # a browser sends ~1 KB; the dashboard's largest is a token
# Request bodies, per route: every JSON body the API takes is small (an athlete
# with a cue policy is ~1 KB); nothing outside /api takes a body at all.
KIB = 1024
BODY_LIMITS: tuple[tuple[str, re.Pattern, int], ...] = (
    ("POST", re.compile(r"/api/athletes"), 16 * KIB),
    ("PATCH", re.compile(r"/api/athletes/\d+"), 16 * KIB),
    ("POST", re.compile(r"/api/athletes/\d+/baseline"), 4 * KIB),  # ≤ 100 session ids
    ("POST", re.compile(r"/api/athletes/\d+/baseline/preview"), 4 * KIB),
    ("POST", re.compile(r"/api/sessions"), 16 * KIB),
    ("POST", re.compile(r"/api/sessions/\d+/marks"), 1 * KIB),
    ("POST", re.compile(r"/api/sessions/\d+/rescore"), 1 * KIB),
    # A lane's uploads to a club's centre (docs/club.md): batches of up to 8 MB.
    ("PUT", re.compile(r"/api/club/sessions/[0-9a-f-]{36}"), 12 * KIB * KIB),
    ("POST", re.compile(r"/api/club/sessions/[0-9a-f-]{36}/(steps|chunks)"), 12 * KIB * KIB),
    ("POST", re.compile(r"/api/club/sessions/[0-9a-f-]{36}/complete"), 4 * KIB * KIB),
)
OTHER_API_BODY_BYTES = 1 * KIB  # any other /api route (a stray body on a GET or DELETE)

COUNTERS: Counter[str] = Counter()  # requests and connections refused, by reason; /metrics


def _host(protocol) -> str | None:
    """The client address of an HTTP or websocket connection."""
    client = getattr(protocol, "client", None)
    return client[0] if client else None


def body_limit(method: str, path: str) -> int:
    """The most bytes of body `method path` may send."""
    for m, pattern, limit in BODY_LIMITS:
        if m == method and pattern.fullmatch(path):
            return limit
    return OTHER_API_BODY_BYTES if path.startswith("/api/") else 0


@dataclass(frozen=True)
class Limits:
    max_connections: int
    max_connections_per_client: int
    header_timeout_s: float


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with connection, header-time and header-size limits."""

    limits: Limits  # set by guarded_protocol()
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        why = self._over_limit()
        if why is not None:
            COUNTERS[why] += 1
            # Out of the count now: a burst of refused sockets, not yet closed by
            # the loop, must not count against the next client.
            self.connections.discard(self)
            self._refuse(503, "too many connections")
            return
        self._await_headers()

    def _over_limit(self) -> str | None:
        if len(self.connections) > self.limits.max_connections:
            return "too_many_connections"
        host = _host(self)
        same = sum(1 for c in self.connections if _host(c) == host)
        if same > self.limits.max_connections_per_client:
            return "too_many_from_client"
        return None

    def _refuse(self, status: int, why: str) -> None:
        reason = {408: "Request Timeout", 431: "Request Header Fields Too Large"}.get(
            status, "Service Unavailable"
        )
        body = json.dumps({"detail": why}).encode()
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()

    def _await_headers(self) -> None:
        self._header_bytes = 0
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout_s, self._headers_too_slow
            )

    def _headers_done(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            COUNTERS["header_timeout"] += 1
            self._refuse(408, f"headers not complete within {self.limits.header_timeout_s:g} s")

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():  # refused or timed out: nothing more is read
            return
        if self._header_timer is not None:
            self._header_bytes += len(data)
        super().data_received(data)
        # Still no end of headers, and more than any real client sends (checked
        # after parsing, so that a body in the same read is not counted).
        if self._header_timer is not None and self._header_bytes > MAX_HEADER_BYTES:
            self._headers_done()
            if not self.transport.is_closing():
                COUNTERS["headers_too_large"] += 1
                self._refuse(431, f"headers over {MAX_HEADER_BYTES} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_headers()

    def on_headers_complete(self) -> None:
        self._headers_done()
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        self._headers_done()
        super().connection_lost(exc)


def guarded_protocol(limits: Limits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `limits` (pass as uvicorn.Config(http=...))."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


class RequestGuard:
    """ASGI middleware: token and size checked before a byte of body is read."""

    def __init__(self, app, auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # websockets: headers bounded by the protocol, no body
            return await self.app(scope, receive, send)
        size = len(scope["raw_path"]) + len(scope["query_string"])
        size += sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if size > MAX_HEADER_BYTES:  # complete, in one read; an incomplete one: the protocol
            COUNTERS["headers_too_large"] += 1
            return await _answer(send, 431, f"headers over {MAX_HEADER_BYTES} bytes")
        headers = {k.decode("latin-1"): v for k, v in scope["headers"]}
        length = _content_length(headers)
        has_body = length != 0 or "transfer-encoding" in headers
        if not has_body:
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        limit = body_limit(method, path)
        if path.startswith("/api/") and not self._token_ok(headers):
            COUNTERS["unauthenticated_body"] += 1
            return await _answer(send, 401, NEED_TOKEN)
        if length is None and "transfer-encoding" not in headers:
            return await _answer(send, 400, "Content-Length is not a number")
        if length is not None and length > limit:
            COUNTERS["body_too_large"] += 1
            return await _answer(send, 413, _too_large(method, path, limit))
        await self.app(scope, _capped(receive, limit, method, path), send)

    def _token_ok(self, headers: dict[str, bytes]) -> bool:
        value = headers.get("authorization", b"").decode("latin-1")
        scheme, _, token = value.partition(" ")
        return scheme.lower() == "bearer" and self.auth.role(token.strip()) is not None


class BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing passes it on as it is (it turns
    other exceptions into 400) and the app's handler answers 413."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail, headers={"Connection": "close"})


def _capped(receive, limit: int, method: str, path: str):
    """A chunked body counted as it arrives: over the limit, the request fails with 413."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                COUNTERS["body_too_large"] += 1
                raise BodyTooLarge(_too_large(method, path, limit))
        return message

    return wrapped


def _content_length(headers: dict[str, bytes]) -> int | None:
    """0 without the header; None when it is not a number."""
    raw = headers.get("content-length")
    if raw is None:
        return 0
    try:
        n = int(raw)
    except ValueError:
        return None
    return n if n >= 0 else None


def _too_large(method: str, path: str, limit: int) -> str:
    if limit == 0:
        return f"{method} {path} takes no body"
    return f"{method} {path} takes at most {limit} bytes of body"


async def _answer(send, status: int, detail: str) -> None:
    """Answer now and close: the unread body is never parsed."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


FD_RESERVE = 128  # descriptors kept for serial ports, the database, the broker, logs
# uvicorn's `backlog` is both the kernel's accept queue and how many connections
# asyncio accepts in one wake-up, before the guard has seen any of them. uvicorn's
# 2,048 let a loop that was busy for a moment accept a queued flood in one go, past
# systemd's 1,024 descriptors ("Too many open files"). A refused connection is
# closed two loop turns after its accept, so up to three bursts are in flight.
ACCEPT_BURST = 64
ACCEPT_IN_FLIGHT = 3 * ACCEPT_BURST
WS_MAX_MESSAGE_BYTES = 64 * KIB  # clients only listen; uvicorn would take 16 MiB


def connection_budget(wanted: int) -> int:
    """`wanted` connections if the file-descriptor limit leaves FD_RESERVE and the
    accepts in flight beside them (raising the soft limit towards the hard one if need
    be), else as many as fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    reserve = FD_RESERVE + ACCEPT_IN_FLIGHT
    need = wanted + reserve
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    fit = max(8, soft - reserve)
    log.warning(
        "only %d file descriptors (LimitNOFILE): server.max_connections lowered from %d to %d",
        soft,
        wanted,
        fit,
    )
    return fit


def server_config(app, settings, **kwargs):
    """uvicorn's configuration for `app` with the front door's limits."""
    server = settings.server
    limits = Limits(
        connection_budget(server.max_connections),
        server.max_connections_per_client,
        server.header_timeout_s,
    )
    return uvicorn.Config(
        app,
        http=guarded_protocol(limits),
        timeout_keep_alive=server.keep_alive_s,
        ws_max_size=WS_MAX_MESSAGE_BYTES,
        backlog=ACCEPT_BURST,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ssl_certfile=server.tls_cert_file or None,
        ssl_keyfile=server.tls_key_file or None,
        **kwargs,
    )
