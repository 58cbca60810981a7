"""Levenberg-Marquardt on the normal equations.

Each iteration, with ``J^T J`` and ``J^T r`` formed once at the current point:

1. solve ``(J^T J + mu D) step = -J^T r`` by Cholesky (``D = I``, 'levenberg',
   as MATLAB's trainlm; or ``D = diag(J^T J)``, 'marquardt', invariant to the
   scale of each parameter). A failed or non-finite factorisation is a
   rejected trial.
2. evaluate the loss at ``x + step`` (one forward pass). If it decreased,
   accept and lower ``mu``; otherwise raise ``mu`` and go back to 1 with the
   *same* ``J^T J`` (a rejected trial never costs a new Jacobian).
3. stop with status MU_MAX when ``mu`` exceeds ``mu_max``.

After each accepted step the solver forms the normal equations at the new
point and hands them to ``problem.after_accepted_step``, which returns them
unchanged unless the problem re-estimates a hyper-parameter of its loss there
(Bayesian regularisation re-estimates its penalty from ``J^T J``); the solver
continues from what it returns. The solver knows nothing of what that is.

Forming ``J^T J`` squares the condition number of ``J`` (optimistix's
``newton_step`` docstring explains why a QR of ``J`` is the textbook choice);
sklm forms it on purpose, because it is a BLAS-3 symmetric rank-k update that
streams over row chunks and runs near the machine's peak, while damping keeps
the system positive definite and the Cholesky check catches the rest.

Three rules update ``mu`` (``mu_update``):

'trainlm'
    MATLAB's: divide by ``1/mu_decrease`` after an accepted step, multiply by
    ``mu_increase`` after a rejected one (defaults 0.1 and 10, cap 1e10).
'nielsen'
    Nielsen's gain-ratio rule (Madsen, Nielsen & Tingleff, *Methods for
    non-linear least squares problems*, 2004, eq. 3.16): after an accepted
    step with gain ratio ``rho`` (actual over predicted decrease),
    ``mu *= max(1/3, 1 - (2 rho - 1)^3)``; after a rejected one ``mu *= nu``
    and ``nu *= 2``. Smooth, it avoids trainlm's accept/reject alternation.
'more'
    Moré's trust region (MINPACK's lmder/lmpar, :mod:`._trust_region`): a
    radius ``delta`` on ``||D step||`` with ``D`` the column norms of ``J``,
    updated by the gain ratio, and ``mu`` (of ``J^T J + mu D^2``) found for
    it by a few Cholesky factorisations of the same ``J^T J``. ``mu_init``,
    ``mu_increase``, ``mu_decrease``, ``mu_max`` and ``damping`` do not apply.

Geodesic acceleration (``geodesic=True``; Transtrum & Sethna, "Improvements to
the Levenberg-Marquardt algorithm for nonlinear least-squares minimization",
arXiv:1201.5885, 2012) adds a second-order correction to each trial step. With
the velocity ``v`` the damped Gauss-Newton step above, the acceleration ``a``
solves the same damped system for the residuals' second directional
derivative ``r_vv = r''(x)[v, v]``::

    (J^T J + mu D) a = -J^T r_vv,
    r_vv ~ (2 / h) ((r(x + h v) - r(x)) / h - J v),     h = geodesic_h

and the trial point is ``x + v + a / 2``: the step follows the curved path of
the residuals instead of their tangent. Where ``2 ||a|| / ||v||`` (norms
scaled by ``D``) exceeds ``geodesic_alpha`` the quadratic correction is not
trustworthy and the trial falls back to the plain step ``x + v``. (Transtrum
and Sethna reject such a trial instead; on the tutorial's unscaled surrogate
that kept ``mu`` near 1e3 for the whole run and left the validation MSE at
1.4 after 100 iterations, against 0.0031 with the fallback and 0.015 with no
acceleration: median of 10 seeds.) The
gain ratio compares the actual decrease with the one the linear model
predicts for ``v``. A trial costs one more forward pass, one Jacobian-vector
and one vector-Jacobian product (``problem.residual``, ``jvp``, ``vjp``) and a
second solve with the same Cholesky factor; never a new Jacobian.
"""

