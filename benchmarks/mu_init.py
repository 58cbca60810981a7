"""Jacobians to validation relative MSE 1e-4 for LM's initial damping choices.

``python -m benchmarks.mu_init seed-6d 0,1,2 [max_iter]``: Nielsen + geodesic
LM from each seed with ``mu_init=1e-3`` absolute (the default) and relative
(``mu_init='auto'``: ``1e-3 * max(diag(J^T J))``), BLAS held to one
thread. Iteration counts do not depend on the machine's load; times do.
"""

import sys
import time

from threadpoolctl import threadpool_limits

from benchmarks.contenders import _mlp_and_problem, _start, _theta_error
from benchmarks.problems import make_problem
from sklm.solvers import SOLVERS


def main(name="seed-6d", seeds="0,1,2", max_iter="400"):
    bp = make_problem(name)
    with threadpool_limits(1):
        for seed in (int(s) for s in seeds.split(",")):
            for relative in (False, True):
                mlp, problem = _mlp_and_problem(bp, 10_000)
                err = _theta_error(mlp, bp)
                hit = {}

                def callback(info, err=err, hit=hit):
                    if err(info.x) <= 1e-4:
                        hit["it"] = info.iteration
                        return True
                    return False

                solver = SOLVERS["lm"](max_iter=int(max_iter), mu_update="nielsen",
                                       geodesic=True, callback=callback,
                                       mu_init="auto" if relative else 1e-3)
                t = time.perf_counter()
                solver.run(problem, _start(mlp, seed))
                print(f"{name} seed {seed} mu_init {'relative' if relative else 'absolute'}: "
                      f"Jacobians to 1e-4 {hit.get('it', 'not reached')}, "
                      f"{time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
