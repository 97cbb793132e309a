"""The centre's ear: every lane's topics from the central broker, into PostgreSQL
and onto the centre's websocket, with the lane's name.

One MQTT 3.1.1 connection with a persistent session (`clean_session=False`, a
fixed client id) subscribed at QoS 1, so the central broker queues what comes in
while the centre is down or restarting. Messages are handled one at a time in
the order they arrive (per lane, the order the lane sent them); a database that
is down holds the next message until it is back (the broker keeps the rest).
What is written merges by key (ledger.py): a message delivered twice is kept
once. Topics: docs/club.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import time

import aiomqtt
from sqlalchemy.exc import SQLAlchemyError

from ..config import Settings
from ..hub import Hub
from ..store import Store
from . import ledger

log = logging.getLogger("stridesync.club")

SUBSCRIPTIONS = (
    "stridesync/+/status",
    "stridesync/+/link",
    "stridesync/+/sessions",
    "stridesync/+/athletes/+/steps",
    "stridesync/+/athletes/+/reps",
)


class Lane:
    """What the club page shows of a lane, kept for a page that opens late."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state: dict = {"lane": name, "online": None, "link": None, "session": None}
        self.last_step: dict | None = None
        self.last_rep: dict | None = None
        self.steps = 0

    def as_dict(self) -> dict:
        return {**self.state, "steps": self.steps, "step": self.last_step, "rep": self.last_rep}


class Centre:
    RETRY_MIN_S, RETRY_MAX_S = 0.25, 2.0

    def __init__(self, settings: Settings, store: Store, hub: Hub) -> None:
        self.settings, self.store, self.hub = settings, store, hub
        self._lanes: dict[str, Lane] = {}
        self.connected = False
        self.error: str | None = None
        self.received = 0
        self.unknown_session = 0
        self.db_retries = 0
        self._task: asyncio.Task | None = None

    def lanes(self) -> list[dict]:
        return [lane.as_dict() for _, lane in sorted(self._lanes.items())]

    def health(self) -> dict:
        m = self.settings.mqtt
        return {
            "ok": self.connected,
            "broker": m.broker,
            "error": self.error,
            "received": self.received,
            "unknown_session": self.unknown_session,
            "db_retries": self.db_retries,
            "lanes": len(self._lanes),
        }

    async def start(self) -> None:
        if self.settings.mqtt.broker:
            self._task = asyncio.create_task(self._run(), name="club-centre")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _client(self) -> aiomqtt.Client:
        m = self.settings.mqtt
        host, port = m.address()
        tls = ssl.create_default_context(cafile=m.ca_file or None) if m.tls else None
        return aiomqtt.Client(
            host,
            port,
            username=m.username or None,
            password=m.secret(),
            identifier=f"stridesync-centre-{m.node or 'central'}",
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=False,  # the broker queues for us while we are away
            keepalive=10,
            timeout=5,
            tls_context=tls,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],  # no Nagle delay
        )

    async def _run(self) -> None:
        backoff = self.RETRY_MIN_S
        while True:
            try:
                async with self._client() as client:
                    self.connected, self.error, backoff = True, None, self.RETRY_MIN_S
                    log.info("club: consuming %s", self.settings.mqtt.broker)
                    for topic in SUBSCRIPTIONS:
                        await client.subscribe(topic, qos=1)
                    async for message in client.messages:
                        await self._handle(str(message.topic), bytes(message.payload))
            except (aiomqtt.MqttError, OSError) as exc:
                if self.connected or self.error is None:
                    log.warning("club: broker %s: %s; retrying", self.settings.mqtt.broker, exc)
                self.connected, self.error = False, str(exc)[:200]
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.RETRY_MAX_S)

    async def _handle(self, topic: str, payload: bytes) -> None:
        self.received += 1
        parts = topic.split("/")
        node, kind = parts[1], parts[-1]
        lane = self._lanes.setdefault(node, Lane(node))
        if kind == "link":  # the bridge's own notification: "1" up, "0" down
            lane.state["link"] = payload.strip() == b"1"
            self.hub.publish({"type": "lane", **lane.as_dict()})
            return
        try:
            msg = json.loads(payload)
        except ValueError:
            log.warning("club: %s: not JSON; ignored", topic)
            return
        if not isinstance(msg, dict):
            return
        if kind == "status":
            lane.state["online"] = msg.get("state") == "online"
        elif kind == "sessions":
            started = msg.get("event") == "started"
            await self._write(ledger.live_started if started else ledger.live_stopped, node, msg)
            lane.state["session"] = msg if started else None
            if started:
                lane.steps, lane.last_step, lane.last_rep = 0, None, None
        else:
            if not await self._write(ledger.live_event, node, msg):
                self.unknown_session += 1
            self._note(lane, msg)
            self.hub.publish({**msg, "lane": node, "received_at": time.time()})
        self.hub.publish({"type": "lane", **lane.as_dict()})

    @staticmethod
    def _note(lane: Lane, msg: dict) -> None:
        if msg.get("type") == "step":
            lane.steps += 1
            lane.last_step = msg
        elif msg.get("type") == "rep":
            lane.last_rep = msg

    async def _write(self, fn, node: str, msg: dict):
        """Until the database takes it: PostgreSQL restarting holds the queue, not loses it."""
        delay = self.RETRY_MIN_S
        while True:
            try:
                return await fn(self.store, node, msg)
            except (OSError, SQLAlchemyError) as exc:
                self.db_retries += 1
                log.warning("club: database: %s; retrying", str(exc).splitlines()[0][:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.RETRY_MAX_S)
