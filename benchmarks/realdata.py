"""Real data, side by side: LMRegressor at its defaults beside scikit-learn's regressors.

Every regression set that loads offline (``benchmarks/datasets.py``: what ships
inside scikit-learn and what the ``bench`` extra's packages hold), 5-fold
cross-validation (``KFold(5, shuffle=True, random_state=0)``), every model
behind ``make_pipeline(StandardScaler(), model)`` and at its defaults:

- ``LMRegressor()`` (``random_state=0``),
- ``RidgeCV()``,
- ``MLPRegressor()`` (``random_state=0``),
- ``GaussianProcessRegressor`` with ``ConstantKernel() * RBF(ones(d)) +
  WhiteKernel()`` (one length scale per input) and ``normalize_y=True``,
- ``HistGradientBoostingRegressor()``.

For each set and model: test R^2 (mean and standard deviation over the five
folds) and the mean fit time of one fold; for ``LMRegressor`` and the Gaussian
process the fraction of test targets within ``+-1.96`` predicted standard
deviations (``predict(X, return_std=True)``; nominal 0.95). Prints Markdown
tables, lists the sets where ``LMRegressor`` ends more than 0.03 R^2 below the
better of ``RidgeCV`` and ``MLPRegressor``, writes ``realdata.md`` and
``realdata.json`` to ``--out`` (default ``benchmarks/results/<date>-<version>``)
and the figure to ``--figure`` (default ``docs/_static/bench_realdata.png``)::

    python -m benchmarks.realdata                   # every set, about 5 minutes on 2 cores
    python -m benchmarks.realdata --datasets diabetes,linnerud-weight --no-figure

BLAS and OpenMP pools are held to ``--blas-threads`` threads (default 1) for
every model alike: on a shared 2-core machine spinning threads time the load,
not the model. Warnings of the fits (convergence, uncertainty) are counted,
not shown.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklm
from benchmarks import datasets
from sklm import LMRegressor

#: LMRegressor is flagged where it ends this far below the better of the two
GAP = 0.03
PEERS = ("RidgeCV", "MLPRegressor")  # the bar: the better of these two
WITH_STD = ("LMRegressor", "GaussianProcessRegressor")


def make_models(n_features, seed=0):
    """The contenders, each behind a StandardScaler, at their defaults."""
    kernel = (ConstantKernel() * RBF(length_scale=np.ones(n_features))
              + WhiteKernel())
    models = {
        "LMRegressor": LMRegressor(random_state=seed),
        "RidgeCV": RidgeCV(),
        "MLPRegressor": MLPRegressor(random_state=seed),
        "GaussianProcessRegressor": GaussianProcessRegressor(kernel, normalize_y=True,
                                                             random_state=seed),
        "HistGradientBoostingRegressor": HistGradientBoostingRegressor(random_state=seed),
    }
    return {name: make_pipeline(StandardScaler(), model) for name, model in models.items()}


def evaluate(X, y, names=None, folds=5, seed=0):
    """Cross-validate each model on ``(X, y)``: R^2 per fold, fit seconds, coverage."""
    cv = KFold(folds, shuffle=True, random_state=seed)
    result = {}
    for name in names or make_models(X.shape[1]):
        r2, seconds, inside, warned, errors = [], [], [], 0, []
        for train, test in cv.split(X):
            model = make_models(X.shape[1], seed)[name]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                start = time.perf_counter()
                model.fit(X[train], y[train])
                seconds.append(time.perf_counter() - start)
                pred = model.predict(X[test])
                if name in WITH_STD:
                    try:
                        mean, std = model.predict(X[test], return_std=True)
                        inside.append(np.abs(y[test] - mean) <= 1.96 * std)
                    except (ValueError, RuntimeError) as exc:  # recorded, not fatal
                        errors.append(f"{type(exc).__name__}: {exc}")
            warned += any(issubclass(w.category, Warning) for w in caught)
            r2.append(r2_score(y[test], pred))
        result[name] = {
            "r2": r2, "fit_s": float(np.mean(seconds)), "folds_warned": warned,
            "coverage": float(np.mean(np.concatenate(inside))) if inside else None,
            "errors": errors,
        }
    return result


def gaps(result):
    """How far LMRegressor's mean R^2 is below the better of RidgeCV and MLPRegressor."""
    lm = np.mean(result["LMRegressor"]["r2"])
    peer = max(PEERS, key=lambda p: np.mean(result[p]["r2"]))
    return peer, float(np.mean(result[peer]["r2"]) - lm)


