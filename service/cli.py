"""The `stridesync` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path


class UsageError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args) or 0
    except _user_errors() as exc:
        print(f"stridesync: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors that are the user's to fix, one line each. Modules are imported lazily
    (the cue device runs on a Pi Zero without numpy's weight), so only the loaded count."""
    names = (
        "firmware_bridge.link",
        "firmware_bridge.transport",
        "service.cuedevice",
    )
    return (UsageError, *(sys.modules[n].error for n in names if n in sys.modules))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stridesync", description="Real-time sprint feedback.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("devices", help="list serial ports and identify Stridesync devices")
    d.add_argument("ports", nargs="*", help="ports to identify (default: every serial port)")
    d.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for a hello")
    d.add_argument("--json", action="store_true", help="one JSON object per port")
    d.add_argument(
        "--udev",
        action="store_true",
        help="print udev rules giving each device a stable name, /dev/stridesync/NAME",
    )
    d.set_defaults(func=cmd_devices)

    srv = sub.add_parser("serve", help="the live service: sensors, engine, API, websocket")
    _serve_args(srv)
    srv.set_defaults(func=cmd_serve)

    demo = sub.add_parser(
        "demo", help="the service with a simulated athlete on virtual serial ports"
    )
    _serve_args(demo)
    demo.add_argument("--duration", type=float, default=0.0, help="seconds (default: until ^C)")
    demo.add_argument(
        "--scenario", default="mixed", help="the simulated athlete's reps (see simulate)"
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)

    cue = sub.add_parser("cue-device", help="the athlete's cue device: subscribe and play cues")
    cue.add_argument("--broker", required=True, metavar="HOST:PORT")
    cue.add_argument("--athlete", required=True, type=int, help="athlete id whose cues to play")
    cue.add_argument("--node", default="+", help="the service's node name (default: any)")
    cue.add_argument("--username", help="MQTT user (the ACL lets it read its athlete's cues)")
    cue.add_argument("--password-file", help="file holding the MQTT password")
    cue.add_argument("--wav-dir", help="write each cue as a WAV file here instead of playing it")
    cue.add_argument("--alsa-device", help="ALSA device for aplay -D (default: the default)")
    cue.add_argument(
        "--sound",
        choices=["words", "tones"],
        default="words",
        help="spoken words (espeak-ng, when installed) or tone patterns",
    )
    cue.add_argument("--log", help="append one JSON line per cue here (default: stdout)")
    cue.set_defaults(func=cmd_cue_device)

    tok = sub.add_parser("token", help="make an access token and print the hash for the config")
    tok.add_argument("--role", choices=["admin", "viewer"], default="admin")
    tok.set_defaults(func=cmd_token)

    dev = sub.add_parser("sensor-stats", help="live statistics of the serial links (no service)")
    dev.add_argument("ports", nargs="*", help="ports (default: two virtual sensors)")
    dev.add_argument("--duration", type=float, default=0.0, help="seconds (default: until ^C)")
    dev.add_argument("--plain", action="store_true", help="log lines instead of a live table")
    dev.set_defaults(func=cmd_sensor_stats)

    v = sub.add_parser("virtual-devices", help="serve virtual sensor MCUs on pseudo-terminals")
    v.set_defaults(func=cmd_virtual_devices)

    sim = sub.add_parser("simulate", help="a simulated sprinter: wire capture + ground truth")
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
    out = sim.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", help="write the wire capture here (truth: OUT.truth.jsonl)")
    out.add_argument("--pty", action="store_true", help="serve live on pseudo-terminals")
    sim.set_defaults(func=cmd_simulate)

    r = sub.add_parser("replay", help="steps and reps of a recording, as JSON lines")
    r.add_argument("file", help="a C3D file, a CSV (forces or speed) or a wire capture")
    r.add_argument("--mass", type=float, required=True, help="athlete body mass, kg")
    r.add_argument("--height", type=float, default=1.75, help="athlete height, m (air drag)")
    r.add_argument("--format", choices=["c3d", "csv", "wire"], help="default: from the name")
    gate = r.add_mutually_exclusive_group()
    gate.add_argument(
        "--sprints-only",
        dest="sprints_only",
        action="store_true",
        default=None,
        help="only steps of sprint reps (the default for wire captures)",
    )
    gate.add_argument(
        "--all-steps",
        dest="sprints_only",
        action="store_false",
        help="every running contact (the default for CSV and C3D trials)",
    )
    r.set_defaults(func=cmd_replay)

    b = sub.add_parser("bench", help="run a benchmark")
    b.add_argument(
        "name",
        choices=[
            "decode",
            "clock",
            "engine",
            "verdict",
            "service",
            "cues",
            "dashboard",
            "attack",
            "all",
        ],
    )
    b.add_argument("--json", action="store_true", help="machine-readable results")
    b.add_argument("--quick", action="store_true", help="shorter runs, for a smoke test")
    b.add_argument("--soak", action="store_true", help="service: a 2-hour session, for its memory")
    b.set_defaults(func=cmd_bench)
    return p


