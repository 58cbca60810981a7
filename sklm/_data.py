"""Data sources: the one thing that differs between a fit in memory and on a cluster.

A fit asks its data for a few things only (DESIGN.md, "One fit path"):

- ``counts``: rows, rows of positive weight and observations, which the plan
  resolves the 'auto' options from;
- ``prepare``: the validation split and the normalisation statistics;
- ``rows_problem(rows, ...)``: an in-memory problem on some training rows
  (the growing sample's stages, their held-out rows);
- ``problem(...)``: the problem of all training rows, summed where they live;
- ``monitor(...)``: early stopping's validation monitor;
- ``target_variance()``: the noise-free test's reference.

:class:`InMemorySource` holds NumPy arrays; ``sklm._dask.DaskSource`` holds
blocks on the workers and offers the same methods. Both split with
:func:`split_rows`, so the same ``random_state`` holds out the same rows, and
keep the training rows in their original order.
"""

import math

import numpy as np
from sklearn.utils.validation import validate_data

from ._backend import to_host
from ._early_stopping import ValidationMonitor
from ._normalisation import Normalisation
from ._plan import DataCounts
from ._problem import MLPProblem, weight_unit_of
from ._sklearn_compat import _check_sample_weight

__all__ = ["InMemorySource", "chunk_rows", "counts_of", "data_source", "split_rows"]

# Rows per chunk at most on the matrix-free path (see chunk_rows).
MATRIX_FREE_CHUNK_ROWS = 4096


def chunk_rows(backend, mlp, n_rows, n_outputs, dtype, matrix_free):
    """Rows per chunk: a chunk's Jacobian, or (matrix-free) its layer outputs,
    in the backend's working memory."""
    itemsize = np.dtype(dtype).itemsize
    if matrix_free:
        # A product holds a few arrays of every layer's width per row; the
        # cap keeps a chunk's arrays near the caches (and memory O(width)).
        rows = backend.chunk_rows(row_bytes=8 * itemsize * sum(mlp.layer_sizes),
                                  n_rows=max(n_rows, 1))
        return min(rows, MATRIX_FREE_CHUNK_ROWS)
    return backend.chunk_rows(row_bytes=itemsize * mlp.n_params * n_outputs,
                              n_rows=max(n_rows, 1))


def counts_of(n_rows, n_positive, sum_w):
    """:class:`DataCounts` from the rows, those of positive weight and the weights' sum."""
    unit = weight_unit_of(sum_w / n_rows)
    return DataCounts(int(n_rows), int(n_positive), sum_w / unit)


def split_rows(n_rows, fraction, seed):
    """``(train, validation)``: sorted row indices, ``ceil(fraction * n_rows)`` held out.

    The rows scikit-learn's ``train_test_split(..., random_state=seed)`` would
    hold out, in their original order: a source whose rows live in blocks can
    take the same rows block by block.
    """
    n_val = math.ceil(fraction * n_rows)
    if n_rows - n_val < 1 or n_val < 1:
        raise ValueError(
            f"early_stopping=True needs at least one training and one validation "
            f"sample; with {n_rows} samples and validation_fraction="
            f"{fraction} there are not enough. Provide more data "
            "or set early_stopping=False."
        )
    order = np.random.RandomState(seed).permutation(n_rows)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def check_split_weights(sum_train, sum_val):
    """Both parts of a split need positive total weight (each loss divides by it)."""
    for name, total in (("training", sum_train), ("validation", sum_val)):
        if not total > 0:
            raise ValueError(
                f"early_stopping=True left the {name} part of the data with zero "
                "total sample_weight (too few rows have positive weight). Give "
                "more rows positive weight, change validation_fraction or "
                "random_state, or set early_stopping=False."
            )


def validation_seed(rng):
    """The split's seed, drawn after the initial weights (every source draws it so)."""
    return rng.randint(np.iinfo(np.int32).max)


def data_source(estimator, X, y, sample_weight, continuing):
    """The source of ``X``, ``y``: a ``DaskSource`` for Dask collections, else in memory."""
    from ._multistart import is_dask_collection  # noqa: PLC0415

    if is_dask_collection(X, y, sample_weight):
        from ._dask import DaskSource  # noqa: PLC0415 - Dask only for Dask input

        return DaskSource(estimator, X, y, sample_weight, continuing)
    return InMemorySource(estimator, X, y, sample_weight, continuing)


