"""MQTT out of the service: cues, step and rep events, and the node's status.

`MqttOut.publish` never waits: it appends to a bounded queue that one task
sends through aiomqtt (the broker being down or slow costs the engine, the
websocket and the API nothing). When the queue is full the oldest message is
dropped and counted; a message whose expiry has passed is never sent. The
task reconnects with back-off (stridesync_cue.mqttlink, shared with the cue device
and the club's centre); the node's retained status is "online" while
connected and the broker publishes the last will, "offline", when the
connection dies. Topics and QoS: docs/cues.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from stridesync_cue.contract import PAYLOAD_VERSION, node_topics
from stridesync_cue.mqttlink import MqttLink

from ..config import Settings

log = logging.getLogger("stridesync.mqtt")


@dataclass
class _Out:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    expires_at: float | None  # time.time(); None: never


class MqttOut:
    def __init__(
        self,
        host: str,
        port: int,
        node: str,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        ca_file: str | None = None,
        queue_size: int = 1000,
    ) -> None:
        self.host, self.port, self.node = host, port, node
        self.username, self.password = username, password
        self.tls, self.ca_file = tls, ca_file
        self.topics = node_topics(node)
        self.queue: deque[_Out] = deque()
        self.queue_size = queue_size
        self.link = MqttLink(self._client, f"MQTT {host}:{port}", log)
        self.sent = 0
        self.dropped_full = 0
        self.dropped_expired = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    # --- the interface the service uses ---------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: dict,
        qos: int = 0,
        retain: bool = False,
        expiry_s: float | None = None,
    ) -> None:
        """Queue a message; returns at once."""
        if len(self.queue) >= self.queue_size:
            self.queue.popleft()
            self.dropped_full += 1
        expires = time.time() + expiry_s if expiry_s is not None else None
        self.queue.append(_Out(topic, json.dumps(payload).encode(), qos, retain, expires))
        self._wake.set()

    def publish_cue(self, athlete_id: int, cue: dict, expiry_s: float) -> None:
        """A cue for the athlete's device (stridesync_cue.contract); gone when it expires."""
        topic = self.topics["cue"].format(athlete=athlete_id)
        self.publish(topic, {"v": PAYLOAD_VERSION, **cue}, qos=1, expiry_s=expiry_s)

    def health(self) -> dict:
        return {
            "ok": self.link.connected,
            "broker": f"{self.host}:{self.port}",
            "error": self.link.error,
            "queued": len(self.queue),
            "sent": self.sent,
            "dropped_full": self.dropped_full,
            "dropped_expired": self.dropped_expired,
            "connects": self.link.connects,
        }

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mqtt")

    async def close(self, drain_s: float = 0.0) -> None:
        """Stop sending; first wait up to `drain_s` for what is queued to go out."""
        deadline = time.monotonic() + drain_s
        while self.link.connected and self.queue and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # --- the sender -------------------------------------------------------------------------

    def _client(self):
        offline = json.dumps({"state": "offline"}).encode()
        will_props = Properties(PacketTypes.WILLMESSAGE)
        tls_context = None
        if self.tls:
            tls_context = ssl.create_default_context(cafile=self.ca_file)
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=f"stridesync-{self.node}",
            protocol=aiomqtt.ProtocolVersion.V5,
            will=aiomqtt.Will(
                self.topics["status"], offline, qos=1, retain=True, properties=will_props
            ),
            keepalive=10,
            timeout=5,
            tls_context=tls_context,
            # Small messages that must go at once: no Nagle delay (40 ms with delayed ACKs).
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def error(self) -> str | None:
        return self.link.error

    async def _run(self) -> None:
        await self.link.run(self._online)

    async def _online(self, client) -> None:
        log.info("MQTT connected to %s:%d", self.host, self.port)
        await client.publish(
            self.topics["status"],
            json.dumps({"state": "online", "since": time.time()}),
            qos=1,
            retain=True,
            timeout=5,
        )
        await self._serve(client)

    async def _serve(self, client) -> None:
        """Send until the connection dies; notice that at once, even with nothing to send."""

        async def watch():
            async for _ in client.messages:  # nothing is subscribed: this only ends by error
                pass

        tasks = {asyncio.create_task(self._send_forever(client)), asyncio.create_task(watch())}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for t in done:
            t.result()
        raise aiomqtt.MqttError("disconnected")

    async def _send_forever(self, client) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.queue:
                msg = self.queue[0]
                props = None
                if msg.expires_at is not None:
                    left = msg.expires_at - time.time()
                    if left <= 0:
                        self.queue.popleft()
                        self.dropped_expired += 1
                        continue
                    props = Properties(PacketTypes.PUBLISH)
                    props.MessageExpiryInterval = max(int(left + 0.999), 1)
                await client.publish(
                    msg.topic,
                    msg.payload,
                    qos=msg.qos,
                    retain=msg.retain,
                    properties=props,
                    timeout=5,
                )
                # Only once it is out: a message caught by a dropped connection is sent again.
                if self.queue and self.queue[0] is msg:
                    self.queue.popleft()
                self.sent += 1


def mqtt_out(settings: Settings) -> MqttOut | None:
    """A lane's cues and events to its broker (none without one; the centre consumes its
    broker, service/club/centre.py, and publishes nothing)."""
    m = settings.mqtt
    if not m.broker or settings.club.role != "lane":
        return None
    host, port = m.address()
    return MqttOut(
        host,
        port,
        m.node or socket.gethostname().split(".")[0],
        username=m.username or None,
        password=m.secret(),
        tls=m.tls,
        ca_file=m.ca_file or None,
        queue_size=m.queue_size,
    )
