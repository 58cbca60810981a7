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

    def grow(self, pnorm):
        """After a good trial: the radius twice the step's length, half the damping."""
        self.delta = pnorm / 0.5
        self.lam *= 0.5

    def shrink(self, factor, pnorm):
        """After a poor trial: the radius times ``factor`` (at most the step's), more damping."""
        self.delta = factor * min(self.delta, pnorm / 0.1)
        self.lam /= factor


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


def _newton_correction(fp, delta, dxnorm, q2):
    """Newton's correction of ``lam`` for ``1/||D p(lam)||`` (MINPACK's parc), or None.

    From ``fp = ||D p|| - delta`` and the derivative that ``q2`` gives
    (:meth:`_Damped.step_and_norms`); None where ``q2`` is not positive and
    finite.
    """
    if not (q2 > 0 and math.isfinite(q2)):
        return None
    return (fp / delta) * dxnorm * dxnorm / q2


class _LamSearch:
    """Where Moré's search for ``lam`` (:func:`lmpar`) stands.

    The ``lam`` sought lies in ``[parl, paru]``; ``fp`` is ``||D p|| - delta``
    at the last ``lam`` factored and ``best`` that step's ``(p, ||D p||, lam)``.
    """

    def __init__(self, system, delta, gnorm):
        self.system = system
        self.delta = delta
        self.gnorm = gnorm
        self.paru = gnorm / delta if gnorm > 0 else _DWARF / min(delta, 0.1)
        self.parl = 0.0
        self.best = None
        self.fp = math.nan
        self.newton = None  # Newton's next lam from the warm start
        self.gn_norm = None  # ||D p|| of the Gauss-Newton step

    def warm_start(self, lam):
        """The step at the last iteration's ``lam`` if it fits the region; else None."""
        out = self.system.step_and_norms(lam)
        if out is None:
            self.parl = lam  # not positive definite at lam, nor at 0
            return None
        p, dxnorm, q2 = out
        self.best = (p, dxnorm, lam)
        self.fp = dxnorm - self.delta
        if abs(self.fp) <= SHARPNESS * self.delta:
            return p, dxnorm, lam
        if self.fp > 0:
            self.parl = lam
        else:
            self.paru = min(self.paru, lam)
        correction = _newton_correction(self.fp, self.delta, dxnorm, q2)
        if correction is not None:
            self.newton = lam + correction
        return None

    def gauss_newton(self):
        """The Gauss-Newton step if ``J^T J`` factors and the step is inside the region."""
        gn = self.system.step_and_norms(0.0)
        if gn is None:
            return None
        p, dxnorm, q2 = gn
        self.gn_norm = dxnorm
        fp_gn = dxnorm - self.delta
        if fp_gn <= SHARPNESS * self.delta:
            return p, dxnorm, 0.0
        correction = _newton_correction(fp_gn, self.delta, dxnorm, q2)
        if correction is not None:
            # Newton's lower bound from lam = 0 (the problem is full rank)
            self.parl = correction
        return None

    def first_lam(self, lam):
        """The ``lam`` to start the iterations from: Newton's guess (or ``lam``), bounded."""
        if self.newton is not None:
            lam = self.newton
        lam = min(max(lam, self.parl), self.paru)
        if lam == 0.0:
            lam = (self.gnorm / self.gn_norm if self.gn_norm is not None and self.gn_norm > 0
                   else 0.001 * self.paru)
        return lam

    def iterate(self, lam):
        """Safeguarded Newton iterations from ``lam``; the last ``lam`` reached."""
        for _ in range(LMPAR_ITERATIONS):
            if lam == 0.0:
                lam = max(_DWARF, 0.001 * self.paru)
            out = self.system.step_and_norms(lam)
            if out is None:
                # not positive definite in floating point: more damping
                self.parl = max(self.parl, lam)
                lam = (max(10.0 * lam, math.sqrt(self.parl * self.paru))
                       if self.paru > self.parl else 10.0 * lam)
                continue
            p, dxnorm, q2 = out
            self.best = (p, dxnorm, lam)
            previous, self.fp = self.fp, dxnorm - self.delta
            if (abs(self.fp) <= SHARPNESS * self.delta
                    or (self.parl == 0.0 and math.isfinite(previous)
                        and self.fp <= previous < 0)):
                break
            if self.fp > 0:
                self.parl = max(self.parl, lam)
            elif self.fp < 0:
                self.paru = min(self.paru, lam)
            correction = _newton_correction(self.fp, self.delta, dxnorm, q2)
            if correction is None:
                lam = max(self.parl, 0.5 * (self.parl + self.paru))
            else:
                lam = max(self.parl, lam + correction)
        return lam

    def result(self, lam):
        """The last step factored, ``(p, ||D p||, its lam)``, with the system factored at it."""
        if self.best is None:
            return None, math.nan, lam
        p, dxnorm, lam_used = self.best
        if self.system.factor is None or lam_used != lam:
            # the factor the trial's acceleration uses must be the step's
            if self.system.step_and_norms(lam_used) is None:
                return None, math.nan, lam_used
        return p, dxnorm, lam_used


