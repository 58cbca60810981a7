"""LM on a Dask cluster against the in-memory fit, and n_init starts through joblib.

Usage::

    python -m benchmarks.dask [--rows 1000000] [--block 100000] [--workers 2]
                              [--iterations 5] [--starts 4]

The data (``--rows`` x 8, the 'wide' function) are generated block by block
from per-block seeds, on the workers for the Dask fit and in this process for
the in-memory one, so both fit the same numbers and the Dask fit's data never
pass through the client. Reports, for an 8-10-1 network (101 parameters) and
``--iterations`` LM iterations (Nielsen's rule, geodesic acceleration):

- seconds per iteration (mean over the iterations after the first) and the
  set-up time (validation, normalisation statistics, building the blocks'
  problems on the workers);
- bytes moved per iteration: between the client and the workers (the fit's
  own count of parameter vectors sent and sums received, ``dask_stats_``) and
  between workers (what the workers' ``transfer_incoming_log`` records);
- the difference of the results: the largest relative difference of the
  loss curves and of the predictions, in-memory against Dask;
- ``n_init=--starts`` random starts on the in-memory data: one after another
  (joblib's default backend) against joblib's 'dask' backend on the cluster,
  and with the data as a Dask array (the starts as threads sharing the
  cluster).

A LocalCluster on one machine shares its cores with the in-memory fit's BLAS:
it shows what moves and what the scheduling costs, not a speed-up; on a real
cluster each worker brings its own cores and memory (docs/user_guide/dask.rst).
"""

import argparse
import logging
import time
import warnings

import numpy as np

from .problems import wide_function

N_FEATURES = 8


def block_data(seed, index, rows):
    """Block ``index`` of the benchmark data: ``(X, y)`` from its own seed."""
    rng = np.random.default_rng([seed, index])
    X = rng.uniform(-1, 1, size=(rows, N_FEATURES))
    return X, wide_function(X)


def _block_X(seed, index, rows):
    return block_data(seed, index, rows)[0]


def _block_y(seed, index, rows):
    return block_data(seed, index, rows)[1]


def dask_data(seed, sizes):
    """The benchmark data as Dask arrays whose blocks are generated on the workers."""
    import dask  # noqa: PLC0415
    import dask.array as da  # noqa: PLC0415

    X = da.concatenate([
        da.from_delayed(dask.delayed(_block_X)(seed, i, r), (r, N_FEATURES), np.float64)
        for i, r in enumerate(sizes)])
    y = da.concatenate([
        da.from_delayed(dask.delayed(_block_y)(seed, i, r), (r,), np.float64)
        for i, r in enumerate(sizes)])
    return X, y


def _received_from_peers(dask_worker):
    return sum(entry["total"] for entry in dask_worker.transfer_incoming_log)


def worker_bytes(client):
    """Bytes the workers have fetched from each other so far (not from or for the client)."""
    return sum(client.run(_received_from_peers).values())


def model(iterations, block, **kw):
    from sklm import LMRegressor  # noqa: PLC0415

    # every step on all the rows, no penalty, no split: what one iteration of
    # each costs (benchmarks.dask_plan measures the defaults' plan)
    options = dict(hidden_layer_sizes=(10,), max_iter=iterations, tol=0.0, chunk_size=block,
                   random_state=0, backend="numpy", alpha=0.0, early_stopping=False,
                   growing_sample=False)
    return LMRegressor(**{**options, **kw})


