"""`python -m bench.profiled ARGS...`: `stridesync ARGS...` under cProfile, its
statistics written to $BENCH_PROFILE when it stops (SIGTERM included: uvicorn
raises the signal again once it has shut down, and the handler set here turns
it into a normal exit). For `BENCH_PROFILE=out.prof python -m bench service`."""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys


def _exit(*_: object) -> None:
    raise SystemExit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit)
    profile = cProfile.Profile()
    sys.argv = ["service.cli", *sys.argv[1:]]
    profile.enable()
    try:
        runpy.run_module("service.cli", run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        profile.disable()
        profile.dump_stats(os.environ["BENCH_PROFILE"])


if __name__ == "__main__":
    main()
