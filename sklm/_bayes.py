"""Bayesian regularisation (MacKay's evidence approximation) and prediction uncertainty.

Units. The problem a solver sees minimises ``(S + sum_j p_j theta_j^2) /
scale``, with ``S`` the weighted sum of squared errors of the (normalised)
data and ``p_j`` the L2 penalty of the penalised parameters, in the
problem's own units (see :class:`~sklm._problem.MLPProblem`). MacKay
(1992), and Foresee & Hagan (1997) for Levenberg-Marquardt (MATLAB's
``trainbr``), read the same minimiser as the mode of a posterior::

    p(theta | data) ~ exp(-beta/2 E_D - alpha/2 E_W),
    E_D = sum_i w_i ||y_i - f(x_i)||^2,   E_W = ||theta||^2

with ``beta`` the noise precision (``1 / sigma^2`` of a row of unit weight)
and ``alpha`` the precision of the Gaussian prior. Bayesian regularisation
puts every parameter, biases included, under the prior (as ``trainbr``
does; a fixed numeric ``alpha`` follows scikit-learn and spares the biases).
Foresee & Hagan write ``F = beta E_D + alpha E_W``: their ``alpha`` and
``beta`` are half of these (scikit-learn's ``BayesianRidge`` uses these, as
``lambda_`` and ``alpha_``). The minimiser depends only on the ratio,
``p = alpha / beta``. Sample weights count as repeated rows
(``n = k sum_i w_i``); weights whose mean is so extreme that the problem
rescales them (beyond ``2^+-20``) count as relative weights of mean about
one, in the rescaled units.

The Hessian of ``beta/2 E_D + alpha/2 E_W`` in the Gauss-Newton approximation
is ``A = beta J^T J + alpha I = beta (J^T J + p I)``: ``beta`` times the
normal matrix the solver already forms. Setting the derivatives of the log
evidence with respect to ``alpha`` and ``beta`` to zero gives MacKay's fixed
point, re-estimated after each accepted step::

    gamma = N - alpha tr(A^-1) = N - p tr((J^T J + p I)^-1)   (effective parameters)
    alpha = gamma / E_W
    beta  = (n - gamma) / E_D,              n = k sum_i w_i (one error per output)

For a network with no hidden layer this is ``BayesianRidge`` without
intercept on ``[X, 1]`` (see the tests). With a penalty on some parameters
only (an ordinary fit's weights), the same algebra gives ``gamma = rank(A) -
tr(P A^+)``, which :func:`posterior` uses for the noise estimate of any fit;
where ``J^T J + P`` is singular the pseudo-inverse replaces the inverse.

Prediction uncertainty (the Laplace, or delta, method): near a minimum, with
the Gauss-Newton Hessian ``A`` as the posterior precision of ``theta``, the
predictive variance of a new observation of unit weight at ``x`` is::

    sigma^2(x) = 1 / beta + g(x)^T A^-1 g(x),   g = d f(x) / d theta

computed here as ``||F g||^2`` with ``A^-1 = F^T F`` (the inverse Cholesky
factor), chunk by chunk over the rows of ``X``: memory is
``O(chunk * n_params)``, never ``O(m * n_params)``.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from ._mlp import MLP, chunk_bounds

__all__ = ["BayesianPrecisions", "Posterior", "UncertaintyWarning", "evidence_update",
           "inverse_root", "inverse_trace", "posterior", "predictive_std", "reestimate"]

#: The first penalty of a Bayesian fit, relative: the loss starts as the mean
#: squared error (of the normalised targets) plus ``INITIAL_PENALTY *
#: ||theta||^2``, a mild start that the first re-estimation replaces. The
#: evidence has several fixed points: a strong start (0.1 and up) stayed at
#: the linear one on the noisy surrogate; 0.01 cost Levenberg-Marquardt
#: 72-105 iterations to 1e-4 on seed-6d against 38-65 from 1e-3, which scores
#: as well on real noisy data (repeated 5-fold CV; docs/benchmarks.md, "Small
#: data, deeper and sooner").
INITIAL_PENALTY = 1e-3


#: Noise variance, relative to the targets' variance, below which Bayesian
#: regularisation deems the data noise-free and early stopping defers its
#: stop: a noise sd under 0.1% of the targets' (docs: design notes, "Noisy
#: data and the defaults").
NOISE_FREE_LEVEL = 1e-6

#: A Bayesian fit with fewer effective parameters than this has pruned every
#: parameter: the network predicts a constant (the estimator warns).
PRUNED_EFFECTIVE_PARAMS = 1.0


class UncertaintyWarning(UserWarning):
    """``predict(return_std=True)`` fell back from the Gauss-Newton covariance."""


def inverse_root(backend, A):
    """``(F, rank, how)`` with ``F^T F = A^-1``, or the pseudo-inverse ``A^+``.

    ``how`` is 'cholesky' (``F = L^-1``, ``A = L L^T``), 'pseudo-inverse'
    (the factorisation fails, or its pivots put ``cond(A)`` beyond
    ``1 / (n eps)``: ``F = diag(lambda^-1/2) V^T`` over the eigenvalues above
    ``n * eps * max(lambda)``) or 'non-finite' (``A`` has a NaN or infinite
    entry; ``F`` is None).
    """
    xp = backend.xp
    n = A.shape[0]
    if not bool(xp.isfinite(A).all()):
        return None, 0, "non-finite"
    Linv = backend.inverse_cholesky(A)
    if Linv is not None:
        # A Cholesky factorisation can succeed on a matrix singular to working
        # precision and give an inverse of rounding errors: cond(A) is about
        # (max L_ii / min L_ii)^2, and beyond 1 / (n eps) the eigenvalues
        # decide instead.
        d = xp.abs(Linv.diagonal())  # 1 / L_ii
        if float(d.min()) ** 2 >= n * np.finfo(np.float64).eps * float(d.max()) ** 2:
            return Linv, n, "cholesky"
    lam, V = xp.linalg.eigh(0.5 * (A + A.T))
    top = float(xp.abs(lam).max()) if n else 0.0
    keep = lam > n * np.finfo(np.float64).eps * max(top, np.finfo(np.float64).tiny)
    lam, V = lam[keep], V[:, keep]
    F = (V / xp.sqrt(lam)).T
    return F, int(lam.shape[0]), "pseudo-inverse"


def inverse_trace(backend, A):
    """``(tr(A^-1), rank, how)``: the trace :func:`inverse_root` and :func:`trace_over` give.

    The same inverse or pseudo-inverse as :func:`inverse_root` (the same
    Cholesky test of the condition, the same eigenvalue cut), but only its
    trace: ``||L^-1||_F^2`` from the inverse factor, or ``sum(1 / lambda)``
    over the eigenvalues kept, with no eigenvectors (an eigenvalue-only
    decomposition costs a fraction of :func:`inverse_root`'s ``eigh``). The
    trace is NaN where ``how`` is 'non-finite'.
    """
    xp = backend.xp
    n = A.shape[0]
    if not bool(xp.isfinite(A).all()):
        return math.nan, 0, "non-finite"
    Linv = backend.inverse_cholesky(A)
    if Linv is not None:
        d = xp.abs(Linv.diagonal())  # 1 / L_ii, as in inverse_root
        if float(d.min()) ** 2 >= n * np.finfo(np.float64).eps * float(d.max()) ** 2:
            return float(xp.vdot(Linv, Linv)), n, "cholesky"
    lam = xp.linalg.eigvalsh(0.5 * (A + A.T))
    top = float(xp.abs(lam).max()) if n else 0.0
    keep = lam > n * np.finfo(np.float64).eps * max(top, np.finfo(np.float64).tiny)
    return float((1.0 / lam[keep]).sum()), int(keep.sum()), "pseudo-inverse"


def evidence_update(p_tr, rank, E_D, E_W, n_errors, n_weights):
    """One fixed-point update of MacKay's evidence equations (see the module docstring).

    Parameters
    ----------
    p_tr : float
        ``p tr_W((J^T J + p I_W)^-1)``: the current penalty times the sum of
        the diagonal of the inverse (or pseudo-inverse) normal matrix over
        the weights (problem units).
    rank : int
        Rank of the normal matrix (the number of parameters when it is
        positive definite).
    E_D, E_W : float
        The weighted sum of squared errors and ``||W||^2``.
    n_errors : float
        ``k * sum(w)``: the number of squared errors in ``E_D``.
    n_weights : int
        ``N_W``, the number of parameters under the prior.

    Returns
    -------
    alpha, beta, gamma, new_penalty : float
        ``new_penalty`` is None where the update is not defined (no error
        left, no weights, every error taken by a parameter, a non-finite
        value): the caller then keeps its penalty.
    """
    gamma_w = n_weights - p_tr
    gamma = rank - p_tr
    # (Python floats: a division by zero raises, whatever np.errstate says)
    alpha = gamma_w / E_W if E_W > 0 else math.inf
    beta = (n_errors - gamma) / E_D if E_D > 0 else math.inf
    new = alpha / beta if beta != 0 and math.isfinite(beta) else math.nan
    if not (E_D > 0 and E_W > 0 and gamma_w > 0 and n_errors - gamma > 0
            and math.isfinite(new) and new > 0):
        new = None
    return float(alpha), float(beta), float(gamma), new


@dataclass
class BayesianPrecisions:
    """The state of Bayesian regularisation over a fit: precisions and their curves.

    A problem given one (``MLPProblem(..., evidence=...)``) re-estimates its
    penalty with :func:`evidence_update` after every accepted step, and
    records here. All values are of the problem's (normalised) data.

    Attributes
    ----------
    penalty : float or None
        The current ``p`` (problem units); None until a problem sets the
        first one, ``INITIAL_PENALTY`` times its ``scale``.
    alpha_curve, beta_curve, gamma_curve, penalty_curve : list of float
        After each accepted step; ``beta`` in the normalised targets' units.
    n_skipped : int
        Steps at which the update was not defined and ``p`` was kept.
    n_pseudo_inverse : int
        Steps at which the normal matrix was singular and its pseudo-inverse
        was used.
    """

    penalty: float | None
    alpha_curve: list = field(default_factory=list)
    beta_curve: list = field(default_factory=list)
    gamma_curve: list = field(default_factory=list)
    penalty_curve: list = field(default_factory=list)
    n_skipped: int = 0
    n_pseudo_inverse: int = 0

    @classmethod
    def start(cls, fitted=None):
        """A new state: from :data:`INITIAL_PENALTY`, or a warm-started estimator's last."""
        return cls(penalty=getattr(fitted, "_bayes_penalty", None))

    def __post_init__(self):
        # (a penalty of None is set by the problem from initial_relative)
        self.initial = self.penalty
        self.initial_relative = INITIAL_PENALTY

    def fitted(self, problem, best):
        """``(penalty, gamma)`` of the parameters returned; the problem takes that penalty.

        ``best`` is the accepted step whose parameters are returned (early
        stopping's best iteration; None: the last): its re-estimated penalty
        is the fitted one, the posterior's.
        """
        last = len(self.penalty_curve) if best is None else best
        penalty = self.penalty_at(last, self.initial)
        gamma = self.gamma_curve[last - 1] if last > 0 else None
        current = problem.penalty
        # (the same penalty set again would void the solver's last J^T J, which
        # the posterior reuses at the final point)
        if current is None or not bool((current == penalty).all()):
            problem._set_penalty(problem.xp.full(problem.n_weights, penalty))
        return penalty, gamma

    def noise_free_test(self, variance, level=None):
        """``test() -> bool``: whether the latest noise estimate says noise-free.

        True when ``1 / beta`` is below ``level`` (default
        :data:`NOISE_FREE_LEVEL`) times the training targets' weighted
        ``variance`` (the problem's units): then there is no noise to overfit,
        and early stopping defers its stop (a plateau of the validation loss
        on noise-free data is not overfitting).
        """
        level = NOISE_FREE_LEVEL if level is None else level

        def test():
            if not self.beta_curve or not variance > 0:
                return False
            return 1.0 / self.beta_curve[-1] < level * variance

        return test

    def record(self, alpha, beta, gamma, new_penalty, how):
        if how == "pseudo-inverse":
            self.n_pseudo_inverse += 1
        if new_penalty is None:
            self.n_skipped += 1
        else:
            self.penalty = new_penalty
        self.alpha_curve.append(alpha)
        self.beta_curve.append(beta)
        self.gamma_curve.append(gamma)
        self.penalty_curve.append(self.penalty)

    def penalty_at(self, iteration, initial):
        """The penalty re-estimated at accepted step ``iteration`` (0: ``initial``)."""
        return self.penalty_curve[iteration - 1] if iteration > 0 else initial


def reestimate(problem, x, loss, JtJ, Jtr):
    """MacKay's update of a problem's penalty at an accepted point ``x``.

    From ``J^T J`` (with the current penalty), the weights' ``||W||^2`` and the
    data's sum of squares, a new penalty ``p``; ``J^T J``, ``J^T r`` and the
    loss are shifted to it in place, at ``O(n)`` cost, so the solver continues
    on the new objective without a new Jacobian. ``problem`` is an
    :class:`~sklm._problem.MLPProblem` or a sum of them on a cluster: it has
    ``evidence``, ``penalty``, ``_weight_idx``, ``n_weights``, ``scale``,
    ``data_sse`` and ``_set_penalty``.
    """
    xp = problem.xp
    idx = problem._weight_idx
    evidence = problem.evidence
    # Under Bayesian regularisation every parameter has the one penalty
    # p (idx is all of them): p tr_W(A^-1) = p tr(A^-1), and the trace
    # needs no eigenvectors (inverse_root + trace_over gave the same).
    trace, rank, how = inverse_trace(problem.backend, JtJ)
    W = x[idx]
    E_W = float(xp.vdot(W, W))
    if how == "non-finite":
        alpha = beta = gamma = math.nan
        new = None
    else:
        p_tr = float(evidence.penalty) * trace
        # in the rescaled weights' units (weight_unit 1 for ordinary ones:
        # integer weights count as repeated rows; weights of extreme mean,
        # rescaled, count as relative weights of mean about 1)
        alpha, beta, gamma, new = evidence_update(
            p_tr, rank, problem.data_sse(x), E_W, problem.scale, problem.n_weights)
        if new is not None:
            # A penalty below the rounding of J^T J changes the fit only through
            # rounding: on data the network interpolates, the evidence drives it
            # there, and fits of the same data, weighted or repeated, drifted 1e-5
            # apart along the minima it no longer held (scikit-learn's check).
            curvature = float((JtJ.diagonal()[idx] - evidence.penalty).max())
            new = max(new, 10.0 * JtJ.shape[0] * np.finfo(np.float64).eps * curvature)
    old = evidence.penalty
    evidence.record(alpha, beta, gamma, new, how)
    if new is not None:
        delta = new - old
        JtJ[idx, idx] += delta
        Jtr[idx] += delta * W
        loss = loss + delta * E_W / problem.scale
        last = problem._last_normal
        problem._set_penalty(xp.full(problem.n_weights, new))
        if last is not None and last[1] is JtJ:
            # shifted in place to the new penalty
            problem._last_normal = (last[0], JtJ, problem._penalty_version)
    return loss, JtJ, Jtr


def trace_over(F, idx, xp, weights=None):
    """``sum_{j in idx} weights_j (F^T F)_jj`` (the diagonal of ``A^-1`` on ``idx``)."""
    col = (F[:, idx] ** 2).sum(axis=0)
    return float(col.sum() if weights is None else xp.vdot(weights, col))


@dataclass
class Posterior:
    """What ``predict(X, return_std=True)`` needs, in NumPy (picklable) arrays.

    All of the normalised problem: ``theta`` its parameters, ``root`` with
    ``root^T root`` the covariance ``A^-1`` of ``theta`` (``(r, n_params)``,
    ``r < n_params`` for a pseudo-inverse), ``noise`` the variance ``1 /
    beta`` of an observation of unit weight; ``x_shift``, ``x_scale`` and
    ``y_scale`` map to the user's units. ``status`` is 'cholesky',
    'pseudo-inverse', 'non-finite' or 'no-noise-estimate'; ``detail`` a
    sentence for the warning.
    """

    layer_sizes: tuple
    activation: str
    theta: np.ndarray
    root: np.ndarray | None
    noise: float
    alpha: float
    beta: float
    gamma: float
    x_shift: np.ndarray
    x_scale: np.ndarray
    y_scale: float
    status: str
    detail: str = ""


def posterior(problem, x, norm, activation):
    """The Gauss-Newton (Laplace) posterior at ``x`` of an :class:`MLPProblem`.

    Forms ``J^T J`` at ``x`` with the problem's current penalty; the noise
    precision is the evidence's ``beta = (n - gamma) / E_D``: for a Bayesian
    fit its re-estimated value, for an ordinary fit the residuals' variance
    with ``gamma`` degrees of freedom taken by the parameters (``gamma = n_params``
    without a penalty, the classical ``SSE / (n - n_params)``).
    """
    backend = problem.backend
    xp = backend.xp
    JtJ = problem.normal_matrix(x)  # the solver's last, when x is its final point
    F, rank, how = inverse_root(backend, JtJ)
    # in the problem's rescaled weights (see MLPProblem.after_accepted_step)
    E_D = problem.data_sse(x)
    n_errors = problem.scale
    detail = ""
    root = None
    beta = gamma = math.nan
    if how == "non-finite":
        detail = ("J^T J at the fitted parameters is not finite (an overflowed "
                  "Jacobian), so the parameters' uncertainty cannot be computed")
        # the noise alone, with every parameter counted as used
        gamma = float(problem.n_params)
    else:
        tr = 0.0
        if problem.penalty is not None:
            tr = trace_over(F, problem._weight_idx, xp, problem.penalty)
        # (rank - tr >= 0 exactly: below zero only by rounding)
        gamma = max(rank - tr, 0.0)
        if how == "pseudo-inverse":
            detail = (f"J^T J at the fitted parameters is singular (rank {rank} of "
                      f"{problem.n_params}): the data do not determine every "
                      "parameter, and the pseudo-inverse counts only the directions "
                      "they determine")
    beta = (n_errors - gamma) / E_D if E_D > 0 else math.inf
    # the prior precision the evidence would choose here (MacKay's update)
    W = x[problem._weight_idx]
    E_W = float(xp.vdot(W, W))
    gamma_w = problem.n_weights - (rank - gamma)
    # Undefined where the prior has pruned every weight (gamma_w and E_W both
    # vanish: their ratio is rounding, of either sign)
    alpha = gamma_w / E_W if E_W > 0 and gamma_w >= PRUNED_EFFECTIVE_PARAMS else math.nan
    if not (math.isfinite(beta) and beta > 0):
        status = "no-noise-estimate"
        detail = (f"the noise variance cannot be estimated from the residuals: their "
                  f"sum of squares is {E_D:.3g} with {n_errors:.6g} errors and "
                  f"{gamma:.6g} effective parameters (the network interpolates the "
                  "data)")
        noise = math.nan
    else:
        noise = 1.0 / beta
        status = how
        if F is not None:
            root = backend.to_numpy(F) / math.sqrt(beta)
    return Posterior(
        layer_sizes=problem.mlp.layer_sizes, activation=activation,
        theta=np.array(backend.to_numpy(x), dtype=np.float64), root=root, noise=noise,
        alpha=float(alpha), beta=float(beta), gamma=float(gamma), x_shift=norm.x_shift,
        x_scale=norm.x_scale,
        y_scale=norm.y_scale, status=status, detail=detail)


def predictive_std(post, X, backend, chunk_size=None):
    """Standard deviation of a new observation at each row of ``X`` (user's units).

    ``sqrt(noise + g^T A^-1 g) * y_scale`` per row and output, streamed over
    chunks of rows (``X`` in the user's units, on ``backend``). Returns an
    array of shape ``(m, n_outputs)``: NaN where ``post.status`` is
    'no-noise-estimate', the noise alone where it is 'non-finite' (the
    caller warns).
    """
    xp = backend.xp
    mlp = MLP(post.layer_sizes, post.activation)
    k = mlp.n_outputs
    m = X.shape[0]
    if post.status == "no-noise-estimate":
        return xp.full((m, k), math.nan)
    scale = post.y_scale
    if post.root is None:
        return xp.full((m, k), math.sqrt(post.noise) * scale)
    root = backend.asarray(post.root)
    params = mlp.unpack(backend.asarray(post.theta))
    Xn = (X - backend.asarray(post.x_shift)) / backend.asarray(post.x_scale)
    if chunk_size is None:
        # the Jacobian chunk and its product with the root
        row_bytes = 8 * k * (mlp.n_params + root.shape[0])
        chunk_size = backend.chunk_rows(row_bytes=row_bytes, n_rows=max(m, 1))
    out = xp.empty((m, k), dtype=np.float64)
    for i0, i1 in chunk_bounds(m, chunk_size):
        c = i1 - i0
        acts = mlp.forward(params, Xn[i0:i1].T, xp)
        Jt = xp.empty((mlp.n_params, c * k), dtype=np.float64)
        mlp.jacobian_t(params, acts, xp.ones(c), Jt, xp)
        V = root @ Jt
        var = (V * V).sum(axis=0).reshape(c, k) + post.noise
        out[i0:i1] = xp.sqrt(var) * scale
    return out
