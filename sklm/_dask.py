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

from ._backend import get_backend
from ._data import (
    check_split_weights,
    chunk_rows,
    counts_of,
    split_rows,
    target_variance,
    weighted_target_sums,
)
from ._early_stopping import ValidationMonitor
from ._mlp import MLP
from ._normalisation import Normalisation
from ._problem import GaussNewtonOperator, MLPProblem, PenalisedProblem, weight_unit_of

__all__ = ["DaskProblem", "DaskSource", "predict"]


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
def _validate_block(X, y, w):
    """One block as float64 ``(X, Y, w)``, checked as the in-memory fit checks its input."""
    X, Y = np.asarray(X), np.asarray(y)
    for name, v in (("X", X), ("y", Y)):
        if v.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} has dtype {v.dtype}. "
                             "Fit the real and imaginary parts as separate columns.")
        if v.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric for a regressor; got dtype {v.dtype}.")
    X = X.astype(np.float64)
    if X.ndim != 2:
        raise ValueError(f"Expected 2-D X blocks; got {X.ndim} dimensions.")
    Y = Y.astype(np.float64)
    Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
    for name, v in (("X", X), ("y", Y), ("sample_weight", w)):
        if not np.isfinite(v).all():
            raise ValueError(f"Input {name} contains NaN or infinity.")
    if (w < 0).any():
        raise ValueError("Negative values in sample_weight are not allowed.")
    return X, Y, w


def _count_block(part):
    X, Y, w = part
    return X.shape[0], int(np.count_nonzero(w)), float(w.sum())


def _split_block(part, validation):
    """``(X, Y, w, X_val, Y_val, w_val)``: the block's rows, ``validation`` (its
    local indices, sorted; None: no split) held out, the rest in order."""
    X, Y, w = part
    if validation is None:
        return X, Y, w, None, None, None
    train = np.ones(X.shape[0], dtype=bool)
    train[validation] = False
    return X[train], Y[train], w[train], X[validation], Y[validation], w[validation]


def _summary(part):
    X, Y, w, _, _, w_val = part
    return {
        "rows": X.shape[0], "sum_w": float(w.sum()),
        "val_sum_w": 0.0 if w_val is None else float(w_val.sum()),
        "val_rows": 0 if w_val is None else w_val.shape[0],
        "x_max": float(np.abs(X).max(initial=0.0)), "y_max": float(np.abs(Y).max(initial=0.0)),
    }


def _take_rows(part, local, norm):
    """The block's training rows ``local`` (sorted), normalised: ``(X, Y, w)``."""
    X, Y = norm.transform(part[0][local], part[1][local])
    return X, Y, part[2][local]


def _target_sums(part, norm):
    return weighted_target_sums((part[1] - norm.y_shift) / norm.y_scale, part[2])


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


def _build_problem(part, mlp, norm, unit, dtype, chunk_size, backend_name, matrix_free):
    X, Y = norm.transform(part[0], part[1])
    backend = get_backend(backend_name)
    chunk = chunk_size or chunk_rows(backend, mlp, X.shape[0], Y.shape[1], dtype, matrix_free)
    # scale=1: the block's loss is its weighted sum of squares; the whole
    # data's penalty and scale are applied once, by DaskProblem.
    return _Block(MLPProblem(mlp, X, Y, part[2], 0.0, backend, chunk, dtype=dtype,
                             weight_unit=unit, scale=1.0, matrix_free=matrix_free))


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


