"""What every solver shares: statuses, the result object and the run loop.

A solver is a template method (like scikit-learn's ``NewtonSolver``)::

    state = solver.init(problem, x0)          # first evaluation
    while not stopped:
        info = solver.step(problem, state)    # one iteration, may set a status
        record; callback(info); check stopping criteria; print a verbose row
    return SolverResult

``step`` does the method's own work (a damped Gauss-Newton step, an epoch of
Adam, ...); everything else - stopping rules, history, verbose table, callbacks,
interruption - lives here, once, so every solver behaves the same way.
"""

import abc
import enum
import math
import sys
import time
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from .._sklearn_compat import Interval, Options
from .._warnings import warn

__all__ = ["Status", "SolverResult", "IterationInfo", "Solver", "MESSAGES", "SUCCESS",
           "SlowFitWarning"]


#: The constraint of every solver's ``random_state`` (one object: the
#: estimator merges the solvers' declarations and checks they agree).
RANDOM_STATE = ["random_state"]


class SlowFitWarning(UserWarning):
    """A fit is on course to take long: bound it with ``max_time``."""


class Status(enum.IntEnum):
    """Why a solver stopped. Positive values are successes."""

    MAX_ITER = 0
    GOAL = 1
    TOL = 2
    MIN_GRAD = 3
    MAX_TIME = 4
    CALLBACK = 5
    CONVERGED = 6
    MU_MAX = -1
    NON_FINITE = -2
    STEP_FAILED = -3
    INTERRUPTED = -4
    SINGULAR = -5
    DIVERGED = -6
    STALLED = -7


#: One sentence per status, formatted with the solver's options. Each says what
#: happened in a user's words; the estimator adds the remedy when it warns.
MESSAGES = {
    Status.MAX_ITER: "The maximum number of iterations (max_iter={max_iter}) was reached.",
    Status.GOAL: "The loss reached the goal (goal={goal:g}).",
    Status.TOL: (
        "The loss improved by less than tol={tol:g} (relative) for "
        "n_iter_no_change={n_iter_no_change} consecutive iterations."
    ),
    Status.MIN_GRAD: "The gradient norm fell below min_grad={min_grad:g}.",
    Status.MAX_TIME: "The time budget (max_time={max_time:g} s) was spent.",
    Status.CALLBACK: "The callback asked to stop.",
    Status.CONVERGED: (
        "Converged to machine precision: no step from the last point lowers the loss "
        "by more than its rounding error, and the smaller steps no longer shrink the "
        "gradient."
    ),
    Status.MU_MAX: (
        "The damping mu exceeded mu_max={mu_max:g}: no step from the last point "
        "lowers the loss."
    ),
    Status.NON_FINITE: (
        "The loss or its derivatives (gradient, J^T J or Hessian) at the current "
        "parameters are not finite (NaN or infinity)."
    ),
    Status.STEP_FAILED: (
        "No step along the Gauss-Newton direction lowers the loss, even after "
        "halving it max_halvings={max_halvings} times."
    ),
    Status.INTERRUPTED: "Training was interrupted (KeyboardInterrupt, e.g. Ctrl-C).",
    Status.SINGULAR: (
        "The normal matrix J^T J is singular, so the undamped Gauss-Newton step is "
        "not defined."
    ),
    Status.DIVERGED: (
        "The loss diverged: it became non-finite or rose above "
        "{divergence_factor:g} times its lowest value."
    ),
    Status.STALLED: (
        "The method is stuck, not converged: for n_iter_no_change={n_iter_no_change} "
        "consecutive iterations the line search had to shorten the step and the loss "
        "improved by less than tol={tol:g} (relative), while the gradient norm stayed "
        "above min_grad={min_grad:g}."
    ),
}

#: Seconds into a run at which the slow-fit projection is made.
_SLOW_CHECK_AFTER = 5.0

