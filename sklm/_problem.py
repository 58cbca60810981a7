"""Least-squares problems: what a solver sees.

A problem exposes a parameter count and, at a parameter vector ``x``, the loss,
its gradient, the Gauss-Newton normal equations and (where available) the exact
Hessian. Solvers know nothing else about it: the same solver fits an MLP and a
two-parameter curve.

Every problem minimises a loss of the form ``loss(x) = ||r(x)||^2 / scale``
(a mean of squared residuals, DESIGN.md), so the Gauss-Newton quantities are
those of the sum of squares: ``J^T J`` and ``J^T r`` with ``J = dr/dx``, exactly
the matrices of MATLAB's ``trainlm`` and of the tutorial, and the damping ``mu``
of Levenberg-Marquardt has the same meaning as there. Gradients and Hessians
are those of ``loss`` itself (the mean), so learning rates of first-order
methods do not depend on the number of samples.
"""

import abc

import numpy as np

from ._mlp import chunk_bounds
from ._mlp_hessian import mlp_curvature

__all__ = ["Problem", "MLPProblem", "FunctionProblem"]


class GaussNewtonOperator:
    """``J^T J`` without the matrix: ``product(v) -> J^T J v`` and ``diagonal()``."""

    __slots__ = ("product", "diagonal")

    def __init__(self, product, diagonal):
        self.product = product
        self.diagonal = diagonal


class Problem(abc.ABC):
    """Interface of a least-squares problem ``loss(x) = ||r(x)||^2 / scale``.

    ``loss`` is required. The other methods are capabilities a problem
    provides for the solvers that need them (normal equations for LM and
    Gauss-Newton, gradients for SGD and Adam, the Hessian for Newton, the
    directional derivatives for geodesic acceleration); a solver asked to
    run on a problem without one fails with a message naming it.

    Attributes
    ----------
    n_params : int
    scale : float
    n_samples : int or None
        Number of rows a minibatch method may draw from, or None when the
        problem cannot be split (first-order solvers then use full batches).
    backend : Backend
    """

    n_params = 0
    scale = 1.0
    n_samples = None
    backend = None

    @abc.abstractmethod
    def loss(self, x):
        """The loss at ``x`` (a Python float)."""

    def gradient(self, x, batch=None):
        """``(loss, gradient of loss)``; on the rows ``batch`` if given."""
        raise NotImplementedError(f"{type(self).__name__} has no gradient.")

    def normal_equations(self, x):
        """``(loss, J^T J, J^T r)`` at ``x``."""
        raise NotImplementedError(f"{type(self).__name__} has no normal equations.")

    # Directional derivatives of the residuals ``r`` (geodesic acceleration
    # of Levenberg-Marquardt needs them; a problem may leave them out).
    def residual(self, x):
        """The residual vector ``r(x)``, with ``||r||^2 / scale == loss(x)``."""
        raise NotImplementedError(f"{type(self).__name__} exposes no residual vector.")

    def jvp(self, x, v):
        """``J(x) v``: the derivative of ``r`` at ``x`` along ``v`` (shape of ``r``)."""
        raise NotImplementedError(f"{type(self).__name__} has no Jacobian-vector product.")

    def vjp(self, x, u):
        """``J(x)^T u`` for ``u`` of the shape of ``r``."""
        raise NotImplementedError(f"{type(self).__name__} has no vector-Jacobian product.")

    @classmethod
    def has_directional_derivatives(cls):
        """Whether ``residual``, ``jvp`` and ``vjp`` are implemented."""
        return all(getattr(cls, name) is not getattr(Problem, name)
                   for name in ("residual", "jvp", "vjp"))

    def hessian(self, x):
        """``(loss, gradient, exact Hessian of loss)`` at ``x``."""
        raise NotImplementedError(f"{type(self).__name__} has no exact Hessian.")

    def gauss_newton_operator(self, x, rows=None):
        """``J^T J`` at ``x`` as a :class:`GaussNewtonOperator` (the matrix-free step's).

        ``rows`` (indices below ``n_samples``) asks for the curvature of those
        rows only, scaled to the whole data by ``n_samples / len(rows)``; a
        problem that cannot split its rows (``n_samples`` None) is never
        asked. This default forms the normal equations; MLPProblem never does.
        """
        JtJ = self.normal_equations(x)[1]
        return GaussNewtonOperator(lambda v: JtJ @ v, lambda: JtJ.diagonal().copy())

    def after_accepted_step(self, x, loss, JtJ, Jtr):
        """Hook called by the normal-equation solvers at each accepted point.

        ``(loss, JtJ, Jtr)`` are the problem's own :meth:`normal_equations` at
        ``x``. A problem whose loss has hyper-parameters it re-estimates from
        the fit (Bayesian regularisation re-estimates its penalty from
        ``J^T J``) updates them here and returns the normal equations of its
        new loss, which the solver continues from (``JtJ`` and ``Jtr`` may be
        updated in place). The default changes nothing.
        """
        return loss, JtJ, Jtr


