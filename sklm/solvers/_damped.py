"""The damped trial loop that Levenberg-Marquardt and damped Newton share, and
the two ways of solving its linear system.

From a point ``x`` with a symmetric model matrix ``A`` (``J^T J`` for LM, the
sum-of-squares Hessian for Newton) and ``-b`` (``-J^T r``, or minus the
gradient of the sum of squares), try ``x + v`` with ``(A + mu D) v = -b``,
raising ``mu`` until a trial lowers the loss. How ``v`` is found is a
strategy, a *system* object:

:class:`DenseSystem`
    holds ``A`` and factors ``A + mu D`` by Cholesky for each trial (damped
    in place; the diagonal is restored by :meth:`~DenseSystem.close`, so the
    caller's matrix is never left damped).
:class:`CGSystem`
    holds only a product ``v -> A v`` and ``diag(A)``, and solves by
    preconditioned conjugate gradients, truncated (Martens 2010, "Deep
    learning via Hessian-free optimization", sec. 4): memory ``O(n)``, cost a
    few dozen products a trial. The products may use the curvature of a
    random subsample of the rows, scaled to the whole data (Byrd, Chin,
    Neveitt & Nocedal 2011), while ``b`` is the whole data's.

Either way a trial is judged by its actual decrease of the sum of squares
against the decrease its quadratic model predicts (``predicted``).
"""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._sklearn_compat import Interval, StrOptions
from ._base import (
    RANDOM_STATE,
    Status,
    at_machine_precision,
    decrement,
    loss_and_Jtr,
    lowers_gradient,
)

#: Values of the damped solvers' ``linear_solver`` option.
LINEAR_SOLVERS = ("auto", "dense", "cg")

#: Above this many parameters 'auto' takes the matrix-free step. Measured on
#: wide's 1e5 rows (docs/benchmarks.md, "The matrix-free step"): at 1,377
#: parameters the dense fit reached 1e-4 five times sooner; at 2,833 the
#: matrix-free one reached it 2.3x sooner (the dense one went deeper after a
#: minute); at 4,801 the matrix-free one led at every level.
CG_CROSSOVER = 2500

#: cg_max_iter='auto': CG products worth about this many passes over the
#: rows, between CG_MIN_ITER and CG_MAX_ITER (MatrixFree).
CG_PASSES = 4
CG_MIN_ITER = 50
CG_MAX_ITER = 200


def resolve_linear_solver(linear_solver, n_params, mu_update=None):
    """'dense' or 'cg': what ``linear_solver`` means for ``n_params`` parameters.

    'auto' is 'dense' for ``mu_update='more'`` at any size: Moré's damping
    search factors the normal matrix, and the user asked for it.
    """
    if linear_solver == "auto":
        return "cg" if n_params > CG_CROSSOVER and mu_update != "more" else "dense"
    return linear_solver