#: Statuses that end a run successfully (``SolverResult.success``).
SUCCESS = frozenset({Status.GOAL, Status.TOL, Status.MIN_GRAD, Status.CALLBACK,
                     Status.CONVERGED})


# Statuses with which a step reports that it could not, or need not, move.
_NO_MOVE = {Status.MU_MAX, Status.NON_FINITE, Status.STEP_FAILED, Status.SINGULAR,
            Status.CONVERGED, Status.DIVERGED}


@dataclass
class IterationInfo:
    """What one iteration reports to the run loop, callbacks and the table.

    ``extras`` is for callbacks that compute more per iteration (a validation
    monitor writes its validation loss there); the verbose table shows it.
    ``step_scale`` is the fraction of the method's full step that was taken
    (below 1 when a line search shortened it): the run loop does not count a
    shortened step that barely lowers the loss as convergence.
    """

    iteration: int
    x: object
    loss: float
    grad_norm: float = math.nan
    mu: float = math.nan
    elapsed: float = 0.0
    status: Status | None = None
    step_scale: float = 1.0
    extras: dict = field(default_factory=dict)


@dataclass
class SolverResult:
    """The outcome of a solver run.

    Attributes
    ----------
    x : array
        The final parameters (on the problem's backend).
    loss : float
        The loss at ``x``.
    n_iter : int
        Iterations performed (accepted steps for damped methods; epochs for
        stochastic ones).
    status : Status
    message : str
    success : bool
        True when the solver stopped on a success criterion (goal, tol,
        min_grad, converged to machine precision) or was stopped by its
        callback.
    loss_curve, mu_curve, grad_norm_curve, time_curve : list of float
        Per iteration, after the iteration.
    initial_loss : float
    best_iteration : int
        The iteration whose parameters ``x`` are (0 for the start): the last
        one, except after a divergence or an interruption, which return the
        lowest-loss point.
    carry : dict
        The method's state to resume from (``Solver.run(..., carry=)``).
    """

    x: object
    loss: float
    n_iter: int
    status: Status
    message: str
    success: bool
    initial_loss: float
    loss_curve: list = field(default_factory=list)
    mu_curve: list = field(default_factory=list)
    grad_norm_curve: list = field(default_factory=list)
    time_curve: list = field(default_factory=list)
    best_iteration: int = 0
    carry: dict = field(default_factory=dict)


class _Table:
    """The ``verbose`` progress table, with MATLAB trainlm's columns.

    Iteration, time, loss (in the caller's units), the validation loss and
    the validation checks failed so far (with early stopping), the gradient
    norm and ``mu``. ``verbose=1`` prints the first row, then at most about
    one row a second, and the last row; ``verbose >= 2`` prints every row.
    """

    _NAMES = {"val_loss": "Val. loss", "val_fails": "Val. fails"}

    def __init__(self, stream, loss_unit, every_row):
        self.stream = stream
        self.loss_unit = loss_unit
        self.every_row = every_row
        self.extra_keys = None
        self.last_printed = None  # (iteration, elapsed) of the last row printed
        self.pending = None  # the latest row not printed (throttled)

    def row(self, info):
        if (self.every_row or self.last_printed is None
                or info.elapsed - self.last_printed[1] >= 1.0):
            self._print(info)
        else:
            self.pending = info

    def close(self):
        """Print the last row if throttling held it back."""
        if self.pending is not None:
            self._print(self.pending)

    def _print(self, info):
        if self.extra_keys is None:
            self.extra_keys = list(info.extras)
            # a method without damping (or minibatch epochs, without a full
            # gradient) shows no column of NaN
            self.show_grad = not math.isnan(info.grad_norm)
            self.show_mu = not math.isnan(info.mu)
            cols = ["Iter", "Time (s)", "Loss"]
            cols += [self._NAMES.get(k, k.replace("_", " ").title()) for k in self.extra_keys]
            cols += ["Gradient"] * self.show_grad + ["Mu"] * self.show_mu
            print(f"{cols[0]:>7}{cols[1]:>10}" + "".join(f"{c:>13}" for c in cols[2:]),
                  file=self.stream)
        cells = [f"{info.iteration:>7d}", f"{info.elapsed:>10.2f}",
                 f"{info.loss * self.loss_unit:>13.5e}"]
        for key in self.extra_keys:
            value = info.extras.get(key, math.nan)
            cells.append(f"{value:>13d}" if isinstance(value, int) else f"{value:>13.5e}")
        if self.show_grad:
            cells.append(f"{info.grad_norm:>13.3e}")
        if self.show_mu:
            cells.append(f"{info.mu:>13.3e}")
        print("".join(cells), file=self.stream)
        self.last_printed = (info.iteration, info.elapsed)
        self.pending = None


