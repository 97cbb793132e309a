"""`stridesync replay`: the steps and reps of a recording, as JSON lines."""

from __future__ import annotations

import json
import logging

from ..engine import AthleteInfo
from ..replay import replay_events
from .common import UsageError


def add_arguments(_name: str, r) -> None:
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
    r.set_defaults(run=replay)


def replay(args) -> int:
    try:
        athlete = AthleteInfo(args.mass, args.height)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not args.verbose:
        logging.getLogger("stridesync.bridge").setLevel(logging.ERROR)
    events = replay_events(args.file, athlete, args.format, sprints_only=args.sprints_only)
    for event in events:
        print(json.dumps(event))
    return 0
