"""
Training on a GPU with CuPy
===========================

``LMRegressor(backend='cupy')`` computes on an NVIDIA GPU: the Jacobian,
``J^T J`` (the bulk of a Levenberg-Marquardt iteration: ``m n^2`` flops for
``m`` residuals and ``n`` parameters) and the Cholesky solve run in CuPy, in
float64. ``backend='auto'`` (the default) picks the GPU when CuPy imports and
sees a device. Install the extra with ``pip install sklm[gpu]``.

Three properties hold whatever trained the model; this example shows the
last two and, with a GPU, how far the CPU and GPU fits end apart:

* the initial weights are drawn on the CPU from ``random_state``, so CPU and
  GPU runs start from the same point;
* fitted attributes (``coefs_``, ``intercepts_``) are NumPy arrays, so a model
  trained on a GPU pickles and predicts on a machine without one;
* ``backend_`` records where the model was trained.

Without CuPy or a GPU the example says so and runs on the CPU only.
No GPU timings are quoted in this documentation yet: none has been measured.

Set ``SKLM_EXAMPLES_QUICK=1`` (or pass ``--quick``) for a smaller problem.
"""

# %%
import os
import pickle
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor

QUICK = os.environ.get("SKLM_EXAMPLES_QUICK") == "1" or "--quick" in sys.argv
N = 2_000 if QUICK else 20_000

rng = np.random.default_rng(8)
X = rng.uniform(-1, 1, size=(N, 8))
y = np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + X[:, 2] * X[:, 3] + np.exp(-X[:, 4] ** 2)
params = dict(hidden_layer_sizes=(16, 16), max_iter=5 if QUICK else 20, tol=0.0,
              random_state=0)
n_params = (8 + 1) * 16 + (16 + 1) * 16 + 17
print(f"{N} samples, network 8-16-16-1 ({n_params} parameters), "
      f"{params['max_iter']} Levenberg-Marquardt iterations per backend\n")


def fit(backend):
    model = LMRegressor(backend=backend, **params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model, time.perf_counter() - start


# %%
# CPU, then GPU when there is one
# -------------------------------
results = {"numpy": fit("numpy")}
try:
    results["cupy"] = fit("cupy")
except ImportError as exc:
    print(f"Note: no GPU run on this machine, the CPU result only.\n  ({exc})\n")

for backend, (model, seconds) in results.items():
    print(f"backend_={model.backend_!r:<8} {seconds:6.2f} s "
          f"({1e3 * seconds / model.n_iter_:.0f} ms per iteration), "
          f"final training MSE {model.loss_:.4g}")

# %%
# Same start, NumPy attributes, portable pickles
# ----------------------------------------------
cpu_model = results["numpy"][0]
print("\ncoefs_ are", {type(c).__module__.split(".")[0] for c in cpu_model.coefs_},
      "arrays")
if "cupy" in results:
    gpu_model = results["cupy"][0]
    gap = max(np.max(np.abs(a - b)) for a, b in zip(cpu_model.coefs_, gpu_model.coefs_))
    print(f"largest difference between CPU- and GPU-trained weights: {gap:.2e} "
          "(rounding differs between cuBLAS and the CPU's BLAS)")
    restored = pickle.loads(pickle.dumps(gpu_model))
else:
    restored = pickle.loads(pickle.dumps(cpu_model))
print(f"unpickled model trained on {restored.backend_!r} predicts with NumPy: "
      f"{restored.predict(X[:3]).round(4)}")
