"""Break one LM iteration on a benchmark problem into its parts.

Times are minima over repeats (the floor's too): on a shared machine the
minimum is the figure least disturbed by other processes.

``python -m benchmarks.profile_lm [seed-6d|wide] [chunk]``: prints the floor
(``J^T J`` by syrk + Cholesky, for the problem's Jacobian shape), then the
median time of each part of sklm's iteration, and the time per iteration of a
short LM run, as ratios of the floor.
"""

import math
import sys
import time

import numpy as np

from benchmarks.floor import measure_floor
from benchmarks.problems import make_problem
from sklm._backend import NumpyBackend
from sklm._mlp import MLP
from sklm._problem import MLPProblem
from sklm.solvers import SOLVERS


def timeit(f, repeat=7):
    """Minimum over ``repeat`` calls: the machine is shared, the minimum is
    the figure least disturbed by other processes."""
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.min(ts))


def main(name="seed-6d", chunk=None):
    bp = make_problem(name)
    m = bp.X.shape[0]
    chunk = int(chunk) if chunk else m
    mlp = MLP((bp.X.shape[1], *bp.hidden, 1), "tanh")
    problem = MLPProblem(mlp, bp.X, bp.y[:, None], np.ones(m), 0.0, NumpyBackend(), chunk)
    x = mlp.init_params(np.random.RandomState(0))
    floor = measure_floor(m, mlp.n_params, chunk=chunk, repeat=9, reduce=np.min)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"{name}: m={m} n={mlp.n_params} chunk={chunk}; load {load}")
    print(f"floor: syrk {floor['syrk'] * 1e3:.2f} ms + cholesky {floor['cholesky'] * 1e3:.2f} ms"
          f" = {floor['total'] * 1e3:.2f} ms")
    f = floor["total"]
    rep = 7 if m <= 20_000 else 3
    _, JtJ, Jtr = problem.normal_equations(x)
    A = JtJ + 1e-3 * np.eye(mlp.n_params)
    clear = getattr(problem, "clear_cache", lambda: None)

    def uncached(fn):
        def g():
            clear()
            return fn()
        return g
    parts = {
        "normal_equations": uncached(lambda: problem.normal_equations(x)),
        "loss (forward pass)": uncached(lambda: problem.loss(x)),
        "cholesky_solve": lambda: problem.backend.cholesky_solve(A, Jtr),
    }
    if hasattr(problem, "jvp"):
        r = problem.residual(x)
        parts["residual (cached x)"] = lambda: problem.residual(x)
        parts["jvp (cached x)"] = lambda: problem.jvp(x, Jtr)
        parts["vjp (cached x)"] = lambda: problem.vjp(x, r)
    times = {}
    for label, fn in parts.items():
        t = times[label] = timeit(fn, rep)
        print(f"  {label:<22} {t * 1e3:8.2f} ms  ({t / f:.2f} x floor)")
    one = times["normal_equations"] + times["loss (forward pass)"] + times["cholesky_solve"]
    print(f"  Jacobian pass + one trial (sum of parts): {one * 1e3:.2f} ms ({one / f:.2f} x floor)")
    for rule in ("trainlm", "nielsen"):
        for geo in (False, True):
            opts = dict(max_iter=30 if m <= 20_000 else 4, mu_update=rule, tol=0.0, min_grad=0.0,
                        geodesic=geo, mu_init=1e-3)
            per = math.inf
            for _ in range(3):  # the fastest of three identical runs
                solver = SOLVERS["lm"](**opts)
                t = time.perf_counter()
                res = solver.run(problem, x.copy())
                per = min(per, (time.perf_counter() - t) / max(res.n_iter, 1))
            print(f"  LM {rule}{' +geodesic' if geo else ''}: {res.n_iter} iterations, "
                  f"{per * 1e3:.2f} ms/iteration ({per / f:.2f} x floor), loss {res.loss:.3e}",
                  flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
