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
from ._base import IterationInfo, Solver, Status, all_finite, at_machine_precision, norm

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
            return IterationInfo(iteration, state.x, state.loss, status=Status.NON_FINITE)
        neg_Jtr = -state.Jtr
        step = backend.cholesky_solve(state.JtJ, neg_Jtr)
        if step is None:
            if not self.safeguard:
                return IterationInfo(iteration, state.x, state.loss, status=Status.SINGULAR)
            step = backend.lstsq(state.JtJ, neg_Jtr)
        x_new = state.x + step
        # decrease of ||r||^2 the linearised model predicts for the full step
        predicted = float(backend.xp.vdot(step, neg_Jtr))
        if at_machine_precision(abs(predicted), state.loss * problem.scale):
            return IterationInfo(iteration, state.x, state.loss, status=Status.CONVERGED)
        if self.safeguard and predicted < 0:
            # An uphill step: J^T J is not positive semi-definite (a broken
            # normal matrix from the problem). No halving of it can help, and
            # the tiny-decrease test above must not call this convergence.
            return IterationInfo(iteration, state.x, state.loss, status=Status.STEP_FAILED)
        loss_new = problem.loss(x_new)
        halvings = 0
        if self.safeguard:
            while not (math.isfinite(loss_new) and loss_new < state.loss):
                halvings += 1
                if halvings > self.max_halvings:
                    return IterationInfo(iteration, state.x, state.loss,
                                         status=Status.STEP_FAILED)
                step = step * 0.5
                x_new = state.x + step
                if not bool(backend.xp.any(x_new != state.x)):
                    return IterationInfo(iteration, state.x, state.loss,
                                         status=Status.CONVERGED)
                loss_new = problem.loss(x_new)
        elif not math.isfinite(loss_new):
            return IterationInfo(iteration, state.x, state.loss, status=Status.NON_FINITE)
        state.loss, state.JtJ, state.Jtr = problem.after_accepted_step(
            x_new, *problem.normal_equations(x_new))
        state.x = x_new
        grad_norm = 2.0 * norm(backend.xp, state.Jtr) / problem.scale
        return IterationInfo(iteration, x_new, state.loss, grad_norm=grad_norm,
                             step_scale=0.5**halvings)
