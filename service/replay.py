"""A recording's steps and reps, by the engine: the library behind `stridesync replay`."""

from __future__ import annotations

from pathlib import Path

from . import recordings
from .engine import AthleteInfo, Engine, EngineConfig, settled


def replay_events(
    path: str | Path,
    athlete: AthleteInfo,
    fmt: str | None = None,
    chunk: int | None = None,
    sprints_only: bool | None = None,
) -> list[dict]:
    """Every step, then every rep, of a recording.

    A session (a wire capture) reports the sprints only, as live; a lab trial
    (CSV or C3D: one pass) reports every running contact, unless told otherwise.
    `chunk`: samples a block (default: the reader's)."""
    fmt = fmt or recordings.detect_format(Path(path))
    if sprints_only is None:
        sprints_only = fmt == "wire"
    engine = Engine(athlete, EngineConfig(sprints_only=sprints_only))
    events = []
    kwargs = {"chunk": chunk} if chunk else {}
    blocks = list(recordings.blocks(path, fmt, **kwargs))
    for block in blocks:  # the whole rig, before any sample
        engine.expect(block.device_id, block.stream)
    for block in blocks:
        events += engine.feed(block)
    events = settled(events + engine.finish())
    return [e for e in events if e["type"] == "step"] + [e for e in events if e["type"] == "rep"]
