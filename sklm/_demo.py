"""``python -m sklm demo``: the tutorial's surrogate problem in one command.

The data are made here: the 2-D Rosenbrock function
``f(x, y) = (a - x)^2 + b (y - x^2)^2`` with ``a = b = 2.5`` on points drawn
uniformly from ``[-2, 2]^2``, as many for validation as for training. A
2-10-1 tanh network is fitted by each solver asked for (Levenberg-Marquardt
and Adam by default, with the tutorial's settings), a table of the results is
printed and, when matplotlib is installed, a PNG of the training curves is
written.
"""

import argparse
import contextlib
import os
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from ._estimator import LMRegressor
from ._mlp import MLP
from .solvers import SOLVERS

__all__ = ["rosenbrock_data", "run", "main"]

#: Settings per solver: the tutorial's (figure 2 of the seed summary) where it
#: has them, on raw inputs and targets as the tutorial trained. Iteration
#: budgets are the demo's, chosen to finish in seconds.
SOLVER_SETTINGS = {
    "lm": dict(max_iter=100, mu_init=3.0, mu_update="trainlm", geodesic=False),
    "gauss-newton": dict(max_iter=100),
    "newton": dict(max_iter=100),
    "adam": dict(max_iter=40_000, learning_rate_init=1e-2, batch_size=None),
    "sgd": dict(max_iter=40_000, learning_rate_init=5e-4, batch_size=None),
}
for _settings in SOLVER_SETTINGS.values():
    _settings.update(normalize_X=False, normalize_y=False)
DEFAULT_SOLVERS = ("lm", "adam")


def rosenbrock_data(n_samples, random_state=0, a=2.5, b=2.5):
    """``n_samples`` training and ``n_samples`` validation points of the surrogate.

    Returns ``X_train, y_train, X_val, y_val`` with ``X`` uniform on
    ``[-2, 2]^2`` and ``y = (a - x)^2 + b (y - x^2)^2``.
    """
    rng = np.random.default_rng(random_state)
    X = rng.uniform(-2.0, 2.0, size=(2 * n_samples, 2))
    y = (a - X[:, 0]) ** 2 + b * (X[:, 1] - X[:, 0] ** 2) ** 2
    return X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:]


def _estimator(solver, hidden, max_iter, backend, random_state):
    settings = dict(SOLVER_SETTINGS.get(solver, {}))
    if max_iter is not None:
        settings["max_iter"] = max_iter
    # tol=0: run the whole budget, as the tutorial does; no penalty and no
    # validation split, as trainlm and the tutorial (noise-free data)
    return LMRegressor(hidden, solver=solver, backend=backend, random_state=random_state,
                       tol=0.0, alpha=0.0, early_stopping=False, **settings)


