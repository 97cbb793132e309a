"""systemd notification: READY once serving, WATCHDOG while the event loop runs.

The unit has `Type=notify` and `WatchdogSec=`: if the loop hangs (a bug, a
blocked call), the pings stop and systemd restarts the service. Stdlib only:
one datagram to $NOTIFY_SOCKET per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

log = logging.getLogger("stridesync.systemd")


def notify(message: str) -> bool:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):  # an abstract socket
        path = "\0" + path[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(path)
        s.sendall(message.encode())
        return True
    return False


def watchdog_interval_s() -> float | None:
    """Half the watchdog period systemd asks for, or None when there is none."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6


async def watchdog_forever(interval_s: float) -> None:
    """Ping while the event loop turns; a hung loop stops the pings."""
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval_s)
