"""The `stridesync` command: one module per command.

Only the chosen command's module is imported (with what it needs): `stridesync
simulate` starts without FastAPI, `stridesync serve` without the simulator.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from firmware_bridge.errors import StridesyncError

# name: (module, help)
COMMANDS = {
    "devices": ("devices", "list serial ports and identify Stridesync devices"),
    "serve": ("serve", "the live service: sensors, engine, API, websocket"),
    "central": ("club", "a club's centre: every lane live, every session (docs/club.md)"),
    "club": ("club", "Mosquitto configuration of a club's lanes and centre"),
    "demo": ("demo", "the service with a simulated athlete on virtual serial ports"),
    "cue-device": ("cue", "the athlete's cue device: subscribe and play cues"),
    "token": ("tokens", "make an access token and print the hash for the config"),
    "sensor-stats": ("sensors", "live statistics of the serial links (no service)"),
    "virtual-devices": ("sensors", "serve virtual sensor MCUs on pseudo-terminals"),
    "simulate": ("simulate", "a simulated sprinter: wire capture + ground truth"),
    "replay": ("replay", "steps and reps of a recording, as JSON lines"),
    "emulate-board": ("emulate", "a sensor node's real firmware in QEMU, on a pty"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args) or 0
    except (StridesyncError, *args.errors) as exc:  # the user's to fix: one line
        print(f"stridesync: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command listed; the arguments of `command` (all, if None) added."""
    p = argparse.ArgumentParser(prog="stridesync", description="Real-time sprint feedback.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (module, text) in COMMANDS.items():
        sp = sub.add_parser(name, help=text)
        if command in (None, name):
            mod = importlib.import_module(f"{__name__}.{module}")
            mod.add_arguments(name, sp)
            sp.set_defaults(errors=getattr(mod, "ERRORS", ()))
    return p


def _command_in(argv: list[str]) -> str:
    """The command word (the first argument that is not an option); "" if none, so
    that `stridesync --help` lists the commands without importing any."""
    return next((a for a in argv if not a.startswith("-")), "")
