"""The floor of one Levenberg-Marquardt iteration on this machine.

For ``m`` residual rows and ``n`` parameters, an LM iteration must at least form
``J^T J`` (a symmetric rank-k update, ``m n^2`` flops) and factor it
(``n^3 / 3``). We time exactly that with NumPy's BLAS on a random Jacobian of
the problem's shape, stored as sklm stores it (``J^T``, ``n x rows``,
C-contiguous, so ``A @ A.T`` is dispatched to syrk), accumulated over the same
row chunks sklm uses.
"""

import time

import numpy as np

__all__ = ["measure_floor", "measure_pass_floor"]


def measure_floor(m, n, chunk=None, repeat=5, seed=0, reduce=np.median):
    """Seconds of ``J^T J`` (syrk) and of its Cholesky factor (``reduce`` of repeats).

    Returns ``{'syrk', 'cholesky', 'total', 'gflops'}``.
    """
    chunk = min(int(chunk or m), m)
    rng = np.random.default_rng(seed)
    At = rng.standard_normal((n, chunk))
    n_chunks, last = divmod(m, chunk)
    Al = At[:, :last]

    def gram():
        G = At @ At.T
        for _ in range(n_chunks - 1):
            G += At @ At.T
        if last:
            G += Al @ Al.T
        return G

    G = gram()  # warm-up: wakes the BLAS threads, as inside a running fit
    G[np.diag_indices(n)] += 1.0
    np.linalg.cholesky(G)
    # Tiny problems: time a batch of back-to-back calls (a fit's steady state).
    batch = max(1, int(2e7 // (m * n * n + 1)))
    syrk, chol = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(batch):
            G = gram()
        syrk.append((time.perf_counter() - t) / batch)
        G[np.diag_indices(n)] += 1.0
        t = time.perf_counter()
        for _ in range(batch):
            np.linalg.cholesky(G)
        chol.append((time.perf_counter() - t) / batch)
    s, c = float(reduce(syrk)), float(reduce(chol))
    return {"syrk": s, "cholesky": c, "total": s + c, "gflops": m * n * n / s / 1e9}


def measure_pass_floor(bp, repeat=3):
    """Seconds of one gradient pass over all of ``bp``'s rows: the matrix-free floor.

    A matrix-free LM iteration must at least compute ``J^T r`` of every row
    (a forward and a backward pass, sklm's own, at the estimator's chunk) and
    evaluate one trial point; what it spends beyond that goes to CG products
    on the curvature sample. Returns ``{'pass', 'total', 'kind'}`` with
    ``total`` the gradient pass.
    """
    from sklm._backend import NumpyBackend  # noqa: PLC0415
    from sklm._mlp import MLP  # noqa: PLC0415
    from sklm._problem import MLPProblem  # noqa: PLC0415

    mlp = MLP((bp.X.shape[1], *bp.hidden, 1), "tanh")
    problem = MLPProblem(mlp, bp.X, bp.y[:, None], np.ones(len(bp.X)), 0.0, NumpyBackend(),
                         4096, matrix_free=True)
    x = mlp.init_params(np.random.RandomState(seed := 0))
    problem.gradient(x)  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        problem.gradient(x + 1e-3 * seed)
        times.append(time.perf_counter() - t)
    t = float(np.median(times))
    return {"pass": t, "total": t, "kind": "gradient pass"}