class MatrixFree:
    """The matrix-free step's settings, and its draw of curvature rows.

    Parameters
    ----------
    random_state : int, RandomState or None
        Draws the rows whose curvature the CG products use.
    max_iter : int or 'auto'
        CG iterations (products) per trial at most. 'auto': as many as cost
        about ``CG_PASSES`` passes over the problem's rows, ``CG_PASSES *
        n_samples / curvature_rows`` clipped to [50, 200]: 50 on the
        growing-sample stages of a few thousand rows, 200 on 1e5 rows, where
        a gradient pass costs as much and deeper steps pay (on wide-128, 150
        s: 2.6e-6 with 200, 3.5e-6 with 100, 5.1e-6 with 50; the first
        digits came sooner with 50).
    rtol : float
        CG stops when its residual falls below ``rtol * ||J^T r||``.
    curvature_rows : int
        Rows whose ``J^T J`` the products use, drawn afresh at every
        iteration (all rows when the problem has no more).
    """

    #: options of the solvers that take a matrix-free step, and their constraints
    constraints = {
        "linear_solver": [StrOptions(set(LINEAR_SOLVERS))],
        "cg_max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "cg_tol": [Interval(Real, 0, 1, closed="neither")],
        "curvature_rows": [Interval(Integral, 1, None, closed="left")],
        "random_state": RANDOM_STATE,
    }

    def __init__(self, random_state=None, max_iter="auto", rtol=1e-2, curvature_rows=2000):
        self.rng = check_random_state(random_state)
        self.max_iter = max_iter
        self.rtol = rtol
        self.curvature_rows = curvature_rows

    @staticmethod
    def loss_and_Jtr(problem, x):
        """``(loss, J^T r)`` of all rows, from the problem's gradient ``2 J^T r / scale``."""
        loss, grad = problem.gradient(x)
        grad *= 0.5 * problem.scale
        return loss, grad

    def operator(self, problem, x):
        """``J^T J`` at ``x`` on a fresh sample of curvature rows (a GaussNewtonOperator)."""
        rows = None
        n = problem.n_samples
        if n is not None and n > self.curvature_rows:
            rows = np.sort(self.rng.choice(n, self.curvature_rows, replace=False))
        return problem.gauss_newton_operator(x, rows)

    def system(self, problem, operator, neg_b, D, diagonal, start):
        """The :class:`CGSystem` of ``operator`` for the right-hand side ``neg_b``."""
        return CGSystem(problem.backend, operator.product, neg_b, D, diagonal, start,
                        self._cap(problem), self.rtol)

    def _cap(self, problem):
        if self.max_iter != "auto":
            return self.max_iter
        n = problem.n_samples
        if n is None:
            return CG_MAX_ITER
        passes = CG_PASSES * n / min(n, self.curvature_rows)
        return int(min(CG_MAX_ITER, max(CG_MIN_ITER, round(passes))))


class DenseSystem:
    """``(A + mu D) v = neg_b`` by Cholesky factors of ``A`` (damped in place)."""

    def __init__(self, backend, A, neg_b, D):
        self.backend = backend
        self.A = A
        self.neg_b = neg_b
        self.D = D
        if not A.flags.c_contiguous:  # reshape would copy: the damping would miss A
            raise ValueError("DenseSystem damps A in place and needs a C-contiguous matrix.")
        self._diag = A.reshape(-1)[:: A.shape[0] + 1]  # a view: damp in place
        self._base = self._diag.copy()
        self.factor = None

    def solve(self, mu):
        """The step for damping ``mu``, or None (not positive definite, not finite)."""
        self._diag[...] = self._base + mu * self.D
        self.factor = self.backend.cholesky_factor(self.A)
        if self.factor is None:
            return None
        return self.backend.cholesky_factor_solve(self.factor, self.neg_b)

    def solve_again(self, rhs):
        """``(A + mu D)^-1 rhs`` with the last trial's factor (or None)."""
        return self.backend.cholesky_factor_solve(self.factor, rhs)

    def predicted(self, step, mu):
        """Decrease of the sum of squares the quadratic model predicts for ``step``.

        ``-2 step.b - step.A step``, which for the exact solution is
        ``step.(-b) + mu step.D step``.
        """
        xp = self.backend.xp
        return float(xp.vdot(step, self.neg_b) + mu * xp.vdot(step, self.D * step))

    def close(self):
        self._diag[...] = self._base


