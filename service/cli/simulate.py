"""`stridesync simulate`: a simulated sprinter's rig, written as a wire capture with its
ground truth, or served live on pseudo-terminals (with injected link faults)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time

import numpy as np

from firmware_bridge.linksim import Faults
from firmware_bridge.simulator import (
    ALL_SCENARIOS,
    RIGS,
    Athlete,
    simulate_session,
    write_simulation,
)
from firmware_bridge.virtual import PtyMcu

from .common import UsageError, run, stop_event


def add_arguments(_name: str, sim) -> None:
    sim.add_argument(
        "--scenario",
        default="mixed",
        help="aligned, late-swing, weak-push, unstable-torso, mixed (default), jog, walk, stand",
    )
    sim.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument(
        "--stand", type=float, default=0.0, help="seconds standing still before the first rep"
    )
    sim.add_argument(
        "--rig", default="standard", help="standard (default), runway, treadmill, imu, imu-speed"
    )
    sim.add_argument("--mass", type=float, default=75.0, help="body mass, kg")
    sim.add_argument("--height", type=float, default=1.80, help="height, m")
    sim.add_argument("--mss", type=float, default=9.5, help="maximal sprinting speed, m/s")
    sim.add_argument("--tau", type=float, default=1.1, help="acceleration time constant, s")
    sim.add_argument(
        "--faults",
        default="",
        help="e.g. corrupt=0.01,drop=0.01,duplicate=0.005,"
        "stalls=2,unplug=20:2,reset=40,saturate=30:0.1,devices=7 (see docs/simulator.md)",
    )
    sim.add_argument("--no-noise", action="store_true", help="exact signals, no sensor noise")
    sim.add_argument(
        "--link-dir",
        help="with --pty: a stable name per device, DIR/NAME, kept across replugs"
        " (as udev's /dev/serial/by-id)",
    )
    sim.add_argument(
        "--hold",
        action="store_true",
        help="with --pty: stand still, sensors streaming, until a line 'go' on stdin; the"
        " plan (and --duration, --faults) start then (tests start the athlete once the"
        " service records)",
    )
    out = sim.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", help="write the wire capture here (truth: OUT.truth.jsonl)")
    out.add_argument("--pty", action="store_true", help="serve live on pseudo-terminals")
    sim.set_defaults(run=simulate)


def simulate(args) -> int:
    _check(args)
    try:
        faults = Faults.parse(args.faults)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sim = simulate_session(
        args.scenario,
        args.duration,
        args.seed,
        args.rig,
        Athlete(args.mass, args.height, args.mss, args.tau),
        noise=not args.no_noise,
        stand_s=args.stand,
    )
    faults.saturate_sources(sim.models)
    if not args.verbose:  # the recording host's notes about injected faults
        logging.getLogger("stridesync.bridge").setLevel(logging.ERROR)
    if args.pty:
        return run(serve_pty(sim, faults, args.duration, args.link_dir, args.hold))
    try:
        truth = write_simulation(sim, args.out, faults)
    except OSError as exc:
        raise UsageError(f"{args.out}: {exc.strerror or exc}") from None
    steps = sum(1 for r in sim.plan.steps.rep if r > 0)
    print(
        f"wrote {args.out} ({len(sim.models)} devices, {args.duration:g} s, "
        f"{len(sim.plan.reps)} reps, {steps} rep steps) and {truth}"
    )
    return 0


def _check(args) -> None:
    if args.scenario not in ALL_SCENARIOS:
        raise UsageError(
            f"unknown scenario {args.scenario!r}; choose from {', '.join(ALL_SCENARIOS)}"
        )
    if args.rig not in RIGS:
        raise UsageError(f"unknown rig {args.rig!r}; choose from {', '.join(RIGS)}")
    if not 1.0 <= args.duration <= 24 * 3600:
        raise UsageError("--duration must be between 1 s and 24 h")
    if not 0.0 <= args.stand <= 3600:
        raise UsageError("--stand must be between 0 and 3600 s")
    if not (
        30 <= args.mass <= 200
        and 1.2 <= args.height <= 2.3
        and 3 <= args.mss <= 13
        and 0.3 <= args.tau <= 3
    ):
        raise UsageError(
            "athlete out of range: --mass 30-200 kg, --height 1.2-2.3 m,"
            " --mss 3-13 m/s, --tau 0.3-3 s"
        )


async def serve_pty(
    sim, faults: Faults, duration: float, link_dir: str | None = None, hold: bool = False
) -> int:
    """Serve the rig live: time 0 of the plan is now (`t0`, host monotonic, in the
    ready line: the truth of every sample's time). With `hold`, the athlete stands
    still at the plan's time 0 until 'go' comes on stdin; the plan starts then, and a
    line {"go": true, "t0": ...} gives its time 0."""
    t0 = time.monotonic()
    rng = np.random.default_rng(sim.plan.seed)
    plan = _PlanClock(sim.models, held=hold)
    devices = [
        PtyMcu(
            m,
            time_fn=lambda: time.monotonic() - t0,
            frame_filter=lambda frame: faults.on_frame(frame, rng),
        )
        for m in sim.models
    ]
    for dev in devices:
        path = await dev.start(pump=False)
        _link(link_dir, dev.model.name, path)
        print(json.dumps({"name": dev.model.name, "path": path}), flush=True)
    pumping = asyncio.create_task(PtyMcu.pump_all(devices))
    print(json.dumps({"ready": True, "devices": len(devices), "t0": t0}), flush=True)
    if hold:
        await _wait_for_go()
        plan.go(time.monotonic() - t0)
        print(json.dumps({"go": True, "t0": t0 + plan.shift_s}), flush=True)
    for i, dev in enumerate(devices):
        if faults.applies_to(i):
            _schedule_faults(dev, faults, link_dir)
    await stop_event(duration).wait()
    pumping.cancel()
    for dev in devices:
        await dev.stop()
    return 0


class _PlanClock:
    """The sensors' signals as functions of the plan's time: held at its time 0 (the
    athlete standing still, the sensors streaming) until `go`, then from 0."""

    def __init__(self, models, held: bool) -> None:
        self.models = models
        self.shift_s = np.inf if held else 0.0
        if held:
            for m in models:
                for s in m.streams:
                    s.source = self._shifted(s.source)

    def _shifted(self, source):
        return lambda t: source(np.maximum(np.asarray(t) - self.shift_s, 0.0))

    def go(self, at_s: float) -> None:
        self.shift_s = at_s
        for m in self.models:
            for s in m.streams:
                s.ahead = None  # values computed ahead were the held ones


async def _wait_for_go() -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "go":
            return


def _schedule_faults(dev: PtyMcu, faults: Faults, link_dir: str | None) -> None:
    loop = asyncio.get_running_loop()
    for at, length in faults.unplug:
        loop.call_later(at, lambda: asyncio.ensure_future(_unplug(dev, link_dir)))
        loop.call_later(at + length, lambda: asyncio.ensure_future(_replug(dev, link_dir)))
    for at in faults.reset_at:
        loop.call_later(at, dev.reset)


def _link(link_dir: str | None, name: str, path: str) -> None:
    """DIR/NAME -> path, replaced atomically (a reader never sees it missing)."""
    if link_dir is None:
        return
    tmp = os.path.join(link_dir, f".{name}.new")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(path, tmp)
    os.replace(tmp, os.path.join(link_dir, name))


async def _unplug(dev: PtyMcu, link_dir: str | None) -> None:
    await dev.unplug()
    if link_dir is not None:  # as udev removes /dev/serial/by-id/... with the device
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(link_dir, dev.model.name))


async def _replug(dev: PtyMcu, link_dir: str | None = None) -> None:
    path = await dev.replug()
    _link(link_dir, dev.model.name, path)
    print(json.dumps({"name": dev.model.name, "path": path, "replugged": True}), flush=True)