class DaskProblem(PenalisedProblem):
    """The sum of one :class:`~sklm._problem.MLPProblem` per block, plus the penalty.

    The penalty, and its re-estimation by Bayesian regularisation, are the
    in-memory problem's (the same attributes, :func:`sklm._bayes.reestimate`),
    applied once to the blocks' sums on the client.

    Parameters
    ----------
    client : distributed.Client
    blocks : list of Future
        One ``_Block`` per row block, on the workers.
    mlp : MLP
    n_samples : int
        Training rows (the matrix-free step draws its curvature rows from them).
    scale : float
        The whole data's ``k * sum(w)`` (weights divided by their unit).
    alpha : float or ndarray
        The L2 penalty per weight, as :class:`MLPProblem` takes it.
    evidence : BayesianPrecisions or None
    rows : callable
        ``rows(indices) -> (X, Y, w)``: training rows gathered to the client,
        normalised (the matrix-free step's curvature sample).
    unit : float
        The weights' unit (see :func:`sklm._problem.weight_unit_of`).
    dtype : str

    Attributes
    ----------
    runner : _BlockRunner
        Places the tasks and counts what they move.
    """

    def __init__(self, client, blocks, mlp, n_samples, scale, alpha, evidence, rows, unit,
                 dtype):
        self.runner = _BlockRunner(client, blocks)
        self.mlp = mlp
        self.n_params = mlp.n_params
        self.n_samples = n_samples
        self.n_outputs = mlp.n_outputs
        self.scale = float(scale)
        self.backend = get_backend("numpy")
        self.xp = np
        self.dtype = dtype
        self._rows = rows
        self.weight_unit = unit
        self._last_normal = None
        self._last_sse = None
        self._init_penalty(alpha, evidence)

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
        self._last_sse = (x.copy(), float(sse))
        return (float(sse) + self._penalty_sse(x)) / self.scale, sums

    def loss(self, x):
        return self._summed(_task_loss, x)[0]

    def data_sse(self, x):
        """The data's weighted sum of squared errors at ``x`` (no penalty)."""
        last = self._last_sse
        if last is not None and np.array_equal(last[0], x):
            return last[1]
        self._summed(_task_loss, x)
        return self._last_sse[1]

    def normal_equations(self, x):
        loss, (JtJ, Jtr) = self._summed(_task_normal_equations, x)
        if self.penalty is not None:
            idx = self._weight_idx
            JtJ[idx, idx] += self.penalty
            Jtr[idx] += self.penalty * x[idx]
        self._last_normal = (x.copy(), JtJ, self._penalty_version)
        return loss, JtJ, Jtr

    def release(self):
        """Nothing to drop: the blocks' caches live on the workers."""

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

    def gauss_newton_operator(self, x, rows=None):
        """``J^T J`` products on training rows gathered to the client (all: ``rows`` None).

        The products of the in-memory problem on the same rows, in the same
        order: the rows' own problem (the whole data's weight unit, no
        penalty) scaled to the whole data, then the penalty's share.
        """
        take = np.arange(self.n_samples) if rows is None else np.asarray(rows)
        X, Y, w = self._rows(take)
        sample = MLPProblem(self.mlp, X, Y, w, 0.0, self.backend, max(len(take), 1),
                            dtype=self.dtype, weight_unit=self.weight_unit, scale=1.0)
        inner = sample.gauss_newton_operator(x, None if rows is None else np.arange(len(take)))
        factor = 1.0 if rows is None else self.n_samples / len(take)
        return GaussNewtonOperator(lambda v: self._scaled(inner.product(v), factor, v),
                                   lambda: self._scaled(inner.diagonal(), factor, None))

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


# ------------------------------------------------------------ statistics
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


# ------------------------------------------------------------------ source
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


