"""`stridesync virtual-devices` and `stridesync sensor-stats`: serial links without the
service (virtual MCUs on pseudo-terminals; each link's live statistics)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

from rich.live import Live
from rich.table import Table

from firmware_bridge import link
from firmware_bridge.streams import demo_devices
from firmware_bridge.virtual import PtyMcu

from .common import UsageError, stop_event

COLUMNS = (
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
)


def add_arguments(name: str, p) -> None:
    if name == "virtual-devices":
        p.set_defaults(run=lambda _args: asyncio.run(virtual_devices()))
        return
    p.add_argument("ports", nargs="*", help="ports (default: two virtual sensors)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds (default: until ^C)")
    p.add_argument("--plain", action="store_true", help="log lines instead of a live table")
    p.set_defaults(run=lambda args: asyncio.run(sensor_stats(args)))


async def virtual_devices() -> int:
    devices = [PtyMcu(m) for m in demo_devices()]
    for dev in devices:
        path = await dev.start()
        print(json.dumps({"name": dev.model.name, "path": path}), flush=True)
    await stop_event().wait()
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


async def sensor_stats(args) -> int:
    proc, paths = (None, args.ports) if args.ports else await start_virtual_devices()
    plain = args.plain or not sys.stdout.isatty()
    if proc is not None:
        print(f"virtual sensors on {', '.join(paths)} (a force plate and a shank IMU)", flush=True)
    stop = stop_event(args.duration)
    try:
        async with link.Bridge(paths, log_stats=False) as bridge:
            if plain:
                await _plain(bridge, stop)
            else:
                await _table_live(bridge, stop, args.duration)
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            await proc.wait()
    return 0


async def _plain(bridge, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        for st in bridge.stats():
            print(st.line(), flush=True)


async def _table_live(bridge, stop: asyncio.Event, duration: float) -> None:
    start = asyncio.get_running_loop().time()
    with Live(stats_table(bridge, 0.0, duration), refresh_per_second=2) as live:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            elapsed = asyncio.get_running_loop().time() - start
            live.update(stats_table(bridge, elapsed, duration))


def stats_table(bridge, elapsed: float, duration: float) -> Table:
    until = f" of {duration:.0f} s" if duration else " (Ctrl-C to stop)"
    table = Table(title=f"Stridesync devices: {elapsed:.0f} s{until}")
    for col in COLUMNS:
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