def timed_fit(estimator, X, y):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
    total = time.perf_counter() - t
    curve = estimator.time_curve_
    per_iteration = (curve[-1] - curve[0]) / (len(curve) - 1)
    # set-up: all but the iterations (the solver's first evaluation counts as set-up)
    setup = total - curve[-1] + curve[0] - per_iteration
    return total, per_iteration, setup


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--block", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--starts", type=int, default=4)
    parser.add_argument("--start-iterations", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="hold the in-memory fits' BLAS pools to this many threads "
                             "(the workers run one thread each, as a LocalCluster sets)")
    args = parser.parse_args(argv)

    import joblib  # noqa: PLC0415
    from distributed import Client, LocalCluster  # noqa: PLC0415

    sizes = [min(args.block, args.rows - i) for i in range(0, args.rows, args.block)]
    parts = [block_data(args.seed, i, r) for i, r in enumerate(sizes)]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    del parts
    n_params = N_FEATURES * 10 + 10 + 10 + 1
    print(f"{args.rows:,} x {N_FEATURES} rows in {len(sizes)} blocks of {args.block:,}; "
          f"8-10-1 tanh, {n_params} parameters; {args.iterations} LM iterations; "
          f"data {(X.nbytes + y.nbytes) / 2**20:,.0f} MiB\n", flush=True)

    # The in-memory fits run before the cluster starts, on their own.
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    with threadpool_limits(limits=args.blas_threads):
        memory = model(args.iterations, args.block)
        mem_total, mem_it, mem_setup = timed_fit(memory, X, y)
        seq = model(args.start_iterations, args.block, n_init=args.starts)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seq.fit(X, y)
        seq_seconds = time.perf_counter() - t
    threads = "default" if args.blas_threads is None else args.blas_threads

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        Xd, yd = dask_data(args.seed, sizes)
        remote = model(args.iterations, args.block)
        # Workers' traffic from the first evaluation on (after the set-up,
        # whose preparation may bring a block's X and y together).
        from sklm._dask import DaskProblem  # noqa: PLC0415

        marks = []
        original = DaskProblem.normal_equations

        def marked(problem, x):
            if not marks:
                marks.append(worker_bytes(client))
            return original(problem, x)

        DaskProblem.normal_equations = marked
        try:
            dask_total, dask_it, dask_setup = timed_fit(remote, Xd, yd)
        finally:
            DaskProblem.normal_equations = original
        between_workers = worker_bytes(client) - marks[0]
        stats = remote.dask_stats_
        evaluations = remote.n_iter_ + 1  # the start's evaluation and each iteration's
        loss_diff = float(np.max(np.abs(np.subtract(remote.loss_curve_, memory.loss_curve_))
                                 / np.asarray(memory.loss_curve_)))
        pred_memory = memory.predict(X[:100_000])
        pred_diff = float(np.max(np.abs(remote.predict(X[:100_000]) - pred_memory))
                          / np.max(np.abs(pred_memory)))

        print("| fit | s per LM iteration | set-up (s) | total (s) | client <-> workers "
              "per iteration | between workers per iteration | tasks per iteration |")
        print("|---|---|---|---|---|---|---|")
        print(f"| in memory (NumPy, {len(sizes)} chunks, BLAS threads: {threads}) | "
              f"{mem_it:.2f} | {mem_setup:.2f} | "
              f"{mem_total:.1f} | - | - | - |")
        print(f"| Dask, LocalCluster of {args.workers} | {dask_it:.2f} | {dask_setup:.2f} | "
              f"{dask_total:.1f} | "
              f"{stats['bytes_sent'] / evaluations / 1024:,.0f} KiB out, "
              f"{stats['bytes_received'] / evaluations / 1024:,.0f} KiB back | "
              f"{between_workers / evaluations / 1024:,.0f} KiB | "
              f"{stats['tasks'] / evaluations:.0f} |")
        print(f"\nResult difference, Dask against in memory: loss curves {loss_diff:.1e} "
              f"(largest relative), predictions {pred_diff:.1e} (relative to max |f|).\n",
              flush=True)

        # n_init: the starts one after another, then on the cluster
        rows = [("one after another, in memory (joblib default)", seq_seconds, seq, "-")]
        on_cluster = model(args.start_iterations, args.block, n_init=args.starts)
        before = worker_bytes(client)
        t = time.perf_counter()
        with warnings.catch_warnings(), joblib.parallel_backend("dask"):
            warnings.simplefilter("ignore")
            on_cluster.fit(X, y)
        rows.append(("joblib.parallel_backend('dask'), NumPy data",
                     time.perf_counter() - t, on_cluster,
                     f"{(worker_bytes(client) - before) / 2**20:,.0f} MiB"))
        threads = model(args.start_iterations, args.block, n_init=args.starts)
        before = worker_bytes(client)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            threads.fit(Xd, yd)
        rows.append(("Dask arrays (starts share the cluster)", time.perf_counter() - t,
                     threads, f"{(worker_bytes(client) - before) / 2**20:,.0f} MiB"))
    print(f"n_init={args.starts}, {args.start_iterations} LM iterations each:\n")
    print("| starts | total (s) | kept start | its loss | largest relative difference of "
          "the starts' losses from the in-memory ones | between workers |")
    print("|---|---|---|---|---|---|")
    for name, seconds, fitted, moved in rows:
        diff = float(np.max(np.abs(np.subtract(fitted.init_losses_, seq.init_losses_))
                            / np.asarray(seq.init_losses_)))
        print(f"| {name} | {seconds:.1f} | {fitted.best_init_} | {fitted.loss_:.6g} | "
              f"{diff:.1e} | {moved} |", flush=True)


if __name__ == "__main__":
    main()
