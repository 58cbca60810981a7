"""The damped trial loop that Levenberg-Marquardt and damped Newton share.

From a point ``x`` with a symmetric model matrix ``A`` (``J^T J`` for LM, the
sum-of-squares Hessian for Newton) and ``-b`` (``-J^T r``, or minus the
gradient of the sum of squares), try ``x + v`` with ``(A + mu D) v = -b``,
raising ``mu`` until a trial lowers the loss. ``A`` is factored once per
trial and damped in place; its diagonal is restored on every way out, so the
caller's matrix is never left damped.
"""

import math

from ._base import Status, at_machine_precision


def damped_step(problem, x, loss, A, neg_b, D, mu, nu, *, update, mu_increase,
                mu_decrease, mu_max, mu_floor, accelerate=None):
    """Trial steps from ``x`` until one lowers the loss.

    Parameters
    ----------
    update : callable
        ``update(mu, nu, accepted, rho, mu_increase, mu_decrease) -> (mu, nu)``.
    mu_floor : float
        The smallest ``mu`` after a rejection: both rules scale ``mu``, so
        ``mu = 0`` would retry the same rejected step forever.
    accelerate : callable or None
        ``accelerate(v, factor, x_new) -> x_trial``: a correction of the trial
        point (geodesic acceleration) made with the same factor.

    Returns
    -------
    status, x_new, mu, nu
        ``status`` None and the accepted point, or CONVERGED (no step is
        representable, or its predicted decrease is lost in rounding) or
        MU_MAX, with ``x_new`` None.
    """
    backend = problem.backend
    xp = backend.xp
    diag = A.reshape(-1)[:: A.shape[0] + 1]  # a view: damp in place
    base = diag.copy()
    try:
        while True:
            diag[...] = base + mu * D
            factor = backend.cholesky_factor(A)
            step = None if factor is None else backend.cholesky_factor_solve(factor, neg_b)
            accepted = False
            rho = math.nan
            if step is not None:
                # decrease of the sum of squares that the quadratic model predicts
                predicted = float(xp.vdot(step, neg_b) + mu * xp.vdot(step, D * step))
                x_new = x + step
                if (not bool(xp.any(x_new != x))
                        or at_machine_precision(predicted, loss * problem.scale)):
                    # Nothing left to gain in floating point: a minimum to
                    # machine precision (trainlm would raise mu to mu_max here).
                    return Status.CONVERGED, None, mu, nu
                if accelerate is not None:
                    x_new = accelerate(step, factor, x_new)
                loss_new = problem.loss(x_new)
                if math.isfinite(loss_new) and loss_new < loss:
                    accepted = True
                    actual = (loss - loss_new) * problem.scale
                    rho = actual / predicted if predicted > 0 else 1.0
            mu, nu = update(mu, nu, accepted, rho, mu_increase, mu_decrease)
            if accepted:
                return None, x_new, mu, nu
            mu = max(mu, mu_floor)
            if mu > mu_max:
                return Status.MU_MAX, None, mu, nu
    finally:
        diag[...] = base
