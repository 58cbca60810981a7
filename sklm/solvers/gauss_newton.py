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

With ``linear_solver='cg'`` the step is solved matrix-free, as LM's is
(:mod:`sklm.solvers._damped`): truncated conjugate gradients on the sampled
``J^T J`` at ``mu = 0``, whose truncation is then all the regularisation the
step has (``J^T J`` of a sample smaller than the parameter count is singular).

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
from ._damped import MatrixFree, resolve_linear_solver

__all__ = ["GaussNewton"]


@dataclass
class _GNState:
    x: object
    loss: float
    JtJ: object  # None on the matrix-free path
    Jtr: object
    last_step: object = None  # the matrix-free path's warm start


class GaussNewton(Solver):
    """Gauss-Newton with an optional step-halving safeguard.

    Parameters
    ----------
    safeguard : bool, default=True
    max_halvings : int, default=30
    linear_solver : {'auto', 'dense', 'cg'}, default='auto'
        See :class:`~sklm.solvers.lm.LevenbergMarquardt`.
    cg_max_iter, cg_tol, curvature_rows, random_state
        The matrix-free step's settings (:class:`~sklm.solvers._damped.MatrixFree`).
    **kwargs
        Stopping criteria and reporting, see :class:`~sklm.solvers._base.Solver`.
    """

    name = "gauss-newton"
    options = ("linear_solver", "random_state")
    _parameter_constraints = {
        **MatrixFree.constraints,
        "safeguard": ["boolean"],
        "max_halvings": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, *, safeguard=True, max_halvings=30, linear_solver="auto",
                 cg_max_iter=50, cg_tol=1e-2, curvature_rows=2000, random_state=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.safeguard = safeguard
        self.max_halvings = max_halvings
        self.linear_solver = linear_solver
        self.cg_max_iter = cg_max_iter
        self.cg_tol = cg_tol
        self.curvature_rows = curvature_rows
        self.random_state = random_state

    def init(self, problem, x0):
        self._matrix_free = None
        if resolve_linear_solver(self.linear_solver, problem.n_params) == "cg":
            self._matrix_free = MatrixFree(self.random_state, self.cg_max_iter, self.cg_tol,
                                           self.curvature_rows)
            loss, Jtr = self._matrix_free.loss_and_Jtr(problem, x0)
            return _GNState(x0, loss, None, Jtr)
        loss, JtJ, Jtr = problem.normal_equations(x0)
        return _GNState(x0, loss, JtJ, Jtr)

    def _solve(self, problem, state, neg_Jtr):
        """``(step, predicted decrease of ||r||^2)``; step None: ``J^T J`` singular."""
        backend = problem.backend
        if self._matrix_free is not None:
            operator = self._matrix_free.operator(problem, state.x)
            diagonal = operator.diagonal()
            ones = backend.xp.ones_like(diagonal)
            system = self._matrix_free.system(problem, operator, neg_Jtr, ones, diagonal,
                                              state.last_step)
            step = system.solve(0.0)
            return step, (None if step is None else system.predicted(step, 0.0))
        step = backend.cholesky_solve(state.JtJ, neg_Jtr)
        if step is None:
            if not self.safeguard:
                return None, None
            step = backend.lstsq(state.JtJ, neg_Jtr)
        # decrease of ||r||^2 the linearised model predicts for the full step
        return step, float(backend.xp.vdot(step, neg_Jtr))

    def step(self, problem, state, iteration):
        backend = problem.backend
        # A non-finite J^T J or J^T r (a Jacobian that overflowed) defines no
        # step; without this test the SVD fallback below raises LinAlgError.
        if not all_finite(backend.xp, state.Jtr, *([] if state.JtJ is None else [state.JtJ])):
            return IterationInfo(iteration, state.x, state.loss, status=Status.NON_FINITE)
        neg_Jtr = -state.Jtr
        step, predicted = self._solve(problem, state, neg_Jtr)
        if step is None:
            return IterationInfo(iteration, state.x, state.loss, status=Status.SINGULAR)
        x_new = state.x + step
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
        if self._matrix_free is None:
            state.loss, state.JtJ, state.Jtr = problem.after_accepted_step(
                x_new, *problem.normal_equations(x_new))
        else:
            state.loss, state.Jtr = self._matrix_free.loss_and_Jtr(problem, x_new)
            state.last_step = x_new - state.x
        state.x = x_new
        grad_norm = 2.0 * norm(backend.xp, state.Jtr) / problem.scale
        return IterationInfo(iteration, x_new, state.loss, grad_norm=grad_norm,
                             step_scale=0.5**halvings)
