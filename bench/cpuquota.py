"""A Pi proxy: a process held to a share of one core, as a slower CPU would hold it.

A cgroup CPU quota (CFS bandwidth control) with a short period: the process gets
`share` of every `period_s` of one core and is throttled for the rest, the way the
kernel shares a core between busy groups. The period is short (10 ms) so that the
throttle's own stall does not dominate: with 100 ms a starved process sits still for
75 ms at a time, far longer than any Pi would. cgroup v2 (`cpu.max`) or v1
(`cpu.cfs_quota_us`), whichever this machine mounts, as root; where neither can be
written, the duty-cycle starver of the tests (tests/throttle.py: SIGSTOP and SIGCONT,
a coarser stand-in) is used, and `mode` says which.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

V2 = Path("/sys/fs/cgroup")
V1 = Path("/sys/fs/cgroup/cpu")


class CpuQuota:
    def __init__(
        self, pid: int, share: float, period_s: float = 0.01, starver: bool = True
    ) -> None:
        if not 0.01 <= share <= 1.0:
            raise ValueError("share must be between 0.01 and 1")
        self.pid, self.share, self.period_s = pid, share, period_s
        # The duty-cycle stand-in stops and starts the process from a thread: not for a
        # process holding itself (the stopped thread would never start it again).
        self.starver = starver
        self.mode = "none"
        self._dir: Path | None = None
        self._starver = None

    def __enter__(self) -> CpuQuota:
        period_us = round(self.period_s * 1e6)
        quota_us = round(self.share * period_us)
        name = f"stridesync-bench-{os.getpid()}-{self.pid}"
        try:
            if (V2 / "cgroup.controllers").exists():
                d = V2 / name
                d.mkdir()
                self._dir = d
                (d / "cpu.max").write_text(f"{quota_us} {period_us}\n")
                self.mode = f"cgroup v2 cpu.max {quota_us}/{period_us} us"
            else:
                d = V1 / name
                d.mkdir()
                self._dir = d
                (d / "cpu.cfs_period_us").write_text(f"{period_us}\n")
                (d / "cpu.cfs_quota_us").write_text(f"{quota_us}\n")
                self.mode = f"cgroup v1 cfs quota {quota_us}/{period_us} us"
            (d / "cgroup.procs").write_text(f"{self.pid}\n")
        except OSError as exc:
            self._remove()
            if not self.starver:
                raise RuntimeError(
                    f"no writable cgroup to hold process {self.pid} ({exc.strerror})"
                ) from None
            from tests.throttle import CpuStarver

            self._starver = CpuStarver(self.pid, self.share, max(self.period_s, 0.02))
            self._starver.start()
            self.mode = f"duty cycle SIGSTOP/SIGCONT (no writable cgroup: {exc.strerror})"
        return self

    def stats(self) -> dict:
        """The group's cpu.stat: periods, those throttled, time throttled."""
        if self._dir is None:
            return {}
        out = {}
        with contextlib.suppress(OSError):
            for line in (self._dir / "cpu.stat").read_text().splitlines():
                key, value = line.split()
                out[key] = int(value)
        return out

    def __exit__(self, *exc) -> None:
        if self._starver is not None:
            self._starver.stop()
        if self._dir is not None:
            parent = self._dir.parent
            with contextlib.suppress(OSError):  # back to the root group, if still alive
                (parent / "cgroup.procs").write_text(f"{self.pid}\n")
        self._remove()

    def _remove(self) -> None:
        if self._dir is not None:
            with contextlib.suppress(OSError):
                self._dir.rmdir()
            self._dir = None
