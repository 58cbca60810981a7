"""Moré's trust-region form of Levenberg-Marquardt (MINPACK's lmder and lmpar).

Instead of a damping ``mu`` updated by a rule, the iteration keeps a radius
``delta`` and finds the damping for it (Moré, "The Levenberg-Marquardt
algorithm: implementation and theory", 1978; MINPACK-1's ``lmpar``): the step
``p`` solves ``(J^T J + lam D^2) p = -J^T r`` with ``lam >= 0`` chosen so that
``||D p||`` is within 10% of ``delta`` (``lam = 0``, the Gauss-Newton step,
when that is already inside the region). ``D`` is the diagonal of column
norms of ``J`` (``sqrt(diag(J^T J))``), never decreasing over the fit
(MINPACK's ``mode=1``): the region is scaled to each parameter's influence,
and the damping is invariant to the scale of the parameters. ``lam`` is found
by safeguarded Newton iterations on ``1/||D p(lam)||`` with one Cholesky
factorisation of ``J^T J + lam D^2`` each (usually 1-3; a failed
factorisation raises ``lam``): every one of them reuses the iteration's
``J^T J``, so a rejected trial never costs a new Jacobian.

After a trial with gain ratio ``rho`` (actual over predicted decrease of the
sum of squares), the radius follows MINPACK's lmder: shrink by a factor in
``[0.1, 0.5]`` where ``rho <= 1/4`` (fitted to the actual decrease), grow to
``2 ||D p||`` where ``rho >= 3/4`` or the step was Gauss-Newton's; accept the
step where ``rho >= 1e-4``. The solver's geodesic acceleration (its
``accelerate`` callable) corrects each trial point as for the other rules;
the gain ratio compares the actual decrease with the one predicted for the
velocity ``p``.

A trial whose predicted decrease is below the rounding of the loss is judged
by the size of the gradient instead, as in :func:`~sklm.solvers._damped.damped_step`:
a rejected one is tried again in a ten times larger region (less damped)
until the step is Gauss-Newton's or long enough for the loss to judge; if
none of these is accepted the point is a minimum to machine precision.

The state carried from one iteration to the next is :class:`TrustRegion`.
"""

import math
from dataclasses import dataclass

import numpy as np

from ._base import Status, at_machine_precision, decrement, loss_and_Jtr, lowers_gradient
from ._damped import DenseSystem

__all__ = ["TrustRegion", "trust_region_step"]

#: MINPACK's ``factor``: the first radius is ``FACTOR * ||D x0||`` (or
#: ``FACTOR`` where that is zero), cut to the first step's length.
FACTOR = 100.0
#: Smallest gain ratio at which a step is accepted (MINPACK's 1e-4).
ACCEPT = 1e-4
#: ``lmpar`` stops when ``| ||D p|| - delta | <= SHARPNESS * delta`` (MINPACK's 0.1).
SHARPNESS = 0.1
#: At most this many factorisations per ``lmpar`` call (MINPACK's 10).
LMPAR_ITERATIONS = 10
#: Start each search at the last damping (see :func:`lmpar`); False: at the
#: Gauss-Newton step, as MINPACK (where it costs one QR, not a factorisation).
WARM_FIRST = True
#: Trials from one point before giving up (each at least halves the radius).
MAX_TRIALS = 200
#: The floor of ``D^2``, relative to its largest entry: keeps the region
#: bounded along parameters the data do not touch (a dead unit).
SCALE_FLOOR = 1e-12

_DWARF = float(np.finfo(np.float64).tiny)


@dataclass
class TrustRegion:
    """What Moré's iteration carries between steps.

    ``delta`` the radius (None before the first step), ``lam`` the last
    damping (MINPACK's ``par``, the start of the next search), ``D2`` the
    squared scaling (the diagonal of ``D^2``), ``first`` whether no step has
    been tried yet.
    """

    delta: float | None = None
    lam: float = 0.0
    D2: object = None
    first: bool = True

    def rescaled(self, ratio):
        """The state for a problem whose ``J^T J`` is ``ratio`` times this one's.

        ``lam`` is invariant (``J^T J`` and ``D^2`` scale alike); lengths in
        ``D`` scale with ``sqrt(ratio)``.
        """
        root = math.sqrt(ratio)
        return TrustRegion(
            delta=None if self.delta is None else self.delta * root, lam=self.lam,
            D2=None if self.D2 is None else self.D2 * ratio, first=self.first)


def _update_scaling(tr, diag, xp):
    """MINPACK's mode 1: ``D_j = max(D_j, ||J_j||)`` (``D^2`` here)."""
    floor = max(float(diag.max()), 1.0) * SCALE_FLOOR
    d2 = xp.maximum(diag, floor)
    tr.D2 = d2 if tr.D2 is None else xp.maximum(tr.D2, d2)
    return tr.D2