def run(n_samples=500, solvers=DEFAULT_SOLVERS, hidden=(10,), max_iter=None,
        backend="auto", random_state=0, stream=None, blas_threads=1):
    """Fit each solver; print and return one row per solver.

    ``max_iter`` is None (each solver's demo budget), an int for all, or a
    dict ``{solver: int}``. ``blas_threads`` limits the CPU's BLAS thread
    pools during the fits (None: no limit). Rows are dicts with the solver,
    its fitted model, iterations, seconds, train and validation MSE, the
    validation predictions (``val_pred``) and why it stopped.
    """
    stream = stream or sys.stdout
    X, y, X_val, y_val = rosenbrock_data(n_samples, random_state)
    n_params = MLP((2, *hidden, 1), "tanh").n_params
    print(f"Rosenbrock surrogate f(x, y) = (2.5 - x)^2 + 2.5 (y - x^2)^2, x, y ~ U(-2, 2): "
          f"{n_samples} training + {n_samples} validation points; network "
          f"2-{'-'.join(map(str, hidden))}-1 (tanh), {n_params} parameters.", file=stream)
    rows = []
    for solver in solvers:
        budget = max_iter.get(solver) if isinstance(max_iter, dict) else max_iter
        model = _estimator(solver, hidden, budget, backend, random_state)
        start = time.perf_counter()
        limit = (threadpool_limits(limits=blas_threads) if blas_threads
                 else contextlib.nullcontext())
        with warnings.catch_warnings(), limit:
            # Running out of iterations is the demo's plan, not news; the
            # table says why each solver stopped.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        seconds = time.perf_counter() - start
        val_pred = model.predict(X_val)
        rows.append(dict(
            solver=solver, model=model, iterations=model.n_iter_, seconds=seconds,
            train_mse=float(np.mean((model.predict(X) - y) ** 2)),
            val_mse=float(np.mean((val_pred - y_val) ** 2)), val_pred=val_pred,
            stop_reason=model.stop_reason_, backend=model.backend_,
        ))
    print(f"\n{'solver':<14}{'iterations':>11}{'seconds':>10}{'train MSE':>12}"
          f"{'valid. MSE':>12}", file=stream)
    for r in rows:
        print(f"{r['solver']:<14}{r['iterations']:>11d}{r['seconds']:>10.2f}"
              f"{r['train_mse']:>12.4g}{r['val_mse']:>12.4g}", file=stream)
    threads = f", {blas_threads} BLAS thread(s)" if blas_threads else ""
    print(f"\nbackend: {rows[0]['backend'] if rows else backend}{threads}. "
          "Why each stopped:", file=stream)
    for r in rows:
        print(f"  {r['solver']}: {r['stop_reason']}", file=stream)
    return rows, (X_val, y_val)


def _plot(rows, validation, path, stream):
    """Write the training curves and validation predictions to ``path``."""
    # The object-oriented API draws without pyplot, so the demo never touches
    # the caller's matplotlib backend.
    from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency

    from .plotting import plot_performance  # noqa: PLC0415

    X_val, y_val = validation
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax_loss, ax_pred = fig.subplots(1, 2)
    for r in rows:
        plot_performance(r["model"], ax=ax_loss, label=r["solver"], mu=False, best=False)
    ax_loss.set_xscale("log")  # 100 LM iterations beside 40,000 of Adam
    ax_loss.set_title("Training loss (raw MSE) per iteration")
    for r in rows:
        error = np.abs(r["val_pred"] - y_val)
        ax_pred.plot(y_val, error, ".", markersize=3,
                     label=f"{r['solver']} (validation MSE {r['val_mse']:.3g})")
    ax_pred.set_yscale("log")
    ax_pred.set_xlabel("true f(x, y)")
    ax_pred.set_ylabel("|predicted - true|")
    ax_pred.set_title("Errors on the validation points")
    ax_pred.legend(fontsize="small")
    fig.savefig(path, dpi=100)
    print(f"\nFigure written to {os.path.abspath(path)}", file=stream)


def _parse_max_iter(values, solvers):
    """``['100']`` -> 100; ``['lm=100', 'adam=5000']`` -> dict."""
    if not values:
        return None
    out = {}
    for value in values:
        name, sep, number = value.rpartition("=")
        try:
            n = int(number)
        except ValueError:
            raise ValueError(f"--max-iter expects N or SOLVER=N; got {value!r}.") from None
        if sep:
            out[name] = n
        else:
            out.update(dict.fromkeys(solvers, n))
    return out


def _integer_at_least(low):
    """An argparse type: an integer of at least ``low`` (argparse names the option)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def _layer_sizes(text):
    """An argparse type: comma-separated positive layer sizes ('': no hidden layer)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas (e.g. 12,10,8), got {text!r}")
    return tuple(int(p) for p in parts)


