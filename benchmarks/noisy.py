"""Noisy data: Bayesian regularisation, early stopping and the defaults.

Measurements that print Markdown tables (docs/benchmarks/design/, the notes on
the Bayesian defaults, their start and tiny data):

``cv``
    Real, noisy data sets that load offline, 5-fold cross-validation
    (``KFold(5, shuffle=True, random_state=0)``), test R^2 mean and spread
    over the folds, every model behind ``make_pipeline(StandardScaler(), .)``:
    scikit-learn's diabetes (442 x 10, bundled), Auto MPG (392 x 8, from the
    ``vega_datasets`` package) and the Palmer penguins' body mass (333 x 6,
    from ``palmerpenguins``), loaded by ``benchmarks/datasets.py``.
    ``python -m benchmarks.realdata`` compares the defaults with other
    regressors on every offline data set.
``surrogate``
    The tutorial's surrogate ``(2.5 - x)^2 + 2.5 (y - x^2)^2`` on ``U(-2, 2)^2``
    with Gaussian noise of sd 10% of the target's, an over-sized 2-30-1
    network, 10 seeds: held-out MSE against the noise-free function for
    ``alpha='bayes'``, the best of 7 fixed alphas by ``GridSearchCV`` and
    early stopping with a 15% validation split.
``calibration``
    Fractions of held-out noisy targets within +-1 and +-2 predicted
    standard deviations (``predict(X, return_std=True)``).

Run with one BLAS thread (``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``)::

    python -m benchmarks.noisy cv
    python -m benchmarks.noisy surrogate
    python -m benchmarks.noisy calibration
    python -m benchmarks.noisy noise-free --seeds 3

``noise-free``
    The estimator's defaults (and the candidate defaults) on the noise-free
    benchmark problems seed-2d and seed-6d (``benchmarks/problems.py``), 30 s
    each: the validation relative MSE they reach.
``starts``
    The first penalty of a Bayesian fit (``sklm._bayes.INITIAL_PENALTY``)
    compared on noisy data, every other setting the estimator's default: the
    ``cv`` data sets under 5-fold CV repeated over ``--seeds`` shuffles (the
    estimator's ``random_state`` the shuffle's), as paired differences against
    the first start, and the surrogate's held-out MSE (``--sizes``, 10 seeds).
    A start written ``P:RULE`` also sets ``mu_update=RULE``::

        python -m benchmarks.noisy starts --starts 0.01,0.001,0.001:more --seeds 5

``tiny``
    A handful of rows (``--sizes``, e.g. 5,10,15,20,30,50) of the smooth
    function ``x0 x1 + sin(x0)`` on ``U(-2, 2)^2``, noise-free and with noise
    of sd 30% of the function's: Bayesian regularisation against no penalty
    (``early_stopping=False`` for both, as on fewer than 100 rows by
    default), networks 2-2-1 to 2-30-1, 8 starts each; test R^2 against the
    noise-free function (median, min) and the fits that pruned every
    parameter (``effective_params_ < 1``)::

        python -m benchmarks.noisy tiny --sizes 5,10,15,20,30,50
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.datasets import auto_mpg, diabetes, penguins
from sklm import LMRegressor

# the real data sets of the cv and starts tables (loaders in benchmarks/datasets.py)
DATASETS = {"diabetes": diabetes, "auto-mpg": auto_mpg, "penguins": penguins}


def models(seed=0):
    def lm(**kw):
        return make_pipeline(StandardScaler(), LMRegressor(random_state=seed, **kw))

    return {
        "RidgeCV": make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))),
        # its default 200 Adam epochs stop far from a minimum on raw targets
        "MLPRegressor()": make_pipeline(StandardScaler(), MLPRegressor(random_state=seed)),
        "MLPRegressor(max_iter=2000)": make_pipeline(
            StandardScaler(), MLPRegressor(max_iter=2000, random_state=seed)),
        "LMRegressor(alpha=0) (the unpenalised fit)": lm(alpha=0.0, early_stopping=False),
        "LMRegressor(alpha=0, early_stopping=True)": lm(alpha=0.0, early_stopping=True),
        "LMRegressor(alpha='bayes', early_stopping=False)": lm(alpha="bayes",
                                                              early_stopping=False),
        "LMRegressor(alpha='bayes', early_stopping=True)": lm(alpha="bayes",
                                                             early_stopping=True),
        "LMRegressor() (defaults: alpha='auto', early_stopping='auto')": lm(),
    }


def run_cv(names=None):
    cv = KFold(5, shuffle=True, random_state=0)
    rows = []
    data = {name: DATASETS[name]() for name in (names or DATASETS)}
    print("| model | " + " | ".join(f"{n} ({d[0].shape[0]} x {d[0].shape[1]})"
                                   for n, d in data.items()) + " |")
    print("|---|" + "---|" * len(data))
    for model_name, model in models().items():
        cells = []
        for X, y in data.values():
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = cross_validate(model, X, y, cv=cv, scoring="r2",
                                     return_train_score=True)
            test, train = res["test_score"], res["train_score"]
            cells.append(f"{test.mean():.3f} ± {test.std():.3f} (train {train.mean():.2f}; "
                         f"{time.perf_counter() - t:.1f} s)")
        rows.append(f"| {model_name} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)


# ------------------------------------------------------------ the surrogate
def surrogate(X):
    return (2.5 - X[:, 0]) ** 2 + 2.5 * (X[:, 1] - X[:, 0] ** 2) ** 2


NOISE_SD = 0.1 * surrogate(np.random.default_rng(123).uniform(-2, 2, size=(10**6, 2))).std()
ALPHAS = np.logspace(-4, 2, 7)  # the fixed alphas of the grid search


def surrogate_data(seed, n, n_test=5000):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    y = surrogate(X) + rng.normal(scale=NOISE_SD, size=n)
    X_test = rng.uniform(-2, 2, size=(n_test, 2))
    return X, y, X_test, surrogate(X_test)


def run_surrogate(sizes=(100, 300, 1000), seeds=range(10), hidden=(30,), max_iter=300):
    print(f"noise sd {NOISE_SD:.4g} (variance {NOISE_SD**2:.4g}); network 2-{hidden[0]}-1; "
          f"MSE against the noise-free function, in units of the noise variance")
    print("| n | alpha='bayes' | best fixed alpha (GridSearchCV, 7 values) | early stopping "
          "(15%) | no penalty | defaults | bayes / grid | bayes / early | "
          "effective_params_ |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        res = {k: [] for k in ("bayes", "grid", "early", "none", "defaults", "gamma",
                               "best_alpha")}
        for seed in seeds:
            X, y, X_test, f_test = surrogate_data(seed, n)
            base = dict(hidden_layer_sizes=hidden, max_iter=max_iter, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bayes = LMRegressor(alpha="bayes", early_stopping=False, **base).fit(X, y)
                grid = GridSearchCV(LMRegressor(early_stopping=False, **base),
                                    {"alpha": ALPHAS},
                                    cv=KFold(5, shuffle=True, random_state=seed),
                                    scoring="neg_mean_squared_error").fit(X, y)
                early = LMRegressor(alpha=0.0, early_stopping=True, validation_fraction=0.15,
                                    **base).fit(X, y)
                none = LMRegressor(alpha=0.0, early_stopping=False, **base).fit(X, y)
                defaults = LMRegressor(**base).fit(X, y)
            for key, model in (("bayes", bayes), ("grid", grid), ("early", early),
                               ("none", none), ("defaults", defaults)):
                res[key].append(np.mean((model.predict(X_test) - f_test) ** 2) / NOISE_SD**2)
            res["gamma"].append(bayes.effective_params_)
            res["best_alpha"].append(grid.best_params_["alpha"])
        m = {k: np.array(v) for k, v in res.items()}

        def cell(v):
            return f"{np.mean(v):.3f} (median {np.median(v):.3f}, max {np.max(v):.3f})"

        print(f"| {n} | {cell(m['bayes'])} | {cell(m['grid'])} | {cell(m['early'])} | "
              f"{cell(m['none'])} | {cell(m['defaults'])} | "
              f"{np.mean(m['bayes']) / np.mean(m['grid']):.2f} | "
              f"{np.mean(m['bayes']) / np.mean(m['early']):.2f} | "
              f"{np.mean(m['gamma']):.1f} ({np.min(m['gamma']):.1f}-{np.max(m['gamma']):.1f}) |",
              flush=True)
        print(f"<!-- n={n} grid best alphas: {sorted(m['best_alpha'].tolist())} -->")


def run_calibration(sizes=(100, 300, 1000), seeds=range(10), hidden=(10,), max_iter=300):
    print("| n | network | alpha | within ±1 sd (0.683) | within ±2 sd (0.954) |")
    print("|---|---|---|---|---|")
    for n in sizes:
        for alpha in ("bayes", 0.0):
            c1, c2 = [], []
            for seed in seeds:
                X, y, X_test, f_test = surrogate_data(seed, n)
                y_test = f_test + np.random.default_rng(seed + 1000).normal(
                    scale=NOISE_SD, size=f_test.size)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = LMRegressor(hidden, alpha=alpha, early_stopping=False,
                                        max_iter=max_iter, random_state=seed).fit(X, y)
                    pred, std = model.predict(X_test, return_std=True)
                z = np.abs(y_test - pred) / std
                c1.append(np.mean(z < 1))
                c2.append(np.mean(z < 2))
            print(f"| {n} | 2-{hidden[0]}-1 | {alpha!r} | {np.mean(c1):.3f} "
                  f"({np.min(c1):.3f}-{np.max(c1):.3f}) | {np.mean(c2):.3f} "
                  f"({np.min(c2):.3f}-{np.max(c2):.3f}) |", flush=True)


# ---------------------------------------------------------- noise-free seeds
CANDIDATES = {
    "alpha=0": dict(alpha=0.0, early_stopping=False),
    "alpha='bayes'": dict(alpha="bayes", early_stopping=False),
    "alpha='bayes', early_stopping=True": dict(alpha="bayes", early_stopping=True),
    "alpha=0, early_stopping=True": dict(alpha=0.0, early_stopping=True),
    "defaults": dict(),
}


def run_noise_free(problems=("seed-2d", "seed-6d"), seeds=range(3), budget=30.0,
                   candidates=None, iterations=None):
    """The estimator's defaults (and candidates) on the noise-free benchmark problems.

    ``LMRegressor(hidden_layer_sizes=<the problem's>, max_time=budget,
    max_iter=10**6, random_state=seed, **candidate)``, every other parameter
    at its default (``tol`` included): validation relative MSE at the end.
    With ``iterations``, ``max_iter=iterations`` and no time budget instead:
    a comparison that the machine's load does not change.
    """
    from benchmarks.problems import make_problem  # noqa: PLC0415

    limit = f"{iterations} iterations" if iterations else f"budget {budget:g} s"
    print(f"| problem | candidate | val. rel. MSE per seed ({limit}) | "
          "seconds | iterations | stopped by |")
    print("|---|---|---|---|---|---|")
    for name in problems:
        p = make_problem(name)
        for label in candidates or CANDIDATES:
            errs, secs, iters, why = [], [], [], set()
            for seed in seeds:
                model = LMRegressor(p.hidden, max_time=None if iterations else budget,
                                    max_iter=iterations or 10**6, random_state=seed,
                                    **CANDIDATES[label])
                t = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(p.X, p.y)
                secs.append(time.perf_counter() - t)
                errs.append(np.mean((model.predict(p.X_val) - p.y_val) ** 2) / np.var(p.y_val))
                iters.append(model.n_iter_)
                why.add(model.stop_reason_.split(":")[0].split("(")[0].strip()[:40])
            print(f"| {name} | {label} | {', '.join(f'{e:.1e}' for e in errs)} | "
                  f"{', '.join(f'{t:.0f}' for t in secs)} | {', '.join(map(str, iters))} | "
                  f"{'; '.join(sorted(why))} |", flush=True)


# ------------------------------------------------- the Bayesian start penalty
def run_starts(starts, repeats=range(5), sizes=(100, 300, 1000), seeds=range(10)):
    """Repeated CV and the surrogate for each ``(label, INITIAL_PENALTY, params)`` in ``starts``.

    ``params`` are further estimator parameters of that candidate.
    """
    from sklm import _bayes  # noqa: PLC0415

    saved = _bayes.INITIAL_PENALTY

    def scores(start, fit_score, seeds, params):
        _bayes.INITIAL_PENALTY = start
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return np.array([fit_score(seed, params) for seed in seeds])
        finally:
            _bayes.INITIAL_PENALTY = saved

    print(f"5-fold CV test R^2, {len(repeats)} shuffles (KFold and LMRegressor random_state "
          f"0-{len(repeats) - 1}); difference against the start {starts[0][0]}: mean ± "
          "standard error over the shuffles' folds")
    print("| data set | RidgeCV | " + " | ".join(f"start {s[0]}" for s in starts) + " |")
    print("|---|---|" + "---|" * len(starts))
    for name, load in DATASETS.items():
        X, y = load()
        ridge = np.mean([cross_validate(models()["RidgeCV"], X, y, scoring="r2",
                                        cv=KFold(5, shuffle=True, random_state=r))["test_score"]
                         for r in repeats])

        def cv_scores(r, params, X=X, y=y):
            model = make_pipeline(StandardScaler(), LMRegressor(random_state=r, **params))
            return cross_validate(model, X, y, cv=KFold(5, shuffle=True, random_state=r),
                                  scoring="r2")["test_score"]

        table = [scores(p, cv_scores, repeats, params) for _, p, params in starts]
        cells = [f"{ridge:.4f}", f"{table[0].mean():.4f}"]
        for t in table[1:]:
            d = (t - table[0]).ravel()
            se = d.std(ddof=1) / np.sqrt(d.size)
            cells.append(f"{t.mean():.4f} ({d.mean():+.4f} ± {se:.4f})")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)

    print("\nThe surrogate (2-30-1, max_iter=300, defaults): held-out MSE against the "
          "noise-free function in noise variances, mean (median, max) over 10 seeds")
    print("| n | " + " | ".join(f"start {s[0]}" for s in starts) + " |")
    print("|---|" + "---|" * len(starts))
    for n in sizes:
        def surrogate_error(seed, params, n=n):
            X, y, X_test, f_test = surrogate_data(seed, n)
            model = LMRegressor((30,), max_iter=300, random_state=seed, **params).fit(X, y)
            return np.mean((model.predict(X_test) - f_test) ** 2) / NOISE_SD**2

        cells = []
        for _, p, params in starts:
            e = scores(p, surrogate_error, seeds, params)
            cells.append(f"{e.mean():.3f} ({np.median(e):.3f}, {e.max():.3f})")
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


# ---------------------------------------------------------------- tiny data
def run_tiny(sizes=(5, 10, 15, 20, 30, 50), widths=(2, 4, 10, 30), starts=range(8)):
    """Bayesian regularisation against no penalty on a handful of rows."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(400, 2))
    f = X[:, 0] * X[:, 1] + np.sin(X[:, 0])
    X_test, f_test = X[200:], f[200:]
    candidates = {"alpha='bayes'": dict(alpha="bayes"), "alpha=0": dict(alpha=0.0)}
    print(f"test R^2 against the noise-free function, median (min) over {len(widths)} "
          f"networks x {len(starts)} starts; pruned: effective_params_ < 1")
    print("| noise | rows | " + " | ".join(candidates) + " | pruned (bayes) |")
    print("|---|---|" + "---|" * len(candidates) + "---|")
    for noise in (0.0, 0.3):
        y = f + noise * f.std() * rng.normal(size=f.size)
        for n in sizes:
            cells, pruned = [], 0
            for params in candidates.values():
                r2 = []
                for width in widths:
                    for seed in starts:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            model = LMRegressor((width,), early_stopping=False,
                                                random_state=seed, **params).fit(X[:n], y[:n])
                        pred = model.predict(X_test)
                        r2.append(1 - np.mean((pred - f_test) ** 2) / f_test.var())
                        if params["alpha"] == "bayes":
                            pruned += not model.effective_params_ >= 1.0
                cells.append(f"{np.median(r2):.3f} ({np.min(r2):.3f})")
            print(f"| {noise:g} | {n} | " + " | ".join(cells)
                  + f" | {pruned}/{len(widths) * len(starts)} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["cv", "surrogate", "calibration", "noise-free",
                                         "starts", "tiny"])
    parser.add_argument("--starts", default="0.01,0.001",
                        help="starts: comma-separated INITIAL_PENALTY values (P, or P:RULE "
                             "with mu_update=RULE), the first the reference")
    parser.add_argument("--problems", default="seed-2d,seed-6d")
    parser.add_argument("--candidates", default=None,
                        help="';'-separated subset of: " + "; ".join(CANDIDATES))
    parser.add_argument("--budget", type=float, default=30.0)
    parser.add_argument("--iterations", type=int, default=None,
                        help="noise-free: max_iter instead of a time budget")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated subset of " + ",".join(DATASETS))
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    if args.what == "cv":
        run_cv(args.datasets.split(",") if args.datasets else None)
    elif args.what == "noise-free":
        run_noise_free(args.problems.split(","), range(args.seeds), args.budget,
                       args.candidates.split(";") if args.candidates else None,
                       args.iterations)
    elif args.what == "tiny":
        run_tiny(tuple(int(v) for v in args.sizes.split(",")))
    elif args.what == "starts":
        starts = []
        for item in args.starts.split(","):
            p, _, rule = item.partition(":")
            starts.append((item, float(p), {"mu_update": rule} if rule else {}))
        run_starts(starts, range(args.seeds), sizes)
    elif args.what == "surrogate":
        run_surrogate(sizes, range(args.seeds), (args.hidden or 30,))
    else:
        run_calibration(sizes, range(args.seeds), (args.hidden or 10,))


if __name__ == "__main__":
    main()