class Solver(abc.ABC):
    """Base class: stopping criteria and the run loop.

    Parameters
    ----------
    max_iter : int
    goal : float
        Stop when the loss is at or below ``goal``.
    tol : float
        Stop when the loss has not improved by at least ``tol * best_loss`` for
        ``n_iter_no_change`` consecutive iterations. 0 disables it. When most
        of those iterations took a step that a line search had to shorten,
        the method is stuck, not converged: the status is STALLED.
    n_iter_no_change : int or inf
        Patience of the ``tol`` test; ``inf`` never stops on it.
    stop_on_tol : bool, default=True
        False: the ``tol`` test only detects stalls (a caller whose callback
        judges convergence, e.g. on a validation set).
    min_grad : float
        Stop when the gradient norm of the loss falls below ``min_grad``.
    max_time : float or None
        Wall-clock budget in seconds.
    callback : callable or None
        ``callback(info: IterationInfo) -> bool``; returning True stops the run.
        A callback with a ``stop_message`` attribute (a string) supplies the
        stop message in place of the generic one.
    verbose : bool or int
        1 (or True): a progress table throttled to about a row a second, and
        a closing line saying why the run stopped; 2 or more: every row.
    stream : file, default sys.stdout
    loss_unit : float, default=1.0
        The caller's unit of loss in the problem's: ``goal`` is compared with,
        and ``verbose`` prints, ``loss * loss_unit`` (the estimator's losses in
        ``y``'s units when it trains on normalised targets). Everything else,
        the result's curves included, is the problem's own loss.
    slow_fit_warning : float or None, default=None
        Warn once (``SlowFitWarning``) when, 5 s into the run, the time per
        iteration so far projects more than this many seconds to
        ``max_iter`` (bounded by ``max_time``); None never warns.

    Notes
    -----
    A ``KeyboardInterrupt`` raised during an iteration (in ``step`` or in the
    callback, e.g. Ctrl-C) ends the run with status INTERRUPTED; the result
    holds the parameters with the lowest loss among the start and the
    completed iterations (for monotone methods the last accepted point; for
    SGD and Adam, whose loss may rise, the best epoch), and ``n_iter`` and the
    curves count only completed iterations. An interrupt during ``init``
    (the first evaluation) propagates: nothing has been computed to return.

    Methods whose loss may rise (SGD, Adam) set ``divergence_factor``: a loss
    that becomes non-finite or exceeds that factor times the lowest loss so
    far ends the run with DIVERGED and the lowest-loss parameters.
    """

    name = "base"
    #: Names of the method's own parameters, as LMRegressor spells them.
    options = ()
    #: Whether ``verbose`` closes with the run's own "Stopped after" line; an
    #: estimator that chains runs, or runs one iteration per call, says it
    #: itself in the user's terms.
    verbose_stop_line = True
    #: Constraints of this class's own ``__init__`` parameters, in
    #: scikit-learn's form; :meth:`parameter_constraints` merges the bases'.
    _parameter_constraints = {
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "goal": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {math.inf})],
        "min_grad": [Interval(Real, 0, None, closed="left")],
        "stop_on_tol": ["boolean"],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "callback": [callable, None],
        "verbose": ["verbose"],
        "stream": ["no_validation"],
        "loss_unit": [Interval(Real, 0, None, closed="neither")],
        "slow_fit_warning": [Interval(Real, 0, None, closed="neither"), None],
    }
    #: None for monotone methods; see the class notes.
    divergence_factor = None

    def __init__(self, *, max_iter=1000, goal=0.0, tol=0.0, n_iter_no_change=10,
                 min_grad=0.0, stop_on_tol=True, max_time=None, callback=None, verbose=0,
                 stream=None, loss_unit=1.0, slow_fit_warning=None):
        self.max_iter = max_iter
        self.stop_on_tol = stop_on_tol
        self.slow_fit_warning = slow_fit_warning
        self.loss_unit = loss_unit
        self.goal = goal
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.min_grad = min_grad
        self.max_time = max_time
        self.callback = callback
        self.verbose = verbose
        self.stream = stream

    @classmethod
    def parameter_constraints(cls):
        """Constraints of every ``__init__`` parameter, the bases' included."""
        merged = {}
        for klass in reversed(cls.__mro__):
            merged.update(vars(klass).get("_parameter_constraints", {}))
        return merged

    # -------------------------------------------------------------- subclass
    @abc.abstractmethod
    def init(self, problem, x0):
        """Evaluate the start; return the solver state (with ``.x`` and ``.loss``)."""

    @abc.abstractmethod
    def step(self, problem, state, iteration):
        """One iteration from ``state`` (updated in place); return an IterationInfo."""

    def carry(self, problem, state):
        """What a later run may resume from (``partial_fit``): damping, moments.

        Host (NumPy) values, so that an estimator holding them pickles anywhere.
        """
        return {}

    def resume(self, problem, state, carry):
        """Continue from a previous run's :meth:`carry` (``state`` is fresh from init)."""

    # ------------------------------------------------------------------ loop
    def message(self, status):
        if status == Status.CALLBACK and getattr(self.callback, "stop_message", None):
            return self.callback.stop_message
        return MESSAGES[status].format(**{
            k: getattr(self, k, math.nan) for k in
            ("max_iter", "goal", "tol", "n_iter_no_change", "min_grad", "max_time", "mu_max",
             "max_halvings", "divergence_factor")
        })

    def _reached_goal(self, loss):
        # In the caller's units, the product being what it reports. At or
        # below zero units do not matter, and an underflowing product must
        # not fake the exact zero that goal=0 asks for.
        if self.goal <= 0:
            return loss <= self.goal
        return loss * self.loss_unit <= self.goal

    def _diverged(self, loss, best_loss, initial_loss):
        if self.divergence_factor is None:
            return False
        if not math.isfinite(loss):
            return True
        # (the floor: a loss near zero may wobble by more than the factor in
        # rounding alone)
        floor = np.finfo(np.float64).eps * abs(initial_loss)
        return loss > self.divergence_factor * max(best_loss, floor)

    def _warn_if_slow(self, iteration, elapsed):
        """Once, early: warn when the run is on course to take very long."""
        per_iteration = elapsed / iteration
        projected = per_iteration * self.max_iter
        if self.max_time is not None:
            projected = min(projected, self.max_time)
        if projected > self.slow_fit_warning:
            warn(
                f"This fit is on course to take up to {projected:.0f} s ({per_iteration:.3g} s "
                f"an iteration, max_iter={self.max_iter}). Set max_time to bound it, train "
                "a smaller network or on fewer rows, or set verbose=1 to follow it.",
                SlowFitWarning)

    def _criterion_met(self, info, stop_requested, best_loss, initial_loss):
        """The status of a stopping criterion ``info`` meets (None: go on), tol aside."""
        if info.status is not None:
            return info.status
        if self._diverged(info.loss, best_loss, initial_loss):
            return Status.DIVERGED
        if not math.isfinite(info.loss):
            return Status.NON_FINITE
        if self._reached_goal(info.loss):
            return Status.GOAL
        if info.grad_norm < self.min_grad:
            return Status.MIN_GRAD
        if stop_requested:
            return Status.CALLBACK
        if self.max_time is not None and info.elapsed >= self.max_time:
            return Status.MAX_TIME
        return None

    def run(self, problem, x0, carry=None):
        """Minimise ``problem`` from ``x0``; return a :class:`SolverResult`.

        ``carry``: a previous run's ``SolverResult.carry``, to resume its
        damping or moments instead of starting them afresh. A carry of another
        method (an estimator whose ``solver`` changed between ``partial_fit``
        calls) is no state of this one: the run starts afresh.
        """
        start = time.perf_counter()
        stream = self.stream or sys.stdout
        table = _Table(stream, self.loss_unit, self.verbose >= 2) if self.verbose else None
        state = self.init(problem, x0)
        # (a carry without the method's name predates it: an estimator pickled
        # then resumed it with its own solver)
        if carry and carry.get("method", type(self).__name__) == type(self).__name__:
            self.resume(problem, state, carry)
        progress = _Progress(state.x, state.loss)
        status = self._start_status(state.loss)
        if status is None:
            status = self._iterate(problem, state, progress, start, table)
        status = Status.MAX_ITER if status is None else status
        message = self.message(status)
        x, loss, x_iteration = state.x, state.loss, progress.iteration
        if status in (Status.INTERRUPTED, Status.DIVERGED):
            x, loss, x_iteration = progress.best_x, progress.best_loss, progress.best_iteration
        if table is not None:
            table.close()
            if self.verbose_stop_line:
                print(stop_line(progress.iteration, time.perf_counter() - start,
                                loss * self.loss_unit, message), file=stream)
        history = progress.history
        return SolverResult(
            x=x, loss=loss, n_iter=progress.iteration, status=status, message=message,
            success=status in SUCCESS, initial_loss=progress.initial_loss,
            loss_curve=history["loss"], mu_curve=history["mu"],
            grad_norm_curve=history["grad"], time_curve=history["time"],
            best_iteration=x_iteration,
            carry={"method": type(self).__name__, **self.carry(problem, state)},
        )

    def _start_status(self, loss):
        """The status the starting point already meets (a non-finite loss, the goal), or None."""
        if not math.isfinite(loss):
            return Status.NON_FINITE
        if self._reached_goal(loss):
            return Status.GOAL
        return None

    def _iterate(self, problem, state, progress, start, table):
        """Step until a stopping criterion is met; its status (None at ``max_iter``)."""
        # the slow-fit projection is made once, at the first iteration past
        # _SLOW_CHECK_AFTER seconds: a fit that ends sooner never warns
        slow_check = self.slow_fit_warning is not None
        patience = _Patience(self.tol, self.n_iter_no_change, self.stop_on_tol)
        status = None
        while status is None and progress.iteration < self.max_iter:
            try:
                info = self.step(problem, state, progress.iteration + 1)
                if info.status in _NO_MOVE:
                    # The method did not move (damping capped, no finite step,
                    # converged): stop at the last accepted point, no new iteration.
                    return info.status
                info.elapsed = time.perf_counter() - start
                stop_requested = bool(self.callback(info)) if self.callback else False
            except KeyboardInterrupt:
                # The interrupted iteration is not recorded; a first-order epoch
                # may have left state.x mid-epoch, so return the best recorded point.
                return Status.INTERRUPTED
            progress.record(info)
            if table is not None:
                table.row(info)
            if slow_check and info.elapsed >= _SLOW_CHECK_AFTER:
                slow_check = False
                self._warn_if_slow(progress.iteration, info.elapsed)
            status = (self._criterion_met(info, stop_requested, progress.best_loss,
                                          progress.initial_loss)
                      or patience.update(info, progress.best_loss))
            progress.keep_if_best(info)
        return status