def weight_unit_of(mean_w):
    """The power of two :class:`MLPProblem` divides weights of mean ``mean_w`` by.

    1 for ordinary weights (mean within ``2**+-20``), else the power of two
    nearest their mean.
    """
    if 2.0**-20 <= mean_w <= 2.0**20 or not mean_w > 0:
        return 1.0  # (a mean of zero: rows that carry no weight, nothing to rescale)
    return 2.0 ** round(np.log2(mean_w))


def _sum_squares(xp, E):
    """``sum(E**2)`` accumulated in float64 (BLAS sdot would sum in float32)."""
    if E.dtype != np.float64:
        E = E.astype(np.float64)
    return xp.vdot(E, E)


class PenalisedProblem(Problem):
    """The penalty of a least-squares problem, and its re-estimation by the evidence.

    Shared by :class:`MLPProblem` and the sum of block problems on a cluster
    (``sklm._dask.DaskProblem``): both hold ``mlp``, ``backend``, ``xp``,
    ``scale``, ``n_outputs``, ``weight_unit`` and ``_last_normal``, and compute
    ``data_sse`` and ``normal_equations`` their own way.
    """

    def _init_penalty(self, alpha, evidence):
        """The penalised parameters and their penalty: ``alpha``'s, or the evidence's."""
        mlp, backend = self.mlp, self.backend
        # integer indices of the weights: unlike a boolean mask, indexing
        # with them needs no device synchronisation on a GPU
        weight_idx = np.flatnonzero(mlp.weight_mask())
        if evidence is not None:
            # Bayesian regularisation puts its prior on every parameter, biases
            # included (as trainbr): the posterior is then proper, J^T J + p I
            # positive definite even where a unit's outgoing weight has gone
            # to zero and left its bias undetermined.
            weight_idx = np.arange(mlp.n_params)
        # the penalised entries of x (``n_weights`` of them)
        self._weight_idx = backend.asarray(weight_idx, dtype=np.int64)
        # alpha_j W_j^2 / sum(w) in units of the rescaled sum of squares: the
        # diagonal the penalty adds to J^T J, one entry per weight (None: no
        # penalty, and no penalty residuals)
        self.n_weights = int(weight_idx.shape[0])
        # Bayesian regularisation (sklm._bayes): one penalty for every
        # parameter, in these units already, re-estimated after each accepted step.
        self.evidence = evidence
        if evidence is not None:
            if evidence.penalty is None:
                # the first penalty is relative: loss = mse + initial ||theta||^2
                evidence.penalty = evidence.initial = evidence.initial_relative * self.scale
            self._set_penalty(np.full(self.n_weights, float(evidence.penalty)))
        else:
            alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), weight_idx.shape)
            self._set_penalty(alpha * (self.n_outputs / self.weight_unit) if alpha.any() else None)

    # ---------------------------------------------------------------- helpers
    def _set_penalty(self, penalty):
        """Per-weight ``p_j`` in the rescaled sum of squares' units, or None."""
        xp = self.xp
        self.penalty = None if penalty is None else self.backend.asarray(penalty)
        self._sqrt_penalty = None if self.penalty is None else xp.sqrt(self.penalty)
        self._penalty_version = getattr(self, "_penalty_version", 0) + 1

    def _penalty_sse(self, x):
        if self.penalty is None:
            return 0.0
        W = x[self._weight_idx]
        return float(W @ (self.penalty * W))

    def normal_matrix(self, x):
        """``J^T J`` at ``x`` with the current penalty (not to be modified).

        The matrix of the last :meth:`normal_equations` when that was at
        ``x`` with this penalty (a solver's final point: the solvers restore
        its diagonal after damping it), else a new one.
        """
        if self.has_normal_matrix_at(x):
            return self._last_normal[1]
        return self.normal_equations(x)[1]

    def after_accepted_step(self, x, loss, JtJ, Jtr):
        """Bayesian regularisation: re-estimate the penalty at ``x`` (see sklm._bayes).

        Without an ``evidence`` object, nothing changes (see :func:`sklm._bayes.reestimate`).
        """
        if self.evidence is None:
            return loss, JtJ, Jtr
        from ._bayes import reestimate  # noqa: PLC0415

        return reestimate(self, x, loss, JtJ, Jtr)

    def _scaled(self, out, factor, v):
        """``factor * out`` plus the penalty's share: ``p * v``, or ``p`` for ``v`` None."""
        if factor != 1.0:
            out *= factor
        if self.penalty is not None:
            idx = self._weight_idx
            out[idx] += self.penalty if v is None else self.penalty * v[idx]
        return out

    def has_normal_matrix_at(self, x):
        """Whether :meth:`normal_matrix` at ``x`` costs no new ``J^T J``."""
        last = self._last_normal
        return (last is not None and last[2] == self._penalty_version
                and last[0].shape == x.shape and bool(self.xp.array_equal(last[0], x)))


