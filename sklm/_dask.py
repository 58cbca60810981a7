"""Fits on Dask collections: the problem is a sum of problems held on the workers.

Everything a second-order fit needs from the data is a sum over rows: the
loss, ``J^T J``, ``J^T r``, the gradient, the Hessian and the products
``J^T u``. :class:`DaskProblem` is therefore a :class:`~sklm._problem.Problem`
whose terms are one :class:`~sklm._problem.MLPProblem` per row block of the
Dask array, built once on the worker that holds the block and kept there as a
future. Each evaluation sends the parameter vector (``n`` floats) to every
block, maps the block's problem there and gathers only ``n``- and
``n x n``-sized results, which the client adds in block order. Residual-sized
vectors (geodesic acceleration's ``r``, ``J v`` and their combination) are
never formed on the client: they are recorded and evaluated next to each block
inside the task that takes ``J^T u`` of them. The solvers see one Problem and
know nothing of this.

The data never travel to the client. What does: per evaluation, a few
``n``-vectors per block out, one ``n x n`` matrix or ``n``-vector and a number
per block back (``bytes_sent`` and ``bytes_received`` count them).

Equality with the in-memory fit: the normalisation statistics, the weights'
unit and the loss's scale are the whole data's, computed by the same passes
(max, weighted mean, max deviation, weighted mean square) as
:mod:`sklm._normalisation`, block by block. When every block is one chunk of
the in-memory problem (``chunk_size`` equal to the block length), the block
sums are the in-memory chunk sums, added in the same order; the results then
differ from an in-memory fit only by the round-off of the statistics (a few
units in the last place), which the tests bound.

Fault tolerance is Dask's: a block's problem is a future with a lineage (the
Dask array's tasks, the block's preparation, the problem's construction), so
a lost worker's blocks are rebuilt elsewhere, identically, and the evaluation
that was running is run again. Nothing in a block's problem depends on its
history except the forward-pass cache, which only saves time.

This module is imported only when ``fit`` or ``predict`` receives a Dask
collection, so ``import sklm`` never imports Dask.
"""

import functools
import math
import threading

import numpy as np

try:
    import dask
    import dask.array as da
    import distributed
    from dask.sizeof import sizeof
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "Fitting sklm on Dask collections needs dask and distributed: "
        "pip install 'sklm[dask]' (that is, dask[distributed] and, for Dask "
        f"DataFrames, dask[dataframe]). ({exc})"
    ) from exc

from sklearn.utils import check_random_state

from ._backend import get_backend
from ._early_stopping import ValidationMonitor
from ._mlp import MLP
from ._multistart import initial_params
from ._normalisation import Normalisation
from ._problem import MLPProblem, Problem, weight_unit_of
from ._warnings import warn
from .solvers import SOLVERS

__all__ = ["DaskProblem", "fit", "predict"]


# --------------------------------------------------------------------- inputs
def _as_dask_array(v, name, row_chunks=None):
    """``v`` (Dask array or DataFrame/Series, or NumPy-like) as a Dask array.

    Returns the array and the column names of a DataFrame (else None).
    """
    names = None
    if v is None:
        return None, None
    if hasattr(v, "to_dask_array"):  # Dask DataFrame or Series
        if hasattr(v, "columns"):
            names = list(v.columns)
        v = v.to_dask_array(lengths=True)
    elif not isinstance(v, da.Array):
        v = np.asarray(v)
        if row_chunks is None:
            raise TypeError(f"{name} must be a Dask array or DataFrame.")
        if v.ndim in (1, 2) and v.shape[0] != sum(row_chunks):
            raise ValueError(f"{name} has {v.shape[0]} rows but X has {sum(row_chunks)}: "
                             "inconsistent numbers of samples.")
        v = da.from_array(v, chunks=(row_chunks,) + tuple((s,) for s in v.shape[1:]))
    if v.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D; got {v.ndim} dimensions.")
    if any(math.isnan(c) for c in v.chunks[0]):
        raise ValueError(f"{name} has blocks of unknown length (after boolean indexing, "
                         f"say): call {name}.compute_chunk_sizes() first.")
    if row_chunks is not None:
        if v.shape[0] != sum(row_chunks):
            raise ValueError(
                f"{name} has {v.shape[0]} rows but X has {sum(row_chunks)}: "
                "inconsistent numbers of samples."
            )
        v = v.rechunk((row_chunks,) + ((-1,) if v.ndim == 2 else ()))
    return v, names


