"""`stridesync emulate-board NAME`: the real node firmware in QEMU, on a pty."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from firmware_bridge import emulator


def add_arguments(_name: str, p) -> None:
    p.add_argument("board", choices=sorted(emulator.BOARDS), help="which node's firmware")
    p.add_argument("--link", type=Path, help="also make this symlink to the pty (a stable name)")
    p.set_defaults(run=run)


def run(args) -> int:
    board = emulator.EmulatedBoard(args.board, args.link)
    port = str(args.link or board.pty)
    print(f"{args.board}: {emulator.BOARDS[args.board]}")
    print(f"firmware {board.elf} running in QEMU ({emulator.MACHINE}); serial port {port}")
    print(f"try: stridesync devices {port}")
    print(f"     stridesync serve --device {port}   (Ctrl-C here stops the board)")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set() and board.proc.poll() is None:
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        board.close()
    return 0
