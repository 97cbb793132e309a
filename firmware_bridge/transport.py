"""Serial transport: a port opened with pyserial, read on the event loop.

pyserial opens and configures the port (it knows the platforms' termios and
`exclusive` locking). Reading is done with `loop.add_reader` on its
non-blocking file descriptor: no thread, no polling, and a stall of the port
never blocks the loop. (pyserial-asyncio is unmaintained and does blocking I/O
on the loop; see docs/dependencies.md.)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections.abc import Callable

import serial

from .errors import StridesyncError


class error(StridesyncError):
    """A port that cannot be used; the message is meant for the user as it is."""


def open_error_message(path: str, exc: BaseException) -> str:
    err = getattr(exc, "errno", None)
    text = str(exc)
    if (
        err == errno.ENOENT
        or "No such file" in text
        or ("could not open port" in text and (not os.path.exists(path)))
    ):
        return f"{path}: no such serial port"
    if err == errno.EACCES or "Permission denied" in text:
        return f"{path}: permission denied (is this user in the 'dialout' group?)"
    if err in (errno.EBUSY, errno.EWOULDBLOCK) or "exclusively lock" in text:
        return f"{path}: in use by another program"
    return f"{path}: cannot open: {text}"


class SerialTransport:
    """Bytes in through a callback, bytes out without blocking."""

    READ_SIZE = 65536

    def __init__(
        self,
        path: str,
        on_data: Callable[[bytes, float], None],
        on_lost: Callable[[str], None],
        baudrate: int = 921600,
    ) -> None:
        self.path = path
        self._on_data = on_data
        self._on_lost = on_lost
        self._baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._fd: int | None = None
        self._out = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self) -> None:
        try:
            self._serial = serial.Serial(
                self.path, self._baudrate, timeout=0, write_timeout=0, exclusive=True
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise error(open_error_message(self.path, exc)) from None
        # What the device said before anyone listened (its boot HELLO, kept by a pty
        # or a USB bridge) is stale: the link asks, and the answer is the one HELLO.
        self._serial.reset_input_buffer()
        self._fd = self._serial.fileno()
        os.set_blocking(self._fd, False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        fd = self._fd
        if fd is None:  # closed meanwhile
            return
        try:
            data = os.read(fd, self.READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(f"read failed: {exc.strerror or exc}")
            return
        if not data:
            self._lost("end of file")
            return
        self._on_data(data, time.monotonic())

    def write(self, data: bytes) -> None:
        if self._fd is None:
            return
        self._out += data
        self._writable()

    def _writable(self) -> None:
        fd, loop = self._fd, self._loop
        if fd is None or loop is None:  # closed meanwhile
            return
        try:
            n = os.write(fd, self._out)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self._lost(f"write failed: {exc.strerror or exc}")
            return
        del self._out[:n]
        if self._out:
            loop.add_writer(fd, self._writable)
        else:
            loop.remove_writer(fd)

    def _lost(self, why: str) -> None:
        self.close()
        self._on_lost(why)

    def close(self) -> None:
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        if self._serial is not None:
            with contextlib.suppress(Exception):
                self._serial.close()
        self._serial = None
        self._fd = None
        self._out.clear()
