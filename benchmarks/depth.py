"""What limits the depth of a fit: the step, its acceleration, or the landscape.

Runs sklm's Levenberg-Marquardt (full data, no penalty, ``mu_update`` as
given) from a benchmark problem's start for a time budget, recording the
geodesic acceleration's ratio ``2 ||a||_D / ||v||_D`` at every trial, then
examines the final point:

- the largest weight and the singular values of ``J`` (built column by
  column from ``problem.jvp``);
- the loss after the damped step ``(J^T J + mu D) s = -J^T r`` from the
  normal equations (Cholesky) and after the same step from a least-squares
  solve of ``[J; sqrt(mu) D^1/2] s = [-r; 0]`` (the QR route, which does not
  square ``J``'s condition number), for ``mu`` from 1e-18 to 1e-8 of the
  largest diagonal entry.

If the two steps lower the loss alike, the precision of the normal equations
is not what limits the fit; if the acceleration ratio is near zero late,
neither is the acceleration.

    python -m benchmarks.depth --problem seed-6d --seed 1 --budget 20 --mu-update more
"""

import argparse
import math

import numpy as np
import scipy.linalg

from benchmarks.contenders import _mlp_and_problem, _start, _theta_error
from benchmarks.problems import make_problem
from sklm.solvers import SOLVERS
from sklm.solvers import lm as lm_module


def record_acceleration_ratios():
    """Wrap the solver's acceleration so that each trial's ratio is recorded."""
    ratios = []
    original = lm_module.LevenbergMarquardt._acceleration

    def recorded(self, problem, x, v, system, D, r0):
        a = original(self, problem, x, v, system, D, r0)
        # recompute the ratio the solver compared (None: it used no acceleration)
        if a is None:
            ratios.append(math.inf)
        else:
            ratios.append(2.0 * math.sqrt(float(np.vdot(a, D * a)) / float(np.vdot(v, D * v))))
        return a

    lm_module.LevenbergMarquardt._acceleration = recorded
    return ratios, lambda: setattr(lm_module.LevenbergMarquardt, "_acceleration", original)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="seed-6d")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget", type=float, default=20.0)
    ap.add_argument("--mu-update", default="more")
    args = ap.parse_args(argv)

    bp = make_problem(args.problem)
    mlp, problem = _mlp_and_problem(bp)
    val_error = _theta_error(mlp, bp)
    ratios, restore = record_acceleration_ratios()
    try:
        solver = SOLVERS["lm"](max_iter=10**9, tol=0.0, min_grad=0.0, max_time=args.budget,
                               mu_update=args.mu_update)
        result = solver.run(problem, _start(mlp, args.seed))
    finally:
        restore()
    x = result.x
    late = np.array(ratios[len(ratios) // 3:])
    print(f"{args.problem} seed {args.seed}, {args.mu_update}, {args.budget:g} s: "
          f"{result.n_iter} iterations, loss {result.loss:.3e}, val rel. MSE {val_error(x):.3e}")
    print(f"acceleration ratio over the last two thirds of the trials: median "
          f"{np.median(late):.3f}, above 0.75 in {np.mean(late > 0.75):.1%}")

    J = np.column_stack([problem.jvp(x, e) for e in np.eye(x.size)])
    r = problem.residual(x)
    sv = np.linalg.svd(J, compute_uv=False)
    print(f"largest |weight| {np.abs(x).max():.3g}; singular values of J from {sv[0]:.3g} "
          f"to {sv[-1]:.3g}, {(sv > 1e-8 * sv[0]).sum()} of {x.size} above 1e-8 of the largest")

    JtJ, Jtr = J.T @ J, J.T @ r
    d = np.diag(JtJ).copy()
    f0 = problem.loss(x)
    print("| mu / max diag | loss ratio, normal equations | loss ratio, least squares | ||s|| |")
    print("|---|---|---|---|")
    for rel in (1e-18, 1e-16, 1e-14, 1e-12, 1e-10, 1e-8):
        mu = rel * d.max()
        try:
            s_ne = scipy.linalg.cho_solve(scipy.linalg.cho_factor(JtJ + mu * np.diag(d)), -Jtr)
            ne = f"{problem.loss(x + s_ne) / f0:.6f}"
        except np.linalg.LinAlgError:
            ne = "not positive definite"
        A = np.vstack([J, np.sqrt(mu) * np.diag(np.sqrt(d))])
        s_ls = np.linalg.lstsq(A, np.concatenate([-r, np.zeros(x.size)]), rcond=None)[0]
        print(f"| {rel:.0e} | {ne} | {problem.loss(x + s_ls) / f0:.6f} | "
              f"{np.linalg.norm(s_ls):.2e} |")


if __name__ == "__main__":
    main()