def _client():
    try:
        return distributed.get_client()
    except ValueError as exc:
        raise ValueError(
            "Fitting on Dask collections runs on a dask.distributed cluster: create a "
            "Client first, e.g. `from distributed import Client, LocalCluster; "
            "client = Client(LocalCluster())` (or Client('scheduler-address:8786')). "
            "To fit in memory instead, pass X.compute()."
        ) from exc


# ------------------------------------------------------------ block tasks
def _prepare_block(X, y, w, index, split):
    """Validate one block; split it into training and validation rows.

    ``split`` is None or ``(seed, fraction)``: the block's validation rows are
    ``round(fraction * rows)`` drawn by ``RandomState([seed, index])``, so
    the split is deterministic and does not depend on where the block lives.
    Returns ``(X, Y, w, X_val, Y_val, w_val)`` (validation parts None without
    a split).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"Expected 2-D X blocks; got {X.ndim} dimensions.")
    Y = np.asarray(y)
    if Y.dtype.kind not in "biuf":
        raise ValueError(f"y must be numeric for a regressor; got dtype {Y.dtype}.")
    Y = Y.astype(np.float64)
    Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
    for name, v in (("X", X), ("y", Y), ("sample_weight", w)):
        if not np.isfinite(v).all():
            raise ValueError(f"Input {name} contains NaN or infinity.")
    if (w < 0).any():
        raise ValueError("Negative values in sample_weight are not allowed.")
    if split is None:
        return X, Y, w, None, None, None
    seed, fraction = split
    n = X.shape[0]
    n_val = int(math.floor(fraction * n + 0.5))
    order = np.random.RandomState([seed, index]).permutation(n)
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return X[train], Y[train], w[train], X[val], Y[val], w[val]


def _summary(part):
    X, Y, w, _, _, w_val = part
    return {
        "rows": X.shape[0], "features": X.shape[1], "outputs": Y.shape[1],
        "sum_w": float(w.sum()),
        "val_rows": 0 if w_val is None else w_val.shape[0],
        "val_sum_w": 0.0 if w_val is None else float(w_val.sum()),
        "x_max": float(np.abs(X).max(initial=0.0)), "y_max": float(np.abs(Y).max(initial=0.0)),
    }


# The passes of _normalisation._mean_and_rms, over the rows of positive weight.
def _stat_absmax(part, shift_x, shift_y):
    X, Y, w = part[:3]
    X, Y = X[w > 0], Y[w > 0]
    if shift_x is not None:
        X, Y = X - shift_x, Y - shift_y
    return np.abs(X).max(axis=0, initial=0.0), float(np.abs(Y).max(initial=0.0))


def _stat_mean(part, big_x, big_y):
    X, Y, w = part[:3]
    X, Y, w = X[w > 0], Y[w > 0], w[w > 0]
    return w @ (X / big_x), w @ (Y / big_y), float(w.sum())


def _stat_square(part, mean_x, spread_x, mean_y, spread_y):
    X, Y, w = part[:3]
    X, Y, w = X[w > 0], Y[w > 0], w[w > 0]
    return w @ (((X - mean_x) / spread_x) ** 2), float(w @ (((Y - mean_y) / spread_y) ** 2)
                                                       .mean(axis=1))


def _weight_sum(part, unit, dtype):
    """The block's weights divided by ``unit``, in ``dtype``, summed in float64."""
    return float(np.asarray(part[2] / unit, dtype=dtype).sum(dtype=np.float64))


class _Block:
    """One block's MLPProblem on its worker, with a lock.

    A worker may run several tasks on one block at once (threads); the
    problem's forward-pass cache and Jacobian buffer are not for sharing.
    """

    def __init__(self, problem):
        self.problem = problem
        self.lock = threading.Lock()

    def __getstate__(self):
        return {"problem": self.problem}

    def __setstate__(self, state):
        self.problem = state["problem"]
        self.lock = threading.Lock()


@sizeof.register(_Block)
def _sizeof_block(block):
    # What the scheduler weighs when it places a task: the block's data, so
    # tasks go to the block rather than the block to the task.
    p = block.problem
    return int(p.Xt.nbytes + p.Yt.nbytes + 2 * p.w.nbytes)


