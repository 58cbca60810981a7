"""Iterations, not seconds: LMRegressor variants compared by counts.

On a shared machine seconds are noisy; the number of iterations (Jacobians)
to a validation relative MSE, and the validation error after a fixed number
of iterations, are not. Each variant is the estimator with its defaults plus
the given parameters, traced as ``benchmarks.contenders.sklm_estimator``
traces it. Per-iteration time is the median of the iterations' wall times
(validation measurement excluded), reported with the load.

    python -m benchmarks.counts --problem seed-6d --seeds 0 1 2 --iterations 300 \\
        --variant default: --variant more:mu_update=more

For fits of a few milliseconds (seed-2d), ``--repeat K`` runs every seed K
times with the variants' order reversed on every other round, after one
discarded warm-up fit, and ends with each variant's medians over all its runs.
"""

import argparse
import math
import statistics
import time

import numpy as np

from benchmarks.contenders import Recorder, sklm_estimator
from benchmarks.problems import make_problem

LEVELS = (1e-3, 1e-4, 1e-6, 1e-8)


def parse_variant(text):
    name, _, rest = text.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        if value in ("True", "False"):
            value = value == "True"
        params[key] = value
    return name, params


def run(problem, seeds, iterations, variants, budget):
    bp = make_problem(problem)
    rows = []
    for seed in seeds:
        for name, params in variants:
            # keys "tr.NAME" set the trust region's module constants (experiments),
            # "bayes.NAME", "driver.NAME" and "plan.NAME" those of sklm._bayes,
            # sklm._driver and sklm._plan
            from sklm import _bayes, _driver, _plan  # noqa: PLC0415
            from sklm.solvers import _trust_region  # noqa: PLC0415

            modules = {"tr": _trust_region, "bayes": _bayes, "driver": _driver,
                       "plan": _plan}
            consts = {tuple(k.split(".", 1)): v for k, v in params.items() if "." in k}
            saved = {key: getattr(modules[key[0]], key[1]) for key in consts}
            for (mod, const), v in consts.items():
                setattr(modules[mod], const, v)
            params = {k: v for k, v in params.items() if "." not in k}
            runner = sklm_estimator(max_iter=iterations, **params)
            with open("/proc/loadavg") as f:
                load = " ".join(f.read().split()[:3])
            t0 = time.perf_counter()
            rec = runner(bp, seed, budget)
            wall = time.perf_counter() - t0
            for (mod, const), v in saved.items():
                setattr(modules[mod], const, v)
            assert isinstance(rec, Recorder)
            trace = rec.trace
            times = [b[0] - a[0] for a, b in zip(trace, trace[1:])]
            row = {"variant": name, "seed": seed, "n_iter": trace[-1][2],
                   "final": trace[-1][1], "ms_per_it": 1e3 * statistics.median(times),
                   "seconds": trace[-1][0], "load": load, "wall": wall}
            for level in LEVELS:
                hit = next((p for p in trace if p[1] <= level), None)
                row[f"it_{level:g}"] = hit[2] if hit else None
                row[f"t_{level:g}"] = hit[0] if hit else None
            rows.append(row)
            hits = []
            for level in LEVELS:
                it, t = row[f"it_{level:g}"], row[f"t_{level:g}"]
                hits.append(f"{level:g} at it {it} ({'-' if t is None else round(t, 2)} s)")
            print(f"{name:<16} seed {seed}: {row['n_iter']:4d} it, val {row['final']:.2e}, "
                  + ", ".join(hits)
                  + f"; {row['ms_per_it']:.1f} ms/it median; load {load}", flush=True)
    return rows


def summary(rows, variants):
    """Each variant's median time (ms) and iterations to each level, over its runs."""
    for name, _ in variants:
        mine = [r for r in rows if r["variant"] == name]
        cells = []
        for level in LEVELS:
            times = [math.inf if r[f"t_{level:g}"] is None else r[f"t_{level:g}"] for r in mine]
            its = [math.inf if r[f"it_{level:g}"] is None else r[f"it_{level:g}"] for r in mine]
            cells.append(f"{level:g} at {1e3 * statistics.median(times):.1f} ms "
                         f"({statistics.median(its):g} it)")
        print(f"{name:<16} median of {len(mine)} runs: " + ", ".join(cells), flush=True)


def repeated(problem, seeds, iterations, variants, budget, repeat):
    """``run`` ``repeat`` times, the variants' order reversed every other round."""
    run(problem, seeds[:1], iterations, variants[:1], min(budget, 1.0))  # warm-up
    rows = []
    for k in range(repeat):
        rows += run(problem, seeds, iterations, variants if k % 2 == 0 else variants[::-1],
                    budget)
    summary(rows, variants)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="seed-6d")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--budget", type=float, default=600.0)
    ap.add_argument("--variant", action="append", required=True,
                    help="name:key=value,key=value (estimator parameters)")
    ap.add_argument("--blas-threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None,
                    help="rounds over the seeds, after a warm-up fit, with medians at the end")
    args = ap.parse_args(argv)
    variants = [parse_variant(v) for v in args.variant]

    def measure():
        if args.repeat:
            return repeated(args.problem, args.seeds, args.iterations, variants, args.budget,
                            args.repeat)
        return run(args.problem, args.seeds, args.iterations, variants, args.budget)

    if args.blas_threads:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415

        with threadpool_limits(args.blas_threads):
            return measure()
    return measure()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
