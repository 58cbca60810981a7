"""
Deploying a surrogate: ONNX and dependency-free C
=================================================

A surrogate earns its keep where the simulator cannot run: inside another
program, often not a Python one. :mod:`sklm.export` takes a fitted
``LMRegressor``, alone or after a ``StandardScaler`` in a ``Pipeline``, out of
Python:

* :func:`sklm.export.to_onnx` gives an ONNX graph that ONNX Runtime runs from
  C, C++, C#, Java or Python (``pip install sklm[onnx]``);
* :func:`sklm.export.to_c` writes one C99 source file and its header, the
  weights as constants, with no dependency beyond ``<math.h>``.

This example fits the tutorial's 2-D Rosenbrock surrogate, exports it both
ways, compiles the C with the system's ``cc`` and checks that both reproduce
``predict`` on new points. Without the ONNX packages or a C compiler it says
so and skips that part.

Set ``SKLM_EXAMPLES_QUICK=1`` (or pass ``--quick``) for a shorter fit.
"""

# %%
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklm import LMRegressor
from sklm.export import to_c, to_onnx

QUICK = os.environ.get("SKLM_EXAMPLES_QUICK") == "1" or "--quick" in sys.argv


def rosenbrock(X, a=2.5, b=2.5):
    return (a - X[:, 0]) ** 2 + b * (X[:, 1] - X[:, 0] ** 2) ** 2


rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, size=(500, 2))
X_new = rng.uniform(-2, 2, size=(1_000, 2))  # points the model has not seen
model = make_pipeline(StandardScaler(),
                      LMRegressor(hidden_layer_sizes=(10,), max_iter=30 if QUICK else 300,
                                  random_state=0))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X, rosenbrock(X))
reference = model.predict(X_new)
print(f"fitted: 2-10-1 tanh after a StandardScaler, validation relative MSE "
      f"{np.mean((reference - rosenbrock(X_new)) ** 2) / np.var(rosenbrock(X_new)):.1e}")


def max_relative_difference(out):
    return np.max(np.abs(np.ravel(out) - reference)) / np.max(np.abs(reference))


def microseconds_per_call(fn, n=2_000):
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


workdir = Path(tempfile.mkdtemp(prefix="sklm-export-"))
timings = {"LMRegressor pipeline .predict": microseconds_per_call(
    lambda: model.predict(X_new[:1]), 500)}

# %%
# ONNX
# ----
# The graph holds the scaler (converted by skl2onnx) and the network: per
# layer a ``Gemm`` and a ``Tanh``. Importing :mod:`sklm.export` also
# registers the converter, so ``skl2onnx.to_onnx(model, X[:1])`` works too.
try:
    import onnxruntime as ort
    onx = to_onnx(model, X[:1])
except ImportError as exc:
    print(f"ONNX part skipped: {exc}")
else:
    (workdir / "rosenbrock.onnx").write_bytes(onx.SerializeToString())
    print(f"\nrosenbrock.onnx: {(workdir / 'rosenbrock.onnx').stat().st_size:,} bytes, nodes "
          f"{[node.op_type for node in onx.graph.node]}")
    runtime = ort.InferenceSession(str(workdir / "rosenbrock.onnx"),
                                   providers=["CPUExecutionProvider"])
    out = runtime.run(None, {"X": X_new})[0]
    print(f"ONNX Runtime vs predict: max relative difference {max_relative_difference(out):.1e}")
    one_row = X_new[:1].copy()
    timings["ONNX Runtime run"] = microseconds_per_call(
        lambda: runtime.run(None, {"X": one_row}))

# %%
# C
# -
# ``to_c`` writes ``rosenbrock.c`` and ``rosenbrock.h``. The header is all a
# C program needs to know:
source, header = to_c(model, workdir, name="rosenbrock")
print("\n" + header.read_text())
print(f"{source.name}: {len(source.read_text().splitlines())} lines, "
      f"{source.read_text().count('static const double')} constant arrays")

# %%
# Compile it as a shared library and call it through ctypes (in a C program,
# ``#include "rosenbrock.h"`` and link ``rosenbrock.c`` with ``-lm``).
if shutil.which("cc") is None:
    print("C part skipped: no C compiler 'cc' on this machine")
else:
    library = workdir / "librosenbrock.so"
    subprocess.run(["cc", "-std=c99", "-O2", "-shared", "-fPIC", "-o", str(library),
                    str(source), "-lm"], check=True)
    lib = ctypes.CDLL(str(library))
    vp = ctypes.c_void_p
    lib.rosenbrock_predict_batch.argtypes = [ctypes.c_size_t, vp, vp]
    lib.rosenbrock_predict.argtypes = [vp, vp]
    x = np.ascontiguousarray(X_new)
    y = np.empty(len(x))
    lib.rosenbrock_predict_batch(len(x), x.ctypes.data, y.ctypes.data)
    print(f"C vs predict: max relative difference {max_relative_difference(y):.1e}")
    x_ptr, y_ptr = x.ctypes.data, y.ctypes.data
    timings["C rosenbrock_predict via ctypes"] = microseconds_per_call(
        lambda: lib.rosenbrock_predict(x_ptr, y_ptr), 20_000)

# %%
# One row, three ways
# -------------------
# Times on the machine that built this page (shared, so only their order is
# telling); docs/benchmarks_export.md has the recorded benchmark.
print()
for what, us in timings.items():
    print(f"{what:34s} {us:9.2f} us per row")
shutil.rmtree(workdir)
