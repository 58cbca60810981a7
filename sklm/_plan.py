"""What a fit will do: every 'auto' option and compatibility rule, resolved once.

:meth:`FitPlan.resolve` reads the estimator's parameters and the data
source's counts (rows, rows of positive weight, observations) and returns a
frozen plan; the driver and the writer of fitted attributes read only the
plan. The same counts give the same plan whether the rows are in memory or on
a Dask cluster: the container changes where sums are computed, not what the
fit means. The thresholds of the 'auto' rules live here.
"""

import dataclasses

from .solvers import SOLVERS
from .solvers._damped import resolve_linear_solver

__all__ = ["FitPlan", "DataCounts", "resolve_regularisation", "BAYES_SOLVERS"]

#: The solvers that call ``after_accepted_step`` with the normal equations.
BAYES_SOLVERS = ("lm", "gauss-newton")

#: 'auto' plans the growing sample's stages (sklm._sampling) from this many
#: training rows on.
MIN_ROWS = 50_000

#: ``early_stopping='auto'`` holds out a validation set for Bayesian fits of
#: at least this many rows (10 validation rows at the default fraction).
AUTO_EARLY_STOPPING_MIN_SAMPLES = 100

#: ``alpha='auto'`` is Bayesian regularisation below this many rows: where the
#: growing sample takes over (MIN_ROWS), the evidence's O(n_params^3)
#: re-estimation after every step costs more than a sample's step (on `wide`,
#: 1e5 x 8 with 1,377 parameters, 1e-3 at 40 s instead of 1.2 s), and 70 rows a
#: parameter leave little noise to over-fit.
AUTO_BAYES_MAX_SAMPLES = MIN_ROWS

#: ``alpha='auto'`` is Bayesian regularisation from this many rows on. With
#: fewer errors than that the evidence cannot tell the signal from the noise:
#: on 10 rows of a smooth 2-D function (2-2-1 to 2-30-1, 8 starts each) it
#: settled on a constant (pruned every parameter) in 7 of 32 fits without
#: noise and 31 of 32 with, test R^2 -0.58 and -0.09 (median) against 0.60
#: and 0.44 without a penalty; on 15 noisy rows it led, 0.38 against -0.22,
#: and on 20, 0.85 against -0.03 (docs: design notes, "Tiny data").
AUTO_BAYES_MIN_SAMPLES = 15


#: The defaults act on noise-free data (FitPlan.noise_free_switch) only with at
#: least this many observations a parameter: a network that can interpolate its
#: rows has no unique minimum without its penalty (predictions of fits on the
#: same data, weighted or repeated, differed by 2e-7 where the penalty kept
#: them equal to 1e-12).
NOISE_FREE_MIN_RATIO = 2


@dataclasses.dataclass(frozen=True)
class DataCounts:
    """What the plan needs to know of the data: the same for every source.

    Attributes
    ----------
    n_rows : int
        All rows given (before any validation split).
    n_positive : int
        Rows of positive weight.
    n_observations : float
        The weights' sum in the problem's weight unit (integer weights count
        as repeated rows; see :func:`sklm._problem.weight_unit_of`).
    """

    n_rows: int
    n_positive: int
    n_observations: float


def resolve_regularisation(alpha, early_stopping, solver, n_samples, matrix_free=False,
                           n_observations=None):
    """``(bayes, early_stopping)`` that the estimator's 'auto' options stand for.

    ``alpha='auto'`` is Bayesian regularisation for the solvers that support
    it (:data:`BAYES_SOLVERS`) on :data:`AUTO_BAYES_MIN_SAMPLES` observations
    or more and fewer than :data:`AUTO_BAYES_MAX_SAMPLES` rows, and no penalty
    otherwise; ``early_stopping='auto'`` is on for a Bayesian fit of at least
    :data:`AUTO_EARLY_STOPPING_MIN_SAMPLES` rows, off otherwise (``n_samples``
    counts the rows of positive weight; ``n_observations``, what the evidence
    counts, the sum of the weights in the problem's unit). A ``matrix_free``
    fit has no ``J^T J`` to re-estimate the penalty from: 'auto' is no
    penalty there, and 'bayes' an error.
    """
    if alpha == "bayes" and solver not in BAYES_SOLVERS:
        raise ValueError(f"alpha='bayes' needs solver='lm' or 'gauss-newton'; got "
                         f"solver={solver!r}. Use a number for alpha.")
    if alpha == "bayes" and matrix_free:
        raise ValueError("alpha='bayes' needs the normal matrix J^T J, which the matrix-free "
                         "step (linear_solver='cg') never forms. Use linear_solver='dense' "
                         "(networks of a few thousand parameters) or a number for alpha.")
    n_observations = n_samples if n_observations is None else n_observations
    bayes = (isinstance(alpha, str) and solver in BAYES_SOLVERS and not matrix_free
             and (alpha == "bayes" or (n_observations >= AUTO_BAYES_MIN_SAMPLES
                                       and n_samples < AUTO_BAYES_MAX_SAMPLES)))
    if isinstance(early_stopping, str):  # 'auto'
        early_stopping = bayes and n_samples >= AUTO_EARLY_STOPPING_MIN_SAMPLES
    return bayes, bool(early_stopping)


