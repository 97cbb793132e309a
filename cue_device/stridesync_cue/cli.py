"""`stridesync-cue` (and `stridesync cue-device` on a full install): the device's command."""

from __future__ import annotations

import argparse
import logging
import sys

from . import device, sound


def add_arguments(cue: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
    return device.main(args)


ERRORS = (sound.error,)  # the user's to fix: one line, no traceback


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="stridesync-cue", description="The athlete's cue device: subscribe and play cues."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(p)
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return run(args)
    except ERRORS as exc:
        print(f"stridesync-cue: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