class InMemorySource:
    """Training data held in host memory (NumPy arrays, or CuPy copied to the host).

    Parameters
    ----------
    estimator : LMRegressor
        Validates ``X`` (and records ``n_features_in_``) as scikit-learn's
        ``validate_data`` does.
    X, y, sample_weight : array-like
    continuing : bool
        The fit continues a fitted model: the feature count must match.
    """

    kind = "memory"

    def __init__(self, estimator, X, y, sample_weight, continuing):
        # CuPy inputs are validated and split on the host; the problem moves
        # the training rows to the device once (a single round trip).
        X, y, sample_weight = (to_host(v) for v in (X, y, sample_weight))
        X, y = validate_data(estimator, X, y, reset=not continuing, multi_output=True,
                             y_numeric=True, dtype=np.float64)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if Y.dtype.kind not in "biuf":
            # validate_data leaves string targets alone (a classifier's labels).
            try:
                Y = Y.astype(np.float64)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"y must be numeric for a regressor; {exc}.") from exc
        Y = Y.astype(np.float64, copy=False)  # float32 y: normalised in float64 too
        if not np.isfinite(Y).all():
            # validate_data checks y before y_numeric converts an object array
            # to float, so None entries arrive here as NaN.
            raise ValueError(
                "Input y contains NaN or infinity after conversion to float64 "
                "(None in an object array becomes NaN). Drop or impute those rows."
            )
        w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if not w.sum() > 0:
            raise ValueError("sample_weight must have a positive sum; got all zeros.")
        self._X, self._Y, self._w = X, Y, w
        self._all = (X, Y, w)  # every row, in order (fold_validation)
        self.n_features = X.shape[1]
        self.n_outputs = Y.shape[1]
        self.counts = counts_of(X.shape[0], np.count_nonzero(w), float(w.sum()))
        self.validation = None

    # ------------------------------------------------------------- prepare
    def prepare(self, *, split_seed, fraction, normalize_X, normalize_y, norm=None):
        """Hold out the validation rows (``fraction`` not None) and normalise.

        The statistics come from the training rows, or are ``norm`` as given
        (a ``partial_fit`` keeps the first call's).
        """
        X, Y, w = self._X, self._Y, self._w
        if fraction is not None:
            train, val = split_rows(X.shape[0], fraction, split_seed)
            check_split_weights(w[train].sum(), w[val].sum())
            self.validation = (X[val], Y[val], w[val])
            X, Y, w = X[train], Y[train], w[train]
        self.raw_max = (float(np.abs(X).max()), float(np.abs(Y).max()))
        if norm is None:
            norm = Normalisation.fit(X, Y, w, inputs=normalize_X, targets=normalize_y)
        self.norm = norm
        self.X, self.Y = norm.transform(X, Y)
        self.w = w
        if self.validation is not None:
            self.validation = (*norm.transform(*self.validation[:2]), self.validation[2])
        self._X = self._Y = self._w = None

    def fold_validation(self):
        """Train on every row from now on (in their order), with the same normalisation."""
        X, Y, w = self._all
        self.X, self.Y = self.norm.transform(X, Y)
        self.w = w
        self.validation = None

    @property
    def n_samples(self):
        """Training rows (after the split)."""
        return self.X.shape[0]

    @property
    def loss_unit(self):
        """A loss of the optimiser's problem times this is in ``y``'s units."""
        return self.norm.loss_unit

    def hold(self, rows):
        """Rows about to be asked for by :meth:`rows_problem` (in memory: all are)."""

    def release_held(self):
        """The rows of :meth:`hold` are no longer needed."""

    # ------------------------------------------------------------ problems
    def rows_problem(self, rows, mlp, penalty, backend, chunk, dtype, evidence=None,
                     matrix_free=False):
        """An in-memory :class:`MLPProblem` on the training rows ``rows`` (None: all)."""
        part = (self.X, self.Y, self.w) if rows is None else (
            self.X[rows], self.Y[rows], self.w[rows])
        return MLPProblem(mlp, *part, penalty, backend, chunk, dtype=dtype, evidence=evidence,
                          matrix_free=matrix_free)

    def problem(self, mlp, penalty, backend, chunk, dtype, evidence, matrix_free):
        """The problem of all the training rows."""
        return self.rows_problem(None, mlp, penalty, backend, chunk, dtype, evidence,
                                 matrix_free)

    def monitor(self, mlp, backend, chunk, tol, n_iter_no_change):
        """Early stopping's :class:`ValidationMonitor` (None without a validation split)."""
        if self.validation is None:
            return None
        X_val, Y_val, w_val = (backend.asarray(a) for a in self.validation)

        def predict_val(x):
            return mlp.predict_rows(mlp.unpack(x), X_val, backend.xp, chunk)

        return ValidationMonitor(predict_val, Y_val, w_val, tol, n_iter_no_change,
                                 backend.xp, self.loss_unit)

    def target_variance(self):
        """The training targets' weighted variance (optimiser's units), over all outputs."""
        return target_variance(*weighted_target_sums(self.Y, self.w))

    def close(self):
        """Let go of the rows."""
        self._all = None


def weighted_target_sums(Y, w):
    """``(sum w Y, sum w Y^2, sum w, k)``: what the targets' variance needs."""
    w = np.asarray(w, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    return w @ Y, w @ (Y * Y), float(w.sum()), Y.shape[1]


def target_variance(sum_wy, sum_wy2, sum_w, k):
    """Weighted variance over all outputs (each about its own mean) from the sums."""
    mean = sum_wy / sum_w
    return float((sum_wy2 / sum_w - mean * mean).sum() / k)