def _build_problem(part, mlp, norm, unit, dtype, chunk_size, backend_name):
    X, Y = norm.transform(part[0], part[1])
    backend = get_backend(backend_name)
    chunk = chunk_size or backend.chunk_rows(
        row_bytes=np.dtype(dtype).itemsize * mlp.n_params * Y.shape[1], n_rows=X.shape[0])
    # scale=1: the block's loss is its weighted sum of squares; the whole
    # data's penalty and scale are applied once, by DaskProblem.
    return _Block(MLPProblem(mlp, X, Y, part[2], 0.0, backend, chunk, dtype=dtype,
                             weight_unit=unit, scale=1.0))


def _host(block, a):
    return block.problem.backend.to_numpy(a)


def _task_loss(block, x):
    with block.lock:
        return block.problem.loss(block.problem.backend.asarray(x))


def _task_normal_equations(block, x):
    with block.lock:
        sse, JtJ, Jtr = block.problem.normal_equations(block.problem.backend.asarray(x))
        return sse, _host(block, JtJ), _host(block, Jtr)


def _task_gradient(block, x):
    with block.lock:
        sse, grad = block.problem.gradient(block.problem.backend.asarray(x))
        return sse, _host(block, grad)


def _task_hessian(block, x):
    with block.lock:
        sse, g, H = block.problem.hessian(block.problem.backend.asarray(x))
        return sse, _host(block, g), _host(block, H)


def _replay(problem, expr):
    """Evaluate a recorded vector expression (see :class:`_Vector`) next to its block."""
    op = expr[0]
    if op == "residual":
        return problem.residual(problem.backend.asarray(expr[1]))
    if op == "jvp":
        return problem.jvp(problem.backend.asarray(expr[1]), problem.backend.asarray(expr[2]))
    a = _replay(problem, expr[1])
    if op == "mul":
        return a * expr[2]
    b = _replay(problem, expr[2])
    return a - b if op == "sub" else a + b


def _task_vjp(block, x, expr):
    problem = block.problem
    with block.lock:
        u = _replay(problem, expr)
        return _host(block, problem.vjp(problem.backend.asarray(x), u))


class _ValidationBlock:
    """One block's validation rows (normalised) on its worker."""

    def __init__(self, part, mlp, norm, chunk_size):
        self.X, self.Y = norm.transform(part[3], part[4])
        self.w = part[5][:, None]
        self.mlp = mlp
        self.chunk = chunk_size or 65536

    def sums(self):
        """``(sum w Y per output, sum w)``, for the weighted mean."""
        return (self.w * self.Y).sum(axis=0), float(self.w.sum())

    def tss(self, mean):
        return (self.w * (self.Y - mean) ** 2).sum(axis=0)

    def rss(self, x):
        F = self.mlp.predict_rows(self.mlp.unpack(x), self.X, np, self.chunk)
        return (self.w * (self.Y - F) ** 2).sum(axis=0)


@sizeof.register(_ValidationBlock)
def _sizeof_validation(block):
    return int(block.X.nbytes + block.Y.nbytes + block.w.nbytes)


# ------------------------------------------------------------ placement
# How long a wait lasts before the runner checks that its tasks' workers still
# hold their blocks (a check is one request to the scheduler).
_CHECK_AFTER = 2.0