class _Damped(DenseSystem):
    """Solves ``(A + lam D^2) p = -g`` for several ``lam`` with one ``A``.

    The dense system of the other rules (``A``'s diagonal damped in place
    and restored by :meth:`close`; ``solve_again`` for the acceleration),
    with the norms Moré's search needs.
    """

    def __init__(self, backend, A, g, D2):
        super().__init__(backend, A, -g, D2)

    def step_and_norms(self, lam):
        """``(p, ||D p||, ||q||^2)`` at ``lam``, or None where the factorisation fails.

        ``||q||^2 = (D^2 p)^T (A + lam D^2)^-1 (D^2 p)``, so that the
        derivative of ``||D p||`` in ``lam`` is ``-||q||^2 / ||D p||``.
        """
        p = self.solve(lam)
        if p is None:
            return None
        xp = self.backend.xp
        w = self.D * p
        Dp_norm = math.sqrt(float(xp.vdot(p, w)))
        s = self.solve_again(w)
        q2 = math.nan if s is None else float(xp.vdot(w, s))
        return p, Dp_norm, q2


def lmpar(system, delta, lam, gnorm):
    """Moré's search for ``lam``: ``||D p(lam)||`` within 10% of ``delta``.

    ``gnorm`` is ``||D^-1 g||``. Returns ``(p, ||D p||, lam)``, or ``(None,
    nan, lam)`` where no factorisation succeeded.
    """
    paru = gnorm / delta if gnorm > 0 else _DWARF / min(delta, 0.1)
    parl = 0.0
    best = None
    fp = math.nan
    newton = None
    if WARM_FIRST and lam > 0:
        # The last iteration's damping first: often already right (one
        # factorisation in all), and where its step is too long, Gauss-Newton's
        # is longer still (||D p(lam)|| decreases in lam), so it is not tried.
        out = system.step_and_norms(lam)
        if out is None:
            parl = lam  # not positive definite at lam, nor at 0
        else:
            p, dxnorm, q2 = out
            best = (p, dxnorm, lam)
            fp = dxnorm - delta
            if abs(fp) <= SHARPNESS * delta:
                return p, dxnorm, lam
            if fp > 0:
                parl = lam
            else:
                paru = min(paru, lam)
            if q2 > 0 and math.isfinite(q2):
                newton = lam + (fp / delta) * dxnorm * dxnorm / q2
    gn = None
    if parl == 0.0:
        # The Gauss-Newton step, where J^T J can be factored
        gn = system.step_and_norms(0.0)
        if gn is not None:
            p, dxnorm, q2 = gn
            fp_gn = dxnorm - delta
            if fp_gn <= SHARPNESS * delta:
                return p, dxnorm, 0.0
            if q2 > 0 and math.isfinite(q2):
                # Newton's lower bound from lam = 0 (the problem is full rank)
                parl = (fp_gn / delta) * dxnorm * dxnorm / q2
    if newton is not None:
        lam = newton
    lam = min(max(lam, parl), paru)
    if lam == 0.0:
        lam = gnorm / gn[1] if gn is not None and gn[1] > 0 else 0.001 * paru
    for _ in range(LMPAR_ITERATIONS):
        if lam == 0.0:
            lam = max(_DWARF, 0.001 * paru)
        out = system.step_and_norms(lam)
        if out is None:
            # not positive definite in floating point: more damping
            parl = max(parl, lam)
            lam = max(10.0 * lam, math.sqrt(parl * paru)) if paru > parl else 10.0 * lam
            continue
        p, dxnorm, q2 = out
        best = (p, dxnorm, lam)
        previous, fp = fp, dxnorm - delta
        if (abs(fp) <= SHARPNESS * delta
                or (parl == 0.0 and math.isfinite(previous) and fp <= previous < 0)):
            break
        if fp > 0:
            parl = max(parl, lam)
        elif fp < 0:
            paru = min(paru, lam)
        if not (q2 > 0 and math.isfinite(q2)):
            lam = max(parl, 0.5 * (parl + paru))
            continue
        # Newton's correction for 1/||D p|| (MINPACK's parc)
        lam = max(parl, lam + (fp / delta) * dxnorm * dxnorm / q2)
    if best is None:
        return None, math.nan, lam
    p, dxnorm, lam_used = best
    if system.factor is None or lam_used != lam:
        # the factor the trial's acceleration uses must be the step's
        out = system.step_and_norms(lam_used)
        if out is None:
            return None, math.nan, lam_used
    return p, dxnorm, lam_used


