"""The centre's ear: every lane's topics from the central broker, into PostgreSQL
and onto the centre's websocket, with the lane's name.

One MQTT 3.1.1 connection with a persistent session (`clean_session=False`, a
fixed client id) subscribed at QoS 1, so the central broker queues what comes in
while the centre is down or restarting. Messages are written in the order they
arrive (per lane, the order the lane sent them), whatever has arrived written in
one transaction (a burst costs one commit), and only then shown on the
websocket. A database that is down holds the batch until it is back (the broker
keeps the rest); a message the database refuses twice while it is up is malformed,
and is dropped and counted, alone. What is written merges by key (service/store/ledger.py):
a message delivered twice is kept once. Topics: docs/club.md.
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
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from stridesync_cue.mqttlink import MqttLink

from ..config import Settings
from ..hub import Hub
from ..store import Store, ledger
from .brokers import CLUB_TOPICS
from .wire import MAX_MESSAGE_BYTES, Refused, check_event, check_value

log = logging.getLogger("stridesync.club")

SUBSCRIPTIONS = (
    "stridesync/+/link",  # the bridge's own notification
    *(f"stridesync/+/{topic}" for topic in CLUB_TOPICS),
)


# What a lane may publish on each of its topics: its role's messages, nothing else (a
# "hello" from a lane would reach the club page, which takes its role from its own
# server's hello alone).
TYPES_ON = {
    "steps": {"step", "steps_confirmed", "steps_retracted"},
    "reps": {"rep"},
}


def _no_constant(name: str):
    raise Refused(f"{name} is not a number JSON allows")


def _checked(topic_last: str, payload: bytes) -> dict:
    """A lane's message as REST would take it (club/wire.py: size, depth, text, numbers,
    a step's and a rep's fields), or `Refused` with why."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise Refused(f"{len(payload)} bytes, more than {MAX_MESSAGE_BYTES}")
    try:
        msg = json.loads(payload, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise Refused("not JSON (or nested too deep to read)") from None
    if not isinstance(msg, dict):
        raise Refused("not a JSON object")
    check_value(msg)
    allowed = TYPES_ON.get(topic_last)
    if allowed is not None and msg.get("type") not in allowed:
        raise Refused(f"a {msg.get('type')!r} message on its {topic_last} topic")
    check_event(msg)
    return msg


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
    RETRY_MIN_S, RETRY_MAX_S = 0.25, 2.0  # the database's retries (the broker's: MqttLink)
    BATCH = 500  # messages a transaction, at most
    INBOX = 5000  # messages received and not yet written, at most (then the broker holds them)

    def __init__(self, settings: Settings, store: Store, hub: Hub) -> None:
        self.settings, self.store, self.hub = settings, store, hub
        self._lanes: dict[str, Lane] = {}
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(self.INBOX)
        self.link = MqttLink(self._client, f"club: broker {settings.mqtt.broker}", log)
        self.received = 0
        self.unknown_session = 0
        self.rejected = 0
        self.db_retries = 0
        self._tasks: list[asyncio.Task] = []

    def lanes(self) -> list[dict]:
        return [lane.as_dict() for _, lane in sorted(self._lanes.items())]

    def refused(self, node: str, uuid: str, why: str) -> None:
        """A lane's upload the centre refused (409): counted on its card, with why."""
        lane = self._lanes.setdefault(node, Lane(node))
        if lane.state.get("refused_reason") != why:  # said when it changes, not each retry
            log.warning("club: %s: upload of session %s refused: %s", node, uuid, why)
        lane.state["refused_uploads"] = lane.state.get("refused_uploads", 0) + 1
        lane.state["refused_reason"] = why
        self.hub.publish({"type": "lane", **lane.as_dict()})

    def health(self) -> dict:
        return {
            "ok": self.link.connected,
            "broker": self.settings.mqtt.broker,
            "error": self.link.error,
            "received": self.received,
            "waiting": self._inbox.qsize(),
            "unknown_session": self.unknown_session,
            "rejected": self.rejected,
            "db_retries": self.db_retries,
            "lanes": len(self._lanes),
        }

    async def start(self) -> None:
        if self.settings.mqtt.broker:
            self._tasks = [
                asyncio.create_task(self._receive_forever(), name="club-receive"),
                asyncio.create_task(self._write_forever(), name="club-write"),
            ]

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

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

    async def _receive_forever(self) -> None:
        await self.link.run(self._consume)

    async def _consume(self, client) -> None:
        log.info("club: consuming %s", self.settings.mqtt.broker)
        for topic in SUBSCRIPTIONS:
            await client.subscribe(topic, qos=1)
        async for message in client.messages:
            self.received += 1
            await self._inbox.put((str(message.topic), bytes(message.payload)))

    # --- writing and showing ------------------------------------------------------------------

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._inbox.get()]
            while len(batch) < self.BATCH and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                await self._take(batch)
            except Exception:  # a bug must not stop the centre listening: said, went on
                log.exception("club: a batch of %d messages failed", len(batch))

    async def _take(self, batch: list[tuple[str, bytes]]) -> None:
        parsed = [self._parse(topic, payload) for topic, payload in batch]
        items = [p for p in parsed if p is not None]
        written = await self._write(items) if items else []
        for (node, kind, msg), ok in zip(items, written, strict=True):
            if ok is not None:  # None: refused, not shown either
                self._show(node, kind, msg, ok)

    def _parse(self, topic: str, payload: bytes) -> tuple[str, str, dict] | None:
        """(lane, what to write, message); None for what is only shown or not ours."""
        parts = topic.split("/")
        node, last = parts[1], parts[-1]
        lane = self._lanes.setdefault(node, Lane(node))
        if last == "link":  # the bridge's own notification: "1" up, "0" down
            lane.state["link"] = payload.strip() == b"1"
            self.hub.publish({"type": "lane", **lane.as_dict()})
            return None
        try:
            msg = _checked(last, payload)
        except Refused as exc:  # this message alone: the batch around it goes on
            self.rejected += 1
            log.warning("club: %s: %s; dropped", topic, exc)
            return None
        if last == "status":
            lane.state["online"] = msg.get("state") == "online"
            self.hub.publish({"type": "lane", **lane.as_dict()})
            return None
        if last == "sessions":
            return node, "started" if msg.get("event") == "started" else "stopped", msg
        return node, "event", msg

    async def _write(self, items: list[tuple[str, str, dict]]) -> list[bool | None]:
        """Until the database takes them. Per message: True written, False its session
        unknown here, None malformed (dropped, alone)."""
        delay = self.RETRY_MIN_S
        failed_while_up = False
        while True:
            try:
                return await ledger.apply_live(self.store, items)
            except (KeyError, TypeError, ValueError, AttributeError, ValidationError) as exc:
                return await self._one_by_one(items, exc)
            except (OSError, TimeoutError, SQLAlchemyError) as exc:
                # Up, and it failed twice: it refused what it was given. (Once is not
                # enough: a database coming back answers the ping just after refusing the
                # write's connection, and the message was dropped as malformed: CI, a
                # PostgreSQL restart under test_club.)
                if await self._database_up():
                    if failed_while_up:
                        return await self._one_by_one(items, exc)
                    failed_while_up = True
                    continue
                self.db_retries += 1
                log.warning("club: database: %s; retrying", str(exc).splitlines()[0][:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.RETRY_MAX_S)

    async def _one_by_one(self, items, exc: Exception) -> list[bool | None]:
        if len(items) == 1:
            self.rejected += 1
            log.warning("club: %s message refused (%s); dropped", items[0][0], str(exc)[:200])
            return [None]
        return [ok for item in items for ok in await self._write([item])]

    async def _database_up(self) -> bool:
        try:
            await self.store.ping()
        except Exception:
            return False
        return True

    def _show(self, node: str, kind: str, msg: dict, written: bool) -> None:
        lane = self._lanes[node]
        if kind in ("started", "stopped"):
            lane.state["session"] = msg if kind == "started" else None
            if kind == "started":
                lane.steps, lane.last_step, lane.last_rep = 0, None, None
        else:
            if not written:
                self.unknown_session += 1
            if msg.get("type") == "step":
                lane.steps += 1
                lane.last_step = msg
            elif msg.get("type") == "rep":
                lane.last_rep = msg
            self.hub.publish({**msg, "lane": node, "received_at": time.time()})
        self.hub.publish({"type": "lane", **lane.as_dict()})