import dataclasses
import math
from dataclasses import dataclass
from numbers import Real

import numpy as np

from .._sklearn_compat import Interval, StrOptions
from ._base import IterationInfo, Solver, Status, all_finite, norm
from ._damped import DenseSystem, MatrixFree, damped_step, resolve_linear_solver
from ._trust_region import TrustRegion, trust_region_step

__all__ = ["LevenbergMarquardt"]


@dataclass
class _LMState:
    x: object
    loss: float
    JtJ: object  # None on the matrix-free path
    Jtr: object
    mu: float
    nu: float = 2.0
    last_step: object = None  # the matrix-free path's warm start
    tr: object = None  # mu_update='more': the trust region (TrustRegion)


def trainlm_update(mu, nu, accepted, rho, mu_increase, mu_decrease):
    """MATLAB trainlm's rule: ``(mu * mu_decrease, nu)`` or ``(mu * mu_increase, nu)``."""
    return (mu * mu_decrease if accepted else mu * mu_increase), nu


def nielsen_update(mu, nu, accepted, rho, mu_increase, mu_decrease):
    """Nielsen's gain-ratio rule; ``nu`` doubles on each consecutive rejection."""
    if accepted:
        return mu * max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), 2.0
    return mu * nu, 2.0 * nu


MU_UPDATES = {"trainlm": trainlm_update, "nielsen": nielsen_update}

#: The matrix-free step's floor of ``mu``, relative to the largest diag(J^T J).
MU_FLOOR_CG = 1e-8


def damping_diagonal(JtJ_diag, damping, xp):
    """The ``D`` of ``J^T J + mu D``: ones, or ``diag(J^T J)`` floored above 0.

    The floor (1e-12 of the largest entry) keeps ``D`` positive for parameters
    the data do not touch (a dead ReLU unit), where Marquardt's scaling would
    otherwise leave the system singular at any ``mu``.
    """
    if damping == "levenberg":
        return xp.ones_like(JtJ_diag)
    if damping != "marquardt":
        raise ValueError(f"damping must be 'levenberg' or 'marquardt'; got {damping!r}.")
    floor = max(float(JtJ_diag.max()), 1.0) * 1e-12
    return xp.maximum(JtJ_diag, floor)