def trust_region_step(problem, x, loss, JtJ, Jtr, tr, *, accelerate=None):
    """Trials from ``x`` until one is accepted; Moré's radius update after each.

    Parameters
    ----------
    JtJ, Jtr : arrays
        The normal equations at ``x`` (``JtJ``'s diagonal is damped in place
        during the trials and restored on return).
    tr : TrustRegion
        Updated in place.
    accelerate : callable or None
        ``accelerate(v, system, x_new, weights) -> x_trial``, the solver's
        geodesic correction solved with the trial's factor (``system.solve_again``);
        ``weights`` is ``D^2``, for the norms of its trust test.

    Returns
    -------
    status, x_new
        ``status`` None and the accepted point, or CONVERGED (no step is
        representable, or none lowers the loss measurably and none of those
        below the loss's resolution lowers the gradient: see
        :func:`~sklm.solvers._damped.damped_step`) or MU_MAX (no trial in
        :data:`MAX_TRIALS` lowered the loss), with ``x_new`` None.
    """
    backend = problem.backend
    xp = backend.xp
    D2 = _update_scaling(tr, JtJ.diagonal(), xp)
    S = loss * problem.scale  # the sum of squares at x
    xnorm = math.sqrt(float(xp.vdot(x, D2 * x)))
    if tr.delta is None:
        tr.delta = FACTOR * xnorm if xnorm > 0 else FACTOR
    gnorm = math.sqrt(float(xp.vdot(Jtr, Jtr / D2)))
    if gnorm == 0.0:
        return Status.CONVERGED, None
    system = _Damped(backend, JtJ, Jtr, D2)
    probing = False  # enlarging the region after a rejection judged by the gradient
    try:
        for _ in range(MAX_TRIALS):
            p, pnorm, lam = lmpar(system, tr.delta, tr.lam, gnorm)
            tr.lam = lam
            if p is None:
                # no damping made the system positive definite
                return Status.MU_MAX, None
            if tr.first:
                tr.delta = min(tr.delta, pnorm)
                tr.first = False
            x_new = x + p
            # decrease of the sum of squares the linear model predicts for p,
            # and the directional derivative MINPACK's radius update uses
            gp = float(xp.vdot(Jtr, p))
            predicted = -gp + lam * pnorm * pnorm
            if not bool(xp.any(x_new != x)):
                return Status.CONVERGED, None  # no representable step
            if at_machine_precision(predicted, S, endgame=probing):
                # The loss cannot resolve this step: the gradient judges it
                # (lowers_gradient), without acceleration (along a step this
                # short its finite difference of the residuals is rounding),
                # as damped_step does. Accepted, the model was as good as
                # exact (rho = 1: the region grows).
                loss_new, Jtr_new = problem.loss(x_new), loss_and_Jtr(problem, x_new)[1]
                if lowers_gradient(loss, loss_new, -gp,
                                   decrement(xp, Jtr_new, system.solve_again)):
                    tr.delta = pnorm / 0.5
                    tr.lam *= 0.5
                    return None, x_new
                if lam == 0.0:
                    # the model's own step fails to lower the gradient: a
                    # minimum to machine precision
                    return Status.CONVERGED, None
                # a damped step may be too short for its progress to show
                # through the gradient's rounding: a larger region, less damping
                probing = True
                tr.delta = 10.0 * pnorm
                tr.lam *= 0.1
            else:
                if accelerate is not None:
                    x_new = accelerate(p, system, x_new, D2)
                loss_new = problem.loss(x_new)
                finite = math.isfinite(loss_new)
                actual = (loss - loss_new) * problem.scale if finite else -math.inf
                rho = actual / predicted
                if rho <= 0.25:
                    if finite and actual >= 0:
                        temp = 0.5
                    else:
                        # MINPACK: the step that a quadratic through the actual
                        # decrease along p would have made (relative units)
                        dirder = gp / S  # negative
                        actred = actual / S if finite else -1.0
                        denominator = dirder + 0.5 * actred
                        temp = 0.5 * dirder / denominator if denominator < 0 else 0.1
                    if not finite or loss_new >= 100.0 * loss or not temp >= 0.1:
                        temp = 0.1
                    tr.delta = temp * min(tr.delta, pnorm / 0.1)
                    tr.lam /= temp
                elif lam == 0.0 or rho >= 0.75:
                    tr.delta = pnorm / 0.5
                    tr.lam *= 0.5
                if rho >= ACCEPT and finite and loss_new < loss:
                    return None, x_new
                if probing:
                    # a longer step than the one the gradient rejected, and too
                    # long for the model
                    return Status.CONVERGED, None
            if tr.delta <= 1e-15 * max(xnorm, _DWARF):
                return Status.CONVERGED, None
        return Status.MU_MAX, None
    finally:
        system.close()
