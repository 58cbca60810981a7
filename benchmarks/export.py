"""Prediction latency and throughput of an exported surrogate, side by side.

Usage::

    python -m benchmarks.export [--quick] [--repeat 11] [--json PATH]

seed-6d's network (6-12-10-8-1 tanh, 311 parameters; ``benchmarks/problems.py``),
fitted for a few iterations (the precision does not matter to a prediction's
time), bare and after a ``StandardScaler`` in a ``Pipeline``, predicts through:

- ``LMRegressor.predict`` and ``Pipeline.predict`` (NumPy, BLAS as configured),
- ONNX Runtime (``sklm.export.to_onnx``, float64; the runtime made once,
  outside the timing), with one intra-op thread and with its default,
- the C of ``sklm.export.to_c`` compiled by ``cc -O2`` into a shared
  library and called through ctypes (argument types declared and the array
  pointers taken once, outside the timing: the cheapest Python-to-C call),
- the same C timed inside C: a driver program calls ``surrogate_predict``
  on each of the rows in turn and ``surrogate_predict_batch`` on all of them,
  timed with ``clock_gettime``, so no Python call overhead is counted.

"One row" is the time of one call on one row (a loop of calls, timed
together, divided by their number); "batch" is one call on the 10,000
training rows (500 with ``--quick``). Each figure is the median of ``--repeat`` timings,
with the best of them beside it: on a shared machine the best is the nearer to what the
code costs, the median to what a caller waits.
The machine's load (``uptime``) is printed before and after: on a shared
machine, rerun when it was above 1. The table is Markdown; docs/benchmarks_export.md
records a run.
"""

import argparse
import ctypes
import json
import os
import platform
import shutil
import statistics
import subprocess
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

from .problems import make_problem

DRIVER = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "surrogate.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double d = *(const double *)a - *(const double *)b;
    return (d > 0) - (d < 0);
}

/* usage: driver ROWS REPEAT FILE (ROWS x N_INPUTS doubles); prints the median
   and the best seconds per row of the one-row loop and of the batch call, and
   a checksum */