@dataclasses.dataclass(frozen=True)
class FitPlan:
    """The decisions of one call to ``fit`` or ``partial_fit``.

    Attributes
    ----------
    solver : str
    n_params : int
    bayes : bool
        Bayesian regularisation (the penalty re-estimated from the evidence).
    penalty : float
        The fixed L2 penalty ``alpha`` (0.0 when Bayesian or none).
    early_stopping : bool
        A validation split, and early stopping on it.
    validation_fraction : float or None
        The share of rows held out (None: no split).
    growing_sample : bool
        LM trains on growing row samples before all rows (sklm._sampling).
    linear_solver : str or None
        'dense' or 'cg' (the matrix-free step) for the damped solvers.
    noise_free_switch : bool
        The defaults' Bayesian fit (``alpha`` and ``early_stopping`` 'auto',
        'lm', Nielsen's rule, at least :data:`NOISE_FREE_MIN_RATIO`
        observations a parameter): once the evidence sees no noise, the fit
        goes on with every row, no penalty and Moré's trust region
        (sklm._driver).
    incremental : bool
        ``partial_fit``: one iteration, no stopping rules across calls.
    continuing : bool
        The fit starts from the fitted parameters (warm start, partial_fit).
    """

    solver: str
    n_params: int
    bayes: bool
    penalty: float
    early_stopping: bool
    validation_fraction: float | None
    growing_sample: bool
    linear_solver: str | None
    noise_free_switch: bool
    incremental: bool
    continuing: bool

    @property
    def matrix_free(self):
        return self.linear_solver == "cg"

    @classmethod
    def resolve(cls, params, counts, n_params, *, incremental, continuing):
        """The plan for the estimator parameters ``params`` (``get_params()``) and the data."""
        solver = params["solver"]
        linear = params["linear_solver"]
        if linear == "cg" and solver == "gauss-newton":
            raise ValueError("linear_solver='cg' needs solver='lm': undamped Gauss-Newton "
                             "steps on a sampled J^T J are unstable (docs: Large networks).")
        if linear == "cg" and solver == "newton":
            raise ValueError("linear_solver='cg' needs solver='lm': solver='newton' forms "
                             "the exact n_params x n_params Hessian (docs: Large networks).")
        alpha = params["alpha"]
        if incremental and _as_option(params["early_stopping"]) is True:
            raise ValueError("partial_fit does not support early_stopping=True: one "
                             "iteration has nothing to stop. Use fit.")
        if incremental and alpha == "bayes":
            raise ValueError(
                "alpha='bayes' is not available in partial_fit: one batch is too few rows "
                "to re-estimate the evidence of the whole stream from (on 10-row batches "
                "it pruned the network to a constant). Use fit, or a number for alpha "
                "(alpha='auto' is no penalty in partial_fit).")
        matrix_free = (solver == "lm"
                       and resolve_linear_solver(linear, n_params, params["mu_update"]) == "cg")
        bayes, early = resolve_regularisation(
            alpha, _as_option(params["early_stopping"]), solver, counts.n_positive,
            matrix_free=matrix_free, n_observations=counts.n_observations)
        if incremental:
            # A batch cannot carry the evidence, and one iteration has nothing
            # to stop: 'auto' means no penalty and no split in partial_fit.
            bayes = early = False
        fresh = not continuing and not incremental
        growing = _as_option(params["growing_sample"])
        return cls(
            solver=solver,
            n_params=n_params,
            bayes=bayes,
            penalty=0.0 if isinstance(alpha, str) else float(alpha),
            early_stopping=early,
            validation_fraction=params["validation_fraction"] if early else None,
            growing_sample=(bool(growing) and fresh and solver == "lm"
                            and (growing is True or counts.n_rows >= MIN_ROWS)),
            linear_solver=(("cg" if matrix_free else "dense")
                           if solver in ("lm", "gauss-newton") else None),
            noise_free_switch=(bayes and alpha == "auto" and solver == "lm"
                               and params["early_stopping"] == "auto"
                               and params["mu_update"] == "nielsen"
                               and counts.n_observations >= NOISE_FREE_MIN_RATIO * n_params),
            incremental=incremental,
            continuing=continuing,
        )

    def describe(self):
        """One line of what the fit will do (``verbose`` prints it)."""
        parts = []
        if self.linear_solver:
            parts.append(f"{self.linear_solver} step")
        parts.append("Bayesian penalty" if self.bayes
                     else f"penalty alpha={self.penalty:g}" if self.penalty else "no penalty")
        parts.append(f"{self.validation_fraction:g} of the rows held out for early stopping"
                     if self.early_stopping else "no validation split")
        if self.growing_sample:
            parts.append("growing row samples first")
        return ", ".join(parts)

    def solver_options(self, params, *, monitor, rng, loss_unit, max_time, slow_fit_warning):
        """The keyword arguments of the plan's solver class."""
        options = dict(
            max_iter=1 if self.incremental else params["max_iter"],
            goal=params["goal"],
            loss_unit=loss_unit,  # goal and verbose in y's units
            # With a validation set, tol/n_iter_no_change judge the validation
            # loss (the monitor), as in scikit-learn; on the training loss they
            # only detect a stalled line search.
            tol=params["tol"],
            stop_on_tol=monitor is None,
            n_iter_no_change=params["n_iter_no_change"],
            min_grad=params["min_grad"],
            max_time=max_time,
            callback=monitor,
            verbose=params["verbose"],
            slow_fit_warning=slow_fit_warning,
        )
        # Each solver names the estimator parameters it uses.
        for name in SOLVERS[self.solver].options:
            options[name] = rng if name == "random_state" else params[name]
        if "linear_solver" in options:
            options["linear_solver"] = self.linear_solver
        return options


def _as_option(value):
    """A boolean-or-'auto' option with its boolean as Python's (``np.True_`` is True)."""
    return value if isinstance(value, str) else bool(value)
