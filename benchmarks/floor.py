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

__all__ = ["measure_floor"]


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
