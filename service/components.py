"""The service's components and the registry that runs them (as Moonraker's server
loads its components): each has a name, a start, a close and its own health. The
registry starts what a role needs in order and closes it in reverse; a component the
product can run without (the cue broker, a lane's uploads) that fails to start is a
warning in health, not a crash. Health asks each component for its own figures
(`/healthz`: service/api/health.py); the Prometheus metrics still read the live
pipeline's counters (service/metrics.py).

Which role starts which (docs/architecture.md):

| component | lane (`serve`, `demo`) | centre (`central`) |
| --- | --- | --- |
| store: the database | yes | yes |
| hub: websocket fan-out | yes | yes |
| recovery: sessions a crash left recording, settled (no part of health) | yes | yes |
| club: a lane's uploader (with `club.central_url`) / the centre's consumer | optional / yes | yes |
| mqtt: cues and events to the broker (with `mqtt.broker`) | optional | no |
| live: bridge → engine → hub, MQTT and the writer | yes | yes (no ports) |
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("stridesync.components")


async def _nothing() -> None:
    return None


@dataclass
class Component:
    """One part of the service as the registry runs it. `health` gives its parts of
    `/healthz`, by name: each a dict with at least `ok`."""

    name: str
    health: Callable[[], Awaitable[dict[str, dict]]]
    start: Callable[[], Awaitable[None]] = _nothing
    close: Callable[[], Awaitable[None]] = _nothing
    required: bool = True  # the service cannot do its job without it: a failed start stops it


@dataclass
class Registry:
    components: list[Component] = field(default_factory=list)  # in start order
    started: list[Component] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # name -> why it did not start

    def add(self, component: Component) -> None:
        self.components.append(component)

    async def start(self) -> None:
        """Each in order. A required one that fails closes those started and raises."""
        for c in self.components:
            try:
                await c.start()
            except Exception as exc:
                if c.required:
                    await self.close()
                    raise
                why = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
                self.failed[c.name] = why
                log.warning("%s did not start (%s); the service runs without it", c.name, why)
                continue
            self.started.append(c)

    async def close(self) -> None:
        """Those started, in reverse; one that fails to close does not stop the rest."""
        while self.started:
            c = self.started.pop()
            try:
                await c.close()
            except Exception:
                log.exception("%s: closing failed", c.name)

    async def health(self) -> dict[str, dict]:
        """Every component's parts of `/healthz`; one that did not start, as such."""
        parts: dict[str, dict] = {}
        for c in self.components:
            if c.name in self.failed:
                parts[c.name] = {"ok": False, "error": f"did not start: {self.failed[c.name]}"}
                continue
            try:
                parts.update(await c.health())
            except Exception as exc:  # a health that fails is a failing part, not a 500
                why = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
                parts[c.name] = {"ok": False, "error": why}
        return parts

    def get(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)


@contextlib.asynccontextmanager
async def running(registry: Registry):
    await registry.start()
    try:
        yield registry
    finally:
        await registry.close()