def lmpar(system, delta, lam, gnorm):
    """Moré's search for ``lam``: ``||D p(lam)||`` within 10% of ``delta``.

    ``gnorm`` is ``||D^-1 g||``. Returns ``(p, ||D p||, lam)``, or ``(None,
    nan, lam)`` where no factorisation succeeded.
    """
    search = _LamSearch(system, delta, gnorm)
    if WARM_FIRST and lam > 0:
        # The last iteration's damping first: often already right (one
        # factorisation in all), and where its step is too long, Gauss-Newton's
        # is longer still (||D p(lam)|| decreases in lam), so it is not tried.
        found = search.warm_start(lam)
        if found is not None:
            return found
    if search.parl == 0.0:
        found = search.gauss_newton()
        if found is not None:
            return found
    return search.result(search.iterate(search.first_lam(lam)))


@dataclass
class _Trial:
    """One trial step ``p`` from ``x``: its length, damping, point and predicted decrease.

    ``gp`` is ``J^T r . p``, the directional derivative MINPACK's radius
    update uses; ``predicted`` the decrease of the sum of squares the linear
    model predicts for ``p``.
    """

    p: object
    pnorm: float
    lam: float
    x_new: object
    gp: float
    predicted: float


def _next_trial(system, tr, x, Jtr, gnorm):
    """The trial for the current radius (:func:`lmpar`), or None where no damping factors."""
    p, pnorm, lam = lmpar(system, tr.delta, tr.lam, gnorm)
    tr.lam = lam
    if p is None:
        return None
    if tr.first:
        tr.delta = min(tr.delta, pnorm)
        tr.first = False
    x_new = x + p
    gp = float(system.backend.xp.vdot(Jtr, p))
    predicted = -gp + lam * pnorm * pnorm
    return _Trial(p, pnorm, lam, x_new, gp, predicted)


def _judge_by_gradient(problem, loss, trial, system, tr):
    """A trial too short for the loss, judged by the gradient: its outcome, or None (try again).

    The loss cannot resolve this step: the gradient judges it
    (lowers_gradient), without acceleration (along a step this short its
    finite difference of the residuals is rounding), as damped_step does.
    Accepted, the model was as good as exact (rho = 1: the region grows).
    """
    loss_new, Jtr_new = problem.loss(trial.x_new), loss_and_Jtr(problem, trial.x_new)[1]
    if lowers_gradient(loss, loss_new, -trial.gp,
                       decrement(system.backend.xp, Jtr_new, system.solve_again)):
        tr.grow(trial.pnorm)
        return None, trial.x_new
    if trial.lam == 0.0:
        # the model's own step fails to lower the gradient: a
        # minimum to machine precision
        return Status.CONVERGED, None
    # a damped step may be too short for its progress to show
    # through the gradient's rounding: a larger region, less damping
    tr.delta = 10.0 * trial.pnorm
    tr.lam *= 0.1
    return None


def _judge_by_loss(problem, loss, trial, tr, probing):
    """A trial judged by its gain ratio, the radius updated: its outcome, or None (try again)."""
    loss_new = problem.loss(trial.x_new)
    finite = math.isfinite(loss_new)
    actual = (loss - loss_new) * problem.scale if finite else -math.inf
    rho = actual / trial.predicted
    if rho <= 0.25:
        tr.shrink(_shrink_factor(loss, loss_new, actual, trial.gp, loss * problem.scale),
                  trial.pnorm)
    elif trial.lam == 0.0 or rho >= 0.75:
        tr.grow(trial.pnorm)
    if rho >= ACCEPT and finite and loss_new < loss:
        return None, trial.x_new
    if probing:
        # a longer step than the one the gradient rejected, and too
        # long for the model
        return Status.CONVERGED, None
    return None


def _shrink_factor(loss, loss_new, actual, gp, S):
    """MINPACK's factor in ``[0.1, 0.5]`` by which a poor trial shrinks the region."""
    finite = math.isfinite(loss_new)
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
    return temp


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
            trial = _next_trial(system, tr, x, Jtr, gnorm)
            if trial is None:
                # no damping made the system positive definite
                return Status.MU_MAX, None
            if not bool(xp.any(trial.x_new != x)):
                return Status.CONVERGED, None  # no representable step
            # the outcome: (status, x_new), which ends the step, or None
            if at_machine_precision(trial.predicted, S, endgame=probing):
                outcome = _judge_by_gradient(problem, loss, trial, system, tr)
                probing = True  # (rejected: the region was enlarged for the next trials)
            else:
                if accelerate is not None:
                    trial.x_new = accelerate(trial.p, system, trial.x_new, D2)
                outcome = _judge_by_loss(problem, loss, trial, tr, probing)
            if outcome is not None:
                return outcome
            if tr.delta <= 1e-15 * max(xnorm, _DWARF):
                return Status.CONVERGED, None
        return Status.MU_MAX, None
    finally:
        system.close()