class _BlockRunner:
    """Runs tasks next to their blocks, pinned to the workers that hold them.

    Pinned, because Dask's work stealing would otherwise move a task, and so
    a copy of its block, to a worker that happens to be idle: on every
    evaluation once the Active Memory Manager has dropped the copy again.
    The pin is strict, so it must be renewed when a worker is lost: the
    scheduler rebuilds the lost blocks elsewhere from their lineage, and a
    wait that outlasts ``_CHECK_AFTER`` seconds resubmits each task whose
    worker no longer holds its block to the block's new holders (or, while
    the block is being rebuilt, unpinned).

    Attributes
    ----------
    n_tasks, bytes_sent, bytes_received : int
        Tasks run and the arrays and numbers their arguments and results
        carried between the client and the workers.
    n_moved : int
        Tasks resubmitted because their worker lost its block.
    """

    def __init__(self, client, blocks):
        self.client = client
        self.blocks = blocks
        distributed.wait(blocks)
        self._holders = self._who_has()
        self.n_tasks = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.n_moved = 0

    def _who_has(self):
        held = self.client.who_has(self.blocks)
        return [sorted(held.get(b.key, ())) or None for b in self.blocks]

    def _submit_one(self, i, fn, args):
        holders = self._holders[i]
        pin = {} if holders is None else {"workers": holders, "allow_other_workers": False}
        return self.client.submit(fn, self.blocks[i], *args, pure=False, **pin)

    def submit(self, fn, *args):
        """``fn(block, *args)`` for every block; futures in block order."""
        if any(h is None for h in self._holders):
            self._holders = self._who_has()
        futures = [self._submit_one(i, fn, args) for i in range(len(self.blocks))]
        self.n_tasks += len(futures)
        self.bytes_sent += len(futures) * _nbytes(args)
        return futures

    def gather(self, futures, fn, *args):
        """The results of ``submit(fn, *args)``, rescuing tasks of lost workers.

        Waits in steps of ``_CHECK_AFTER`` seconds, and fetches each result
        with a timeout too: a result computed on a worker that died before it
        was fetched is computed again, which its pin would forbid. Each step
        doubles (up to a minute), so that a slow fetch is not cut short forever.
        """
        futures = list(futures)
        results = [None] * len(futures)
        pending = list(range(len(futures)))
        patience = _CHECK_AFTER
        while pending:
            try:
                distributed.wait([futures[i] for i in pending], timeout=patience)
                while pending:
                    results[pending[0]] = futures[pending[0]].result(timeout=patience)
                    pending.pop(0)
            except TimeoutError:
                self._rescue(futures, pending, fn, args)
                patience = min(2.0 * patience, 60.0)
        self.bytes_received += _nbytes(results)
        return results

    def map(self, fn, *args):
        return self.gather(self.submit(fn, *args), fn, *args)

    def _rescue(self, futures, pending, fn, args):
        """Resubmit the pending tasks whose pinned workers no longer hold their blocks."""
        holders = self._who_has()
        for i in pending:
            pinned = self._holders[i]
            if pinned is None or set(pinned) & set(holders[i] or ()):
                continue
            self._holders[i] = holders[i]
            futures[i].cancel()
            futures[i] = self._submit_one(i, fn, args)
            self.n_moved += 1