class _Progress:
    """The iterations a run has completed: their curves and the lowest-loss point.

    The lowest-loss point (the start's until an iteration improves on it) is
    the ``tol`` test's reference, and is returned after a divergence or an
    interruption.
    """

    def __init__(self, x, loss):
        self.initial_loss = loss
        self.iteration = 0
        self.history = {"loss": [], "mu": [], "grad": [], "time": []}
        self.best_x, self.best_loss, self.best_iteration = x, loss, 0

    def record(self, info):
        """Count ``info``'s iteration and append it to the curves."""
        self.iteration += 1
        for key, value in zip(self.history, (info.loss, info.mu, info.grad_norm, info.elapsed)):
            self.history[key].append(value)

    def keep_if_best(self, info):
        """Keep ``info``'s point if its loss is the lowest so far.

        A copy: O(n) per improving iteration, against at least O(m n) for the
        iteration itself.
        """
        if info.loss < self.best_loss:
            self.best_x, self.best_loss = info.x.copy(), info.loss
            self.best_iteration = self.iteration


class _Patience:
    """The ``tol`` test over ``n_iter_no_change`` iterations, and the stall test.

    Counts iterations since the loss last improved on the best by ``tol``
    (relative): full steps and steps a line search shortened apart. When
    they add up to ``n_iter_no_change``, mostly shortened steps mean a stall
    (STALLED, a failure), mostly full ones convergence (TOL, unless
    ``stop_on_tol`` is False). ``tol=0`` disables both.
    """

    def __init__(self, tol, n_iter_no_change, stop_on_tol):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.stop_on_tol = stop_on_tol
        self.full = self.shortened = 0

    def update(self, info, best_loss):
        """Count ``info``'s iteration; the status the tests reach, or None."""
        if self.tol <= 0:
            return None
        if info.loss <= best_loss - self.tol * abs(best_loss):
            self.full = self.shortened = 0
        elif info.step_scale < 1.0:
            self.shortened += 1
        else:
            self.full += 1
        window = self.full + self.shortened
        if window < self.n_iter_no_change:
            return None
        if 2 * self.shortened > window:
            return Status.STALLED
        return Status.TOL if self.stop_on_tol else None