class CGSystem:
    """``(A + mu D) v = neg_b`` by preconditioned conjugate gradients.

    Parameters
    ----------
    product : callable
        ``v -> A v``.
    diagonal : array
        ``diag(A)`` of the operator's ``A`` (the curvature sample's, scaled to
        the whole data): the Jacobi preconditioner is ``diag(A) + mu D``.
    start : array or None
        A guess of the solution (the last step): CG starts from it when its
        model value beats zero's (Martens' warm start).
    max_iter, rtol : int, float
        CG stops after ``max_iter`` products or when its residual falls
        below ``rtol`` times ``||neg_b||``.
    """

    def __init__(self, backend, product, neg_b, D, diagonal, start, max_iter, rtol):
        self.backend = backend
        self.product = product
        self.neg_b = neg_b
        self.D = D
        self.diagonal = diagonal
        self.start = start
        self.max_iter = max_iter
        self.rtol = rtol
        self.residual = None  # neg_b - (A + mu D) v of the last solution
        self._mu = None       # the damping of the last solution
        self.iterations = 0   # CG iterations, all trials

    def _apply(self, v, mu):
        out = self.product(v)
        out += mu * (self.D * v)
        return out

    def solve(self, mu, rhs=None):
        """The truncated CG solution for damping ``mu``, or None.

        None when the first product is not finite or shows no positive
        curvature (a rejected trial: ``mu`` rises). A later breakdown
        returns the iterate reached before it.
        """
        xp = self.backend.xp
        own = rhs is None
        if own:
            self._mu = mu
        rhs = self.neg_b if own else rhs
        # (floored: a parameter no row moves has a zero diagonal entry)
        M = self.diagonal + mu * self.D
        M = xp.maximum(M, 1e-12 * max(float(M.max()), 1e-300))
        v = xp.zeros_like(rhs)
        r = rhs.copy()
        if own and self.start is not None:
            Av = self._apply(self.start, mu)
            # the model q(v) = v.Av / 2 - v.rhs is 0 at v = 0
            if bool(xp.all(xp.isfinite(Av))) and float(
                    xp.vdot(self.start, Av) - 2.0 * xp.vdot(self.start, rhs)) < 0:
                v = self.start.copy()
                r = rhs - Av
        goal = self.rtol * math.sqrt(float(xp.vdot(rhs, rhs)))
        z = r / M
        p = z.copy()
        rz = float(xp.vdot(r, z))
        # (CG converges in n iterations in exact arithmetic; in floating point
        # a few n more may help, but on a near-singular system many more only
        # amplify rounding)
        for it in range(min(self.max_iter, 3 * rhs.shape[0])):
            if not math.sqrt(float(xp.vdot(r, r))) > goal:
                break
            Ap = self._apply(p, mu)
            pAp = float(xp.vdot(p, Ap))
            self.iterations += 1
            if not (math.isfinite(pAp) and pAp > 0):
                if it == 0 and not bool(xp.any(v)):
                    return None
                break
            step = rz / pAp
            v += step * p
            r -= step * Ap
            z = r / M
            rz_new = float(xp.vdot(r, z))
            p *= rz_new / rz
            p += z
            rz = rz_new
        if not bool(xp.all(xp.isfinite(v))):
            return None
        if own:
            self.residual = r
        return v

    def solve_again(self, rhs):
        """``(A + mu D)^-1 rhs`` by CG at the last trial's ``mu`` (or None)."""
        return self.solve(self._mu, rhs)

    def predicted(self, step, mu):
        """``-2 step.b - step.A step``, with ``A step`` from CG's residual.

        ``(A + mu D) step = neg_b - residual``, so the decrease is
        ``step.neg_b + step.residual + mu step.D step``: the dense formula
        plus the term of an inexact solution.
        """
        xp = self.backend.xp
        return float(xp.vdot(step, self.neg_b) + xp.vdot(step, self.residual)
                     + mu * xp.vdot(step, self.D * step))

    def close(self):
        pass


#: After a rejection judged by the gradient, ``mu`` is lowered down to this
#: fraction of ``mu_floor`` (1e-12 of the largest diagonal entry for the dense
#: step): ``mu`` then changes ``J^T J + mu D`` by less than its rounding.
UNDAMPED = 1e-6


