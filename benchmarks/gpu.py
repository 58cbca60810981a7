"""GPU benchmark: LM iterations with the CuPy backend against this machine's CPU.

Usage::

    python -m benchmarks.gpu --device    # on a machine with CuPy and an NVIDIA GPU
    python -m benchmarks.gpu --cpu       # the CPU side, on the 2-core dev machine
    python -m benchmarks.gpu --device --quick   # small sizes, a smoke run

Per case ('seed-6d', 'wide', and 'large': 1,000,000 rows of the wide function,
8-64-64-1 tanh, 4,801 parameters) it reports:

- seconds per LM iteration (median over the timed iterations; the first,
  which includes CuPy's kernel compilation and memory-pool growth, is dropped),
- the rate ``J^T J`` reaches on its own (``m n^2`` useful flops per iteration,
  timed through ``Backend.add_gram``, the syrk the fit runs, once per chunk)
  and its share of the device's measured float64 matrix-product rate (an
  ``8192 x 8192`` matmul); beside it the same sum formed as a general product
  ``A @ A.T`` (NumPy runs that as syrk too; CuPy as gemm), which shows what
  syrk buys on a GPU,
- with ``--cpu``: the same per-iteration time with NumPy. The 'large' case is
  timed on its first ``--cpu-rows`` rows and scaled linearly in rows (an LM
  iteration is linear in m, which the 'wide' runs on this machine confirm);
  the output says so.

The results go to stdout as a Markdown table and, with ``--json PATH``, to a
JSON file; docs/benchmarks/gpu.md records them with the device name.
"""

import argparse
import json
import platform
import time

import numpy as np

from sklm._backend import get_backend
from sklm._mlp import MLP
from sklm._problem import MLPProblem
from sklm.solvers import LevenbergMarquardt

from .problems import make_problem, wide_function

CASES = ("seed-6d", "wide", "large")


