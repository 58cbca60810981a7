"""The defaults on a Dask cluster against the same fit in memory, in one run.

Usage::

    python -m benchmarks.dask_plan [--rows 1000000] [--blocks 10] [--workers 2]
                                   [--budget 60] [--wide-budget 60] [--skip-wide]

The data: ``--rows`` x 8 rows of the 'wide' function (standardised), made
block by block from per-block seeds (``benchmarks.dask.block_data``), on the
workers for the Dask fit and in this process for the in-memory one, and
10,000 validation rows of their own. Two comparisons, each with
``LMRegressor``'s defaults plus ``max_time`` and ``tol=0``:

1. 8-32-32-1 (1,377 parameters; the growing sample's plan): in memory (BLAS
   at the machine's default threads) against Dask (a ``LocalCluster`` of
   ``--workers`` single-threaded workers): seconds to validation relative MSE
   1e-3 and 1e-4, and the value at the budget;
2. 8-128-128-1 (17,793 parameters; the matrix-free step) on the Dask data,
   against scikit-learn's ``MLPRegressor`` (Adam, batch 200) in memory, for
   the same budget: the best validation error each reaches.

Times exclude the validation measurements (``benchmarks.contenders.Recorder``).
"""

import argparse
import logging
import os
import time
import warnings

import numpy as np

from .contenders import Recorder, sklearn_mlp, traced_options
from .dask import block_data, dask_data
from .problems import BenchProblem

LEVELS = (1e-3, 1e-4)


def _validation(seed, rows=10_000):
    X, y = block_data(seed + 1, 10**6, rows)
    return X, y


def _error(mlp_sizes, X_val, y_val):
    from sklm._mlp import MLP  # noqa: PLC0415

    mlp = MLP(mlp_sizes, "tanh")
    var = float(y_val.var())

    def err(theta):
        pred = mlp.predict_rows(mlp.unpack(theta), X_val, np, 65536)[:, 0]
        return float(np.mean((pred - y_val) ** 2)) / var

    return mlp, err


def traced_fit(hidden, X, y, X_val, y_val, budget, seed=0):
    """``LMRegressor(hidden)`` with the defaults, fitted for ``budget`` s; its Recorder."""
    from sklm import LMRegressor  # noqa: PLC0415

    mlp, err = _error((8, *hidden, 1), X_val, y_val)
    rec = Recorder(budget, err)
    count = [0]
    model = LMRegressor(hidden, max_time=budget, tol=0.0, random_state=seed)
    rec.begin()
    with traced_options(mlp, rec, count), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    rec.extra = {"n_iter": model.n_iter_, "rows": sorted(set(model.sample_rows_curve_)),
                 "linear_solver": model.linear_solver_, "stop": model.stop_reason_,
                 "seconds": time.perf_counter() - rec.start}
    return rec


def reached(rec, level):
    return next((t for t, e, _ in rec.trace if e <= level), None)


def best(rec):
    return min(e for _, e, _ in rec.trace)


def row(name, rec):
    cells = [f"{reached(rec, lv):.1f} s" if reached(rec, lv) is not None else "not reached"
             for lv in LEVELS]
    return f"| {name} | " + " | ".join(cells) + f" | {rec.trace[-1][1]:.2e} | {best(rec):.2e} |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--wide-budget", type=float, default=60.0)
    parser.add_argument("--skip-wide", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import distributed  # noqa: PLC0415

    sizes = [args.rows // args.blocks] * args.blocks
    sizes[-1] += args.rows - sum(sizes)
    parts = [block_data(args.seed, i, r) for i, r in enumerate(sizes)]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    X_val, y_val = _validation(args.seed)
    # standardised with the training rows' statistics (as the problems' are)
    mean, std, y_mean, y_std = X.mean(0), X.std(0), y.mean(), y.std()
    del parts
    print(f"load before: {os.getloadavg()}, {args.rows} x 8 rows in {args.blocks} blocks, "
          f"{args.workers} single-threaded workers")

    def standardised(Xa, ya):
        return (Xa - mean) / std, (ya - y_mean) / y_std

    Xs, ys = standardised(X, y)
    Xv, yv = standardised(X_val, y_val)
    del X, y
    print("| fit | to 1e-3 | to 1e-4 | at the budget | best |")
    print("|---|---|---|---|---|")
    memory = traced_fit((32, 32), Xs, ys, Xv, yv, args.budget, args.seed)
    print(row("8-32-32-1, in memory", memory), memory.extra)
    cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                       processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    with cluster, distributed.Client(cluster) as client:
        dX, dy = dask_data(args.seed, sizes)
        dX = (dX - mean) / std
        dy = (dy - y_mean) / y_std
        dX, dy = client.persist([dX, dy])
        distributed.wait([dX, dy])
        on_dask = traced_fit((32, 32), dX, dy, Xv, yv, args.budget, args.seed)
        print(row("8-32-32-1, Dask", on_dask), on_dask.extra)
        for level in LEVELS:
            a, b = reached(memory, level), reached(on_dask, level)
            if a is not None and b is not None:
                print(f"  {level:g}: Dask / memory = {b / a:.2f}")
        print(f"  at the budget: Dask / memory = "
              f"{on_dask.trace[-1][1] / memory.trace[-1][1]:.2f}")
        if not args.skip_wide:
            wide = traced_fit((128, 128), dX, dy, Xv, yv, args.wide_budget, args.seed)
            print(row("8-128-128-1, Dask", wide), wide.extra)
    if not args.skip_wide:
        bp = BenchProblem("wide-1e6", Xs, ys, Xv, yv, (128, 128), "wide's function")
        adam = sklearn_mlp("adam")(bp, args.seed, args.wide_budget)
        print(row("8-128-128-1, scikit-learn Adam (batch 200), in memory", adam))
        print(f"  best: Dask LM {best(wide):.2e} against Adam {best(adam):.2e}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
