"""Gauss-Newton: the undamped step ``(J^T J) step = -J^T r``.

Where ``J^T J`` is positive definite and the full step lowers the loss, this is
exactly the textbook method. It fails where ``J^T J`` is singular or the model
is far from linear (the tutorial's MLP run: the loss jumps from 549 to 5e7 and
the next normal matrix is not invertible). The safeguard, on by default,
acts only when the full step fails:

- a singular ``J^T J`` (Cholesky fails) is solved in the least-squares sense
  (minimum-norm solution by SVD);
- a step that does not lower the loss (or makes it non-finite) is halved,
  up to ``max_halvings`` times, then the solver stops with STEP_FAILED
  (or CONVERGED if the halved step vanished below the parameters'
  floating-point resolution: the loss is at a minimum to machine precision).
  A halved step is reported (``step_scale``) so that the run loop's ``tol``
  test does not mistake a stall for convergence: ``n_iter_no_change``
  halved steps in a row that barely lower the loss stop the run with
  STALLED, a failure (Levenberg-Marquardt is the remedy).

Near a minimum a step may change the loss by less than its rounding while
still moving the parameters in the last half of their digits: such a step
(full or halved) is judged by the gradient instead, taken if it shrinks the
gradient's size ``J^T r . (J^T J)^-1 J^T r``
(:func:`~sklm.solvers._base.lowers_gradient`); one that does not marks a
minimum to machine precision (CONVERGED), and so does a full step the loss
rejects when the gradient rejects it too. A linear problem therefore ends as
close to its least-squares solution as a direct solver's.

Each accepted point's normal equations pass through
``problem.after_accepted_step`` (see :mod:`sklm.solvers.lm`).

With ``safeguard=False`` (pure) every full step is taken, a singular ``J^T J``
stops the run with status SINGULAR and a non-finite loss with NON_FINITE; the
parameters returned are always the last finite ones. Either way a non-finite
``J^T J`` or ``J^T r`` at the current point stops the run with NON_FINITE.
"""

import math
from dataclasses import dataclass
from numbers import Integral

from .._sklearn_compat import Interval
from ._base import (
    IterationInfo,
    Solver,
    Status,
    all_finite,
    at_machine_precision,
    decrement,
    loss_and_Jtr,
    lowers_gradient,
    norm,
)

__all__ = ["GaussNewton"]


@dataclass
class _GNState:
    x: object
    loss: float
    JtJ: object
    Jtr: object


