"""Compiled speed-ups of the host, built on the machine that runs them.

`_speedups.c` does two per-frame hot spots of the serial path in C: splitting a read
buffer into frames (COBS, CRC, a SAMPLES frame's header: codec.FrameDecoder) and a
batch's sample times and values (device.DeviceSession._block); and it runs the
engine's thigh and trunk AHRS (x-io's Fusion, vendored in fusion/) a batch a call
(ahrs.py). It is built where it runs, as Klipper builds its chelper on the Pi at first
start: by `deploy/install.sh` on the Pi and by `make` here (`python -m
firmware_bridge.speedups build`), with the C compiler and the Python headers (Debian:
gcc, python3-dev). Where it is missing, out of date or fails its check, the Python
path runs, with the same results to the bit, and `describe()` says why (the service
logs it at start, with ahrs.describe()). `STRIDESYNC_SPEEDUPS=0` forces the Python path.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from ..errors import StridesyncError

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_speedups.c"
# x-io's Fusion AHRS (MIT; fusion/LICENSE.md), vendored from imufusion 1.3.3's source,
# built as imufusion builds it (FUSION_USE_NORMAL_SQRT).
FUSION = HERE / "fusion"
SOURCES = (SOURCE, FUSION / "FusionAhrs.c")
# No fused multiply-add: the same arithmetic, to the bit, as numpy's and Python's.
CFLAGS = ("-O2", "-fPIC", "-shared", "-std=gnu11", "-ffp-contract=off", "-fno-strict-aliasing")
DEFINES = ("-DFUSION_USE_NORMAL_SQRT",)


def _newest_source_mtime() -> float:
    return max(p.stat().st_mtime for p in (SOURCE, *FUSION.glob("*.[ch]")))


class error(StridesyncError):
    """The speed-ups could not be built; the message says why, for the user."""


def target() -> Path:
    return HERE / ("_speedups" + sysconfig.get_config_var("EXT_SUFFIX"))


def build(out: Path | None = None) -> Path:
    """Compile `_speedups.c` into the package (or `out`); raise `error` with the reason."""
    out = out or target()
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise error("no C compiler (Debian: apt-get install gcc)")
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        raise error(f"no Python headers in {include} (Debian: apt-get install python3-dev)")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        built = Path(tmp) / out.name
        cmd = [cc, *CFLAGS, *DEFINES, f"-I{include}", *map(str, SOURCES), "-o", str(built)]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            raise error(f"{' '.join(cmd)} failed:\n{run.stderr.strip()}")
        os.replace(built, out)  # a running service never sees half a file
    return out


def _load():
    """(module or None, why not)."""
    if os.environ.get("STRIDESYNC_SPEEDUPS", "1") == "0":
        return None, "STRIDESYNC_SPEEDUPS=0"
    path = target()
    if not path.exists():
        return None, "not built (python -m firmware_bridge.speedups build)"
    if path.stat().st_mtime < _newest_source_mtime():
        return None, "out of date with its source (python -m firmware_bridge.speedups build)"
    try:
        spec = importlib.util.spec_from_file_location("firmware_bridge.speedups._speedups", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError) as exc:
        return None, f"failed to load: {exc}"
    return module, ""


native, why_not = _load()


def reload() -> None:
    """Load the build afresh (after `build` in this process)."""
    global native, why_not
    native, why_not = _load()


def describe() -> str:
    """One line for the log: which path the serial decoding runs."""
    if native is not None:
        return f"compiled speed-ups ({target().name})"
    return f"pure Python decoding ({why_not})"


def main(argv: list[str]) -> int:
    """`python -m firmware_bridge.speedups build|check`: build, then check against the
    Python path (the installer runs both on the Pi)."""
    if not argv or argv[0] not in ("build", "check"):
        print("usage: python -m firmware_bridge.speedups build|check", file=sys.stderr)
        return 2
    if argv[0] == "build":
        try:
            print(f"built {build()}")
        except error as exc:
            print(f"speedups: {exc}", file=sys.stderr)
            return 1
    from . import ahrs
    from .check import check

    problems = check()
    for line in problems:
        print(f"speedups: {line}", file=sys.stderr)
    if problems and argv[0] == "build":  # a part that is not the Python path's is not run
        target().unlink(missing_ok=True)
        print("speedups: removed the build: the service will run the Python path", file=sys.stderr)
    elif not problems:
        reload()  # (this process imported the package before the build)
        print(f"thigh and trunk filter: {ahrs.describe()}")  # (it checks itself at start)
    return 1 if problems else 0
