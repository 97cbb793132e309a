"""One MQTT connection kept up: the reconnect loop of the cue device, the service's
cue sender and the club's centre (it was written three times).

It connects, runs what the caller does with the client until the link drops, waits
(from RETRY_MIN_S, doubling to RETRY_MAX_S, and from the start again once a
connection came up), and connects again; its state is what health reports. Only
aiomqtt and the standard library, so that the cue device's package stays
installable alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt

RETRY_MIN_S = 0.25
RETRY_MAX_S = 2.0  # a broker back after a restart is found within 2 s


class MqttLink:
    """`run(serve)` for ever: `serve(client)` on each connection made by `connect()`."""

    def __init__(
        self,
        connect: Callable[[], aiomqtt.Client],
        label: str,
        log: logging.Logger,
        retry_on: tuple[type[BaseException], ...] = (aiomqtt.MqttError, OSError),
    ) -> None:
        self.connect, self.label, self.log = connect, label, log
        self.retry_on = retry_on  # what counts as the link failing
        self.connected = False
        self.error: str | None = None  # the last failure, until a connection comes up
        self.connects = 0

    async def run(self, serve: Callable[[Any], Awaitable[None]]) -> None:
        """Until cancelled. A lost or refused connection (`retry_on`: aiomqtt's
        MqttError, or an OSError from the socket) is logged once a run of failures and
        retried; any other error is the caller's and ends the loop."""
        backoff = RETRY_MIN_S
        while True:
            try:
                async with self.connect() as client:
                    self.connected, self.error = True, None
                    self.connects += 1
                    backoff = RETRY_MIN_S
                    await serve(client)
            except self.retry_on as exc:
                if self.connected or self.error is None:
                    self.log.warning("%s: %s; retrying", self.label, exc)
                self.connected, self.error = False, str(exc)[:200] or type(exc).__name__
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX_S)