# --- devices ---------------------------------------------------------------


def cmd_devices(args) -> int:
    return asyncio.run(_devices(args))


async def _devices(args) -> int:
    from firmware_bridge import link

    explicit = bool(args.ports)
    ports = args.ports or _all_serial_ports()
    if not ports:
        print("no serial ports found")
        return 0
    results = await asyncio.gather(
        *(link.identify_port(p, args.timeout) for p in ports), return_exceptions=True
    )
    failed = False
    for port, res in zip(ports, results, strict=True):
        if isinstance(res, BaseException) and not isinstance(res, link.error):
            raise res
        if isinstance(res, link.error):
            failed = True
            if args.json:
                print(json.dumps({"port": port, "error": str(res)}))
            else:
                print(f"stridesync: error: {res}", file=sys.stderr if explicit else sys.stdout)
            continue
        if args.udev:
            print(udev_rule(port, res.name, _usb_info(port)))
        else:
            print(json.dumps(_hello_json(port, res)) if args.json else _hello_line(port, res))
    return 1 if failed and explicit else 0


def _usb_info(port: str) -> dict | None:
    """USB vendor, product and serial number of a port, from pyserial's port list."""
    from serial.tools import list_ports

    real = os.path.realpath(port)
    for p in list_ports.comports():
        if os.path.realpath(p.device) == real and p.vid is not None:
            return {"vid": p.vid, "pid": p.pid, "serial": p.serial_number}
    return None


def udev_rule(port: str, name: str, usb: dict | None) -> str:
    """The udev rule naming this device /dev/stridesync/NAME, by its USB serial number."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name) or "sensor"
    if usb is None or not usb.get("serial"):
        why = "not a USB device" if usb is None else "its USB interface has no serial number"
        return f"# {port}: {name}: {why}; no stable name possible"
    return (  # udev allows comments only on lines of their own
        f"# {name}, now on {port}\n"
        f'SUBSYSTEM=="tty", ATTRS{{idVendor}}=="{usb["vid"]:04x}",'
        f' ATTRS{{idProduct}}=="{usb["pid"]:04x}", ATTRS{{serial}}=="{usb["serial"]}",'
        f' SYMLINK+="stridesync/{safe}", GROUP="dialout", MODE="0660"'
    )


def _all_serial_ports() -> list[str]:
    from serial.tools import list_ports

    from firmware_bridge import link

    ports = [p.device for p in list_ports.comports()]
    return sorted(set(ports) | set(link.Bridge(link.DEFAULT_PORTS).candidate_ports()))


def _hello_json(port: str, hello) -> dict:
    return {
        "port": port,
        "device_id": hello.device_hex,
        "name": hello.name,
        "firmware": ".".join(map(str, hello.firmware)),
        "streams": [
            {
                "stream_id": s.stream_id,
                "kind": s.kind.name.lower(),
                "placement": s.placement.name.lower(),
                "index": s.index,
                "sample_rate_hz": s.sample_rate_hz,
                "channels": [c.label for c in s.channels],
            }
            for s in hello.streams
        ],
    }


def _hello_line(port: str, hello) -> str:
    streams = "; ".join(
        f"{_kind(s.kind)} on {s.placement.name.lower().replace('_', ' ')}"
        f" at {s.sample_rate_hz:g} Hz ({', '.join(c.label for c in s.channels)})"
        for s in hello.streams
    )
    fw = ".".join(map(str, hello.firmware))
    return f"{port}: {hello.name} [{hello.device_hex}] firmware {fw}: {streams}"


def _kind(kind) -> str:
    from firmware_bridge.codec import SensorKind

    return {
        SensorKind.FORCE_3AXIS: "3-axis force",
        SensorKind.FORCE_VERTICAL: "vertical force",
        SensorKind.IMU_6AXIS: "IMU",
        SensorKind.SPEED: "speed",
    }[kind]


# --- virtual devices and the demo ------------------------------------------------


def cmd_virtual_devices(args) -> int:
    return asyncio.run(_virtual_devices())


async def _virtual_devices() -> int:
    from firmware_bridge.virtual import PtyMcu, demo_devices

    devices = [PtyMcu(m) for m in demo_devices()]
    for dev in devices:
        path = await dev.start()
        print(json.dumps({"name": dev.model.name, "path": path}), flush=True)
    await _stop_event().wait()
    for dev in devices:
        await dev.stop()
    return 0


async def start_virtual_devices() -> tuple[asyncio.subprocess.Process, list[str]]:
    """Virtual MCUs in a process of their own, as real ones are outside the host."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli",
        "virtual-devices",
        stdout=asyncio.subprocess.PIPE,
    )
    paths = []
    for _ in range(2):
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        if not line:
            raise UsageError("virtual devices failed to start")
        paths.append(json.loads(line)["path"])
    return proc, paths