def stop_line(n_iter, seconds, loss, message, detail=""):
    """``verbose``'s closing line: iterations, seconds, training loss, why it stopped."""
    return (f"Stopped after {n_iter} iterations{detail} in {seconds:.2f} s, training loss "
            f"{loss:.6g}: {message}")


def at_machine_precision(predicted_decrease, loss, endgame=False):
    """Whether a step's predicted decrease of the loss is lost in its rounding.

    Both in the same units. Comparing the loss before and after such a step
    tells nothing: the difference of two losses is accurate to a few units in
    the last place of the loss, whatever the step. It does not follow that
    the method has converged. Near a minimum the loss is quadratic in the
    distance to it, so a decrease at the loss's resolution ``eps * loss``
    leaves the parameters about ``sqrt(eps)`` (relative) from the minimum,
    half their digits; such a step is judged by the gradient instead
    (:func:`lowers_gradient`).

    ``endgame=True`` widens the resolution to ``sqrt(eps)`` of the loss: once a
    trial at a point was judged by the gradient and rejected, the point is
    near a minimum, and the loss's own rounding may be far coarser than
    ``eps`` (residuals that are small differences of large numbers), so that
    the loss would judge the next, less damped trials by their rounding.
    """
    eps = np.finfo(np.float64).eps
    resolution = math.sqrt(eps) if endgame else LOSS_RESOLUTION * eps
    return predicted_decrease <= resolution * abs(loss)