class GaussNewton(Solver):
    """Gauss-Newton with an optional step-halving safeguard.

    Parameters
    ----------
    safeguard : bool, default=True
    max_halvings : int, default=30
    **kwargs
        Stopping criteria and reporting, see :class:`~sklm.solvers._base.Solver`.
    """

    name = "gauss-newton"
    options = ()
    _parameter_constraints = {
        "safeguard": ["boolean"],
        "max_halvings": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, *, safeguard=True, max_halvings=30, **kwargs):
        super().__init__(**kwargs)
        self.safeguard = safeguard
        self.max_halvings = max_halvings

    def init(self, problem, x0):
        loss, JtJ, Jtr = problem.normal_equations(x0)
        return _GNState(x0, loss, JtJ, Jtr)

    def step(self, problem, state, iteration):
        backend = problem.backend
        # A non-finite J^T J or J^T r (a Jacobian that overflowed) defines no
        # step; without this test the SVD fallback below raises LinAlgError.
        if not all_finite(backend.xp, state.JtJ, state.Jtr):
            return _stopped(iteration, state, Status.NON_FINITE)
        neg_Jtr = -state.Jtr
        step, solve = self._direction(backend, state.JtJ, neg_Jtr)
        if step is None:
            return _stopped(iteration, state, Status.SINGULAR)
        # decrease of ||r||^2 the linearised model predicts for the full step
        # (for the step times t it predicts t (2 - t) times as much)
        predicted = float(backend.xp.vdot(step, neg_Jtr))
        status, x_new, halvings = self._line_search(problem, state, step, predicted, solve)
        if status is not None:
            return _stopped(iteration, state, status)
        state.loss, state.JtJ, state.Jtr = problem.after_accepted_step(
            x_new, *problem.normal_equations(x_new))
        state.x = x_new
        grad_norm = 2.0 * norm(backend.xp, state.Jtr) / problem.scale
        return IterationInfo(iteration, x_new, state.loss, grad_norm=grad_norm,
                             step_scale=0.5**halvings)

    def _direction(self, backend, JtJ, neg_Jtr):
        """The Gauss-Newton step and the solver of ``J^T J`` that gave it (None, None: singular).

        Cholesky's, or with the safeguard the least-squares one (minimum norm,
        by SVD) where Cholesky fails.
        """
        step = backend.cholesky_solve(JtJ, neg_Jtr)
        if step is not None:
            return step, lambda rhs: backend.cholesky_solve(JtJ, rhs)
        if not self.safeguard:
            return None, None
        return backend.lstsq(JtJ, neg_Jtr), lambda rhs: backend.lstsq(JtJ, rhs)

    def _line_search(self, problem, state, step, predicted, solve):
        """The full step, or the step halved until the loss or gradient accepts it.

        Returns ``(None, x_new, halvings)`` for the accepted point, or
        ``(status, None, halvings)`` where the iteration stops.
        """
        S = state.loss * problem.scale
        if self.safeguard and predicted < 0 and not at_machine_precision(-predicted, S):
            # An uphill step: J^T J is not positive semi-definite (a broken
            # normal matrix from the problem). No halving of it can help.
            return Status.STEP_FAILED, None, 0
        xp = problem.backend.xp
        for halvings in range(self.max_halvings + 1):
            if halvings:
                step = step * 0.5
            x_new = state.x + step
            if not bool(xp.any(x_new != state.x)):
                # no representable step (the full one, or halved to nothing)
                return Status.CONVERGED, None, halvings
            t = 0.5**halvings
            if at_machine_precision(abs(t * (2.0 - t) * predicted), S):
                # The loss cannot resolve this step (it may still move the
                # parameters in their last half of digits): the gradient
                # judges it, and a step that does not lower it marks the minimum.
                loss_new = problem.loss(x_new)
                if _gradient_accepts(problem, x_new, state.loss, loss_new, predicted, solve):
                    return None, x_new, halvings
                return Status.CONVERGED, None, halvings
            loss_new = problem.loss(x_new)
            if not self.safeguard:
                # pure: every full step is taken, while its loss is finite
                if not math.isfinite(loss_new):
                    return Status.NON_FINITE, None, halvings
                return None, x_new, halvings
            if math.isfinite(loss_new) and loss_new < state.loss:
                return None, x_new, halvings
            if halvings == 0 and at_machine_precision(abs(predicted), S, endgame=True):
                # Near a minimum the loss's own rounding may exceed eps (the
                # residuals cancel): the full step it rejects may still be the
                # better one, and a halved step cannot shrink the gradient as
                # a full one does.
                if _gradient_accepts(problem, x_new, state.loss, loss_new, predicted, solve):
                    return None, x_new, halvings
        return Status.STEP_FAILED, None, self.max_halvings


def _gradient_accepts(problem, x_new, loss, loss_new, predicted, solve):
    """Whether the gradient at ``x_new`` shows the trial to improve (:func:`lowers_gradient`)."""
    Jtr_new = loss_and_Jtr(problem, x_new)[1]
    return lowers_gradient(loss, loss_new, abs(predicted),
                           decrement(problem.backend.xp, Jtr_new, solve))


def _stopped(iteration, state, status):
    """The report of an iteration that stops at ``state`` with ``status``."""
    return IterationInfo(iteration, state.x, state.loss, status=status)
