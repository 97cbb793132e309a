"""`python -m bench NAME` from a source checkout (`make bench` runs them all).

The benchmarks are not part of the product: the wheel leaves them out."""

from __future__ import annotations

import argparse
import json
import sys

from . import attack, clock, club, cues, dashboard, decode, engine, service, verdict

ALL = (decode, clock, engine, verdict, service, cues, dashboard, attack, club)
RUNS = {m.NAME: (m,) for m in ALL} | {"all": ALL}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description="Stridesync's benchmarks.")
    p.add_argument("name", choices=list(RUNS))
    p.add_argument("--json", action="store_true", help="machine-readable results")
    p.add_argument("--quick", action="store_true", help="shorter runs, for a smoke test")
    p.add_argument("--soak", action="store_true", help="service: a 2-hour session, for its memory")
    p.add_argument(
        "--cpu-quota",
        type=float,
        help="service, engine: held to this share of one core (a cgroup quota: a Pi proxy)",
    )
    p.add_argument("--period-ms", type=float, default=10.0, help="the quota's period (10 ms)")
    p.add_argument("--phase-s", type=float, help="service: each phase this long")
    args = p.parse_args(argv)
    results = {}
    for module in RUNS[args.name]:
        extra = {"soak": True} if args.soak and module is service else {}
        if module in (service, engine) and args.cpu_quota is not None:
            extra |= {"cpu_quota": args.cpu_quota, "period_ms": args.period_ms}
        if module is service and args.phase_s:
            extra["phase_s"] = args.phase_s
        results[module.NAME] = result = module.run(quick=args.quick, **extra)
        if not args.json:
            print(module.report(result), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
