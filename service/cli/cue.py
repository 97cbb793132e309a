"""`stridesync cue-device`: the cue device's command, on a full install (on the device
itself it is `stridesync-cue`, from the stridesync_cue package alone)."""

from __future__ import annotations

import logging

from stridesync_cue import cli

ERRORS = cli.ERRORS


def add_arguments(_name: str, cue) -> None:
    cli.add_arguments(cue)
    cue.set_defaults(run=cue_device)


def cue_device(args) -> int:
    logging.getLogger().setLevel(logging.DEBUG if args.verbose else logging.INFO)
    return cli.run(args)
