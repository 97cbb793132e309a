"""`make firmware` builds every node with Debian's cross toolchain (issue 19): ARM
Cortex-M4 executables whose vector table starts the MCU in flash with its stack
at the top of RAM, and a table of flash and RAM use."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware_bridge" / "firmware"
NODES = [
    *("nucleo-f4/imu-left", "nucleo-f4/imu-right", "nucleo-f4/force"),
    *("qemu/imu-left", "qemu/force"),
]
pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="make test installs gcc-arm-none-eabi"
)


def test_make_firmware_builds_every_node_for_the_stm32f4(tmp_path):
    done = subprocess.run(
        ["make", "-C", str(FIRMWARE), f"BUILD={tmp_path}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    table = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].endswith(".elf"):
            table[Path(parts[0]).relative_to(tmp_path).with_suffix("").as_posix()] = parts[1:]
    assert sorted(table) == sorted(NODES), done.stdout
    for node in NODES:
        flash, ram = map(int, table[node])
        assert 1024 < flash < 512 * 1024 and 0 < ram < 96 * 1024 - 4096, (node, flash, ram)
        elf = (tmp_path / f"{node}.elf").read_bytes()
        assert elf[:4] == b"\x7fELF" and elf[4] == 1  # 32-bit
        assert struct.unpack_from("<H", elf, 18)[0] == 40  # EM_ARM
    # What the STM32 boots from: the raw image, its first words the stack and reset.
    for node in NODES[:3]:
        image = (tmp_path / f"{node}.bin").read_bytes()
        stack, reset = struct.unpack_from("<II", image, 0)
        assert stack == 0x2000_0000 + 96 * 1024
        assert reset & 1 and 0x0800_0000 < reset < 0x0800_0000 + len(image)  # Thumb, in flash
