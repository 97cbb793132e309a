"""Weeks of simulated training for the demo (`stridesync demo --history`): a few
athletes, a session a week each, their sprint profiles changing, so that a new user
sees the History tab's trends, rep cards and report at once.

Each session is the simulator's rig (shank IMUs and a speed sensor) on the
athlete of that week, its samples handed to the engine as a perfect link would
(no wire: the history is about the athlete, not the link) and recorded as the live
service records (service/recorder.py: steps, reps and raw chunks), dated in the past.
Athlete A gets faster off the line (tau falls, F0 rises ~12 % over the weeks), B gets
a higher top speed, C stays as she is.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from firmware_bridge.device import SampleBlock
from firmware_bridge.simulator import Athlete as SimAthlete
from firmware_bridge.simulator import simulate_session
from firmware_bridge.virtual import quantise

from .engine import MODEL_VERSION, AthleteInfo
from .recorder import Recording
from .store import Athlete, Session, Store, writes

# name, mass kg, height m, (MSS m/s, tau s) in the first week and in the last
ATHLETES = (
    ("Demo A (faster off the line)", 72.0, 1.78, (9.3, 1.25), (9.3, 1.10)),
    ("Demo B (higher top speed)", 80.0, 1.84, (9.4, 1.15), (9.9, 1.15)),
    ("Demo C (steady)", 64.0, 1.70, (8.9, 1.10), (8.9, 1.10)),
)
RIG = "imu-speed"  # shank IMUs and a speed sensor: steps and the sprint profile


async def fill(store: Store, weeks: int = 5, athletes: int = 3, reps: int = 2, say=print) -> int:
    """Sessions of the first `athletes` of ATHLETES, one a week for `weeks` weeks up to
    a week ago; none if the demo database has them already. Returns sessions added."""
    now = datetime.now(UTC)
    added = 0
    for i, (name, mass, height, first, last) in enumerate(ATHLETES[:athletes]):
        athlete_id, has = await _athlete(store, name, mass, height)
        if has:
            continue
        for w in range(weeks):
            share = w / max(weeks - 1, 1)
            mss = first[0] + share * (last[0] - first[0])
            tau = first[1] + share * (last[1] - first[1])
            when = now - timedelta(weeks=weeks - w)
            say(f"  {name}: week {w + 1} of {weeks} (MSS {mss:.2f} m/s, tau {tau:.2f} s)")
            sim_athlete = SimAthlete(mass, height, mss, tau)
            await _session(store, athlete_id, sim_athlete, when, seed=100 * i + w, reps=reps)
            added += 1
    return added


async def _athlete(store: Store, name: str, mass: float, height: float) -> tuple[int, bool]:
    return await writes.athlete_named(
        store,
        name,
        lambda: Athlete(name=name, body_mass_kg=mass, height_m=height, notes="simulated history"),
    )


def ideal_blocks(sim, duration_s: float, block_s: float = 1.0) -> list[SampleBlock]:
    """The rig's samples as a perfect link would deliver them (no wire, no clock to
    synchronise: sample times are the plan's), quantised as the sensors send them, in
    blocks of `block_s` in time order. The history needs the signals, not the link."""
    blocks = []
    for model in sim.models:
        for s in model.streams:
            rate = s.info.sample_rate_hz
            t = np.arange(int(duration_s * rate)) / rate
            scale, offset = s.info.scales()
            values = quantise(s.source(t), s.info) * scale + offset
            per = max(int(block_s * rate), 1)
            for first in range(0, len(t), per):
                part = slice(first, first + per)
                block = SampleBlock(
                    model.device_id, model.name, s.info, first, t[part], values[part], 0
                )
                blocks.append(block)
    return sorted(blocks, key=lambda b: float(b.time_s[-1]))


def _record(sim_athlete: SimAthlete, seed: int, reps: int):
    """The session through the engine, as the live service records it."""
    duration_s = 22.0 * reps + 6.0
    sim = simulate_session("aligned", duration_s, seed, RIG, sim_athlete, n_reps=reps)
    blocks = ideal_blocks(sim, duration_s)
    rec = Recording(0, AthleteInfo(sim_athlete.body_mass_kg, sim_athlete.height_m), None, 1.0)
    for b in blocks:
        rec.expect(b.device_id, b.device_name, b.stream)
    events, chunks = [], []
    for b in blocks:
        e, c = rec.add(b)
        events += e
        chunks += c
    e, c = rec.finish()
    return rec, events + e, chunks + c, float(blocks[0].time_s[0])


async def _session(store: Store, athlete_id: int, sim_athlete, when, seed: int, reps: int):
    # Off the event loop: simulating and recording a session is CPU work.
    rec, events, chunks, origin = await asyncio.to_thread(_record, sim_athlete, seed, reps)

    def row_of(_athlete: Athlete) -> Session:
        return Session(
            athlete_id=athlete_id,
            status="stopped",
            started_at=when,
            stopped_at=when + timedelta(seconds=22.0 * reps + 6.0),
            clock_origin_s=origin,
            notes="simulated history",
            model_version=MODEL_VERSION,
            athlete_snapshot={
                "body_mass_kg": sim_athlete.body_mass_kg,
                "height_m": sim_athlete.height_m,
            },
        )

    def contents(session_id: int) -> writes.Contents:
        streams = [replace(st, session_id=session_id) for st in rec.take_new_streams()]
        rows = [writes.ChunkRow(session_id, c.encode(), c.row()) for c in chunks]
        return streams, rows, writes.event_operations(session_id, events)

    await writes.add_session(store, athlete_id, row_of, contents)