def _stop_event(duration_s: float = 0.0) -> asyncio.Event:
    """Set by Ctrl-C, SIGTERM, or after `duration_s` (0: never)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration_s:
        loop.call_later(duration_s, stop.set)
    return stop


def cmd_sensor_stats(args) -> int:
    return asyncio.run(_sensor_stats(args))


async def _sensor_stats(args) -> int:
    from firmware_bridge import link

    proc, paths = (None, args.ports) if args.ports else await start_virtual_devices()
    plain = args.plain or not sys.stdout.isatty()
    if proc is not None:
        print(f"virtual sensors on {', '.join(paths)} (a force plate and a shank IMU)", flush=True)
    stop = _stop_event(args.duration)
    try:
        async with link.Bridge(paths, log_stats=False) as bridge:
            if plain:
                await _demo_plain(bridge, stop)
            else:
                await _demo_live(bridge, stop, args.duration)
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            await proc.wait()
    return 0


async def _demo_plain(bridge, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        for st in bridge.stats():
            print(st.line(), flush=True)


async def _demo_live(bridge, stop: asyncio.Event, duration: float) -> None:
    from rich.live import Live

    start = asyncio.get_running_loop().time()
    with Live(_stats_table(bridge, 0.0, duration), refresh_per_second=2) as live:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            elapsed = asyncio.get_running_loop().time() - start
            live.update(_stats_table(bridge, elapsed, duration))


def _stats_table(bridge, elapsed: float, duration: float):
    from rich.table import Table

    until = f" of {duration:.0f} s" if duration else " (Ctrl-C to stop)"
    table = Table(title=f"Stridesync devices: {elapsed:.0f} s{until}")
    for col in (
        "device",
        "port",
        "frames/s",
        "kB/s",
        "samples/s",
        "CRC err",
        "lost",
        "overflow",
        "dup",
        "resets",
        "drift ppm",
        "RTT ms",
    ):
        table.add_column(col, justify="left" if col in ("device", "port") else "right")
    for s in bridge.stats():
        table.add_row(
            s.name if s.connected else f"[red]{s.name} (disconnected)[/red]",
            s.port or "-",
            f"{s.frames_per_s:.0f}",
            f"{s.bytes_per_s / 1000:.1f}",
            f"{s.samples_per_s:.0f}",
            str(s.crc_errors),
            str(s.lost_samples),
            str(s.overflow_samples),
            str(s.duplicates),
            str(s.resets),
            f"{s.clock_drift_ppm:+.1f}",
            f"{s.clock_rtt_ms:.2f}",
        )
    return table


# --- the service ----------------------------------------------------------------------


def _serve_args(p) -> None:
    p.add_argument(
        "--config", help="TOML config file (docs/api.md; template deploy/stridesync.toml)"
    )
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default 8000)")
    p.add_argument("--token", help="admin access token (or STRIDESYNC_TOKEN)")
    p.add_argument("--database", help="SQLAlchemy URL (default: SQLite file stridesync.db)")
    p.add_argument("--device", action="append", dest="ports", help="serial port or glob; repeat")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="MQTT broker for the athlete's cues")


def _settings(args, **extra):
    from service import config

    over: dict = {}
    if args.host or args.port:
        over["server"] = {
            k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None
        }
    if args.database:
        over["database"] = {"url": args.database}
    if args.ports:
        over["devices"] = {"ports": args.ports}
    if args.token:
        over["token"] = args.token
    if args.mqtt:
        over["mqtt"] = {"broker": args.mqtt}
    for section, values in extra.items():
        over[section] = {**values, **over.get(section, {})} if isinstance(values, dict) else values
    try:
        return config.load(args.config, **over)
    except config.error as exc:
        raise UsageError(str(exc)) from None


def _log_setup(level: str, verbose: bool) -> None:
    logging.getLogger().setLevel(logging.DEBUG if verbose else getattr(logging, level.upper()))
    if not verbose:  # the bridge's per-frame notes and alembic's plugins belong in debug
        logging.getLogger("stridesync.bridge").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)


def cmd_serve(args) -> int:
    settings = _settings(args)
    _log_setup(settings.log_level, args.verbose)
    token = None
    if not (settings.auth.admin_token_hashes or settings.token):
        from service.config import new_token

        token = new_token()
        settings = settings.model_copy(update={"token": _secret(token)})
        print(
            "stridesync: no access token configured; for this run the admin token is\n"
            f"  {token}\n(make a lasting one with `stridesync token`)",
            file=sys.stderr,
            flush=True,
        )
    return asyncio.run(_serve(settings))


def _secret(token: str):
    from pydantic import SecretStr

    return SecretStr(token)


async def _serve(settings, on_ready=None, stop: asyncio.Event | None = None) -> int:
    import uvicorn

    from service.api import create_app
    from service.httpguard import server_config
    from service.store import Store
    from service.store import error as StoreError

    log = logging.getLogger("stridesync.serve")
    log.info("effective configuration: %s", json.dumps(settings.effective()))
    # What can be checked before serving is checked here, to fail in one line.
    try:
        store = Store(settings.database.url)
        try:
            await store.open()
        finally:
            await store.close()
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    try:
        settings.mqtt.secret()
    except OSError as exc:
        raise UsageError(f"mqtt.password_file: {exc.strerror}: {exc.filename}") from None
    sock = _bind(settings.server.host, settings.server.port)
    app = create_app(settings)
    server = uvicorn.Server(
        server_config(
            app,
            settings,
            # Open requests and websockets get this long; then the lifespan stores the
            # session (within recording.stop_flush_s): a stop never waits on a client.
            timeout_graceful_shutdown=2,
        )
    )
    if stop is not None:

        async def _stopper():
            await stop.wait()
            server.should_exit = True

        stopper = asyncio.create_task(_stopper())
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if serving.done():
        with contextlib.suppress(SystemExit):
            serving.result()
        raise UsageError("the service failed to start (see the log above)")
    if on_ready is not None:
        await on_ready(app)
    from service import sdnotify

    sdnotify.notify("READY=1\nSTATUS=serving")
    interval = sdnotify.watchdog_interval_s()
    dog = asyncio.create_task(sdnotify.watchdog_forever(interval)) if interval else None
    await serving
    if dog is not None:
        dog.cancel()
    sdnotify.notify("STOPPING=1")
    if stop is not None:
        stopper.cancel()
    return 0


def _bind(host: str, port: int):
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def cmd_cue_device(args) -> int:
    from service import cuedevice

    logging.getLogger().setLevel(logging.DEBUG if args.verbose else logging.INFO)
    return cuedevice.main(args)


def cmd_token(args) -> int:
    from service.config import hash_token, new_token

    token = new_token()
    key = "admin_token_hashes" if args.role == "admin" else "viewer_token_hashes"
    print(f"{args.role} token (give it to whoever needs it; it is not stored): {token}")
    print("add its hash to the config file, section [auth]:")
    print(f'  {key} = ["{hash_token(token)}"]')
    return 0


def cmd_demo(args) -> int:
    from service.config import new_token

    token = args.token or os.environ.get("STRIDESYNC_TOKEN") or new_token()
    args.token = token
    return asyncio.run(_demo(args, token))


async def _demo(args, token: str) -> int:
    if args.scenario not in _scenarios():
        raise UsageError(
            f"unknown scenario {args.scenario!r}; choose from {', '.join(_scenarios())}"
        )
    proc, paths = await start_simulated_athlete(args.scenario, args.seed)
    settings = _settings(
        args,
        database={"url": args.database or "sqlite+aiosqlite:///.demo/stridesync.db"},
        devices={"ports": paths, "scan_interval_s": 0.2},
    )
    # The demo's console is for the banner and the reps; the log says only what goes wrong.
    _log_setup(
        "warning" if "log_level" not in settings.model_fields_set else settings.log_level,
        args.verbose,
    )
    stop = _stop_event(args.duration)

    async def ready(app):
        host = settings.server.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        url = f"http://{shown}:{settings.server.port}/"
        live = app.state.live
        live.hub.listeners.append(_console)
        athlete_id = await _demo_athlete(app.state.store)
        for _ in range(100):  # let the sensors say hello, so the session knows the rig
            if len(live.bridge.sessions()) >= len(paths):
                break
            await asyncio.sleep(0.05)
        row = await live.start_session(athlete_id, "demo: simulated athlete")
        from service.api import DASHBOARD

        page = Path(settings.server.dashboard_dir or DASHBOARD) / "index.html"
        print(
            f"Stridesync demo: a simulated athlete ({args.scenario}) on {len(paths)} virtual"
            f" serial ports, recording session {row.id}.\n"
            + (f"  Dashboard: {url}#token={token}\n" if page.is_file() else "")
            + f"  Token:     {token}\n"
            f"  API:       {url}docs (live feed: ws://{shown}:{settings.server.port}/ws/live)\n"
            "Ctrl-C stops the session and the service.",
            flush=True,
        )

    try:
        return await _serve(settings, on_ready=ready, stop=stop)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()


def _scenarios():
    from firmware_bridge.simulator import ALL_SCENARIOS

    return ALL_SCENARIOS


def _console(msg: dict) -> None:
    if msg.get("type") == "rep":
        limiter = msg.get("main_limiter") or "none"
        print(
            f"rep {msg['rep']}: {msg['steps']} steps, {msg.get('aligned_steps', 0)} aligned,"
            f" mostly limited by {limiter}",
            flush=True,
        )
    elif msg.get("type") == "sensor_event" and msg.get("kind") in ("reset", "gap"):
        print(f"sensor {msg['device_id']}: {msg['kind']} {msg.get('detail', '')}", flush=True)


async def _demo_athlete(store) -> int:
    from sqlalchemy import select

    from service.store import Athlete

    async with store.session() as s, s.begin():
        row = await s.scalar(select(Athlete).where(Athlete.name == "Demo Athlete"))
        if row is None:
            row = Athlete(name="Demo Athlete", body_mass_kg=75.0, height_m=1.80, notes="simulated")
            s.add(row)
            await s.flush()
        return row.id


async def start_simulated_athlete(
    scenario: str, seed: int = 0, duration_s: float = 3 * 3600.0, faults: str = ""
) -> tuple[asyncio.subprocess.Process, list[str]]:
    """The standard rig, simulated, in a process of its own: its ports, once all are up."""
    argv = [
        sys.executable,
        "-m",
        "service.cli",
        "simulate",
        "--pty",
        "--scenario",
        scenario,
        "--seed",
        str(seed),
        "--duration",
        str(duration_s),
    ]
    if faults:
        argv += ["--faults", faults]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    paths: list[str] = []
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        if not line:
            raise UsageError("the simulated athlete failed to start")
        msg = json.loads(line)
        if msg.get("ready"):
            break
        paths.append(msg["path"])
    proc.drain = asyncio.ensure_future(_drain(proc.stdout))  # keep a reference
    return proc, paths


async def _drain(stream) -> None:
    while await stream.readline():
        pass


# --- simulator ---------------------------------------------------------------------


def _simulation(args):
    from firmware_bridge.linksim import Faults
    from firmware_bridge.simulator import ALL_SCENARIOS, RIGS, Athlete, simulate_session

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
    try:
        faults = Faults.parse(args.faults)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    athlete = Athlete(args.mass, args.height, args.mss, args.tau)
    sim = simulate_session(
        args.scenario,
        args.duration,
        args.seed,
        args.rig,
        athlete,
        noise=not args.no_noise,
        stand_s=args.stand,
    )
    faults.saturate_sources(sim.models)
    return sim, faults


def cmd_simulate(args) -> int:
    sim, faults = _simulation(args)
    if not args.verbose:  # the recording host's notes about injected faults
        logging.getLogger("stridesync.bridge").setLevel(logging.ERROR)
    if args.pty:
        return asyncio.run(_simulate_pty(sim, faults, args.duration, args.link_dir))
    from firmware_bridge.simulator import write_simulation

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


async def _simulate_pty(sim, faults, duration: float, link_dir: str | None = None) -> int:
    """Serve the rig live: time 0 of the plan is now (`t0`, host monotonic, in the
    ready line: the truth of every sample's time)."""
    import time

    import numpy as np

    from firmware_bridge.virtual import PtyMcu

    t0 = time.monotonic()
    rng = np.random.default_rng(sim.plan.seed)
    devices = [
        PtyMcu(
            m,
            time_fn=lambda: time.monotonic() - t0,
            frame_filter=lambda frame: faults.on_frame(frame, rng),
        )
        for m in sim.models
    ]
    loop = asyncio.get_running_loop()
    for i, dev in enumerate(devices):
        path = await dev.start()
        _link(link_dir, dev.model.name, path)
        print(json.dumps({"name": dev.model.name, "path": path}), flush=True)
        if faults.applies_to(i):
            for at, length in faults.unplug:
                loop.call_later(at, lambda d=dev: asyncio.ensure_future(_unplug(d, link_dir)))
                loop.call_later(
                    at + length, lambda d=dev: asyncio.ensure_future(_replug(d, link_dir))
                )
            for at in faults.reset_at:
                loop.call_later(at, dev.reset)
    print(json.dumps({"ready": True, "devices": len(devices), "t0": t0}), flush=True)
    await _stop_event(duration).wait()
    for dev in devices:
        await dev.stop()
    return 0


def _link(link_dir: str | None, name: str, path: str) -> None:
    """DIR/NAME -> path, replaced atomically (a reader never sees it missing)."""
    if link_dir is None:
        return
    tmp = os.path.join(link_dir, f".{name}.new")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(path, tmp)
    os.replace(tmp, os.path.join(link_dir, name))


async def _unplug(dev, link_dir: str | None) -> None:
    await dev.unplug()
    if link_dir is not None:  # as udev removes /dev/serial/by-id/... with the device
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(link_dir, dev.model.name))