class LevenbergMarquardt(Solver):
    """Levenberg-Marquardt with ``J^T J`` reused across rejected trials.

    The defaults are :class:`~sklm.LMRegressor`'s (Nielsen's rule, geodesic
    acceleration, a relative ``mu_init``); ``mu_update='trainlm',
    geodesic=False, mu_init=1e-3`` is MATLAB's trainlm.

    Parameters
    ----------
    mu_init : float or 'auto', default='auto'
        Initial damping. 'auto' is ``1e-3 * max(diag(J^T J))`` at ``x0``
        with ``mu_update='nielsen'`` and Levenberg damping (Madsen, Nielsen &
        Tingleff's ``tau``: on the scale of the data whatever the row count;
        seed-6d needed 57 instead of 67 Jacobians to validation relative MSE
        1e-4, docs/benchmarks.md), trainlm's 1e-3 otherwise.
    mu_increase, mu_decrease, mu_max : float, default=10, 0.1, 1e10
        Factor applied to ``mu`` after a rejected trial (above 1, so that a
        rejection always raises ``mu``), after an accepted step (trainlm's
        ``mu_dec``; 'trainlm' rule only) and its cap. trainlm's defaults.
    damping : {'levenberg', 'marquardt'}, default='levenberg'
    mu_update : {'nielsen', 'trainlm', 'more'}, default='nielsen'
    geodesic : bool, default=True
        Add geodesic acceleration to every trial step (needs a problem with
        ``residual``, ``jvp`` and ``vjp``). Best with ``mu_update='nielsen'``.
    geodesic_alpha : float
        Largest accepted ``2 ||a|| / ||v||`` (Transtrum & Sethna's 0.75).
    geodesic_h : float
        Finite-difference step, along ``v``, of the second directional
        derivative (Transtrum & Sethna's 0.1).
    **kwargs
        Stopping criteria and reporting, see :class:`~sklm.solvers._base.Solver`.
    """

    name = "lm"
    options = ("mu_init", "mu_increase", "mu_decrease", "mu_max", "damping", "mu_update",
               "geodesic", "linear_solver", "random_state")
    _parameter_constraints = {
        **MatrixFree.constraints,
        "mu_init": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        # above 1: a rejected trial that could not raise mu would be retried forever
        "mu_increase": [Interval(Real, 1, None, closed="neither")],
        "mu_decrease": [Interval(Real, 0, 1, closed="neither")],
        "mu_max": [Interval(Real, 0, None, closed="neither")],
        "damping": [StrOptions({"levenberg", "marquardt"})],
        "mu_update": [StrOptions(set(MU_UPDATES) | {"more"})],
        "geodesic": ["boolean"],
        "geodesic_alpha": [Interval(Real, 0, None, closed="neither")],
        "geodesic_h": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, mu_init="auto", mu_increase=10.0, mu_decrease=0.1,
                 mu_max=1e10, damping="levenberg", mu_update="nielsen",
                 geodesic=True, geodesic_alpha=0.75, geodesic_h=0.1, linear_solver="auto",
                 cg_max_iter="auto", cg_tol=1e-2, curvature_rows=2000, random_state=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.linear_solver = linear_solver
        self.cg_max_iter = cg_max_iter
        self.cg_tol = cg_tol
        self.curvature_rows = curvature_rows
        self.random_state = random_state
        self.geodesic = bool(geodesic)
        self.geodesic_alpha = geodesic_alpha
        self.geodesic_h = geodesic_h
        self.mu_init = mu_init
        self.mu_increase = mu_increase
        self.mu_decrease = mu_decrease
        self.mu_max = mu_max
        self.damping = damping
        self.mu_update = mu_update

    def init(self, problem, x0):
        self._matrix_free = None
        if resolve_linear_solver(self.linear_solver, problem.n_params,
                                 self.mu_update) == "cg":
            if self.mu_update == "more":
                raise ValueError("mu_update='more' (Moré's trust region) needs the dense "
                                 "step: its damping search factors J^T J. Use "
                                 "linear_solver='dense' or 'auto' with it, or 'nielsen' "
                                 "or 'trainlm' with linear_solver='cg'.")
            self._matrix_free = MatrixFree(self.random_state, self.cg_max_iter, self.cg_tol,
                                           self.curvature_rows)
            loss, Jtr = self._matrix_free.loss_and_Jtr(problem, x0)
            diagonal = self._matrix_free.operator(problem, x0).diagonal()
            JtJ = None
        else:
            if self.geodesic and not problem.has_directional_derivatives():
                raise ValueError(
                    f"geodesic=True needs a problem with residual, jvp and vjp methods; "
                    f"{type(problem).__name__} lacks them. Use geodesic=False."
                )
            loss, JtJ, Jtr = problem.normal_equations(x0)
            diagonal = JtJ.diagonal()
        mu = resolve_mu_init(self.mu_init)
        if self.mu_init == "auto" and self.mu_update == "nielsen" and self.damping == "levenberg":
            # Madsen, Nielsen & Tingleff's start: tau * max(diag(J^T J)), so the
            # first step's damping is on the scale of the data (any row count).
            top = float(diagonal.max())
            if math.isfinite(top) and top > 0:
                mu *= top
        tr = TrustRegion() if self.mu_update == "more" else None
        return _LMState(x=x0, loss=loss, JtJ=JtJ, Jtr=Jtr, mu=mu, tr=tr)

    def carry(self, problem, state):
        # host values (a fit on the GPU pickles and continues anywhere)
        to_host = problem.backend.to_numpy
        tr = state.tr
        if tr is not None and tr.D2 is not None:
            tr = dataclasses.replace(tr, D2=np.array(to_host(tr.D2)))
        return {"mu": state.mu, "nu": state.nu, "scale": problem.scale, "tr": tr,
                "mu_update": self.mu_update,
                "last_step": (None if state.last_step is None
                              else np.array(to_host(state.last_step)))}

    def resume(self, problem, state, carry):
        if carry.get("mu_update", self.mu_update) != self.mu_update:
            return  # another rule's damping means nothing to this one
        ratio = problem.scale / carry["scale"]
        # J^T J is a sum over rows: on more (or fewer) rows, the same relative
        # damping is mu times the ratio of the sums of weights. A run that
        # ended with mu past mu_max (MU_MAX: a float32 sample stage at its
        # precision) hands on nothing worth resuming: this run starts afresh.
        if carry["mu"] <= self.mu_max:
            state.mu = carry["mu"] * ratio
            state.nu = carry["nu"]
        # the matrix-free step's CG starts from the last step (when it helps):
        # on the first full-data iteration after a sample, a start from zero
        # cost 200 products where later iterations needed a few dozen
        if carry.get("last_step") is not None:
            state.last_step = problem.backend.asarray(carry["last_step"])
        if state.tr is not None and carry.get("tr") is not None:
            tr = carry["tr"].rescaled(ratio)
            if tr.D2 is not None:
                tr.D2 = problem.backend.asarray(tr.D2)
            state.tr = tr

    def step(self, problem, state, iteration):
        if self._matrix_free is not None:
            return self._matrix_free_step(problem, state, iteration)
        xp = problem.backend.xp
        JtJ, Jtr = state.JtJ, state.Jtr
        # A non-finite J^T J or J^T r (an overflowed Jacobian) makes every
        # factorisation fail: stop with its cause, not MU_MAX after ~13 trials.
        if not all_finite(xp, JtJ, Jtr):
            return IterationInfo(iteration, state.x, state.loss, mu=state.mu,
                                 status=Status.NON_FINITE)
        diag = JtJ.diagonal()
        D = damping_diagonal(diag, self.damping, xp)
        accelerate = None
        if self.geodesic:
            r0 = []  # r(x), evaluated at the first trial that needs it

            def accelerate(v, system, x_new, weights=D):
                if not r0:
                    r0.append(problem.residual(state.x))
                a = self._acceleration(problem, state.x, v, system, weights, r0[0])
                return x_new if a is None else x_new + 0.5 * a

        if state.tr is not None:
            status, x_new = trust_region_step(problem, state.x, state.loss, JtJ, Jtr,
                                              state.tr, accelerate=accelerate)
            mu, nu = state.tr.lam, state.nu
        else:
            status, x_new, mu, nu = damped_step(
                problem, state.x, state.loss, DenseSystem(problem.backend, JtJ, -Jtr, D),
                state.mu, state.nu,
                update=MU_UPDATES[self.mu_update], mu_increase=self.mu_increase,
                mu_decrease=self.mu_decrease, mu_max=self.mu_max,
                mu_floor=1e-12 * max(1.0, float(diag.max())), accelerate=accelerate)
        if status is not None:
            if status == Status.MU_MAX:
                state.mu = mu
            return IterationInfo(iteration, state.x, state.loss, mu=mu, status=status)
        loss, JtJ, Jtr = problem.after_accepted_step(x_new, *problem.normal_equations(x_new))
        state.x, state.loss, state.JtJ, state.Jtr = x_new, loss, JtJ, Jtr
        state.mu, state.nu = mu, nu
        grad_norm = 2.0 * norm(xp, Jtr) / problem.scale
        return IterationInfo(iteration, x_new, loss, grad_norm=grad_norm, mu=mu)

    def _matrix_free_step(self, problem, state, iteration):
        """The same damped step, solved by conjugate gradients (``_damped.CGSystem``).

        ``J^T r`` is the whole data's; the products and the preconditioner
        ``diag(J^T J)`` are those of a fresh sample of rows. A trial point's
        loss comes with its gradient, which the next iteration starts from
        if the trial is accepted. No geodesic acceleration (its second solve
        would cost a second CG run and a pass over every row) and no
        ``after_accepted_step`` (it needs ``J^T J``). ``mu`` is kept above
        ``MU_FLOOR_CG`` times the largest ``diag(J^T J)``: the sampled
        curvature is singular (fewer rows than parameters), and a gain ratio
        near 1 would otherwise drive ``mu`` to underflow while CG's
        truncation did all the damping.
        """
        xp = problem.backend.xp
        if not all_finite(xp, state.Jtr):
            return IterationInfo(iteration, state.x, state.loss, mu=state.mu,
                                 status=Status.NON_FINITE)
        operator = self._matrix_free.operator(problem, state.x)
        diagonal = operator.diagonal()
        if not all_finite(xp, diagonal):
            return IterationInfo(iteration, state.x, state.loss, mu=state.mu,
                                 status=Status.NON_FINITE)
        floor = MU_FLOOR_CG * max(1.0, float(diagonal.max()))
        D = damping_diagonal(diagonal, self.damping, xp)
        system = self._matrix_free.system(problem, operator, -state.Jtr, D, diagonal,
                                          state.last_step)
        trial = {}

        def evaluate_gradient(x):
            trial["loss"], trial["Jtr"] = self._matrix_free.loss_and_Jtr(problem, x)
            return trial["loss"], trial["Jtr"]

        def evaluate(x):
            return evaluate_gradient(x)[0]

        status, x_new, mu, nu = damped_step(
            problem, state.x, state.loss, system, max(state.mu, floor), state.nu,
            update=MU_UPDATES[self.mu_update], mu_increase=self.mu_increase,
            mu_decrease=self.mu_decrease, mu_max=self.mu_max, mu_floor=floor,
            evaluate=evaluate, evaluate_gradient=evaluate_gradient)
        if status is not None:
            if status == Status.MU_MAX:
                state.mu = mu
            return IterationInfo(iteration, state.x, state.loss, mu=mu, status=status)
        state.last_step = x_new - state.x
        state.x, state.loss, state.Jtr = x_new, trial["loss"], trial["Jtr"]
        state.mu, state.nu = max(mu, floor), nu
        grad_norm = 2.0 * norm(xp, state.Jtr) / problem.scale
        return IterationInfo(iteration, x_new, state.loss, grad_norm=grad_norm, mu=state.mu)

    def _acceleration(self, problem, x, v, system, D, r0):
        """The geodesic acceleration ``a`` for velocity ``v``, or None to use none.

        ``r0`` is ``r(x)``. None when ``2 ||a||_D / ||v||_D > geodesic_alpha``
        or ``a`` is not finite.
        """
        xp = problem.backend.xp
        h = self.geodesic_h
        # J v first: it reuses x's forward pass, which the trial point's would
        # push out of MLPProblem's two-entry cache on a retried trial.
        Jv = problem.jvp(x, v)
        r_vv = problem.residual(x + h * v)
        r_vv -= r0
        r_vv *= 1.0 / h
        r_vv -= Jv
        r_vv *= 2.0 / h
        a = system.solve_again(-problem.vjp(x, r_vv))
        if a is None:
            return None
        # 2 ||a||_D / ||v||_D <= alpha, without dividing by a norm that may underflow
        if not 2.0 * math.sqrt(float(xp.vdot(a, D * a))) <= (
                self.geodesic_alpha * math.sqrt(float(xp.vdot(v, D * v)))):
            return None
        return a


def resolve_mu_init(mu_init):
    """A number as given; 'auto' as trainlm's 1e-3 (LM may scale it by the data)."""
    return 1e-3 if isinstance(mu_init, str) and mu_init == "auto" else mu_init
