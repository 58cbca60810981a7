"""Plots of a training record: the picture MATLAB users know from ``plotperform``.

This module needs matplotlib, the optional ``plot`` extra
(``pip install sklm[plot]``). ``import sklm`` never imports it, and neither
does ``import sklm.plotting``: matplotlib is imported when a function here is
called.
"""

from types import SimpleNamespace

import numpy as np

__all__ = ["plot_performance"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        raise ImportError(
            "sklm.plotting needs matplotlib, which is not installed. "
            "Install it with `pip install sklm[plot]` (or `pip install matplotlib`)."
        ) from exc
    return plt


def _training_record(estimator):
    """The object with the training record: a fitted LMRegressor, or a result.

    Looks through a Pipeline (last step), a TransformedTargetRegressor
    (``regressor_``) and a fitted search (``best_estimator_``); a result of
    :func:`sklm.optimize.least_squares` gives its ``loss_curve``/``mu_curve``.
    """
    seen = estimator
    for _ in range(10):
        if hasattr(seen, "loss_curve_"):
            return seen
        if hasattr(seen, "loss_curve") and hasattr(seen, "mu_curve"):
            # a SolverResult from sklm.optimize.least_squares
            return SimpleNamespace(loss_curve_=seen.loss_curve, mu_curve_=seen.mu_curve,
                                   best_iteration_=getattr(seen, "best_iteration", None))
        if hasattr(seen, "best_estimator_"):
            seen = seen.best_estimator_
        elif hasattr(seen, "regressor_"):
            seen = seen.regressor_
        elif hasattr(seen, "steps"):
            seen = seen.steps[-1][1]
        else:
            break
    raise ValueError(
        f"{type(estimator).__name__} has no training record (loss_curve_): pass a "
        "fitted LMRegressor, a fitted Pipeline, TransformedTargetRegressor or "
        "search whose final estimator is one, or a result of "
        "sklm.optimize.least_squares."
    )


def _curve(estimator, name):
    """The recorded curve ``name`` as a float array (empty when not recorded)."""
    curve = getattr(estimator, name, None)
    return np.asarray([] if curve is None else curve, dtype=float)


def _best_iteration(estimator):
    """The iteration whose parameters the record kept (1-based), and on which curve.

    ``best_iteration_`` where the record has it: the validation curve's
    lowest point, the last iteration, or the lowest loss after a divergence;
    None when the starting point was kept (0: it is on no curve). Records
    without it: the lowest point of the validation (else training) curve.
    """
    val = _curve(estimator, "validation_loss_curve_")
    train = _curve(estimator, "loss_curve_")
    which = "validation" if np.isfinite(val).any() else "train"
    kept = getattr(estimator, "best_iteration_", None)
    if kept is not None:
        # on the validation curve where it covers the iteration (a warm start
        # may have added validation only to later calls), else on the training one
        curves = ([("validation", val)] if which == "validation" else []) + [("train", train)]
        for name, curve in curves:
            if 0 < kept <= curve.size and np.isfinite(curve[kept - 1]):
                return int(kept), name
        return None, None
    curve = val if which == "validation" else train
    finite = np.isfinite(curve)
    if finite.any():
        return int(np.argmin(np.where(finite, curve, np.inf))) + 1, which
    return None, None


def plot_performance(estimator, ax=None, *, label=None, mu=True, best=True):
    """Plot training and validation loss against iteration, best iteration marked.

    The figure of MATLAB's ``plotperform``: the training loss
    (``loss_curve_``) and, when the fit held out a validation set
    (``early_stopping`` on, or 'auto' where it turned it on), the validation
    loss (``validation_loss_curve_``) on a logarithmic axis, a circle at the
    iteration whose parameters were kept (``best_iteration_``; none when the
    start was kept), and the damping ``mu`` (``mu_curve_``)
    on a second logarithmic axis at the right when it was recorded (it is for
    Levenberg-Marquardt).

    Parameters
    ----------
    estimator : fitted LMRegressor, a fitted meta-estimator around one, or a result
        A Pipeline (its last step), a TransformedTargetRegressor
        (``regressor_``) or a fitted search (``best_estimator_``) is looked
        through; the result of :func:`sklm.optimize.least_squares` is drawn
        from its ``loss_curve`` and ``mu_curve``. Losses are in the units of
        the ``y`` given to the LMRegressor's ``fit`` (its own ``normalize_y``
        does not change them); targets scaled by a TransformedTargetRegressor
        give scaled losses.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None. Call again with the same
        ``ax`` (and ``label``) to compare several fits.
    label : str, default=None
        Prefix of the legend entries, e.g. the solver's name.
    mu : bool, default=True
        Draw ``mu`` on a twin axis when the record has finite values.
    best : bool, default=True
        Mark the best iteration.

    Returns
    -------
    ax : matplotlib Axes
        The axes of the losses. The ``mu`` axis, when drawn, is its twin
        (``ax.figure.axes``), shared by the fits drawn on ``ax``; each fit's
        ``mu`` is dotted in its loss's colour.

    Raises
    ------
    ImportError
        When matplotlib is not installed (``pip install sklm[plot]``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklm import LMRegressor
    >>> from sklm.plotting import plot_performance
    >>> X = np.linspace(-1, 1, 100).reshape(-1, 1)
    >>> model = LMRegressor((5,), max_iter=20, early_stopping=True,
    ...                     random_state=0).fit(X, np.sin(3 * X).ravel())
    >>> ax = plot_performance(model)
    >>> ax.get_yscale()
    'log'
    """
    plt = _pyplot()
    est = _training_record(estimator)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    prefix = f"{label} " if label else ""
    train = _curve(est, "loss_curve_")
    iterations = np.arange(1, train.size + 1)
    (line,) = ax.plot(iterations, train, label=f"{prefix}train")
    val = _curve(est, "validation_loss_curve_")
    if val.size:
        ax.plot(np.arange(1, val.size + 1), val, linestyle="--", color=line.get_color(),
                label=f"{prefix}validation")
    best_it, which = _best_iteration(est) if best else (None, None)
    if best_it is not None:
        curve = val if which == "validation" else train
        ax.plot([best_it], [curve[best_it - 1]], "o", markersize=8, markerfacecolor="none",
                color=line.get_color(),
                label=f"{prefix}best: {curve[best_it - 1]:.3g} at iteration {best_it}")
    if np.any(np.isfinite(train) & (train > 0)):
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean squared error")
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()

    mu_curve = _curve(est, "mu_curve_")
    # one mu axis for every fit drawn on ax (a call with the same ax compares fits)
    mu_ax = getattr(ax, "_sklm_mu_axis", None)
    if mu and mu_curve.size and np.any(np.isfinite(mu_curve) & (mu_curve > 0)):
        if mu_ax is None:
            mu_ax = ax._sklm_mu_axis = ax.twinx()
            mu_ax.set_yscale("log")
            mu_ax.set_ylabel("damping mu")
        mu_ax.plot(np.arange(1, mu_curve.size + 1), mu_curve, color=line.get_color(),
                   linestyle=":", linewidth=0.9, label=f"{prefix}mu")
    if mu_ax is not None:
        mu_handles, mu_labels = mu_ax.get_legend_handles_labels()
        handles, labels = handles + mu_handles, labels + mu_labels
    ax.legend(handles, labels, loc="best", fontsize="small")
    return ax
