"""The measurements behind two estimator defaults, on small 2-10-1 surrogates.

``python -m benchmarks.defaults scale``: ``normalize_y`` off and on for
targets of growing scale and shift (2-D Rosenbrock with a = b = 2.5,
standardised on 1,000 points, then multiplied and shifted; 500 training and
500 validation points; 300 iterations; median over seeds 0-2 of the
validation MSE relative to the targets' variance).

``python -m benchmarks.defaults standardised``: the same on already
standardised targets, where ``normalize_y`` should change nothing but the
rounding of a long, chaotic fit: seeds 0-29, paired.

``python -m benchmarks.defaults inputs``: ``normalize_X`` off and on for
inputs of growing scale and shift (the same data, inputs standardised and
then multiplied and shifted; 300 iterations, median over seeds 0-2 of
``1 - R^2`` on the training data).

``python -m benchmarks.defaults figure2``: the tutorial's figure 2 (raw
data, 100 iterations, seeds 0-19), validation MSE (median, lowest, highest)
for sklm's defaults and trainlm's rule, on the raw data
(``normalize_X=normalize_y=False``) and normalised (the defaults).

``python -m benchmarks.defaults mu-init``: ``mu_init=1e-3`` against the
default 'auto' (relative start) on the tutorial's figure-2 data (raw targets,
seeds 0-9): iterations to a training relative MSE of 1e-6, and the
validation MSE after the tutorial's 100 iterations; then iterations to a
training MSE of 1e-6 on the README's example (1,000 points, standardised
inputs and targets) drawn from seeds 0-19.

Iteration counts and errors do not depend on the machine's load; BLAS is held
to one thread so that they do not depend on its thread count either.
"""

import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklm import LMRegressor
from sklm._demo import rosenbrock_data


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LMRegressor(hidden_layer_sizes=(10,), **params).fit(X, y)


def _standardised_rosenbrock():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (1000, 2))
    base = (2.5 - X[:, 0]) ** 2 + 2.5 * (X[:, 1] - X[:, 0] ** 2) ** 2
    base = (base - base.mean()) / base.std()
    return X[:500], X[500:], base[:500], base[500:]


def _relative_val_mse(scale, shift, seed, normalize):
    X_train, X_val, b_train, b_val = _standardised_rosenbrock()
    model = _fit(X_train, scale * b_train + shift, max_iter=300, random_state=seed,
                 normalize_y=normalize)
    err = model.predict(X_val) - (scale * b_val + shift)
    return np.mean(err**2) / scale**2


def target_scale(seeds=(0, 1, 2)):
    print("| scale | shift | normalize_y=False | normalize_y=True |")
    print("|---|---|---|---|")
    for scale, shift in [(1, 0), (100, 0), (1000, 0), (1, 1e4), (1e4, 1e4)]:
        cells = [f"{np.median([_relative_val_mse(scale, shift, s, n) for s in seeds]):.2g}"
                 for n in (False, True)]
        print(f"| {scale:g} | {shift:g} | {cells[0]} | {cells[1]} |", flush=True)


def standardised(seeds=range(30)):
    off = np.array([_relative_val_mse(1, 0, s, False) for s in seeds])
    on = np.array([_relative_val_mse(1, 0, s, True) for s in seeds])
    print(f"standardised targets, seeds {seeds[0]}-{seeds[-1]}: median relative validation "
          f"MSE {np.median(off):.2g} (normalize_y=False) and {np.median(on):.2g} (True); "
          f"True lower in {(on < off).sum()} of {len(on)}; spread "
          f"{min(off.min(), on.min()):.1g} to {max(off.max(), on.max()):.1g}")


def inputs(seeds=(0, 1, 2)):
    X_train, _, b_train, _ = _standardised_rosenbrock()
    print("| input scale | input shift | normalize_X=False | normalize_X=True |")
    print("|---|---|---|---|")
    for scale, shift in [(1, 0), (1e-4, 0), (1e-2, 0), (100, 0), (1, 10), (1, 100)]:
        cells = []
        for normalize in (False, True):
            errors = []
            for seed in seeds:
                X = scale * X_train + shift
                model = _fit(X, b_train, max_iter=300, random_state=seed,
                             normalize_X=normalize)
                errors.append(1.0 - model.score(X, b_train))
            cells.append(f"{np.median(errors):.2g}")
        print(f"| {scale:g} | {shift:g} | {cells[0]} | {cells[1]} |", flush=True)


def figure2(seeds=range(20)):
    rules = {"defaults": {}, "trainlm's rule": dict(mu_update="trainlm", geodesic=False)}
    data = {"raw data": dict(normalize_X=False, normalize_y=False), "normalised": {}}
    for label, rule in rules.items():
        cells = []
        for name, normalise in data.items():
            val = []
            for seed in seeds:
                X, y, X_val, y_val = rosenbrock_data(500, seed)
                model = _fit(X, y, max_iter=100, tol=0.0, random_state=seed,
                             **normalise, **rule)
                val.append(np.mean((model.predict(X_val) - y_val) ** 2))
            cells.append(f"{name} {np.median(val):.2g} ({min(val):.1g} to {max(val):.1g})")
        print(f"figure 2, {label}, validation MSE median (range) over {len(seeds)} seeds: "
              + "; ".join(cells), flush=True)


def mu_init(seeds=range(10)):
    for label, value in (("1e-3", 1e-3), ("'auto'", "auto")):
        iterations, val = [], []
        for seed in seeds:
            X, y, X_val, y_val = rosenbrock_data(500, seed)
            goal = 1e-6 * np.var(y)
            model = _fit(X, y, max_iter=2000, goal=goal, tol=0.0, random_state=seed,
                         mu_init=value)
            iterations.append(model.n_iter_ if model.loss_ <= goal else np.inf)
            model = _fit(X, y, max_iter=100, tol=0.0, random_state=seed, mu_init=value)
            val.append(np.mean((model.predict(X_val) - y_val) ** 2))
        print(f"mu_init={label}: iterations to training rel. MSE 1e-6 {iterations} "
              f"(median {np.median(iterations):g}); validation MSE after 100 iterations, "
              f"median {np.median(val):.2g}", flush=True)
    counts = {}
    for label, value in (("1e-3", 1e-3), ("'auto'", "auto")):
        counts[label] = []
        for seed in range(20):
            rng = np.random.default_rng(seed)
            X = rng.uniform(-2, 2, size=(1000, 2))
            y = (2.5 - X[:, 0]) ** 2 + 2.5 * (X[:, 1] - X[:, 0] ** 2) ** 2
            X, y = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
            model = _fit(X, y, max_iter=2000, goal=1e-6, random_state=seed, mu_init=value)
            counts[label].append(model.n_iter_ if model.loss_ <= 1e-6 else np.inf)
        print(f"README example, seeds 0-19, mu_init={label}: iterations to MSE 1e-6 "
              f"{counts[label]} (median {np.median(counts[label]):g})", flush=True)
    fewer = sum(a < b for a, b in zip(counts["'auto'"], counts["1e-3"]))
    print(f"'auto' took fewer iterations for {fewer} of 20 seeds")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    what = argv[0] if argv else "scale"
    runs = {"scale": target_scale, "standardised": standardised, "inputs": inputs,
            "figure2": figure2, "mu-init": mu_init}
    if what not in runs:
        raise SystemExit(f"usage: python -m benchmarks.defaults {{{','.join(runs)}}}")
    with threadpool_limits(1):
        runs[what]()


if __name__ == "__main__":
    main()
