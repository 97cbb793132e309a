"""What several commands share: the user's errors and the stop signal."""

from __future__ import annotations

import asyncio
import signal


class UsageError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""


def stop_event(duration_s: float = 0.0) -> asyncio.Event:
    """Set by Ctrl-C, SIGTERM, or after `duration_s` (0: never)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration_s:
        loop.call_later(duration_s, stop.set)
    return stop
