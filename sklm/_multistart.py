"""Several random starts (``n_init``), run through joblib, the best one kept.

A fit from random initial weights may end in a poor local minimum; trying
several starts and keeping the best is the usual remedy (MATLAB's advice for
``trainlm`` is to retrain). The starts are independent fits, so they run
through :class:`joblib.Parallel` under whatever backend is active: one process
by default, ``joblib.parallel_config(n_jobs=4)`` for local processes, or
``joblib.parallel_backend('dask')`` for a Dask cluster.

Every start shares the estimator's ``random_state`` for everything but the
initial weights (the validation split, minibatch order), so with an integer
``random_state`` the starts are judged on the same validation rows. Start 0
draws its weights exactly as a fit with ``n_init=1`` does; start ``i > 0``
draws them from its own seed, derived from ``random_state``. Hence
``n_init > 1`` never keeps a start worse, on the criterion, than the
``n_init=1`` fit.

Also holds the two helpers the estimator calls, so that it stays free of this
logic: :func:`initial_params` and :func:`is_dask_collection`.
"""

import sys
import time

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.utils import check_random_state

from ._fitted import warn_convergence, warn_if_pruned

__all__ = ["fit_starts", "initial_params", "is_dask_collection", "start_deadline"]


def is_dask_collection(*values):
    """Whether any value is a Dask collection, without importing Dask.

    A Dask collection can exist only where Dask was imported already.
    """
    if "dask" not in sys.modules:
        return False
    import dask  # noqa: PLC0415 - already imported, see above

    return any(dask.is_dask_collection(v) for v in values)


def initial_params(est, mlp, rng):
    """The initial weights of a fit: drawn from ``rng``, or from the start's seed.

    ``rng`` is drawn from in both cases, so that the draws after this one
    (the validation split, minibatch order) are the same for every start.
    """
    theta = mlp.init_params(rng, est.init)
    start = getattr(est, "_start", None)
    if start is None or start[1] is None:
        return theta
    return mlp.init_params(np.random.RandomState(start[1]), est.init)


def _start_seeds(random_state, n_init, deadline=None):
    """One seed per start, made lazily (None for start 0: it uses ``random_state`` itself).

    Start ``i``'s seed is drawn from its own child of one seed sequence, so a
    huge ``n_init`` costs nothing until its starts run; none is made once
    ``deadline`` has passed (the starts after it are not run).
    """
    entropy = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    yield None
    for i in range(1, n_init):
        if deadline is not None and time.perf_counter() >= deadline:
            return
        child = np.random.SeedSequence(entropy, spawn_key=(n_init, i))
        yield int(child.generate_state(1)[0])


def start_deadline(est):
    """The deadline of the whole ``fit`` a start belongs to (None: not a start, or no budget)."""
    start = getattr(est, "_start", None)
    return None if start is None else start[2]


def _fit_start(est, X, y, sample_weight, index, seed, deadline):
    """Fit start ``index``; None when the fit's ``max_time`` was spent before it began.

    ``est._start`` marks the fit as one start: it draws its weights from
    ``seed``, stops by the whole fit's ``deadline``, and keeps its convergence
    warning to itself (the kept start's is raised once, by :func:`fit_starts`).
    A marker rather than ``warnings.catch_warnings``, which is not
    thread-safe, and starts may run in threads (joblib's threading backend,
    a Dask worker's threads).
    """
    if index > 0 and deadline is not None and time.perf_counter() >= deadline:
        return None
    est._start = (index, seed, deadline)
    try:
        est.fit(X, y, sample_weight)
    finally:
        del est._start
    return est


def criterion(est):
    """A start's score: its validation loss with early stopping, else its training loss."""
    if est is None:
        return np.inf  # a start the time budget left out
    value = est.best_validation_loss_ if est._early_stopping else est.loss_
    return value if np.isfinite(value) else np.inf


def fit_starts(est, X, y, sample_weight):
    """``est.fit`` with ``est.n_init`` starts; ``est`` takes the best start's fitted state.

    ``max_time`` bounds the whole fit: the starts share its deadline, and the
    starts not begun by then are not run (``init_losses_`` lists those that
    ran; a start begun in parallel after it is inf there).
    """
    deadline = None if est.max_time is None else time.perf_counter() + est.max_time
    seeds = _start_seeds(est.random_state, est.n_init, deadline)
    template = clone(est).set_params(n_init=1)
    if is_dask_collection(X, y, sample_weight):
        # The starts share the client and its cluster; threads submit their
        # tasks side by side.
        parallel = Parallel(n_jobs=min(est.n_init, 8), backend="threading")
    else:
        parallel = Parallel()
    fitted = parallel(delayed(_fit_start)(clone(template), X, y, sample_weight, i, seed,
                                          deadline)
                      for i, seed in enumerate(seeds))
    losses = [criterion(start) for start in fitted]
    best = int(np.argmin(losses))
    kept = fitted[best]
    params = set(est.get_params(deep=False))
    for name, value in vars(kept).items():
        if name not in params:
            setattr(est, name, value)
    est.init_losses_ = losses
    est.best_init_ = best
    # the kept start's ConvergenceWarning, if it has one (see _fit_start); the
    # monitor's own warning (no iteration beat the start) is not repeated
    warn_convergence(est, kept._status, kept.n_iter_, kept.stop_reason_,
                     kept.best_iteration_, None)
    warn_if_pruned(est)
    return est
