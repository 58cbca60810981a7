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

from dataclasses import dataclass

from ._base import IterationInfo, Solver, Status, all_finite, norm
from ._damped import DenseSystem, damped_step
from .lm import LevenbergMarquardt, resolve_mu_init, trainlm_update

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
    mu_init : float or 'auto', default='auto'
        Initial damping; 'auto' is trainlm's 1e-3.
    mu_increase, mu_decrease, mu_max : float
        As for :class:`~sklm.solvers.lm.LevenbergMarquardt`.
    **kwargs
        Stopping criteria and reporting, see :class:`~sklm.solvers._base.Solver`.
    """

    name = "newton"
    options = ("mu_init", "mu_increase", "mu_decrease", "mu_max")
    _parameter_constraints = {name: LevenbergMarquardt._parameter_constraints[name]
                              for name in options}

    def __init__(self, *, mu_init="auto", mu_increase=10.0, mu_decrease=0.1, mu_max=1e10,
                 **kwargs):
        super().__init__(**kwargs)
        self.mu_init = mu_init
        self.mu_increase = mu_increase
        self.mu_decrease = mu_decrease
        self.mu_max = mu_max

    def init(self, problem, x0):
        loss, grad, H = problem.hessian(x0)
        return _NewtonState(x0, loss, grad, H, resolve_mu_init(self.mu_init))

    def carry(self, problem, state):
        return {"mu": state.mu, "scale": problem.scale}

    def resume(self, problem, state, carry):
        # (mu is on the scale of the sum of squares' Hessian: see LM's resume,
        # which also starts afresh after a run that ended past mu_max)
        if carry["mu"] <= self.mu_max:
            state.mu = carry["mu"] * (problem.scale / carry["scale"])

    def step(self, problem, state, iteration):
        xp = problem.backend.xp
        # A non-finite Hessian or gradient (overflow in the curvature term)
        # defines no step: say so, rather than damp until mu_max and report
        # MU_MAX with the wrong cause.
        if not all_finite(xp, state.H, state.grad):
            return IterationInfo(iteration, state.x, state.loss, mu=state.mu,
                                 status=Status.NON_FINITE)
        # LM's trial loop on the sum of squares scale * loss / 2, with D = I
        # and trainlm's rule (the Hessian's diagonal may be negative: the
        # floor uses its magnitude).
        half = 0.5 * problem.scale
        H = state.H * half
        system = DenseSystem(problem.backend, H, state.grad * (-half), xp.ones(H.shape[0]))
        status, x_new, mu, _ = damped_step(
            problem, state.x, state.loss, system, state.mu, 2.0, update=trainlm_update,
            mu_increase=self.mu_increase,
            mu_decrease=self.mu_decrease, mu_max=self.mu_max,
            mu_floor=1e-12 * max(1.0, float(xp.abs(H.diagonal()).max())))
        if status is not None:
            if status == Status.MU_MAX:
                state.mu = mu
            return IterationInfo(iteration, state.x, state.loss, mu=mu, status=status)
        state.loss, state.grad, state.H = problem.hessian(x_new)
        state.x, state.mu = x_new, mu
        return IterationInfo(iteration, x_new, state.loss,
                             grad_norm=norm(xp, state.grad), mu=mu)
