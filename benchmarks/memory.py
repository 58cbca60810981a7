"""Peak memory of an LM fit with streamed normal equations.

Usage::

    python -m benchmarks.memory [--rows 200000] [--chunks 2000 20000 200000]

Fits ``LMRegressor`` (8-32-32-1 tanh, 1,377 parameters) for two iterations on
``--rows`` rows of the 'wide' function with each ``chunk_size`` and reports the
peak of NumPy's allocations during ``fit`` (``tracemalloc``, which sees every
NumPy buffer), next to the size the whole Jacobian would take. Memory should
follow ``O(chunk * n + n^2)`` plus the data, not ``O(m * n)``.
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np

from sklm import LMRegressor

from .problems import wide_function


def peak_fit_memory(X, y, chunk, iterations=2):
    model = LMRegressor(hidden_layer_sizes=(32, 32), max_iter=iterations, tol=0.0,
                        chunk_size=chunk, random_state=0, backend="numpy")
    tracemalloc.start()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    seconds = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, seconds, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunks", type=int, nargs="+", default=[2_000, 20_000])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(8)
    X = rng.uniform(-1, 1, size=(args.rows, 8))
    y = wide_function(X)
    X, y = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
    n = 8 * 32 + 32 + 32 * 32 + 32 + 32 + 1
    data = X.nbytes + y.nbytes
    print(f"{args.rows:,} rows x {n:,} parameters; the whole Jacobian would take "
          f"{args.rows * n * 8 / 2**20:,.0f} MiB; the data {data / 2**20:,.1f} MiB\n")
    print("| chunk_size | peak during fit | one Jacobian chunk | J^T J | s for 2 iterations |")
    print("|---|---|---|---|---|")
    for chunk in args.chunks:
        peak, seconds, _ = peak_fit_memory(X, y, chunk)
        print(f"| {chunk:,} | {peak / 2**20:,.0f} MiB | {chunk * n * 8 / 2**20:,.1f} MiB | "
              f"{n * n * 8 / 2**20:,.1f} MiB | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
