"""Benchmarks of the sync and the sandbox (DESIGN §5 budgets): ``python -m bench`` or ``make bench``.

Figures are printed and saved, never asserted as timings in tests; see ``bench/README.md``.
"""