def case_data(name, quick=False):
    """``(X, y, hidden)`` for a case, standardised."""
    if name == "large":
        m = 5_000 if quick else 1_000_000
        rng = np.random.default_rng(64)
        X = rng.uniform(-1, 1, size=(m, 8))
        y = wide_function(X)
        return (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std(), (64, 64)
    p = make_problem(name, n_train=2_000 if quick else None, n_val=100 if quick else None)
    return p.X, p.y, p.hidden


def sync(backend):
    if backend.name == "cupy":
        backend.xp.cuda.Stream.null.synchronize()


def random_matrix(backend, shape, seed):
    """Standard normal float64 entries drawn on the backend's device.

    On a GPU the 'large' case's chunk is ~20 GB: drawing it on the host and
    copying it over would take longer than the benchmark.
    """
    if backend.name == "cupy":
        return backend.xp.random.default_rng(seed).standard_normal(shape)
    return np.random.default_rng(seed).standard_normal(shape)


def matmul_rate(backend, size=8192, repeat=5):
    """float64 GFLOP/s of a square matrix product on this backend."""
    A = random_matrix(backend, (size, size), seed=0)
    A @ A
    sync(backend)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        A @ A
        sync(backend)
        times.append(time.perf_counter() - t)
    return 2 * size**3 / float(np.median(times)) / 1e9


def gram_rate(backend, m, n, chunk, repeat=3, general=False):
    """GFLOP/s (counting ``m n^2``) of ``J^T J`` over ``m`` rows in ``chunk``-row pieces.

    Through ``backend.add_gram``, the code the fit runs (syrk); with
    ``general=True`` as a general product ``A @ A.T`` instead (on a GPU, CuPy
    runs that as gemm at twice the flops), for comparison.
    """
    xp = backend.xp
    chunk = min(chunk, m)
    At = random_matrix(backend, (n, chunk), seed=1)
    n_chunks = -(-m // chunk)
    G = xp.zeros((n, n))

    def one_pass():
        G[...] = 0.0
        for _ in range(n_chunks):
            if general:
                xp.add(G, At @ At.T, out=G)
            else:
                backend.add_gram(G, At)

    one_pass()  # warm-up: kernels, memory pool
    sync(backend)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        one_pass()
        sync(backend)
        times.append(time.perf_counter() - t)
    return n_chunks * chunk * n * n / float(np.median(times)) / 1e9


def lm_seconds_per_iteration(backend, X, y, hidden, iterations=6):
    """Median seconds per iteration of the estimator's default LM (Nielsen + geodesic).

    Always the dense step (``J^T J`` by syrk, what this benchmark measures):
    'large' has 4,801 parameters, where ``linear_solver='auto'`` would take
    the matrix-free step instead.
    """
    mlp = MLP((X.shape[1], *hidden, 1), "tanh")
    chunk = backend.chunk_rows(8 * mlp.n_params, X.shape[0])
    problem = MLPProblem(mlp, X, y[:, None], np.ones(len(y)), 0.0, backend, chunk)
    x0 = backend.asarray(mlp.init_params(np.random.RandomState(0)))
    # LMRegressor's defaults (mu_init='auto' is the relative start)
    solver = LevenbergMarquardt(max_iter=iterations, tol=0.0, min_grad=0.0,
                                mu_update="nielsen", geodesic=True, mu_init="auto",
                                linear_solver="dense")
    result = solver.run(problem, x0)
    sync(backend)
    if len(result.time_curve) < 2:
        raise RuntimeError(f"LM stopped after {result.n_iter} iteration(s) "
                           f"({result.message}); nothing to time.")
    steps = np.diff(result.time_curve)  # drops the first (warm-up) iteration
    return float(np.median(steps)), mlp.n_params, chunk


def run(device, quick, cpu_rows):
    backend = get_backend("cupy" if device else "numpy")
    if device:
        props = backend.xp.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    else:
        name = f"CPU ({platform.processor() or platform.machine()})"
    rate = matmul_rate(backend, size=2048 if quick else 8192)
    print(f"device: {name}; float64 matmul {rate:,.0f} GFLOP/s\n")
    print("| case | rows | parameters | s / LM iteration | J^T J rate (syrk) "
          "| share of matmul | J^T J as a general product |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for case in CASES:
        X, y, hidden = case_data(case, quick)
        scale = 1.0
        if not device and case == "large" and X.shape[0] > cpu_rows:
            scale = X.shape[0] / cpu_rows
            X, y = X[:cpu_rows], y[:cpu_rows]
        sec, n, chunk = lm_seconds_per_iteration(backend, X, y, hidden)
        g = gram_rate(backend, X.shape[0], n, chunk)
        g_general = gram_rate(backend, X.shape[0], n, chunk, general=True)
        rows.append(dict(case=case, rows=int(X.shape[0] * scale), params=n, chunk=int(chunk),
                         s_per_iter=sec * scale, extrapolated=scale != 1.0,
                         jtj_gflops=g, jtj_share_of_matmul=g / rate,
                         jtj_general_product_gflops=g_general))
        print(f"| {case} | {rows[-1]['rows']:,} | {n:,} | {sec * scale:.4g} s"
              f"{' (scaled from %d rows)' % X.shape[0] if scale != 1.0 else ''} | "
              f"{g:,.0f} GFLOP/s | {g / rate:.0%} | {g_general:,.0f} GFLOP/s |", flush=True)
    return dict(device=name, matmul_gflops=rate, quick=quick, cases=rows,
                date=time.strftime("%Y-%m-%d"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--device", action="store_true", help="run on the GPU (CuPy)")
    where.add_argument("--cpu", action="store_true", help="run on the CPU (NumPy)")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--cpu-rows", type=int, default=50_000,
                        help="rows of 'large' timed on the CPU, scaled linearly")
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args(argv)
    results = run(args.device, args.quick, args.cpu_rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
