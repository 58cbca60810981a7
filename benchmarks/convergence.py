"""Does the default stopping rule end noisy fits as converged, and noise-free ones deep?

    python -m benchmarks.convergence noisy [tol ...]      # 5-fold CV on three noisy sets
    python -m benchmarks.convergence seeds [tol ...]      # seed-2d, seed-6d: where tol stops

``noisy``: ``make_pipeline(StandardScaler(), LMRegressor(tol=...))`` with every
other parameter at its default, 5-fold shuffled CV (seed 0) on scikit-learn's
Friedman #1 (500 rows, noise 1), its bundled diabetes set (442 x 10) and the
tutorial's surrogate with Gaussian noise (300 rows, sd 10% of the target's).
Per set and ``tol``: mean iterations, folds that ended in a
``ConvergenceWarning``, mean seconds per fit, train and test R^2.

``seeds``: one LM fit per seed with ``tol=0`` (the iterates do not depend on
``tol``), then the rule applied to its loss curve: the iteration where each
``tol`` would have stopped and the relative training MSE there, against the
end of the run.
"""

import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklm import LMRegressor

from .problems import make_problem, rosenbrock2d

DEFAULT_TOLS = (1e-6, 1e-5, 1e-4)


def noisy_sets():
    X, y = make_friedman1(n_samples=500, noise=1.0, random_state=0)
    yield "friedman1 (500 x 10, noise 1)", X, y
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes (442 x 10)", X, y
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    f = rosenbrock2d(X)
    yield "surrogate + 10% noise (300 x 2)", X, f + 0.1 * f.std() * rng.normal(size=300)


def noisy(tols):
    print("| data | tol | iterations (mean) | folds warned | s per fit | train R^2 | test R^2 |")
    print("|---|---|---|---|---|---|---|")
    for name, X, y in noisy_sets():
        for tol in tols:
            its, warned, secs, train, test = [], 0, [], [], []
            for tr, te in KFold(5, shuffle=True, random_state=0).split(X):
                model = make_pipeline(StandardScaler(), LMRegressor(tol=tol, random_state=0))
                start = time.perf_counter()
                with warnings.catch_warnings(record=True) as record:
                    warnings.simplefilter("always", ConvergenceWarning)
                    model.fit(X[tr], y[tr])
                secs.append(time.perf_counter() - start)
                warned += any(issubclass(w.category, ConvergenceWarning) for w in record)
                its.append(model[-1].n_iter_)
                train.append(model.score(X[tr], y[tr]))
                test.append(model.score(X[te], y[te]))
            print(f"| {name} | {tol:g} | {np.mean(its):.0f} | {warned}/5 | {np.mean(secs):.2f} "
                  f"| {np.mean(train):.3f} | {np.mean(test):.3f} +- {np.std(test):.3f} |",
                  flush=True)


def tol_stop(curve, tol, n_iter_no_change=10):
    """The iteration at which the tol rule stops on ``curve`` (None: never)."""
    best, count = np.inf, 0
    for i, loss in enumerate(curve):
        count = 0 if loss <= best - tol * abs(best) else count + 1
        best = min(best, loss)
        if count >= n_iter_no_change:
            return i + 1
    return None


def seeds(tols, seeds=(0, 1, 2), max_iter={"seed-2d": 3000, "seed-6d": 1500}):
    print("| problem | seed | end of run (rel. MSE at iteration) | "
          + " | ".join(f"tol={t:g} stops at" for t in tols) + " |")
    print("|---|---|---|" + "---|" * len(tols))
    for name, iters in max_iter.items():
        bp = make_problem(name)
        for seed in seeds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                m = LMRegressor(bp.hidden, tol=0.0, max_iter=iters, random_state=seed)
                m.fit(bp.X, bp.y)
            rel = np.asarray(m.loss_curve_) / np.var(bp.y)
            cells = []
            for tol in tols:
                k = tol_stop(rel, tol)
                cells.append("never" if k is None else f"{k} ({rel[k - 1]:.1e})")
            print(f"| {name} | {seed} | {rel[-1]:.1e} at {len(rel)} | " + " | ".join(cells)
                  + " |", flush=True)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "noisy"
    tols = tuple(float(t) for t in sys.argv[2:]) or DEFAULT_TOLS
    {"noisy": noisy, "seeds": seeds}[what](tols)
