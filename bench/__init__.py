"""Benchmarks: `stridesync bench NAME`, or `python -m bench.NAME` from a checkout.

Each module has NAME, run(quick) -> dict of figures, and report(dict) -> text.
Figures are ratios and distributions, never pass/fail timings.
"""