#: A loss is taken to be known to this many units in its last place (sums
#: of squares of a few thousand residuals, and the residuals' own rounding).
LOSS_RESOLUTION = 8.0


def loss_and_Jtr(problem, x):
    """``(loss, J^T r)`` at ``x``: the gradient of half the sum of squares.

    From the problem's gradient of the loss (``2 J^T r / scale``: one
    backward pass for an MLP), or from its normal equations where it has no
    gradient. No difference of losses enters it, so it stays accurate where
    losses cannot be told apart: near a minimum it is exact to the rounding
    of ``J^T r`` itself, the accuracy of a least-squares solution.
    """
    try:
        loss, grad = problem.gradient(x)
    except NotImplementedError:
        loss, _, Jtr = problem.normal_equations(x)
        return loss, Jtr
    return loss, grad * (0.5 * problem.scale)


def decrement(xp, Jtr, solve):
    """``J^T r . M^-1 J^T r`` for the damped normal matrix ``M`` that ``solve`` inverts.

    The decrease of the sum of squares a Newton step on the model ``M``
    would bring: the size of the gradient in the metric of the curvature.
    ``solve(v) -> M^-1 v`` (or None: NaN is returned).
    """
    if not all_finite(xp, Jtr):
        return math.nan
    v = solve(Jtr)
    return math.nan if v is None else float(xp.vdot(Jtr, v))


