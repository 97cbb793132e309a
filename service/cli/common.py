"""What several commands share: the user's errors and the stop signal."""

from __future__ import annotations

import asyncio
import signal

from firmware_bridge.errors import StridesyncError


class UsageError(StridesyncError):
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


def run(main):
    """Run the coroutine `main` on uvloop (libuv's event loop: a wake-up costs a few
    microseconds where asyncio's own loop costs tens; uvicorn[standard] brings it, with
    wheels for the Pi's aarch64), or on asyncio's loop where it is missing."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def loop_name() -> str:
    """The running event loop's kind, for the log line a maintainer reads first."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"
