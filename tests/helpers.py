"""Shared test helpers: golden vectors and message construction."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge import protocol as p  # the messages, by name: p.Hello, p.Unit...

VECTORS = Path(__file__).parent / "vectors" / "vectors.json"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# The real recordings are beside the checkout on a developer's machine and in CI. A
# developer without them skips those tests; in CI (CI set) they run and fail, since a
# green suite that never looked at real movement would say nothing.
needs_data = pytest.mark.skipif(
    not SHARED_DATA.exists() and not os.environ.get("CI"),
    reason="shared/data not beside the checkout",
)


def load_vectors() -> list[dict]:
    return json.loads(VECTORS.read_text())["vectors"]


def stream_from_json(s: dict) -> p.StreamInfo:
    channels = tuple(
        p.ChannelInfo(p.Channel[c["channel"]], p.Unit[c["unit"]], c["scale"], c["offset"])
        for c in s["channels"]
    )
    return p.StreamInfo(
        s["stream_id"],
        p.SensorKind[s["kind"]],
        p.Placement[s["placement"]],
        s["sample_rate_hz"],
        channels,
        s["index"],
        p.SampleFormat[s["sample_format"]],
    )


def message_from_json(m: dict) -> p.Message:
    kind = m["type"]
    if kind == "hello":
        streams = tuple(stream_from_json(s) for s in m["streams"])
        return p.Hello(int(m["device_id"], 16), tuple(m["firmware"]), m["name"], streams)
    if kind == "samples":
        dtype = {"INT16": "<i2", "INT32": "<i4"}[m["sample_format"]]
        data = np.array(m["values"], dtype=dtype)
        return p.SampleBatch(
            m["stream_id"],
            m["first_sample"],
            m["overflow"],
            m["mcu_time_us"],
            len(data),
            data.tobytes(),
        )
    if kind == "clock":
        return p.ClockReply(m["token"], m["mcu_time_us"])
    if kind == "ack":
        return p.Ack(p.MsgType[m["command"]], m["token"], p.AckStatus[m["status"]])
    if kind == "command":
        return p.Command(p.MsgType[m["command"]], m["token"], m.get("stream_id", 0xFF))
    raise ValueError(kind)


def force_step(ic_s: float, contact_s: float = 0.2):
    """A measured step as the rep gate takes it (engine/reps.py), timed by a plate, with
    only its times: the unit tests' stand-in for StepMeasurer.measure."""
    from service.engine import MODEL_VERSION
    from service.engine.events import Step

    return Step(
        type="step",
        ic_time_s=ic_s,
        to_time_s=ic_s + contact_s,
        contact_time_s=contact_s,
        source="force",
        model_version=MODEL_VERSION,
    )
