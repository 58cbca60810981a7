"""The coordinates the optimiser trains in: centred, scaled inputs and targets.

A network's first layer is affine in its inputs and its output layer is
linear, so training on ``(X - mu) / sigma`` and ``(Y - c) / s`` is a change of
variables, not of the problem: the fitted parameters are converted back (the
first layer absorbs ``mu`` and ``sigma``, the output layer ``c`` and ``s``) and
predict in the user's units. The loss in the user's units is exactly ``s^2``
times the normalised one when the L2 penalty is reweighted per weight (see
:meth:`Normalisation.penalty`). What changes is only the optimiser's path: the
initial weights and the damping are made for data of order one (MATLAB's
``fitnet`` normalises inputs and targets by default for the same reason).
"""

import math

import numpy as np

__all__ = ["Normalisation"]

_TINY = float(np.finfo(np.float64).tiny)


class Normalisation:
    """Shifts and scales of the inputs and targets, and the conversions they imply.

    Parameters
    ----------
    x_shift, x_scale : ndarray of shape (n_features,)
    y_shift : ndarray of shape (n_outputs,)
    y_scale : float
        One scale for all outputs, so that the loss (a mean over outputs)
        stays a multiple of the normalised one.
    """

    def __init__(self, x_shift, x_scale, y_shift, y_scale):
        self.x_shift = np.asarray(x_shift, dtype=np.float64)
        self.x_scale = np.asarray(x_scale, dtype=np.float64)
        self.y_shift = np.asarray(y_shift, dtype=np.float64)
        self.y_scale = float(y_scale)
        self.loss_unit = self.y_scale * self.y_scale
        if not _TINY <= self.loss_unit < math.inf:  # a normal float, full precision
            raise ValueError(
                f"The targets' scale ({self.y_scale:.3g}) squared is not representable "
                "in float64, so their mean squared error cannot be reported. Scale "
                "them, e.g. with TransformedTargetRegressor(transformer=StandardScaler())."
            )

    @classmethod
    def fit(cls, X, Y, w, inputs=True, targets=True):
        """Weighted statistics of ``X`` and ``Y`` (identity where not asked for).

        Inputs: each feature's weighted mean and standard deviation, as
        scikit-learn's ``StandardScaler``. Targets: each output's weighted
        mean and one weighted root mean square of ``Y - mean`` over all
        outputs. Constant columns are only centred.
        """
        n_features, n_outputs = X.shape[1], Y.shape[1]
        x_shift, x_scale = np.zeros(n_features), np.ones(n_features)
        y_shift, y_scale = np.zeros(n_outputs), 1.0
        if inputs:
            x_shift, x_scale = _mean_and_rms(X, w, per_column=True)
        if targets:
            y_shift, y_scale = _mean_and_rms(Y, w, per_column=False)
        return cls(x_shift, x_scale, y_shift, y_scale)

    def transform(self, X, Y):
        """``X`` and ``Y`` in the optimiser's coordinates (new arrays)."""
        return (X - self.x_shift) / self.x_scale, (Y - self.y_shift) / self.y_scale

    def to_user(self, mlp, theta):
        """Parameters for raw inputs and targets from normalised ones."""
        theta = mlp.affine_input(theta, 1.0 / self.x_scale, -self.x_shift / self.x_scale)
        return mlp.affine_output(theta, self.y_scale, self.y_shift)

    def to_solver(self, mlp, theta):
        """Normalised parameters from parameters for raw inputs and targets."""
        theta = mlp.affine_input(theta, self.x_scale, self.x_shift)
        return mlp.affine_output(theta, 1.0 / self.y_scale, -self.y_shift / self.y_scale)

    def penalty(self, mlp, alpha):
        """Per-weight ``alpha`` of the normalised problem, in ``weight_mask`` order.

        A first-layer weight of the user's network is ``W_jk / sigma_j`` and an
        output weight ``s W_jk``, so ``alpha ||W||^2`` in the user's units is
        ``s^2`` times a normalised penalty with ``alpha / (sigma_j^2 s^2)`` on
        the first layer, ``alpha / s^2`` on the hidden layers and ``alpha`` on
        the output layer.
        """
        if alpha == 0:  # (and no 0 * inf where a scale's square underflows)
            return np.zeros(int(mlp.weight_mask().sum()))
        factor = np.ones(mlp.n_params)
        w0, w1, _, _, fan_out = mlp.layout[0]
        with np.errstate(over="ignore", under="ignore"):  # checked below
            factor[w0:w1] /= np.repeat(self.x_scale**2, fan_out)  # rows of W_1: inputs
            factor[~mlp.output_weight_mask()] /= self.loss_unit
            penalty = alpha * factor[mlp.weight_mask()]
        if not np.all(np.isfinite(penalty)):
            raise ValueError(
                f"alpha={alpha:g} on the normalised problem overflows float64: the "
                f"targets' scale ({self.y_scale:.3g}) or an input's "
                f"({self.x_scale.min():.3g}) is too small for it. Scale the data, or "
                "lower alpha."
            )
        return penalty


def _mean_and_rms(A, w, per_column):
    """Weighted mean per column and root mean square of ``A - mean``.

    Per column, or one over all columns; rows of zero weight take no part
    (a huge value there must not swamp the others). Each step divides by the
    largest magnitude first, so values near the float64 limits neither
    overflow nor, beside them, underflow; a zero RMS becomes 1.
    """
    A, w = A[w > 0], w[w > 0]
    axis = 0 if per_column else None

    def largest(B):
        m = np.abs(B).max(axis=axis)
        return np.where(m > 0, m, 1.0)

    big = largest(A)
    mean = np.average(A / big, axis=0, weights=w) * big
    D = A - mean
    spread = largest(D)
    sq = (D / spread) ** 2
    var = np.average(sq if per_column else sq.mean(axis=1), axis=0, weights=w)
    rms = np.sqrt(var) * spread
    rms = np.where((rms > 0) & np.isfinite(rms), rms, 1.0)
    return mean, (rms if per_column else float(rms))