async def _replug(dev, link_dir: str | None = None) -> None:
    path = await dev.replug()
    _link(link_dir, dev.model.name, path)
    print(json.dumps({"name": dev.model.name, "path": path, "replugged": True}), flush=True)


# --- replay --------------------------------------------------------------------------


def replay_events(
    path, athlete, fmt=None, chunk: int | None = None, sprints_only: bool | None = None
) -> list[dict]:
    """Every step, then every rep, of a recording.

    A session (a wire capture) reports the sprints only, as live; a lab trial
    (CSV or C3D: one pass) reports every running contact, unless told otherwise."""
    from pathlib import Path

    from service import recordings
    from service.engine import Engine, EngineConfig, settled

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


def cmd_replay(args) -> int:
    from service import recordings
    from service.engine import AthleteInfo

    try:
        athlete = AthleteInfo(args.mass, args.height)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not args.verbose:
        logging.getLogger("stridesync.bridge").setLevel(logging.ERROR)
    try:
        events = replay_events(args.file, athlete, args.format, sprints_only=args.sprints_only)
    except recordings.error as exc:
        raise UsageError(str(exc)) from None
    for event in events:
        print(json.dumps(event))
    return 0


# --- benchmarks ----------------------------------------------------------------


def cmd_bench(args) -> int:
    from bench import attack, clock, cues, dashboard, decode, engine, service, verdict

    runs = {
        "attack": [attack],
        "verdict": [verdict],
        "decode": [decode],
        "clock": [clock],
        "engine": [engine],
        "service": [service],
        "cues": [cues],
        "dashboard": [dashboard],
        "all": [decode, clock, engine, verdict, service, cues, dashboard, attack],
    }[args.name]
    results = {}
    for module in runs:
        extra = {"soak": True} if args.soak and module.NAME == "service" else {}
        result = module.run(quick=args.quick, **extra)
        results[module.NAME] = result
        if not args.json:
            print(module.report(result), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