int main(int argc, char **argv)
{
    size_t n, r, k, repeat;
    double *x, *y, *one, *batch, sum = 0.0;
    FILE *f;
    if (argc != 4) return 2;
    n = (size_t)atol(argv[1]);
    repeat = (size_t)atol(argv[2]);
    x = malloc(n * SURROGATE_N_INPUTS * sizeof *x);
    y = malloc(n * SURROGATE_N_OUTPUTS * sizeof *y);
    one = malloc(repeat * sizeof *one);
    batch = malloc(repeat * sizeof *batch);
    f = fopen(argv[3], "rb");
    if (!f || fread(x, sizeof *x, n * SURROGATE_N_INPUTS, f) != n * SURROGATE_N_INPUTS)
        return 3;
    fclose(f);
    for (k = 0; k < repeat; ++k) {
        double t0 = now();
        for (r = 0; r < n; ++r)
            surrogate_predict(x + r * SURROGATE_N_INPUTS, y + r * SURROGATE_N_OUTPUTS);
        one[k] = (now() - t0) / (double)n;
        t0 = now();
        surrogate_predict_batch(n, x, y);
        batch[k] = (now() - t0) / (double)n;
        sum += y[0] + y[n * SURROGATE_N_OUTPUTS - 1];
    }
    qsort(one, repeat, sizeof *one, by_value);
    qsort(batch, repeat, sizeof *batch, by_value);
    printf("%.9g %.9g %.9g %.9g %.17g\n", one[repeat / 2], one[0], batch[repeat / 2],
           batch[0], sum);
    return 0;
}
"""


def load():
    """``uptime``'s line, or the load averages where there is no ``uptime``."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def blas():
    """The BLAS that ``predict``'s matrix products run on, and its threads."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415 - in the test extra
    except ImportError:
        return "BLAS unknown (no threadpoolctl)"
    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    return ", ".join(f"{p['internal_api']} {p['version']} ({p.get('architecture')}, "
                     f"{p['num_threads']} threads)" for p in pools) or "BLAS unknown"


def per_call(fn, repeat, min_time=0.05):
    """``(median, best)`` seconds of one ``fn()`` call, over ``repeat`` loops of calls
    long enough to time."""
    fn()
    n = 1
    while True:  # as timeit's autorange: grow the loop until it takes min_time
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= min_time:
            break
        n *= 2
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times), min(times)


def fit_models(quick):
    """seed-6d's network, bare and in a Pipeline, fitted for a few iterations."""
    problem = make_problem("seed-6d", n_train=500 if quick else None,
                           n_val=100 if quick else None)
    params = dict(hidden_layer_sizes=problem.hidden, max_iter=2 if quick else 5,
                  random_state=0, backend="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LMRegressor(**params).fit(problem.X, problem.y)
        pipe = make_pipeline(StandardScaler(), LMRegressor(**params)).fit(problem.X, problem.y)
    return problem, model, pipe


def onnx_session(model, X, threads):
    import onnxruntime as ort  # noqa: PLC0415 - optional: pip install sklm[onnx]

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: ONNX Runtime's default
    runtime = ort.InferenceSession(to_onnx(model, X[:1]).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    name = runtime.get_inputs()[0].name
    return lambda rows: runtime.run(None, {name: rows})[0]


def compile_c(model, directory, tag):
    """``(library, source)``: the model's C built by ``cc -O2`` as a shared library."""
    folder = Path(directory) / tag
    folder.mkdir()
    source, _ = to_c(model, folder)
    lib = folder / f"lib{tag}.so"
    subprocess.run(["cc", "-std=c99", "-O2", "-shared", "-fPIC", "-o", str(lib), str(source),
                    "-lm"], check=True)
    return ctypes.CDLL(str(lib)), source


def ctypes_functions(lib, n_inputs, n_outputs, X):
    """One-row and batch callables over ``X``'s rows, the pointers taken beforehand."""
    vp = ctypes.c_void_p
    one, batch = lib.surrogate_predict, lib.surrogate_predict_batch
    one.argtypes, one.restype = [vp, vp], None
    batch.argtypes, batch.restype = [ctypes.c_size_t, vp, vp], None
    x = np.ascontiguousarray(X)
    y = np.empty((len(X), n_outputs))
    x_ptr, y_ptr = x.ctypes.data, y.ctypes.data
    return (lambda: one(x_ptr, y_ptr)), (lambda: batch(len(x), x_ptr, y_ptr)), y


def c_inside(source, X, repeat, directory):
    """Seconds per row, median and best, of the one-row loop and of the batch, timed
    by a C driver: ``(one_median, one_best, batch_median, batch_best)``."""
    folder = source.parent
    (folder / "driver.c").write_text(DRIVER)
    exe = folder / "driver"
    subprocess.run(["cc", "-O2", "-o", str(exe), str(folder / "driver.c"), str(source), "-lm"],
                   check=True)
    data = Path(directory) / "rows.f64"
    np.ascontiguousarray(X, dtype=np.float64).tofile(data)
    out = subprocess.run([str(exe), str(len(X)), str(repeat), str(data)], capture_output=True,
                         text=True, check=True).stdout.split()
    return tuple(float(v) for v in out[:4])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small fit and batch: a smoke run")
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else args.repeat
    min_time = 0.005 if args.quick else 0.05  # seconds of one timed loop
    before = load()
    problem, model, pipe = fit_models(args.quick)
    X = problem.X[:10_000]  # the training rows (standardised), 500 with --quick
    n_rows = len(X)
    row = X[:1].copy()
    rows = []

    def record(what, one_row, batch):
        """``one_row`` and ``batch``: ``(median, best)`` seconds of a call."""
        rows.append(dict(what=what, one_row_us=one_row[0] * 1e6, one_row_best_us=one_row[1] * 1e6,
                         batch_ms=batch[0] * 1e3, batch_best_ms=batch[1] * 1e3,
                         rows_per_s=n_rows / batch[0], rows_per_s_best=n_rows / batch[1]))

    for what, est in (("LMRegressor.predict", model), ("Pipeline(StandardScaler, LMRegressor)"
                                                        ".predict", pipe)):
        record(what, per_call(lambda e=est: e.predict(row), repeat, min_time),
               per_call(lambda e=est: e.predict(X), repeat, min_time))
    notes = []
    try:
        import onnxruntime as ort  # noqa: PLC0415
    except ImportError:
        notes.append("ONNX Runtime rows left out: pip install sklm[onnx]")
    else:
        for what, est, threads in (("ONNX Runtime, 1 thread", model, 1),
                                   ("ONNX Runtime, default threads", model, 0),
                                   ("ONNX Runtime, Pipeline, 1 thread", pipe, 1)):
            run = onnx_session(est, X, threads)
            np.testing.assert_allclose(run(X).ravel(), est.predict(X), rtol=1e-9, atol=1e-9)
            record(what, per_call(lambda r=run: r(row), repeat, min_time),
                   per_call(lambda r=run: r(X), repeat, min_time))
        notes.append(f"onnxruntime {ort.__version__}")
    if shutil.which("cc") is None:
        notes.append("C rows left out: no 'cc' on this machine")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            for what, est, tag in (("C via ctypes", model, "bare"),
                                   ("C via ctypes, Pipeline", pipe, "pipe")):
                lib, source = compile_c(est, tmp, tag)
                one, batch, y = ctypes_functions(lib, 6, 1, X)
                batch()
                np.testing.assert_allclose(y.ravel(), est.predict(X), rtol=1e-12, atol=1e-12)
                record(what, per_call(one, repeat, min_time), per_call(batch, repeat, min_time))
                if tag == "bare":
                    in_c = c_inside(source, X, max(repeat, 5) * 3, tmp)
            record("C timed inside C (no Python call)", in_c[:2],
                   (in_c[2] * n_rows, in_c[3] * n_rows))
        cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout
        notes.append(f"cc: {cc.splitlines()[0] if cc else 'unknown'}")
    after = load()

    print(f"seed-6d network {'-'.join(map(str, (6, *problem.hidden, 1)))} tanh, "
          f"{problem.n_params} parameters; batch of {n_rows:,} rows; median (best) of {repeat} "
          "timings")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numpy "
          f"{np.__version__} on {blas()}; " + "; ".join(notes))
    print(f"load before: {before}\nload after:  {after}\n")
    print(f"| prediction | one row (us) | {n_rows:,} rows (ms) | rows/s in a batch |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['what']} | {r['one_row_us']:,.2f} ({r['one_row_best_us']:,.2f}) | "
              f"{r['batch_ms']:,.2f} ({r['batch_best_ms']:,.2f}) | "
              f"{r['rows_per_s']:,.0f} ({r['rows_per_s_best']:,.0f}) |")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(rows=rows, load_before=before,
                                                   load_after=after, notes=notes), indent=1))
    return rows


if __name__ == "__main__":
    main()