def lowers_gradient(loss, loss_new, decrement_old, decrement_new):
    """Whether a trial too small for the loss to judge is an improvement.

    ``decrement_old`` and ``decrement_new`` are :func:`decrement` at the
    current and at the trial point, with the same ``M`` (the system the step
    was solved with): the trial improves when the decrement falls to
    :data:`SHRINK` of its value at the current point. Measured
    with ``M^-1``, each direction of the gradient counts as much as the loss
    it stands for: in the plain norm the rounding of ``J^T r`` along the
    stiff directions (of size ``eps ||J|| ||r||``, fresh at every point)
    would hide the progress along the flat ones, and an ill-conditioned fit
    would stop ``cond(J)^2 eps`` from its solution. For a linear problem
    every damped step lowers the decrement exactly, so the iteration goes on
    until the gradient is rounding: as close to the least-squares solution as
    a direct solver gets, not ``sqrt(eps)`` from it.

    The loss itself only vetoes a rise of more than ``sqrt(eps)`` (relative):
    a step predicted to change it by less than its rounding cannot change it
    more unless the model is wrong, while its rounding may reach far beyond
    ``eps`` (residuals that are small differences of large numbers: 1e-4 of
    the data's scale leaves the loss ~1e-12 of rounding). A veto on any rise
    at all would stop such a fit at random, up to ``sqrt(eps)`` from its
    solution; so in this endgame the loss curve may stay level or move within
    the loss's rounding, where above it every accepted step lowers the loss.
    """
    if not (math.isfinite(loss_new) and math.isfinite(decrement_new)):
        return False
    if loss_new - loss > math.sqrt(np.finfo(np.float64).eps) * abs(loss):
        return False
    return decrement_new <= SHRINK * decrement_old


#: A trial judged by the gradient must shrink the decrement to this fraction.
#: A step of the model near its minimum does much better (by
#: ``(mu / (s^2 + mu))^2`` along each direction of curvature ``s^2``: nearly
#: to 0 once ``mu`` is small); two roundings of the gradient rarely differ
#: so much. With a mere decrease, noise alone would pass half the trials,
#: and on a degenerate problem (a valley of minima, as an over-sized network
#: has) the iteration would wander along the valley for as long as
#: ``max_iter`` allows.
SHRINK = 0.25


def norm(xp, v):
    """Euclidean norm of a backend vector, as a Python float."""
    return float(xp.sqrt(xp.vdot(v, v)))


def all_finite(xp, *arrays):
    """Whether every entry of every backend array is finite (one host sync each)."""
    return all(bool(xp.isfinite(a).all()) for a in arrays)
