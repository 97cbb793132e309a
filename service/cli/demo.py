"""`stridesync demo`: the service with a simulated athlete on virtual serial ports,
recording from the start; the dashboard's address printed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

from firmware_bridge.simulator import ALL_SCENARIOS

from .. import demo_history
from ..api import DASHBOARD
from ..config import new_token
from ..store import Store, queries
from ..store import error as StoreError
from .common import UsageError, run, stop_event
from .serve import log_setup, serve, serve_arguments, settings_from

DEMO_DATABASE = "sqlite+aiosqlite:///.demo/stridesync.db"
DEMO_ATHLETE = {
    "name": "Demo Athlete",
    "body_mass_kg": 75.0,
    "height_m": 1.80,
    "notes": "simulated",
}


def add_arguments(_name: str, demo) -> None:
    serve_arguments(demo)
    demo.add_argument("--duration", type=float, default=0.0, help="seconds (default: until ^C)")
    demo.add_argument(
        "--scenario", default="mixed", help="the simulated athlete's reps (see simulate)"
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--history",
        type=int,
        nargs="?",
        const=5,
        default=0,
        metavar="WEEKS",
        help="first fill the demo database with WEEKS (default 5) of simulated weekly"
        " sessions of three athletes whose sprint profiles change (for the History tab)",
    )
    demo.set_defaults(run=demo_command)


def demo_command(args) -> int:
    args.token = args.token or os.environ.get("STRIDESYNC_TOKEN") or new_token()
    return run(demo(args))


async def demo(args) -> int:
    if args.scenario not in ALL_SCENARIOS:
        raise UsageError(
            f"unknown scenario {args.scenario!r}; choose from {', '.join(ALL_SCENARIOS)}"
        )
    database = args.database or DEMO_DATABASE
    if args.history:  # before the simulated athlete starts: its first rep is the session's
        await _fill_history(database, args.history)
    proc, paths = await start_simulated_athlete(args.scenario, args.seed)
    settings = settings_from(
        args, database={"url": database}, devices={"ports": paths, "scan_interval_s": 0.2}
    )
    # The demo's console is for the banner and the reps; the log says only what goes wrong.
    log_setup(
        "warning" if "log_level" not in settings.model_fields_set else settings.log_level,
        args.verbose,
    )

    async def ready(app):
        live = app.state.live
        live.hub.listeners.append(_console)
        athlete = await queries.athlete_named(app.state.store, DEMO_ATHLETE)
        for _ in range(100):  # let the sensors say hello, so the session knows the rig
            if len(live.bridge.device_sessions()) >= len(paths):
                break
            await asyncio.sleep(0.05)
        row = await live.start_session(athlete.id, "demo: simulated athlete")
        print(_banner(settings, args, len(paths), row.id), flush=True)

    try:
        return await serve(settings, on_ready=ready, stop=stop_event(args.duration))
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()


async def _fill_history(database: str, weeks: int) -> None:
    print(f"Filling the demo database with {weeks} weeks of history:", flush=True)
    store = Store(database)
    try:
        await store.open()
        added = await demo_history.fill(store, weeks=weeks)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        await store.close()
    print(f"  {added} sessions added", flush=True)


def _banner(settings, args, n_ports: int, session_id: int) -> str:
    host, port = settings.server.host, settings.server.port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/"
    page = Path(settings.server.dashboard_dir or DASHBOARD) / "index.html"
    return (
        f"Stridesync demo: a simulated athlete ({args.scenario}) on {n_ports} virtual"
        f" serial ports, recording session {session_id}.\n"
        + (f"  Dashboard: {url}#token={args.token}\n" if page.is_file() else "")
        + f"  Token:     {args.token}\n"
        f"  API:       {url}docs (live feed: ws://{shown}:{port}/ws/live)\n"
        "Ctrl-C stops the session and the service."
    )


def _console(msg: dict) -> None:
    if msg.get("type") == "rep":
        judged = msg.get("judged_steps", msg["steps"])
        if not judged:
            learning = msg.get("baseline_state") == "learning"
            why = "learning the athlete's running" if learning else "none judged"
            print(f"rep {msg['rep']}: {msg['steps']} steps, {why}", flush=True)
            return
        limiter = msg.get("main_limiter")
        limited = f"mostly limited by {limiter}" if limiter else "no link limited"
        print(
            f"rep {msg['rep']}: {msg['steps']} steps, {msg.get('aligned_steps', 0)} of"
            f" {judged} judged aligned, {limited}",
            flush=True,
        )
    elif msg.get("type") == "sensor_event" and msg.get("kind") in ("reset", "gap"):
        print(f"sensor {msg['device_id']}: {msg['kind']} {msg.get('detail', '')}", flush=True)


async def start_simulated_athlete(
    scenario: str, seed: int = 0, duration_s: float = 3 * 3600.0, faults: str = ""
) -> tuple[asyncio.subprocess.Process, list[str]]:
    """The standard rig, simulated, in a process of its own: its ports, once all are up."""
    argv = [sys.executable, "-m", "service.cli", "simulate", "--pty"]
    argv += ["--scenario", scenario, "--seed", str(seed), "--duration", str(duration_s)]
    if faults:
        argv += ["--faults", faults]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    try:
        paths = await asyncio.wait_for(_ports_of(proc), SIM_START_MAX_S)
    except BaseException as exc:  # a timeout, ^C, junk on its stdout: never an orphan
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        if isinstance(exc, TimeoutError):
            raise UsageError(
                f"the simulated athlete did not start within {SIM_START_MAX_S:.0f} s"
                " (is the machine very busy?)"
            ) from None
        if isinstance(exc, ValueError | KeyError | AttributeError | TypeError):
            raise UsageError(f"the simulated athlete failed to start ({exc})") from None
        raise
    proc.drain = asyncio.ensure_future(_drain(proc.stdout))  # keep a reference
    return proc, paths


# A hang bound, not a speed: the simulator plans hours of running before its ports
# open, seconds on a Pi, more on a starved one (20 s once gave a traceback).
SIM_START_MAX_S = 120.0


async def _ports_of(proc: asyncio.subprocess.Process) -> list[str]:
    paths: list[str] = []
    while True:
        line = await proc.stdout.readline()
        if not line:
            raise UsageError("the simulated athlete failed to start")
        msg = json.loads(line)
        if msg.get("ready"):
            return paths
        paths.append(msg["path"])


async def _drain(stream) -> None:
    while await stream.readline():
        pass