def _solver_names(text):
    """An argparse type: comma-separated solver names, at least one, each known."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected one or more solvers separated by commas, from {', '.join(SOLVERS)}; "
            f"got {text!r}")
    unknown = [name for name in names if name not in SOLVERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown solver(s) {', '.join(unknown)}; choose from {', '.join(SOLVERS)}")
    return names


def _unwritable_format(path):
    """Why matplotlib cannot write a figure to ``path``'s extension, or None.

    None too where matplotlib is missing (the demo then draws no figure) or
    the path has no extension (matplotlib writes its default format, PNG).
    """
    try:
        from matplotlib.backend_bases import FigureCanvasBase  # noqa: PLC0415
    except ImportError:
        return None
    extension = os.path.splitext(path)[1][1:].lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if not extension or extension in formats:
        return None
    return (f"matplotlib cannot write .{extension} files; name a file ending in one of "
            f"{', '.join('.' + f for f in sorted(formats))} (e.g. sklm-demo.png)")


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(prog="python -m sklm demo")
    parser.description = (
        "Fit the tutorial's Rosenbrock surrogate f(x, y) = (2.5 - x)^2 + 2.5 (y - x^2)^2 "
        "with Levenberg-Marquardt and Adam, print a table of iterations, seconds and "
        "train/validation mean squared errors, and (with matplotlib) save a PNG of the "
        "training curves. Takes a few seconds on a laptop CPU."
    )
    parser.add_argument("-n", "--n-samples", type=_integer_at_least(2), default=500,
                        help="training points; as many again are drawn for validation "
                        "(default: 500, the tutorial's)")
    parser.add_argument("--hidden", type=_layer_sizes, default=(10,),
                        help="hidden layer sizes, comma separated, e.g. 12,10,8 "
                        "(default: 10)")
    parser.add_argument("--solvers", type=_solver_names, default=",".join(DEFAULT_SOLVERS),
                        help=f"comma-separated solvers, from {', '.join(SOLVERS)} "
                        f"(default: {','.join(DEFAULT_SOLVERS)})")
    parser.add_argument("--max-iter", action="append", metavar="[SOLVER=]N",
                        help="iteration budget for all solvers (N) or one (SOLVER=N); "
                        "repeatable. Default: " + ", ".join(
                            f"{s}={SOLVER_SETTINGS[s]['max_iter']}"
                            for s in SOLVER_SETTINGS if s in SOLVERS))
    parser.add_argument("--backend", default="auto", choices=["auto", "numpy", "cupy"],
                        help="'auto' (the default) uses CuPy when it imports and sees a "
                        "GPU, NumPy otherwise")
    parser.add_argument("--blas-threads", type=_integer_at_least(0), default=1, metavar="N",
                        help="BLAS threads for the CPU fits; 0 leaves the libraries' "
                        "default. (default: 1: the problem is tiny, and idle BLAS "
                        "threads spinning on a busy machine slow it down 10x)")
    parser.add_argument("-o", "--output", default="sklm-demo.png",
                        help="where to write the figure, which needs matplotlib "
                        "(default: sklm-demo.png)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the figure")
    parser.add_argument("--seed", type=_integer_at_least(0), default=0,
                        help="seed of the data and of the initial weights (default: 0)")
    return parser


def main(args):
    """Run the demo from parsed command-line ``args``; return an exit code."""
    solvers = args.solvers
    try:
        max_iter = _parse_max_iter(args.max_iter, solvers)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = os.path.dirname(os.path.abspath(args.output))
    if not args.no_plot and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        # said before the fits, not after them
        why = "no folder" if not os.path.isdir(folder) else "no permission to write in"
        print(f"error: cannot write the figure to {args.output}: {why} {folder}.",
              file=sys.stderr)
        return 2
    unwritable = None if args.no_plot else _unwritable_format(args.output)
    if unwritable:
        # said before the fits, not after them (savefig would raise there)
        print(f"error: cannot write the figure to {args.output}: {unwritable}.",
              file=sys.stderr)
        return 2
    try:
        rows, validation = run(args.n_samples, solvers, args.hidden, max_iter, args.backend,
                               args.seed, blas_threads=args.blas_threads or None)
    except (ImportError, ValueError) as exc:  # e.g. --backend cupy without a GPU
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.no_plot:
        return 0
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        print("\nmatplotlib is not installed, so no figure was drawn; "
              "`pip install sklm[plot]` (or matplotlib) to get one.")
        return 0
    _plot(rows, validation, args.output, sys.stdout)
    return 0