class DaskSource:
    """Training data in the blocks of Dask collections, on a ``distributed`` cluster.

    The interface of :class:`sklm._data.InMemorySource`: the counts, the
    split and the normalisation are reductions over the blocks, computed
    where they live; the problem of all rows is a :class:`DaskProblem`; rows
    asked for by index (the growing sample's stages, the matrix-free step's
    curvature sample) are gathered to the client, once per :meth:`hold`.
    The same ``random_state`` holds out the same rows as in memory
    (:func:`sklm._data.split_rows` over the whole data), and the training
    rows keep their order, so the fits agree to round-off.
    """

    kind = "dask"

    def __init__(self, estimator, X, y, sample_weight, continuing):
        self.client = _client()
        X, Y, w = _inputs(estimator, X, y, sample_weight, continuing)
        self.n_features = X.shape[1]
        self.n_outputs = 1 if Y.ndim == 1 else Y.shape[1]
        self._block_rows = [int(c) for c in X.chunks[0]]
        x_blocks = X.to_delayed().ravel()
        y_blocks = Y.to_delayed().ravel()
        w_blocks = [None] * len(x_blocks) if w is None else w.to_delayed().ravel()
        self._raw = self.client.compute([
            dask.delayed(_validate_block)(xb, yb, wb)
            for xb, yb, wb in zip(x_blocks, y_blocks, w_blocks)])
        counts = self._gather(_count_block, self._raw)
        n_rows = sum(c[0] for c in counts)
        if n_rows < 1:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        sum_w = sum(c[2] for c in counts)
        if not sum_w > 0:
            raise ValueError("sample_weight must have a positive sum; got all zeros.")
        self.counts = counts_of(n_rows, sum(c[1] for c in counts), sum_w)
        self._held = None
        self._runners = []
        self._chunk_size = estimator.chunk_size
        self._backend_name = estimator.backend

    def _gather(self, fn, parts, *args):
        return self.client.gather([self.client.submit(fn, p, *args, pure=False)
                                   for p in parts])

    # ------------------------------------------------------------- prepare
    def prepare(self, *, split_seed, fraction, normalize_X, normalize_y, norm=None):
        """Hold out the validation rows (``fraction`` not None) and normalise, block by block."""
        starts = np.cumsum([0] + self._block_rows)
        if fraction is None:
            local = [None] * len(self._raw)
        else:
            _, val = split_rows(self.counts.n_rows, fraction, split_seed)
            local = [val[(val >= a) & (val < b)] - a for a, b in zip(starts[:-1], starts[1:])]
        self._split(local)
        if fraction is not None:
            check_split_weights(sum(s["sum_w"] for s in self._summaries),
                                sum(s["val_sum_w"] for s in self._summaries))
        self.raw_max = (max(s["x_max"] for s in self._summaries),
                        max(s["y_max"] for s in self._summaries))
        self.norm = norm or _normalisation(self.client, self._with("rows"), normalize_X,
                                           normalize_y, self.n_features, self.n_outputs)

    def _split(self, local):
        """The blocks' parts with the rows ``local`` (per block) held out; their totals."""
        self._parts = [self.client.submit(_split_block, p, v, pure=False)
                       for p, v in zip(self._raw, local)]
        self._summaries = self._gather(_summary, self._parts)
        rows = [s["rows"] for s in self._summaries]
        self.n_samples = int(sum(rows))
        self._train_starts = np.cumsum([0] + rows)
        self.weight_unit = weight_unit_of(sum(s["sum_w"] for s in self._summaries) / self.n_samples)

    def fold_validation(self):
        """Train on every row from now on (in their order), with the same normalisation."""
        self._split([None] * len(self._raw))

    def _with(self, key):
        """The parts whose training (``'rows'``) or validation (``'val_rows'``) rows exist."""
        return [p for p, s in zip(self._parts, self._summaries) if s[key] > 0]

    @property
    def loss_unit(self):
        return self.norm.loss_unit

    # ---------------------------------------------------------------- rows
    def rows(self, rows):
        """Training rows ``rows`` (sorted indices) on the client, normalised: ``(X, Y, w)``."""
        rows = np.asarray(rows)
        if self._held is not None:
            held, data = self._held
            at = np.searchsorted(held, rows)
            if np.all(at < len(held)) and np.array_equal(held[np.minimum(at, len(held) - 1)],
                                                         rows):
                return tuple(a[at] for a in data)
        return self._fetch(rows)

    def _fetch(self, rows):
        starts = self._train_starts
        futures = []
        for i, part in enumerate(self._parts):
            a, b = np.searchsorted(rows, [starts[i], starts[i + 1]])
            if b > a:
                futures.append(self.client.submit(_take_rows, part, rows[a:b] - starts[i],
                                                  self.norm, pure=False))
        pieces = self.client.gather(futures)
        if not pieces:
            k = self.n_outputs
            return np.empty((0, self.n_features)), np.empty((0, k)), np.empty(0)
        return tuple(np.concatenate([p[j] for p in pieces]) for j in range(3))

    def hold(self, rows):
        """Gather ``rows`` once; :meth:`rows` of any subset of them is then local."""
        rows = np.unique(rows)
        self._held = (rows, self._fetch(rows))

    def release_held(self):
        self._held = None

    # ------------------------------------------------------------ problems
    def rows_problem(self, rows, mlp, penalty, backend, chunk, dtype, evidence=None,
                     matrix_free=False):
        """An in-memory :class:`MLPProblem` on the training rows ``rows``, on the client."""
        X, Y, w = self.rows(rows)
        return MLPProblem(mlp, X, Y, w, penalty, backend, chunk, dtype=dtype,
                          evidence=evidence, matrix_free=matrix_free)

    def problem(self, mlp, penalty, backend, chunk, dtype, evidence, matrix_free):
        """The :class:`DaskProblem` of all training rows, one block problem per part."""
        client, unit = self.client, self.weight_unit
        train = self._with("rows")
        weight_sums = self._gather(_weight_sum, train, unit, dtype)
        blocks = [client.submit(_build_problem, p, mlp, self.norm, unit, dtype,
                                self._chunk_size, self._backend_name, matrix_free,
                                pure=False) for p in train]
        problem = DaskProblem(client, blocks, mlp, self.n_samples,
                              float(sum(weight_sums)) * self.n_outputs, penalty,
                              evidence, self.rows, unit, dtype)
        self._runners.append(problem.runner)
        return problem

    def monitor(self, mlp, backend, chunk, tol, n_iter_no_change):
        """Early stopping's monitor over the validation rows, which stay on the workers."""
        parts = self._with("val_rows")
        if not parts:
            return None
        blocks = [self.client.submit(_ValidationBlock, p, mlp, self.norm, self._chunk_size,
                                     pure=False) for p in parts]
        monitor = DaskValidationMonitor(self.client, blocks, tol, n_iter_no_change,
                                        self.loss_unit)
        self._runners.append(monitor.runner)
        return monitor

    def target_variance(self):
        sums = self._gather(_target_sums, self._with("rows"), self.norm)
        sum_wy = functools.reduce(np.add, [s[0] for s in sums])
        sum_wy2 = functools.reduce(np.add, [s[1] for s in sums])
        return target_variance(sum_wy, sum_wy2, sum(s[2] for s in sums), self.n_outputs)

    def stats(self):
        """What the fit's tasks moved (``dask_stats_``)."""
        runners = self._runners
        return {"blocks": len(self._with("rows")),
                "tasks": sum(r.n_tasks for r in runners),
                "bytes_sent": sum(r.bytes_sent for r in runners),
                "bytes_received": sum(r.bytes_received for r in runners),
                "tasks_moved": sum(r.n_moved for r in runners)}

    def close(self):
        """Let the blocks' data go (their problems keep what they need)."""
        self._parts = self._raw = None
        self._held = None

# ------------------------------------------------------------------ predict
def _predict_block(X, params, activation, n_outputs):
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must be a real numeric array; got dtype {X.dtype}.")
    X = X.astype(np.float64)
    if not np.isfinite(X).all():
        raise ValueError("Input X contains NaN or infinity.")
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