def damped_step(problem, x, loss, system, mu, nu, *, update, mu_increase,
                mu_decrease, mu_max, mu_floor, accelerate=None, evaluate=None,
                evaluate_gradient=None):
    """Trial steps from ``x`` until one lowers the loss.

    Parameters
    ----------
    system : DenseSystem or CGSystem
        The damped linear system at ``x``; closed on every way out. Its
        right-hand side is ``-J^T r`` at ``x``.
    update : callable
        ``update(mu, nu, accepted, rho, mu_increase, mu_decrease) -> (mu, nu)``.
    mu_floor : float
        The smallest ``mu`` after a rejection: both rules scale ``mu``, so
        ``mu = 0`` would retry the same rejected step forever.
    accelerate : callable or None
        ``accelerate(v, system, x_new) -> x_trial``: a correction of the trial
        point (geodesic acceleration) solved with the same system.
    evaluate : callable or None
        The loss at a trial point (default ``problem.loss``); the caller may
        compute more there, to reuse if the trial is accepted.
    evaluate_gradient : callable or None
        ``(loss, J^T r)`` at a trial point, for the trials whose predicted
        decrease is below the loss's rounding (default: ``evaluate`` and
        :func:`~sklm.solvers._base.loss_and_Jtr`).

    Returns
    -------
    status, x_new, mu, nu
        ``status`` None and the accepted point, or CONVERGED or MU_MAX, with
        ``x_new`` None.

    Notes
    -----
    A trial whose predicted decrease is above the rounding of the loss is
    judged by the loss (its gain ratio drives ``mu``). Below it, the loss
    cannot tell a good step from a bad one, and near a minimum with a non-zero
    residual this happens while the parameters still hold only half their
    digits: such a trial is judged by the gradient (:func:`lowers_gradient`),
    without geodesic acceleration, and, accepted, counts as a gain ratio of 1
    (the quadratic model is exact to within the loss's rounding at that
    scale). A rejected one may have been too damped for its progress to show
    through the gradient's rounding (a damped step barely moves along the
    directions of little curvature), so ``mu`` is lowered tenfold and the step
    tried again, down to :data:`UNDAMPED` times ``mu_floor`` (where the step is
    the model's own), each judged by the gradient while its predicted decrease
    is below ``sqrt(eps)`` of the loss (``at_machine_precision(...,
    endgame=True)``): the run has CONVERGED when none of these is accepted, or
    when one of them grows long enough for the loss to judge and raises it. It
    has also converged when no step is representable (``x + step == x``). A
    run of rejections judged by the loss that takes ``mu`` past ``mu_max`` is
    MU_MAX.
    """
    xp = problem.backend.xp
    evaluate = evaluate or problem.loss
    if evaluate_gradient is None:
        # (the loss from the same computation as the other trials': the one
        # an MLP's gradient pass returns may differ from it in the last place)
        def evaluate_gradient(point):
            return evaluate(point), loss_and_Jtr(problem, point)[1]
    S = loss * problem.scale  # the sum of squares at x
    probing = False  # lowering mu after a rejection judged by the gradient
    previous = None  # the last trial's step
    try:
        while True:
            step = system.solve(mu)
            accepted = False
            rho = math.nan
            if step is not None:
                # decrease of the sum of squares that the quadratic model predicts
                predicted = system.predicted(step, mu)
                x_new = x + step
                if not bool(xp.any(x_new != x)) or (
                        probing and previous is not None and bool(xp.array_equal(step, previous))):
                    # no representable step (or, lowering mu, no other step):
                    # a minimum to machine precision
                    return Status.CONVERGED, None, mu, nu
                previous = step
                if at_machine_precision(predicted, S, endgame=probing):
                    # (no acceleration: its finite difference of the residuals
                    # along a step this short is rounding, not curvature)
                    loss_new, Jtr_new = evaluate_gradient(x_new)
                    if not lowers_gradient(loss, loss_new, float(xp.vdot(step, system.neg_b)),
                                           decrement(xp, Jtr_new, system.solve_again)):
                        if mu <= UNDAMPED * mu_floor:
                            return Status.CONVERGED, None, mu, nu
                        probing = True
                        mu = max(0.1 * mu, UNDAMPED * mu_floor)
                        continue
                    accepted, rho = True, 1.0
                else:
                    if accelerate is not None:
                        x_new = accelerate(step, system, x_new)
                    loss_new = evaluate(x_new)
                    if math.isfinite(loss_new) and loss_new < loss:
                        accepted = True
                        actual = (loss - loss_new) * problem.scale
                        rho = actual / predicted
            if probing and not accepted:
                # a less damped step than the one the gradient rejected: too
                # long for the model (or no positive definite system)
                return Status.CONVERGED, None, mu, nu
            mu, nu = update(mu, nu, accepted, rho, mu_increase, mu_decrease)
            if accepted:
                return None, x_new, mu, nu
            mu = max(mu, mu_floor)
            if mu > mu_max:
                return Status.MU_MAX, None, mu, nu
    finally:
        system.close()