# ----------------------------------------------------------------- problem
def _nbytes(obj):
    """Bytes of the arrays and numbers in ``obj`` (what a task moves)."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, (tuple, list)):
        return sum(_nbytes(o) for o in obj)
    if isinstance(obj, (float, int, np.floating)):
        return 8
    return 0


class _Vector:
    """A residual-sized vector that is never formed on the client.

    ``r(x)`` and ``J(x) v`` are recorded, not computed, as are the
    arithmetic on them (``[op, a, b]``); :meth:`DaskProblem.vjp` sends the
    record to every block, which evaluates its rows of the vector with the
    same operations, in the same order, as NumPy runs them on the whole
    vector in memory, and takes ``J^T u`` of them in the same task. So
    geodesic acceleration costs one round trip, not four, and the vector
    never exists outside the task. ``tail`` holds the penalty's residuals,
    on the client.
    """

    def __init__(self, expr, tail):
        self.expr = expr
        self.tail = tail

    def _combine(self, op, other):
        tail = None
        if self.tail is not None:
            tail = self.tail - other.tail if op == "sub" else self.tail + other.tail
        return _Vector([op, self.expr, other.expr], tail)

    def __sub__(self, other):
        return self._combine("sub", other)

    def __add__(self, other):
        return self._combine("add", other)

    def __mul__(self, c):
        c = float(c)
        return _Vector(["mul", self.expr, c], None if self.tail is None else self.tail * c)

    __rmul__ = __mul__
    # In-place arithmetic rebinds to a new vector: the recorded operands never change.
    __isub__ = __sub__
    __iadd__ = __add__
    __imul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def copy(self):
        return self


class DaskProblem(Problem):
    """The sum of one :class:`~sklm._problem.MLPProblem` per block, plus the penalty.

    Parameters
    ----------
    client : distributed.Client
    blocks : list of Future
        One ``_Block`` per row block, on the workers.
    n_params : int
    scale : float
        The whole data's ``k * sum(w)`` (weights divided by their unit).
    penalty : ndarray or None
        The per-weight ``alpha * k / unit`` of :class:`MLPProblem`; None: none.
    weight_idx : ndarray of int
        The weights' positions in the parameter vector.

    Attributes
    ----------
    runner : _BlockRunner
        Places the tasks and counts what they move.
    """

    def __init__(self, client, blocks, n_params, scale, penalty, weight_idx):
        self.runner = _BlockRunner(client, blocks)
        self.n_params = n_params
        self.scale = float(scale)
        self.backend = get_backend("numpy")
        self.xp = np
        self.n_samples = None  # first-order solvers take full batches
        self.penalty = penalty
        self._sqrt_penalty = None if penalty is None else np.sqrt(penalty)
        self._weight_idx = weight_idx

    @property
    def blocks(self):
        return self.runner.blocks

    def _map(self, fn, *args):
        """``fn(block, *args)`` next to every block; the results in block order."""
        return self.runner.map(fn, *args)

    def _summed(self, fn, x):
        """The blocks' ``fn`` results at ``x`` (tuples of a sum of squares and
        arrays), added in block order, and the loss from the sum of squares."""
        total = None
        for part in self._map(fn, x):
            part = part if isinstance(part, tuple) else (part,)
            total = part if total is None else tuple(a + b for a, b in zip(total, part))
        sse, *sums = total
        return (float(sse) + self._penalty_sse(x)) / self.scale, sums

    def _penalty_sse(self, x):
        if self.penalty is None:
            return 0.0
        W = x[self._weight_idx]
        return float(W @ (self.penalty * W))

    # ------------------------------------------------------------ interface
    def loss(self, x):
        return self._summed(_task_loss, x)[0]

    def normal_equations(self, x):
        loss, (JtJ, Jtr) = self._summed(_task_normal_equations, x)
        if self.penalty is not None:
            idx = self._weight_idx
            JtJ[idx, idx] += self.penalty
            Jtr[idx] += self.penalty * x[idx]
        return loss, JtJ, Jtr

    def gradient(self, x, batch=None):
        if batch is not None:
            raise ValueError("A DaskProblem evaluates full batches only.")
        loss, (grad,) = self._summed(_task_gradient, x)
        grad = grad * (1.0 / self.scale)
        if self.penalty is not None:
            idx = self._weight_idx
            grad[idx] += (2.0 / self.scale) * (self.penalty * x[idx])
        return loss, grad

    def hessian(self, x):
        # each block's (2 J^T r, 2 (J^T J - S)) of its sum of squares
        loss, (g, H) = self._summed(_task_hessian, x)
        if self.penalty is not None:
            idx = self._weight_idx
            H[idx, idx] += 2.0 * self.penalty
            g[idx] += 2.0 * self.penalty * x[idx]
        H *= 1.0 / self.scale
        g *= 1.0 / self.scale
        return loss, g, H

    def _tail(self, v):
        return None if self.penalty is None else self._sqrt_penalty * v[self._weight_idx]

    def residual(self, x):
        return _Vector(["residual", x.copy()], self._tail(x))

    def jvp(self, x, v):
        return _Vector(["jvp", x.copy(), v.copy()], self._tail(v))

    def vjp(self, x, u):
        if not isinstance(u, _Vector):
            raise TypeError("DaskProblem.vjp takes a vector from its residual or jvp.")
        out = np.zeros(self.n_params)
        for part in self._map(_task_vjp, x, u.expr):
            out += part
        if self.penalty is not None:
            out[self._weight_idx] += self._sqrt_penalty * u.tail
        return out


# -------------------------------------------------------- early stopping
class DaskValidationMonitor(ValidationMonitor):
    """:class:`ValidationMonitor` over validation rows kept on the workers."""

    def __init__(self, client, blocks, tol, n_iter_no_change, loss_unit):
        self.runner = _BlockRunner(client, blocks)
        sums = self.runner.map(_ValidationBlock.sums)
        sum_w = sum(s[1] for s in sums)
        mean = functools.reduce(np.add, [s[0] for s in sums]) / sum_w
        tss = functools.reduce(np.add, self.runner.map(_ValidationBlock.tss, mean))
        self._init_state(tss, sum_w * mean.shape[0], tol, n_iter_no_change, np, loss_unit)

    def evaluate(self, x):
        rss = functools.reduce(np.add, self.runner.map(_ValidationBlock.rss, x))
        return self._scores(float(rss.sum()), rss)


# ---------------------------------------------------------------- fit
def _normalisation(client, parts, inputs, targets, n_features, n_outputs):
    """:meth:`Normalisation.fit` over the blocks (the same passes, summed)."""
    def gather(fn, *args):
        return client.gather([client.submit(fn, p, *args, pure=False) for p in parts])

    def largest(m):
        return np.where(m > 0, m, 1.0)

    big = gather(_stat_absmax, None, None)
    big_x = largest(np.max([b[0] for b in big], axis=0))
    big_y = float(largest(max(b[1] for b in big)))
    sums = gather(_stat_mean, big_x, big_y)
    sum_w = sum(s[2] for s in sums)
    mean_x = functools.reduce(np.add, [s[0] for s in sums]) / sum_w * big_x
    mean_y = functools.reduce(np.add, [s[1] for s in sums]) / sum_w * big_y
    dev = gather(_stat_absmax, mean_x, mean_y)
    spread_x = largest(np.max([d[0] for d in dev], axis=0))
    spread_y = float(largest(max(d[1] for d in dev)))
    squares = gather(_stat_square, mean_x, spread_x, mean_y, spread_y)

    def rms(var, spread):
        r = np.sqrt(var) * spread
        return np.where((r > 0) & np.isfinite(r), r, 1.0)

    x_shift, x_scale = np.zeros(n_features), np.ones(n_features)
    y_shift, y_scale = np.zeros(n_outputs), 1.0
    if inputs:
        x_shift = mean_x
        x_scale = rms(functools.reduce(np.add, [s[0] for s in squares]) / sum_w, spread_x)
    if targets:
        y_shift = mean_y
        y_scale = float(rms(sum(s[1] for s in squares) / sum_w, spread_y))
    return Normalisation(x_shift, x_scale, y_shift, y_scale)


def _inputs(est, X, y, sample_weight, continuing):
    """``X``, ``Y`` and ``w`` as Dask arrays on ``X``'s row blocks; sets ``n_features_in_``."""
    X, names = _as_dask_array(X, "X")
    if X.ndim != 2:
        raise ValueError("X must be 2-D (n_samples, n_features).")
    X = X.rechunk({1: -1})
    Y, _ = _as_dask_array(y, "y", X.chunks[0])
    w, _ = _as_dask_array(sample_weight, "sample_weight", X.chunks[0])
    n_outputs = 1 if Y.ndim == 1 else Y.shape[1]
    if continuing and X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is "
                         f"expecting {est.n_features_in_} features as input.")
    if continuing and n_outputs != est.n_outputs_:
        raise ValueError(
            f"y has {n_outputs} outputs but the warm-started model has "
            f"{est.n_outputs_}; fit with warm_start=False to change them."
        )
    est.n_features_in_ = X.shape[1]
    if names is not None and all(isinstance(c, str) for c in names):
        est.feature_names_in_ = np.asarray(names, dtype=object)
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    return X, Y, w