class MLPProblem(PenalisedProblem):
    """The training loss of an :class:`~sklm._mlp.MLP` on weighted data.

    ``loss = sum_i w_i ||y_i - f(x_i)||^2 / (sum_i w_i * k) + sum_j alpha_j W_j^2 / sum_i w_i``

    with ``k`` outputs and ``W`` all weights (not biases); ``alpha`` is one
    number for every weight or one per weight (the estimator's target
    normalisation gives the output layer its own). With unit weights and one
    ``alpha`` this is DESIGN.md's loss; normalising the penalty by ``sum w``
    rather than the row count makes integer weights exactly equivalent to
    repeated rows. In least-squares form the penalty is one more block of
    residuals ``sqrt(alpha * k) * W`` and ``scale = k * sum w``.

    Rows are processed in chunks of ``chunk_size`` samples, so the Jacobian is
    never held whole: memory is ``O(chunk_size * k * n_params + n_params^2)``.

    One block of a larger data set (a chunk of a Dask array, see
    :mod:`sklm._dask`) is a problem of its own whose results add up to the
    whole data's: it takes the whole data's ``weight_unit`` (the power of two
    the weights are divided by) and ``scale=1``, so that its loss is its
    weighted sum of squares, and no penalty.
    """

    def __init__(self, mlp, X, Y, sample_weight, alpha, backend, chunk_size,
                 dtype=np.float64, evidence=None, *, weight_unit=None, scale=None,
                 matrix_free=False):
        xp = backend.xp
        # Data, forward passes and Jacobians in ``dtype``; the parameters, the
        # loss, J^T J and J^T r returned to solvers are float64 whatever it is.
        self.dtype = np.dtype(dtype)
        self.mlp = mlp
        self.backend = backend
        self.xp = xp
        self.n_params = mlp.n_params
        self.n_samples = X.shape[0]
        self.n_outputs = Y.shape[1]
        self.Xt = backend.asarray(X.T, dtype=self.dtype)
        self.Yt = backend.asarray(Y.T, dtype=self.dtype)
        # Weights whose mean is far from 1 are rescaled, in float64 before any
        # cast, by the power of two nearest their mean. The loss does not
        # change; J^T J keeps a magnitude that mu, its floor and the
        # machine-precision test are made for (uniform weights of 1e-21 or
        # 1e+21 used to stop LM at once) and a float32 cast cannot underflow
        # them. Ordinary weights are left exactly as they are, so that integer
        # weights stay equivalent to repeated rows (J^T J is then the same).
        w64 = np.asarray(backend.to_numpy(sample_weight), dtype=np.float64)
        mean_w = weight_unit_of(float(w64.mean())) if weight_unit is None else weight_unit
        w = backend.asarray(w64 / mean_w, dtype=self.dtype)
        self.w = w
        self.weight_unit = mean_w  # the data's sum of squares is E_D / weight_unit
        self.sqrt_w = xp.sqrt(w)
        self.sum_w = float(w.sum(dtype=np.float64))
        self.scale = self.sum_w * self.n_outputs if scale is None else float(scale)
        self._init_penalty(alpha, evidence)
        self.chunk_size = int(chunk_size)
        self.chunks = chunk_bounds(self.n_samples, self.chunk_size)
        self._jt_buffer = None
        # the point whose whole J^T the buffer holds (one chunk only), or None
        self._jt_at = None
        self._is_block = scale is not None  # one block of a larger data set
        # Forward passes (layer outputs and weighted errors of every chunk) at
        # the two most recently evaluated points, most recent last: the
        # accepted trial's pass is the next Jacobian's, and the directional
        # derivatives at x reuse x's. Kept only while all chunks' layer
        # outputs take no more room than one chunk of the Jacobian, so memory
        # stays O(chunk * n + n^2); for a matrix-free fit, which forms no
        # Jacobian, while they take at most MATRIX_FREE_CACHE_BYTES.
        self._cache = []
        # (x, J^T J, penalty version) of the last normal equations returned:
        # the solver's final matrix, which normal_matrix reuses
        self._last_normal = None
        widths = sum(mlp.layer_sizes)
        if matrix_free:
            self._cacheable = (self.n_samples * widths * self.dtype.itemsize
                               <= MATRIX_FREE_CACHE_BYTES)
        else:
            self._cacheable = (self.n_samples * widths
                               <= min(self.chunk_size, self.n_samples) * self.n_outputs
                               * self.n_params)

    def _params(self, x):
        """The layers' ``(W, b)`` of ``x``, in the problem's dtype."""
        return self.mlp.unpack(x.astype(self.dtype, copy=False))

    def _weighted_errors(self, params, rows):
        """Forward pass on ``rows`` (a slice or indices): layer outputs and ``sqrt(w) (y - f)``."""
        acts = self.mlp.forward(params, self.Xt[:, rows], self.xp)
        E = self.Yt[:, rows] - acts[-1]
        E *= self.sqrt_w[rows]
        return acts, E

    def _loss_from_sse(self, sse, x, factor=1.0):
        """The loss from the data's weighted sum of squares (times ``factor``)."""
        return (float(sse) * factor + self._penalty_sse(x)) / self.scale

    def _passes(self, x):
        """``[(i0, i1, acts, E), ...]`` per chunk at ``x`` (an iterator).

        From the cache when ``x`` was among the last two points evaluated;
        otherwise computed chunk by chunk (and cached when small enough).
        """
        xp = self.xp
        for k, (key, entry) in enumerate(self._cache):
            if key.shape == x.shape and bool(xp.array_equal(key, x)):
                self._cache.append(self._cache.pop(k))  # now the most recent
                return iter(entry)
        return self._compute_passes(x)

    def _compute_passes(self, x):
        params = self._params(x)
        entry = [] if self._cacheable else None
        for i0, i1 in self.chunks:
            acts, E = self._weighted_errors(params, slice(i0, i1))
            if entry is not None:
                entry.append((i0, i1, acts, E))
            yield i0, i1, acts, E
        if entry is not None:
            self._cache = self._cache[-1:] + [(x.copy(), entry)]

    def clear_cache(self):
        """Forget the cached forward passes (frees their memory)."""
        self._cache = []

    # -------------------------------------------------------------- interface
    def loss(self, x):
        sse = 0.0
        for _, _, _, E in self._passes(x):
            sse += _sum_squares(self.xp, E)
        return self._loss_from_sse(sse, x)

    def residual(self, x):
        """``r = [sqrt(w_i) (y_ik - f_k(x_i))]`` sample-major, then ``sqrt(alpha k) W``."""
        xp = self.xp
        parts = [E.T.ravel() for _, _, _, E in self._passes(x)]
        if self.penalty is not None:
            parts.append(self._sqrt_penalty * x[self._weight_idx])
        return xp.concatenate(parts)

    def jvp(self, x, v):
        """``J v`` by forward-mode differentiation, chunk by chunk.

        One matrix-vector product with the stored ``J^T`` instead where the
        last :meth:`normal_equations` were at ``x`` on a single chunk (the
        solver's current point: geodesic acceleration's products).
        """
        xp = self.xp
        Jt = self._stored_jacobian_t(x)
        if Jt is not None:
            v_dtype = v.astype(Jt.dtype, copy=False)
            parts = [Jt.T @ v_dtype]
            if self.penalty is not None:
                parts.append(self._sqrt_penalty * v[self._weight_idx])
            return xp.concatenate(parts)
        params = self._params(x)
        dparams = self._params(v)
        parts = []
        for i0, i1, acts, _ in self._passes(x):
            dout = self.mlp.jvp(params, acts, dparams, xp)
            dout *= -self.sqrt_w[i0:i1]  # r = sqrt(w) (y - f)
            parts.append(dout.T.ravel())
        if self.penalty is not None:
            parts.append(self._sqrt_penalty * v[self._weight_idx])
        return xp.concatenate(parts)

    def vjp(self, x, u):
        """``J^T u`` by back-propagation, chunk by chunk."""
        xp = self.xp
        k = self.n_outputs
        u = u.astype(self.dtype, copy=False)
        Jt = self._stored_jacobian_t(x)
        if Jt is not None:
            # (see jvp) one product with the stored J^T, summed in float64
            out = (Jt @ u[: self.n_samples * k]).astype(np.float64)
            if self.penalty is not None:
                out[self._weight_idx] += self._sqrt_penalty * u[self.n_samples * k:]
            return out
        params = self._params(x)
        out = xp.zeros(self.n_params, dtype=np.float64)
        for i0, i1, acts, _ in self._passes(x):
            G = u[i0 * k:i1 * k].reshape(i1 - i0, k).T * -self.sqrt_w[i0:i1]
            out += self.mlp.vjp(params, acts, G, xp)
        if self.penalty is not None:
            out[self._weight_idx] += self._sqrt_penalty * u[self.n_samples * k:]
        return out

    def gradient(self, x, batch=None):
        xp = self.xp
        params = self._params(x)
        if batch is None:
            # the same (cached) forward passes as the loss and the Jacobian
            passes = ((acts, E, self.sqrt_w[i0:i1]) for i0, i1, acts, E in self._passes(x))
            scale = self.scale
        else:
            batch = xp.asarray(batch)
            acts, E = self._weighted_errors(params, batch)
            passes = [(acts, E, self.sqrt_w[batch])]
            # the batch's expected share of the weight, not its own: unbiased,
            # and defined for a batch of zero-weight rows
            scale = self.scale * batch.shape[0] / self.n_samples
        sse = 0.0
        grad = xp.zeros(self.n_params, dtype=np.float64)
        for acts, E, sqrt_w in passes:
            # E = sqrt(w) (y - f): the loss's share is E.E, its gradient's
            # back-propagates -2 w (y - f) = -2 sqrt(w) E
            sse += _sum_squares(xp, E)
            grad += self.mlp.vjp(params, acts, -2.0 * sqrt_w * E, xp)
        # The penalty's share is normalised by the whole data's weight, so a
        # minibatch gradient is an unbiased estimate of the full one.
        grad *= 1.0 / scale
        if self.penalty is not None:
            idx = self._weight_idx
            grad[idx] += (2.0 / self.scale) * (self.penalty * x[idx])
        # (scale ratio first: sse * self.scale under/overflows for total
        # sample weights beyond 1e+-154, which stopped SGD with a zero loss)
        return self._loss_from_sse(sse, x, self.scale / scale), grad

    def normal_equations(self, x):
        xp = self.xp
        n = self.n_params
        k = self.n_outputs
        params = self._params(x)
        if self._jt_buffer is None:
            rows = min(self.chunk_size, self.n_samples) * k
            self._jt_buffer = xp.empty(n * rows, dtype=self.Xt.dtype)
        JtJ = xp.zeros((n, n), dtype=np.float64)
        Jtr = xp.zeros(n, dtype=np.float64)
        sse = 0.0
        self._jt_at = None  # the buffer is about to be overwritten
        for i0, i1, acts, E in self._passes(x):
            sse += _sum_squares(xp, E)
            Jt = self._jt_buffer[: n * (i1 - i0) * k].reshape(n, (i1 - i0) * k)
            # r = sqrt(w) (y - f), so dr/dx = -sqrt(w) df/dx.
            self.mlp.jacobian_t(params, acts, -self.sqrt_w[i0:i1], Jt, xp)
            self.backend.add_gram(JtJ, Jt)  # by syrk, summed in float64
            # rows of Jt are (sample, output) pairs: E.T row-major matches.
            Jtr += Jt @ E.T.ravel()
        if len(self.chunks) == 1 and self.dtype == np.float64 and not self._is_block:
            # the buffer holds the whole J^T at x (in float32 the products keep
            # their chunked form: its round-off is what the float32 path was
            # measured with; a Dask block keeps it too, so that its sums stay
            # those of an in-memory chunk, bit for bit)
            self._jt_at = x.copy()
        if self.penalty is not None:
            idx = self._weight_idx
            JtJ[idx, idx] += self.penalty
            Jtr[idx] += self.penalty * x[idx]
        self._last_normal = (x.copy(), JtJ, self._penalty_version)
        return self._loss_from_sse(sse, x), JtJ, Jtr

    def gauss_newton_operator(self, x, rows=None):
        """``J^T J`` at ``x``: products by a forward-mode and a reverse-mode pass per chunk.

        On ``rows``, the sample's forward pass is computed once and kept (its
        products cost two passes over those rows), in float32: the sample's
        curvature is an estimate that CG solves to 1e-2 anyway, and single
        precision halves the cost of the products that dominate a
        matrix-free iteration (sums stay float64). On all rows, each product
        streams over the chunks in the problem's dtype (from the cached
        forward passes when they are kept). The diagonal costs a backward
        pass per output over the same rows. The penalty's diagonal is added
        whole.
        """
        xp = self.xp
        mlp = self.mlp
        if rows is None:
            dtype = self.dtype
            params = self._params(x)
            factor = 1.0

            def passes():
                return ((acts, mlp.slopes(acts, xp), self.w[i0:i1], self.sqrt_w[i0:i1])
                        for i0, i1, acts, _ in self._passes(x))
        else:
            dtype = np.dtype(np.float32)
            params = mlp.unpack(x.astype(dtype))
            rows = self.backend.asarray(rows, dtype=np.int64)
            acts = mlp.forward(params, self.Xt[:, rows].astype(dtype, copy=False), xp)
            sample = [(acts, mlp.slopes(acts, xp), self.w[rows].astype(dtype, copy=False),
                       self.sqrt_w[rows].astype(dtype, copy=False))]
            # the sample's expected share of the data (as a minibatch
            # gradient's): defined even for a sample of zero-weight rows
            factor = self.n_samples / rows.shape[0]

            def passes():
                return sample

        def product(v):
            dparams = mlp.unpack(v.astype(dtype, copy=False))
            out = xp.zeros(self.n_params, dtype=np.float64)
            for acts, slopes, w, _ in passes():
                # J = -sqrt(w) df/dx: J^T J v = df^T (w (df v))
                dout = mlp.jvp(params, acts, dparams, xp, slopes)
                dout *= w
                out += mlp.vjp(params, acts, dout, xp, slopes)
            return self._scaled(out, factor, v)

        def diagonal():
            out = xp.zeros(self.n_params, dtype=np.float64)
            for acts, _, _, sqrt_w in passes():
                out += mlp.jacobian_diagonal(params, acts, sqrt_w, xp)
            return self._scaled(out, factor, None)

        return GaussNewtonOperator(product, diagonal)

    def data_sse(self, x):
        """The data's (rescaled) weighted sum of squared errors at ``x``, no penalty."""
        sse = 0.0
        for _, _, _, E in self._passes(x):
            sse += _sum_squares(self.xp, E)
        return float(sse)

    def release(self):
        """Drop the caches (forward passes, the Jacobian buffer): keep only the data."""
        self._cache = []
        self._jt_buffer = self._jt_at = None

    def hessian(self, x):
        """``(loss, gradient, Hessian)`` of the loss, exactly.

        ``H = 2 / scale * (J^T J - sum_{i,k} w_i e_ik Hessian(f_ik))`` plus the
        penalty's ``2 alpha k / scale`` on the weights' diagonal: the
        Gauss-Newton matrix plus the residual-curvature term Gauss-Newton
        drops. The curvature term is computed per chunk of samples sized so
        its tangents take about ``hessian_memory`` bytes.
        """
        xp = self.xp
        loss, JtJ, Jtr = self.normal_equations(x)
        params = self._params(x)
        n = self.n_params
        widths = sum(self.mlp.layer_sizes)
        rows = max(1, int(self.hessian_memory // (8 * 4 * n * widths)))
        S = xp.zeros((n, n), dtype=JtJ.dtype)
        for i0, i1 in chunk_bounds(self.n_samples, min(rows, self.chunk_size)):
            acts, E = self._weighted_errors(params, slice(i0, i1))
            # C = w * e: E already holds sqrt(w) * e
            S += mlp_curvature(self.mlp, params, acts, E * self.sqrt_w[i0:i1], xp)
        H = (JtJ - S) * (2.0 / self.scale)
        return loss, 2.0 * Jtr / self.scale, H

    hessian_memory = 256 * 2**20

    def _stored_jacobian_t(self, x):
        """The whole ``J^T`` at ``x`` from the last normal equations, or None."""
        at = self._jt_at
        if at is None or at.shape != x.shape or not bool(self.xp.array_equal(at, x)):
            return None
        k = self.n_outputs
        return self._jt_buffer[: self.n_params * self.n_samples * k].reshape(
            self.n_params, self.n_samples * k)


class FunctionProblem(Problem):
    """A user's residual function: ``loss(x) = mean(fun(x) ** 2)``.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (m,)`` residuals.
    jac : callable or None
        ``jac(x) -> (m, n)``, the Jacobian of ``fun``. None: central finite
        differences (``2 n`` evaluations of ``fun``, steps ``eps^(1/3) * max(1, |x_j|)``).
    hess : callable or None
        ``hess(x) -> (n, n)``, the Hessian of the *loss*. None: central finite
        differences of the analytic gradient ``2 J^T r / m`` (``2 n`` Jacobians).
    backend : Backend
    """

    def __init__(self, fun, x0, jac=None, hess=None, backend=None):
        for name, f in (("fun", fun), ("jac", jac), ("hess", hess)):
            if not (callable(f) or (f is None and name != "fun")):
                raise TypeError(f"{name} must be callable; got {type(f).__name__}.")
        self.backend = backend
        self.xp = backend.xp
        self.fun = fun
        self.jac = jac
        self.hess = hess
        x0 = backend.asarray(x0)
        self.n_residuals = None
        r0 = self._residuals(x0)
        if r0.ndim != 1:
            raise ValueError(f"fun must return a 1-D array of residuals; got shape {r0.shape}.")
        if r0.shape[0] == 0:
            raise ValueError("fun returned an empty array: there are no residuals to minimise.")
        self.n_residuals = int(r0.shape[0])
        self.n_params = int(x0.shape[0])
        self.scale = float(r0.shape[0])
        self.n_samples = None
        # (x, r) and (x, J) at the last points evaluated: a solver asks for the
        # loss at a trial point, then for the normal equations at the same
        # point once it is accepted; the directional products reuse J
        self._last_residuals = (x0.copy(), r0)
        self._last_jacobian = None

    def _residuals(self, x):
        """``fun(x)`` as this backend's 1-D array, in a buffer of sklm's own.

        A copy: solvers update residual vectors in place, and must not write
        into an array the user's ``fun`` keeps.
        """
        value = self.fun(x)  # (an error inside fun is the user's, and propagates as is)
        if value is None:
            raise ValueError("fun returned None: it must return the residuals, a 1-D array "
                             "of real numbers.")
        try:
            r = self.xp.array(self.xp.atleast_1d(value), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"fun must return an array of real numbers; {exc}.") from exc
        if self.n_residuals is not None and r.shape != (self.n_residuals,):
            raise ValueError(
                f"fun returned an array of shape {r.shape} where it returned "
                f"({self.n_residuals},) at x0: the number of residuals must not change."
            )
        return r

    def _cached_residuals(self, x):
        """``r(x)`` from the one-entry cache, or evaluated (read-only: not a copy)."""
        last = self._last_residuals
        if last[0].shape == x.shape and bool(self.xp.array_equal(last[0], x)):
            return last[1]
        r = self._residuals(x)
        self._last_residuals = (x.copy(), r)
        return r

    def _central_differences(self, f, x):
        """``[(f(x + h e_j) - f(x - h e_j)) / 2h]_j`` as columns."""
        cols = []
        for j in range(self.n_params):
            h = _FD_STEP * max(1.0, abs(float(x[j])))
            e = self.xp.zeros_like(x)
            e[j] = h
            cols.append((f(x + e) - f(x - e)) / (2 * h))
        return self.xp.stack(cols, axis=1)

    def _jacobian(self, x):
        last = self._last_jacobian
        if last is not None and bool(self.xp.array_equal(last[0], x)):
            return last[1]
        if self.jac is not None:
            J = self.xp.atleast_2d(self.backend.asarray(self.jac(x)))
            if J.shape != (self.n_residuals, self.n_params):
                raise ValueError(
                    f"jac must return an array of shape (m, n) = "
                    f"({self.n_residuals}, {self.n_params}); got {J.shape}."
                )
        else:
            J = self._central_differences(self._residuals, x)
        self._last_jacobian = (x.copy(), J)
        return J

    def _loss_of(self, r):
        return float(self.xp.vdot(r, r)) / self.scale

    def loss(self, x):
        return self._loss_of(self._cached_residuals(x))

    def gradient(self, x, batch=None):
        r = self._cached_residuals(x)
        J = self._jacobian(x)
        return self._loss_of(r), (2.0 / self.scale) * (J.T @ r)

    def normal_equations(self, x):
        r = self._cached_residuals(x)
        J = self._jacobian(x)
        return self._loss_of(r), J.T @ J, J.T @ r

    def hessian(self, x):
        loss, g = self.gradient(x)
        if self.hess is not None:
            H = self.backend.asarray(self.hess(x))
            if H.shape != (self.n_params, self.n_params):
                raise ValueError(
                    f"hess must return an array of shape (n, n) = ({self.n_params}, "
                    f"{self.n_params}); got {H.shape}."
                )
            return loss, g, H
        H = self._central_differences(lambda t: self.gradient(t)[1], x)
        return loss, g, 0.5 * (H + H.T)

    # The directional derivatives geodesic acceleration needs; the Jacobian
    # at the current point is formed once and reused by both products.
    def residual(self, x):
        return self._cached_residuals(x).copy()  # the caller may update it in place

    def jvp(self, x, v):
        return self._jacobian(x) @ v

    def vjp(self, x, u):
        return self._jacobian(x).T @ u


# Forward passes a matrix-free MLPProblem may keep per point (two points).
MATRIX_FREE_CACHE_BYTES = 64 * 2**20

# Central differences: the step that balances truncation (h^2) and rounding (eps/h).
_FD_STEP = float(np.finfo(np.float64).eps) ** (1.0 / 3.0)
