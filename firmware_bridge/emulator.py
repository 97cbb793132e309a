"""The real sensor-node firmware in QEMU, its UART on a pseudo-terminal.

`firmware/` builds each node twice: for the real boards and for QEMU's
netduinoplus2 (an STM32F405), where the chip's register-level model stands in
for the sensor (QEMU has no model of an ICM-42688-P or an ADS131M04). QEMU runs
the ARM binary; its USART2 (the ST-LINK's virtual COM port on a Nucleo) is a
pty that the host opens like /dev/ttyACM0. The MCU's clock is QEMU's virtual
clock, which follows the host's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import StridesyncError

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"
BOARDS = {
    "imu-left": "IMU node: ICM-42688-P model on a left shank, 1 kHz",
    "force": "force node: ADS131M04 model behind a 3-axis plate, 1 kHz",
}
MACHINE = "netduinoplus2"
QEMU = "qemu-system-arm"


class error(StridesyncError):
    pass


def firmware_elf(name: str) -> Path:
    """The emulated build of board `name`, built (make qemu) when missing or stale."""
    if name not in BOARDS:
        raise error(f"no board {name!r}; there are: {', '.join(BOARDS)}")
    elf = FIRMWARE_DIR / "build" / "qemu" / f"{name}.elf"
    if not (FIRMWARE_DIR / "Makefile").exists():
        raise error("the firmware sources are not here: run this from a Stridesync checkout")
    if shutil.which("arm-none-eabi-gcc") is None:
        if elf.exists():
            return elf
        raise error("no ARM toolchain: install gcc-arm-none-eabi picolibc-arm-none-eabi")
    (FIRMWARE_DIR / "build").mkdir(exist_ok=True)
    with open(FIRMWARE_DIR / "build" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time (parallel tests)
        done = subprocess.run(
            ["make", "-s", "-C", str(FIRMWARE_DIR), "qemu"], capture_output=True, text=True
        )
    if done.returncode != 0:
        raise error(f"the firmware did not build:\n{done.stderr[-2000:]}")
    return elf


class EmulatedBoard:
    """One node's firmware running in QEMU. `pty` is its serial port; `link`, if
    given, is a symlink kept pointing at it (a stable name, as udev gives)."""

    def __init__(self, name: str, link: Path | None = None) -> None:
        if shutil.which(QEMU) is None:
            raise error(f"{QEMU} is not installed (apt-get install qemu-system-arm)")
        self.name = name
        self.elf = firmware_elf(name)
        self.link = link
        self._dir = Path(tempfile.mkdtemp(prefix=f"stridesync-{name}-"))
        self._monitor = self._dir / "monitor.sock"
        self.proc: subprocess.Popen | None = None
        self.pty = ""
        self.start()

    def start(self) -> None:
        """Power the board on: a new QEMU, a new pty."""
        self.proc = subprocess.Popen(
            [QEMU, "-M", MACHINE, "-display", "none", "-kernel", str(self.elf),
             "-serial", "null", "-serial", "pty",  # USART1 nowhere, USART2 on a pty
             "-monitor", f"unix:{self._monitor},server,nowait"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        out, err = self.proc.stdout, self.proc.stderr
        assert out is not None and err is not None  # (PIPE)
        line = out.readline()  # "char device redirected to /dev/pts/N (label serial1)"
        found = re.search(r"(/dev/pts/\d+)", line)
        if not found:
            self.proc.kill()
            raise error(f"QEMU did not start: {line}{err.read()[-1000:]}")
        self.pty = found.group(1)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.pty)
            os.replace(tmp, self.link)

    def reset(self) -> None:
        """Press the reset button: the MCU reboots, the port stays (as on a Nucleo,
        whose ST-LINK keeps the USB link while the target resets)."""
        self._monitor_command("system_reset")

    def restart(self) -> None:
        """Pull the power and plug it back: QEMU stops and starts again, on a new pty."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> EmulatedBoard:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _monitor_command(self, command: str) -> str:
        deadline = time.monotonic() + 5
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            while True:
                try:
                    s.connect(str(self._monitor))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            _read_until(s, b"(qemu) ")  # the banner and first prompt
            s.sendall(command.encode() + b"\n")
            out = _read_until(s, b"(qemu) ")
        return out.decode(errors="replace")


def _read_until(s: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data