class _Prepared:
    """The blocks, validated and split on the workers, and their totals.

    Attributes
    ----------
    parts : list of Future
        Per block ``(X, Y, w, X_val, Y_val, w_val)``.
    summaries : list of dict
        Per block: rows, weight sums, largest magnitudes (see ``_summary``).
    n_train, sum_w : int, float
        Training rows and their total weight.
    """

    def __init__(self, client, X, Y, w, split):
        x_blocks = X.to_delayed().ravel()
        y_blocks = Y.to_delayed().ravel()
        w_blocks = [None] * len(x_blocks) if w is None else w.to_delayed().ravel()
        self.parts = client.compute([
            dask.delayed(_prepare_block)(xb, yb, wb, i, split)
            for i, (xb, yb, wb) in enumerate(zip(x_blocks, y_blocks, w_blocks))
        ])
        self.summaries = client.gather([client.submit(_summary, p) for p in self.parts])
        self.n_train = sum(s["rows"] for s in self.summaries)
        self.sum_w = sum(s["sum_w"] for s in self.summaries)
        self._check(split is not None)

    def _check(self, split):
        if self.n_train < 1:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        if not split:
            if not self.sum_w > 0:
                raise ValueError("sample_weight must have a positive sum; got all zeros.")
            return
        n_val = sum(s["val_rows"] for s in self.summaries)
        if n_val < 1:
            raise ValueError(
                "early_stopping=True needs at least one training and one validation "
                "sample; each block holds out round(validation_fraction * rows) rows, "
                f"which left {self.n_train} training and {n_val} validation rows. "
                "Provide larger blocks or set early_stopping=False."
            )
        for name, total in (("training", self.sum_w),
                            ("validation", sum(s["val_sum_w"] for s in self.summaries))):
            if not total > 0:
                raise ValueError(
                    f"early_stopping=True left the {name} part of the data with zero "
                    "total sample_weight. Give more rows positive weight, change "
                    "validation_fraction or random_state, or set early_stopping=False."
                )

    def with_rows(self, key):
        """The parts whose training (``'rows'``) or validation (``'val_rows'``) rows exist."""
        return [p for p, s in zip(self.parts, self.summaries) if s[key] > 0]

    def largest(self, key):
        return max(s[key] for s in self.summaries)


