"""Starve a process of CPU, as a busy Pi would: a duty cycle of SIGSTOP and SIGCONT.

The process runs `share` of every `period_s` and is stopped for the rest, which is
what a cgroup CPU quota does to it (CFS throttles a group for the rest of its
period once its quota is used), without needing cgroups or root. Only the
process given is starved: the simulated sensors in their own process keep
their real-time rate, as real MCUs would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time


class CpuStarver(threading.Thread):
    def __init__(self, pid: int, share: float = 0.25, period_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        if not 0.0 < share < 1.0:
            raise ValueError("share must be between 0 and 1")
        self.pid, self.share, self.period_s = pid, share, period_s
        self._finished = threading.Event()

    def run(self) -> None:
        run_s = self.share * self.period_s
        try:
            while not self._finished.is_set():
                os.kill(self.pid, signal.SIGSTOP)
                time.sleep(self.period_s - run_s)
                os.kill(self.pid, signal.SIGCONT)
                time.sleep(run_s)
        except ProcessLookupError:
            return
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        self._finished.set()
        self.join()

    def __enter__(self) -> CpuStarver:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
