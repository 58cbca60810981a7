"""sklm's benchmark suite: ``python -m benchmarks.run --quick`` or ``--full``.

See docs/benchmarks/ for the problems, contenders, figures and results.
"""