def _build(client, est, data, mlp, norm, n_outputs):
    """The fit's :class:`DaskProblem` and, with ``early_stopping``, its monitor."""
    # The whole data's weight unit and scale (MLPProblem's rescaling).
    unit = weight_unit_of(data.sum_w / data.n_train)
    train = data.with_rows("rows")
    weight_sums = client.gather([client.submit(_weight_sum, p, unit, est.dtype, pure=False)
                                 for p in train])
    blocks = [client.submit(_build_problem, p, mlp, norm, unit, est.dtype, est.chunk_size,
                            est.backend, pure=False) for p in train]
    alpha = norm.penalty(mlp, 0.0 if isinstance(est.alpha, str) else est.alpha)
    penalty = alpha * (n_outputs / unit) if alpha.any() else None
    problem = DaskProblem(client, blocks, mlp.n_params, float(sum(weight_sums)) * n_outputs,
                          penalty, np.flatnonzero(mlp.weight_mask()))
    monitor = None
    if est._early_stopping:
        val_blocks = [client.submit(_ValidationBlock, p, mlp, norm, est.chunk_size,
                                    pure=False) for p in data.with_rows("val_rows")]
        monitor = DaskValidationMonitor(client, val_blocks, est.tol, est.n_iter_no_change,
                                        norm.loss_unit)
    return problem, monitor


def fit(est, X, y, sample_weight):
    """``est.fit(X, y, sample_weight)`` for Dask collections (see the module docstring).

    LMRegressor.fit's steps, with the data on the workers: prepare the
    blocks, compute the normalisation, build the blocks' problems, run the
    solver on their sum, store the result as the in-memory fit does.
    """
    client = _client()
    hidden = est._validated_hidden_layer_sizes()
    if est.alpha == "bayes":
        raise ValueError("alpha='bayes' is not available for Dask input: give a number, "
                         "or 'auto' (no penalty there), or fit in memory.")
    if est.linear_solver == "cg":
        raise ValueError("linear_solver='cg' is not available for Dask input yet: its "
                         "products would travel to the workers dozens of times a step. "
                         "Use 'dense' (or 'auto'), or fit in memory.")
    # 'auto' options: no Bayesian regularisation and dense steps on Dask input,
    # so no validation split unless asked for
    est._matrix_free = False
    est._early_stopping = est.early_stopping is True
    if est.solver in ("sgd", "adam") and est.batch_size is not None:
        warn(f"batch_size={est.batch_size!r}: on Dask input 'sgd' and 'adam' take full "
             "batches (one step per epoch over every block); set batch_size=None to say so.",
             UserWarning)
    continuing = est.warm_start and hasattr(est, "coefs_")
    X, Y, w = _inputs(est, X, y, sample_weight, continuing)
    n_outputs = 1 if Y.ndim == 1 else Y.shape[1]
    # The in-memory fit's draws, in its order: initial weights, then the
    # validation split's seed.
    rng = check_random_state(est.random_state)
    mlp = MLP((X.shape[1], *hidden, n_outputs), est.activation)
    theta_init = initial_params(est, mlp, rng)
    split = None
    if est._early_stopping:
        split = (rng.randint(np.iinfo(np.int32).max), est.validation_fraction)

    data = _Prepared(client, X, Y, w, split)
    norm = _normalisation(client, data.parts, est.normalize_X, est.normalize_y,
                          X.shape[1], n_outputs)
    theta0 = (norm.to_solver(mlp, mlp.pack(est.coefs_, est.intercepts_)) if continuing
              else theta_init)
    problem, monitor = _build(client, est, data, mlp, norm, n_outputs)
    # The blocks' problems hold what they need; their lineage keeps the parts'
    # tasks for a rebuild, so the prepared copies of the data can go.
    data.parts = None
    if est.verbose:
        print(f"LMRegressor: Dask, {len(problem.blocks)} blocks, {mlp.n_params} "
              f"parameters, {data.n_train} training samples")
    x0 = np.asarray(theta0, dtype=np.float64)
    if monitor is not None:
        monitor.start(x0)
    shape = _Shape(data.n_train, norm)
    solver = SOLVERS[est.solver](**est._solver_options(monitor, rng, shape))
    result = solver.run(problem, x0)
    runners = [problem.runner] + ([] if monitor is None else [monitor.runner])
    est.dask_stats_ = {"blocks": len(problem.blocks),
                       "tasks": sum(r.n_tasks for r in runners),
                       "bytes_sent": sum(r.bytes_sent for r in runners),
                       "bytes_received": sum(r.bytes_received for r in runners),
                       "tasks_moved": sum(r.n_moved for r in runners)}
    return _finish(est, mlp, shape, result, monitor, continuing, data)


