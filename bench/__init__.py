"""Benchmarks: `python -m bench NAME` from a source checkout (`make bench`: all of them).

Each module has NAME, run(quick) -> dict of figures, and report(dict) -> text.
Figures are ratios and distributions, never pass/fail timings.
"""