def _load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def _revision():
    """The commit measured, and whether sklm/'s tracked files differed from it."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "sklm"))
    return f"{head}{' (sklm/ modified)' if dirty else ''}" if head else "unknown"


def markdown(run):
    sets, names = run["datasets"], run["models"]
    short = {"GaussianProcessRegressor": "GaussianProcess",
             "HistGradientBoostingRegressor": "HistGradientBoosting"}
    lines = ["Test R^2, mean ± standard deviation over 5 folds (best of the row in bold):", "",
             "| data set | rows x inputs | " + " | ".join(short.get(n, n) for n in names)
             + " | LM below the better of RidgeCV / MLP |",
             "|---|---|" + "---|" * len(names) + "---|"]
    for name, entry in sets.items():
        res = entry["result"]
        means = {n: np.mean(res[n]["r2"]) for n in names}
        best = max(means, key=means.get)
        cells = []
        for n in names:
            cell = f"{means[n]:.3f} ± {np.std(res[n]['r2']):.3f}"
            cells.append(f"**{cell}**" if n == best else cell)
        peer, gap = entry["gap"]
        flag = f"{gap:+.3f} ({short.get(peer, peer)})" + (" **over 0.03**" if gap > GAP else "")
        lines.append(f"| {name} | {entry['shape'][0]} x {entry['shape'][1]} | "
                     + " | ".join(cells) + f" | {flag} |")
    lines += ["", "Mean fit time of one fold (s); 95% coverage: fraction of test targets "
              "within ±1.96 predicted standard deviations (nominal 0.95):", "",
              "| data set | " + " | ".join(short.get(n, n) for n in names)
              + " | LM coverage | GP coverage | LM folds warned |",
              "|---|" + "---|" * len(names) + "---|---|---|"]
    for name, entry in sets.items():
        res = entry["result"]
        cov = [res[n]["coverage"] for n in WITH_STD if n in res]
        cov = ["-" if c is None else f"{c:.2f}" for c in cov]
        lines.append(f"| {name} | " + " | ".join(f"{res[n]['fit_s']:.3f}" for n in names)
                     + f" | {' | '.join(cov)} | {res['LMRegressor']['folds_warned']}/5 |")
    flagged = [(n, e["gap"]) for n, e in sets.items() if e["gap"][1] > GAP]
    lines += ["", f"LMRegressor more than {GAP} R^2 below the better of RidgeCV and "
              "MLPRegressor: " + ("; ".join(f"{n} ({g:.3f} below {p})" for n, (p, g) in flagged)
                                  if flagged else "none")]
    errors = [(n, m, e) for n, entry in sets.items() for m, r in entry["result"].items()
              for e in r["errors"]]
    for name, model, error in errors:
        lines.append(f"- {name}, {model}: {error}")
    return "\n".join(lines)


def figure(run, path):
    import matplotlib  # noqa: PLC0415 - the plot extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sets, names = list(run["datasets"]), run["models"]
    fig, (ax_r2, ax_t) = plt.subplots(1, 2, figsize=(11, 0.42 * len(sets) + 1.6),
                                      sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    low = -0.5
    offsets = np.linspace(-0.3, 0.3, len(names))
    markers = "os^Dv"
    for k, model in enumerate(names):
        means = np.array([np.mean(run["datasets"][s]["result"][model]["r2"]) for s in sets])
        sds = np.array([np.std(run["datasets"][s]["result"][model]["r2"]) for s in sets])
        secs = np.array([run["datasets"][s]["result"][model]["fit_s"] for s in sets])
        pos = np.arange(len(sets)) + offsets[k]
        shown = np.maximum(means, low)
        ax_r2.errorbar(shown, pos, xerr=np.where(means > low, sds, 0), fmt=markers[k],
                       ms=5, capsize=2, label=model)
        ax_t.plot(secs, pos, markers[k], ms=5)
    ax_r2.axvline(0, color="0.7", lw=0.8)
    ax_r2.set_xlim(low - 0.05, 1.02)
    ax_r2.set_xlabel(f"test R^2, 5-fold CV (mean ± sd; below {low} drawn at {low})")
    ax_r2.set_yticks(range(len(sets)))
    ax_r2.set_yticklabels([f"{s} ({run['datasets'][s]['shape'][0]})" for s in sets])
    ax_r2.invert_yaxis()
    ax_t.set_xscale("log")
    ax_t.set_xlabel("fit time of one fold (s)")
    for ax in (ax_r2, ax_t):
        ax.grid(axis="x", color="0.9")
    fig.legend(loc="upper center", ncol=len(names), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=None,
                        help="comma-separated subset of " + ",".join(datasets.DATASETS))
    parser.add_argument("--models", default=None,
                        help="comma-separated subset of " + ",".join(make_models(1)))
    parser.add_argument("--blas-threads", type=int, default=1, metavar="N",
                        help="threads of every BLAS/OpenMP pool; 0: the libraries' default")
    parser.add_argument("--out", default=None,
                        help="folder for realdata.md/.json (default: "
                             "benchmarks/results/<date>-<version>); '-' writes nothing")
    parser.add_argument("--figure", default="docs/_static/bench_realdata.png")
    parser.add_argument("--no-figure", action="store_true")
    args = parser.parse_args(argv)

    names = args.datasets.split(",") if args.datasets else list(datasets.DATASETS)
    unknown = [n for n in names if n not in datasets.DATASETS]
    if unknown:
        parser.error(f"unknown data sets {unknown}")
    missing = [n for n in names if not datasets.available(n)]
    if missing:
        print(f"skipped (pip install -e '.[bench]' loads them): {', '.join(missing)}")
        names = [n for n in names if n not in missing]
    models = args.models.split(",") if args.models else list(make_models(1))
    for required in ("LMRegressor", *PEERS):
        if required not in models:
            parser.error(f"--models must include {required} (the comparison needs it)")

    started = datetime.datetime.now(datetime.timezone.utc)
    run = {
        "command": " ".join(["python -m benchmarks.realdata",
                             *(sys.argv[1:] if argv is None else argv)]),
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": _load_average(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "versions": f"sklm {sklm.__version__} ({_revision()}), scikit-learn "
                    f"{sklearn.__version__}, numpy {np.__version__}",
        "blas_threads": args.blas_threads or "library default",
        "models": models, "datasets": {},
    }
    print(f"{run['date']}, load {run['load_before']}; {run['versions']}; BLAS threads: "
          f"{run['blas_threads']}", flush=True)
    limiter = None
    if args.blas_threads:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415

        limiter = threadpool_limits(args.blas_threads)
    try:
        for name in names:
            X, y = datasets.load(name)
            t = time.perf_counter()
            result = evaluate(X, y, models)
            run["datasets"][name] = {"shape": list(X.shape), "result": result,
                                     "gap": gaps(result),
                                     "description": datasets.DATASETS[name][2]}
            print(f"{name} ({X.shape[0]} x {X.shape[1]}): "
                  + ", ".join(f"{m} {np.mean(r['r2']):.3f}" for m, r in result.items())
                  + f" [{time.perf_counter() - t:.0f} s]", flush=True)
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
    run["elapsed_s"] = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    run["load_after"] = _load_average()
    report = markdown(run)
    header = (f"{run['command']}\n\n{run['date']}; {run['machine']}; load average "
              f"{run['load_before']} before, {run['load_after']} after; {run['versions']}; "
              f"BLAS threads: {run['blas_threads']}; {run['elapsed_s']:.0f} s in all.")
    print()
    print(header)
    print()
    print(report)
    out = args.out or os.path.join(
        "benchmarks", "results", f"{started:%Y-%m-%d}-{sklm.__version__}")
    if out != "-":
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "realdata.md"), "w") as f:
            f.write(f"{header}\n\n{report}\n")
        with open(os.path.join(out, "realdata.json"), "w") as f:
            json.dump(run, f, indent=1, default=float)
    if not args.no_figure:
        print("figure:", figure(run, args.figure))
    return run


if __name__ == "__main__":
    main()