class _Shape:
    """What the estimator's finish phase reads of its training data, for Dask blocks."""

    def __init__(self, n_samples, norm):
        self.n_samples = n_samples
        self.norm = norm
        self.loss_unit = norm.loss_unit

    def to_user(self, mlp, theta):
        return self.norm.to_user(mlp, theta)


def _finish(est, mlp, shape, result, monitor, continuing, data):
    """LMRegressor's finish phase, after the check the in-memory run makes."""
    from ._estimator import _Kept, _Posterior, _Run  # noqa: PLC0415 - (a cycle)

    if not math.isfinite(result.initial_loss):
        raise ValueError(
            f"The training loss at the initial parameters is not finite "
            f"({result.initial_loss}): the inputs or targets are too large to "
            f"square in float64 (max |X| = {data.largest('x_max'):.3g}, max |y| = "
            f"{data.largest('y_max'):.3g}). Scale them: normalize_X=True and "
            "normalize_y=True (the defaults)."
        )
    kept = _Kept(np.asarray(result.x), result.loss, result.best_iteration)
    if monitor is not None and monitor.best_x is not None:
        kept = _Kept(np.asarray(monitor.best_x),
                     monitor.best_train_loss if monitor.best_iteration else result.initial_loss,
                     monitor.best_iteration)
    run = _Run(result, result, [shape.n_samples] * result.n_iter, monitor,
               f"dask ({est.backend})", kept, False, _Posterior(None, None, None))
    est._finish(mlp, shape, run, continuing)
    return est


# ------------------------------------------------------------------ predict
def _predict_block(X, params, activation, n_outputs):
    X = np.asarray(X, dtype=np.float64)
    mlp = MLP((X.shape[1], *[W.shape[1] for W, _ in params]), activation)
    Y = mlp.predict_rows(params, X, np, 65536)
    return Y.ravel() if n_outputs == 1 else Y


def _std_block(X, est):
    return est.predict(np.asarray(X, dtype=np.float64), return_std=True)[1]


def predict(est, X, return_std=False):
    """``est.predict(X)`` for a Dask array or DataFrame: a Dask array, block by block.

    With ``return_std``, also the standard deviations, as a second Dask array
    (each block is predicted twice: the estimator's posterior travels with the
    second task).
    """
    X, _ = _as_dask_array(X, "X")
    if X.ndim != 2:
        raise ValueError("X must be 2-D (n_samples, n_features).")
    if X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is "
                         f"expecting {est.n_features_in_} features as input.")
    X = X.rechunk({1: -1})
    params = [(np.asarray(W), np.asarray(b)) for W, b in zip(est.coefs_, est.intercepts_)]
    fn = functools.partial(_predict_block, params=params, activation=est.activation,
                           n_outputs=est.n_outputs_)
    if est.n_outputs_ == 1:
        blocks = dict(dtype=np.float64, drop_axis=1)
    else:
        blocks = dict(dtype=np.float64, chunks=(X.chunks[0], (est.n_outputs_,)))
    Y = X.map_blocks(fn, **blocks)
    if not return_std:
        return Y
    # what cannot be computed (no posterior) is said now, not at compute time
    est._predictive_std(np.zeros((1, X.shape[1])), get_backend("numpy"))
    return Y, X.map_blocks(functools.partial(_std_block, est=est), **blocks)
