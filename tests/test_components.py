"""The component registry (service/components.py): started in order, closed in
reverse, health asked of each; a component the service can run without fails to
start as a warning in health, a required one stops the start and closes the rest."""

from __future__ import annotations

import asyncio
import logging

import pytest

from service.components import Component, Registry, running


def _component(name: str, log: list, fail_start: bool = False, required: bool = True):
    async def start():
        if fail_start:
            raise ConnectionRefusedError(f"{name}: connection refused")
        log.append(f"start {name}")

    async def close():
        log.append(f"close {name}")

    async def health():
        return {name: {"ok": True, "figure": len(name)}}

    return Component(name, health, start, close, required=required)


def test_started_in_order_closed_in_reverse_each_health_its_own():
    log: list[str] = []
    reg = Registry()
    for name in ("store", "hub", "live"):
        reg.add(_component(name, log))

    async def run():
        async with running(reg):
            log.append("serving")
            return await reg.health()

    health = asyncio.run(run())
    assert log == ["start store", "start hub", "start live", "serving",
                   "close live", "close hub", "close store"]  # fmt: skip
    assert health == {"store": {"ok": True, "figure": 5}, "hub": {"ok": True, "figure": 3},
                      "live": {"ok": True, "figure": 4}}  # fmt: skip


def test_an_optional_component_that_fails_to_start_is_a_warning_in_health(caplog):
    log: list[str] = []
    reg = Registry()
    reg.add(_component("store", log))
    reg.add(_component("mqtt", log, fail_start=True, required=False))
    reg.add(_component("live", log))

    async def run():
        async with running(reg):
            return await reg.health()

    with caplog.at_level(logging.WARNING, logger="stridesync.components"):
        health = asyncio.run(run())
    assert health["mqtt"] == {"ok": False, "error": "did not start: mqtt: connection refused"}
    assert health["live"]["ok"] and health["store"]["ok"]
    assert log == ["start store", "start live", "close live", "close store"]  # never closed
    assert "mqtt did not start (mqtt: connection refused)" in caplog.text


def test_a_required_component_that_fails_stops_the_start_and_closes_what_started():
    log: list[str] = []
    reg = Registry()
    reg.add(_component("store", log))
    reg.add(_component("hub", log))
    reg.add(_component("live", log, fail_start=True))

    with pytest.raises(ConnectionRefusedError):
        asyncio.run(reg.start())
    assert log == ["start store", "start hub", "close hub", "close store"]


def test_a_failing_health_is_a_failing_part_not_an_error():
    async def broken():
        raise RuntimeError("the bridge's stats are gone\nsecond line")

    reg = Registry([Component("bridge", broken)])
    assert asyncio.run(reg.health()) == {
        "bridge": {"ok": False, "error": "the bridge's stats are gone"}
    }


def test_a_lane_settles_interrupted_sessions_before_its_uploader_starts():
    """Recovery (a crash's sessions settled from their samples) runs before the club's
    part: an uploader started first could send a session before it was settled."""
    from types import SimpleNamespace

    from service.api.app import _components

    class Part:  # a store, hub, broker, pipeline or club part: their life-cycle calls
        async def open(self): ...
        async def start(self): ...
        async def close(self, **_): ...
        def health(self): return {}  # fmt: skip

    for role, required in (("lane", False), ("central", True)):
        settings = SimpleNamespace(club=SimpleNamespace(role=role))
        reg = _components(settings, Part(), Part(), Part(), Part(), Part())
        assert [c.name for c in reg.components] == [
            "store", "hub", "recovery", "club", "mqtt", "live"
        ]  # fmt: skip
        assert reg.get("club").required is required
        assert reg.get("mqtt").required is False
