"""Newton's method on the exact Hessian, damped like Levenberg-Marquardt.

The step solves ``(H + mu I) step = -g`` with ``H`` and ``g`` the Hessian and
gradient of the *sum of squares* ``scale * loss / 2`` (so ``H = J^T J`` minus the
residual-curvature term, and ``mu`` means what it means for LM). The loss of a
neural network is not convex: where ``H + mu I`` is not positive definite or
the step does not lower the loss, ``mu`` grows by ``mu_increase`` and the step
is retried (with the same Hessian); after an accepted step it shrinks by
``mu_decrease``. With ``mu_init=0`` and a positive definite Hessian whose
steps lower the loss, this is the pure textbook method. A non-finite Hessian
or gradient at the current point stops the run with status NON_FINITE.
"""

import math
from dataclasses import dataclass

from ._base import IterationInfo, Solver, Status, all_finite, at_machine_precision, norm

__all__ = ["Newton"]


@dataclass
class _NewtonState:
    x: object
    loss: float
    grad: object
    H: object
    mu: float


class Newton(Solver):
    """Damped Newton's method.

    Parameters
    ----------
    mu_init, mu_increase, mu_decrease, mu_max : float
        As for :class:`~sklm.solvers.lm.LevenbergMarquardt`.
    **kwargs
        Stopping criteria and reporting, see :class:`~sklm.solvers._base.Solver`.
    """

    name = "newton"
    options = ("mu_init", "mu_increase", "mu_decrease", "mu_max")

    def __init__(self, *, mu_init=1e-3, mu_increase=10.0, mu_decrease=0.1, mu_max=1e10,
                 **kwargs):
        super().__init__(**kwargs)
        self.mu_init = mu_init
        self.mu_increase = mu_increase
        self.mu_decrease = mu_decrease
        self.mu_max = mu_max

    def init(self, problem, x0):
        loss, grad, H = problem.hessian(x0)
        return _NewtonState(x0, loss, grad, H, self.mu_init)

    def step(self, problem, state, iteration):
        xp = problem.backend.xp
        # A non-finite Hessian or gradient (overflow in the curvature term)
        # defines no step: say so, rather than damp until mu_max and report
        # MU_MAX with the wrong cause.
        if not all_finite(xp, state.H, state.grad):
            return IterationInfo(iteration, state.x, state.loss, mu=state.mu,
                                 status=Status.NON_FINITE)
        half = 0.5 * problem.scale
        H = state.H * half
        neg_g = state.grad * (-half)
        n = H.shape[0]
        diag = H.reshape(-1)[:: n + 1]
        base = diag.copy()
        # The smallest positive damping to try after a rejected undamped step.
        mu_floor = 1e-12 * max(1.0, float(xp.abs(base).max()))
        mu = state.mu
        while True:
            diag[...] = base + mu
            step = problem.backend.cholesky_solve(H, neg_g)
            if step is not None:
                x_new = state.x + step
                # decrease of the sum of squares the quadratic model predicts
                predicted = 0.5 * float(xp.vdot(step, neg_g) + mu * xp.vdot(step, step))
                if (not bool(xp.any(x_new != state.x))
                        or at_machine_precision(predicted, state.loss * half)):
                    return IterationInfo(iteration, state.x, state.loss, mu=mu,
                                         status=Status.CONVERGED)
                loss_new = problem.loss(x_new)
                if math.isfinite(loss_new) and loss_new < state.loss:
                    break
            mu = max(mu * self.mu_increase, mu_floor)
            if mu > self.mu_max:
                state.mu = mu
                return IterationInfo(iteration, state.x, state.loss, mu=mu,
                                     status=Status.MU_MAX)
        mu *= self.mu_decrease
        state.loss, state.grad, state.H = problem.hessian(x_new)
        state.x, state.mu = x_new, mu
        return IterationInfo(iteration, x_new, state.loss,
                             grad_norm=norm(xp, state.grad), mu=mu)
