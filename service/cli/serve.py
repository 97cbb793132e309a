"""`stridesync serve`: the live service (sensors, engine, API, websocket) under uvicorn,
on a socket bound here (to fail in one line), with systemd's notify and watchdog."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import socket
import sys

import uvicorn
from pydantic import SecretStr

from firmware_bridge import speedups
from firmware_bridge.speedups import ahrs

from .. import config, sdnotify
from ..api import create_app
from ..httpguard import server_config
from ..store import Store
from ..store import error as StoreError
from .common import UsageError, loop_name, run

log = logging.getLogger("stridesync.serve")


def add_arguments(_name: str, p) -> None:
    serve_arguments(p)
    p.set_defaults(run=serve_command)


def serve_arguments(p) -> None:
    p.add_argument(
        "--config", help="TOML config file (docs/api.md; template deploy/stridesync.toml)"
    )
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default 8000)")
    p.add_argument("--token", help="admin access token (or STRIDESYNC_TOKEN)")
    p.add_argument("--database", help="SQLAlchemy URL (default: SQLite file stridesync.db)")
    p.add_argument("--device", action="append", dest="ports", help="serial port or glob; repeat")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="MQTT broker for the athlete's cues")


def settings_from(args, **extra) -> config.Settings:
    """The config file, with the command line over it, and `extra` under the command line."""
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


def log_setup(level: str, verbose: bool) -> None:
    logging.getLogger().setLevel(logging.DEBUG if verbose else getattr(logging, level.upper()))
    if not verbose:  # the bridge's per-frame notes and alembic's plugins belong in debug
        logging.getLogger("stridesync.bridge").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)


def serve_command(args) -> int:
    settings = settings_from(args)
    log_setup(settings.log_level, args.verbose)
    if not (settings.auth.admin_token_hashes or settings.token):
        token = config.new_token()
        settings = settings.model_copy(update={"token": SecretStr(token)})
        print(
            "stridesync: no access token configured; for this run the admin token is\n"
            f"  {token}\n(make a lasting one with `stridesync token`)",
            file=sys.stderr,
            flush=True,
        )
    return run(serve(settings))


async def serve(settings: config.Settings, on_ready=None, stop: asyncio.Event | None = None):
    """Serve until stopped (SIGTERM, or `stop`); `on_ready(app)` once it listens."""
    log.info("effective configuration: %s", json.dumps(settings.effective()))
    log.info(
        "event loop: %s; serial decoding: %s; thigh and trunk filter: %s",
        loop_name(), speedups.describe(), ahrs.describe(),
    )  # fmt: skip
    await _check(settings)
    sock = bind(settings.server.host, settings.server.port)
    app = create_app(settings)
    # Open requests and websockets get 2 s; then the lifespan stores the session
    # (within recording.stop_flush_s): a stop never waits on a client.
    server = uvicorn.Server(server_config(app, settings, timeout_graceful_shutdown=2))
    stopper = asyncio.create_task(_stop_on(stop, server)) if stop is not None else None
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if serving.done():
        with contextlib.suppress(SystemExit):
            serving.result()
        raise UsageError("the service failed to start (see the log above)")
    freeze_startup_heap()
    if on_ready is not None:
        await on_ready(app)
    sdnotify.notify("READY=1\nSTATUS=serving")
    interval = sdnotify.watchdog_interval_s()
    dog = asyncio.create_task(sdnotify.watchdog_forever(interval)) if interval else None
    await serving
    if dog is not None:
        dog.cancel()
    sdnotify.notify("STOPPING=1")
    if stopper is not None:
        stopper.cancel()
    return 0


def freeze_startup_heap() -> None:
    """What starting made (modules, the app, its routes and models, the database engine:
    ~200 000 objects) lives as long as the process, yet every full collection of the
    garbage collector walks it: 126 ms of CPU here, stalling the event loop half a
    second under a Pi 4's budget (a 25 % quota; docs/benchmarks.md). Collected once,
    then moved out of the collector's sight (gc.freeze, as Instagram's servers do);
    what a session makes is still collected."""
    gc.collect()
    gc.freeze()
    log.info("garbage collector: %d objects of the start frozen", gc.get_freeze_count())


async def _check(settings: config.Settings) -> None:
    """What can be checked before serving is checked here, to fail in one line."""
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


async def _stop_on(stop: asyncio.Event, server: uvicorn.Server) -> None:
    await stop.wait()
    server.should_exit = True


def bind(host: str, port: int) -> socket.socket:
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
