"""The live websocket over a real uvicorn server: fan-out under a stalled client,
access (bearer, ticket, Origin), and the message schema."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.service_helpers import ADMIN, VIEWER, running

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def test_stalled_client_never_delays_the_engine_or_the_readers(tmp_path):
    async with running(tmp_path, live={"queue_size": 200, "status_interval_s": 10.0}) as (
        app,
        addr,
    ):
        hub = app.state.hub
        url = f"ws://{addr}/ws/live"
        readers = [await connect(url, additional_headers=_bearer(VIEWER)) for _ in range(20)]
        # The stalled client: a raw socket with a tiny receive buffer (set before
        # connecting, so the TCP window stays small) that never reads until the end.
        stalled = await RawWebsocket.open(addr, "/ws/live", VIEWER)
        while len(hub.clients) < 21:
            await asyncio.sleep(0.01)

        received: list[list[int]] = [[] for _ in readers]

        async def read(i, ws):
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "step":
                    received[i].append(msg["n"])
                    if msg["n"] == N:
                        return

        N = 3000
        pad = "x" * 4000  # a large step message; the stalled client must overflow
        tasks = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(readers)]
        first_seq = hub.seq + 1
        burst = 100  # under the readers' queue of 200: the stalled client's fills
        for n in range(1, N + 1):
            # Publishing is a queue append per client, never a wait on any of them
            # (how long it takes is `python -m bench service`'s to say, not a test's).
            hub.publish({"type": "step", "n": n, "pad": pad})
            last_step_seq = hub.seq
            if n % burst == 0:  # paced by the readers, whatever the machine's speed
                async with asyncio.timeout(120):
                    while min(len(r) for r in received) < n:
                        await asyncio.sleep(0.01)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)

        # Every reader got every message, in order.
        for got in received:
            assert got == list(range(1, N + 1))
        slow = next(c for c in hub.clients if c.lost_total)
        assert slow.lost_total > 0 and hub.dropped == slow.lost_total

        # The stalled client now reads: the newest messages, in order, told what it lost.
        # (On a slow machine the service's own status may be published meanwhile: the
        # window is every message from the first step to the last, whatever it was.)
        lost, seqs, others = 0, [], 0
        async with asyncio.timeout(120):
            while True:
                msg = json.loads(await stalled.recv())
                if msg["type"] == "lost":
                    lost += msg["count"]
                elif msg["type"] == "step":
                    seqs.append(msg["seq"])
                    if msg["n"] == N:
                        break
                elif msg.get("seq", 0) >= first_seq:
                    others += 1
        assert seqs == sorted(seqs) and seqs[-1] == last_step_seq
        assert lost == slow.lost_total
        assert len(seqs) + others + lost == last_step_seq - first_seq + 1
        stalled.close()
        for ws in readers:
            await ws.close()


class RawWebsocket:
    """A websocket client on a bare socket: it reads only when asked to."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, addr: str, path: str, token: str) -> RawWebsocket:
        host, port = addr.split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        ws = cls(reader, writer)
        writer.transport.pause_reading()  # and now it stalls
        return ws

    async def recv(self) -> str:
        self.writer.transport.resume_reading()
        b0, b1 = await self.reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        payload = await self.reader.readexactly(n)
        assert b0 & 0x0F == 1, "a text frame"
        return payload.decode()

    def close(self) -> None:
        self.writer.close()


async def test_websocket_access(tmp_path):
    async with running(tmp_path, server={"allowed_origins": ["http://tablet.local:8000"]}) as (
        _app,
        addr,
    ):
        url = f"ws://{addr}/ws/live"
        for kwargs in ({}, {"additional_headers": _bearer("nope")}):
            with pytest.raises(InvalidStatus) as exc:
                await connect(url, **kwargs)
            assert exc.value.response.status_code == 403
        # A page on another origin may not use someone's ticket or token; nor may a page
        # on the same host and port under another scheme (origin = scheme, host, port).
        for other in ("http://evil.example", f"https://{addr}"):
            with pytest.raises(InvalidStatus):
                await connect(url, additional_headers=_bearer(ADMIN), origin=other)

        async with httpx.AsyncClient(base_url=f"http://{addr}") as http:
            r = await http.post("/api/ws-ticket")
            assert r.status_code == 401
            r = await http.post("/api/ws-ticket", headers=_bearer(VIEWER))
            ticket = r.json()["ticket"]
            assert r.json()["role"] == "viewer"
        # The page's own origin, and an allowed one, with a ticket that works once.
        async with connect(f"{url}?ticket={ticket}", origin=f"http://{addr}") as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello" and hello["role"] == "viewer" and hello["v"] == 1
        with pytest.raises(InvalidStatus):
            await connect(f"{url}?ticket={ticket}", origin=f"http://{addr}")
        async with connect(
            url, additional_headers=_bearer(ADMIN), origin="http://tablet.local:8000"
        ) as ws:
            assert json.loads(await ws.recv())["role"] == "admin"


async def test_status_and_trace_messages(tmp_path):
    """With no sensors the feed still says how things stand, once a second."""
    async with (
        running(tmp_path, live={"status_interval_s": 0.2}) as (_app, addr),
        connect(f"ws://{addr}/ws/live", additional_headers=_bearer(VIEWER)) as ws,
    ):
        hello = json.loads(await ws.recv())
        status = json.loads(await asyncio.wait_for(ws.recv(), 5))
    for msg in (hello, status):
        assert msg["v"] == 1 and msg["devices"] == [] and msg["session"] is None
        assert msg["storage"]["ok"] is True
    assert status["type"] == "status" and status["seq"] >= 1 and status["clients"] == 1


async def test_status_is_json_before_a_device_is_synchronised(tmp_path):
    """A device still learning its clock has no round trip yet (NaN): sent as null.
    (Found under load: /api/status answered 500.)"""
    from firmware_bridge.link import DeviceStats
    from service import config
    from service.hub import Hub
    from service.live import Live

    settings = config.load(None, devices={"ports": []})
    live = Live(settings, store=None, hub=Hub())
    stats = DeviceStats(
        "535353494d000001", "plate-0", "/dev/pts/9", True, "1.0.0", 0.0, 0.0, 0.0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, float("nan"), float("nan"), float("nan"), None,
    )  # fmt: skip
    live.bridge.stats = lambda: [stats]
    text = json.dumps(live.status(), allow_nan=False)
    assert json.loads(text)["devices"][0]["clock_rtt_ms"] is None
