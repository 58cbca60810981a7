"""sklm.export: ONNX graphs and C source that reproduce ``predict``.

Parity: ONNX Runtime and the C compiled by the system's ``cc -O2`` give
``predict``'s values on held-out rows, for every activation, 1 and 3
outputs, with and without a ``StandardScaler`` before the model, within
1e-12 in float64 (1e-5 in float32) relative to the predictions' scale
(``rtol`` and ``atol = rtol * max|prediction|``: an output that cancels to
near zero has no meaningful relative error of its own). The data have
inputs and targets of different scales and offsets, so the model's internal
normalisation is exercised. Bad input: each error is clear and leaves no
file behind.
"""

import ctypes
import errno
import os
import re
import shutil
import subprocess
import sys
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from sklm import LMRegressor
from sklm import export as sklm_export
from sklm._activations import ACTIVATIONS
from sklm.export import to_c, to_onnx

CC = shutil.which("cc")
# A machine without a C compiler cannot check the C; CI's machine has one, and
# there a missing compiler fails the C tests instead of skipping them.
needs_cc = pytest.mark.skipif(CC is None and not os.environ.get("CI"),
                              reason="no C compiler 'cc' on this machine")
ROOT = Path(__file__).resolve().parents[1]


def onnx_modules():
    pytest.importorskip("skl2onnx", reason="skl2onnx is not installed (pip install sklm[onnx])")
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install sklm[onnx])")
    ort = pytest.importorskip("onnxruntime",
                              reason="onnxruntime is not installed (pip install sklm[onnx])")
    return onnx, ort


# ------------------------------------------------------------------- models
def make_data(n_outputs, n=260, seed=0):
    """Inputs of scales 1 to 100 with offsets; targets of scales 0.01 to 100."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, size=(n, 4))
    X = u * [1.0, 10.0, 100.0, 0.1] + [0.0, 5.0, -50.0, 1.0]
    T = np.c_[np.sin(2 * u[:, 0]) + u[:, 1] * u[:, 2], u[:, 3] ** 2 - u[:, 0],
              np.cos(u[:, 1] + u[:, 3])]
    Y = T * [1.0, 100.0, 0.01] + [0.0, 1000.0, -3.0]
    return X, (Y[:, 0] if n_outputs == 1 else Y)


@lru_cache(maxsize=None)
def fitted(activation, n_outputs, scaler):
    """LMRegressor 4-6-5-n_outputs after 8 iterations, bare or after a StandardScaler."""
    X, y = make_data(n_outputs)
    model = LMRegressor(hidden_layer_sizes=(6, 5), activation=activation, max_iter=8,
                        random_state=0)
    if scaler:
        model = make_pipeline(StandardScaler(), model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X[:200], y[:200])


def held_out(n_outputs):
    X, _ = make_data(n_outputs)
    return X[200:]


def reference(model, X):
    return model.predict(X).reshape(len(X), -1)


def assert_reproduces(out, ref, rtol):
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=rtol * np.abs(ref).max())


CASES = [(a, k, s) for a in sorted(ACTIVATIONS) for k in (1, 3) for s in (False, True)]
CASE_IDS = [f"{a}-{k}out-{'scaler' if s else 'bare'}" for a, k, s in CASES]


# --------------------------------------------------------------------- ONNX
def onnx_predict(onx, X):
    _, ort = onnx_modules()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    runtime = ort.InferenceSession(onx.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return runtime.run(None, {runtime.get_inputs()[0].name: X})[0]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("activation, n_outputs, scaler", CASES, ids=CASE_IDS)
def test_onnx_runtime_reproduces_predict(activation, n_outputs, scaler, dtype, rtol):
    onnx, _ = onnx_modules()
    model = fitted(activation, n_outputs, scaler)
    X = held_out(n_outputs)
    onx = to_onnx(model, X[:1], dtype=dtype)
    assert isinstance(onx, onnx.ModelProto)
    onnx.checker.check_model(onx)
    elem = onnx.TensorProto.DOUBLE if dtype == np.float64 else onnx.TensorProto.FLOAT
    assert onx.graph.input[0].type.tensor_type.elem_type == elem
    assert all(init.data_type == elem for init in onx.graph.initializer)
    out = onnx_predict(onx, X.astype(dtype))
    assert out.dtype == dtype
    assert_reproduces(out.astype(np.float64), reference(model, X), rtol)


def test_onnx_graph_is_the_forward_pass():
    # One Gemm per layer and the activation on the hidden layers only.
    onnx_modules()
    model = fitted("logistic", 3, False)
    ops = [node.op_type for node in to_onnx(model, held_out(3)[:1]).graph.node]
    assert ops == ["Gemm", "Sigmoid", "Gemm", "Sigmoid", "Gemm"]
    ops = [node.op_type for node in to_onnx(fitted("identity", 1, False),
                                            held_out(1)[:1]).graph.node]
    assert ops == ["Gemm", "Gemm", "Gemm"]


def test_importing_sklm_export_registers_the_converter_with_skl2onnx():
    onnx_modules()
    import skl2onnx  # noqa: PLC0415

    model = fitted("tanh", 3, True)
    X = held_out(3)
    onx = skl2onnx.to_onnx(model, X[:1])  # skl2onnx's own front door, a Pipeline
    assert_reproduces(onnx_predict(onx, X), reference(model, X), 1e-12)


def test_onnx_converts_other_scikit_learn_steps_before_the_model():
    onnx_modules()
    X, y = make_data(1)
    pipe = make_pipeline(MinMaxScaler(), PCA(n_components=3),
                         LMRegressor(hidden_layer_sizes=(5,), max_iter=10, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X[:200], y[:200])
    onx = to_onnx(pipe, X[:1])
    assert_reproduces(onnx_predict(onx, X[200:]), reference(pipe, X[200:]), 1e-12)


def test_onnx_refuses_what_it_cannot_convert():
    onnx_modules()
    model = fitted("tanh", 1, False)
    X = held_out(1)
    with pytest.raises(ValueError, match="float64 or numpy.float32"):
        to_onnx(model, X[:1], dtype=np.int64)
    with pytest.raises(ValueError, match="2-D"):
        to_onnx(model, X[0])
    with pytest.raises(TypeError, match="Pipeline ending in one; got StandardScaler"):
        to_onnx(StandardScaler().fit(X), X[:1])


class Doubler(TransformerMixin, BaseEstimator):
    """A transformer that skl2onnx has no converter for."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return 2 * np.asarray(X)


def test_onnx_names_the_step_skl2onnx_cannot_convert():
    onnx_modules()
    X, y = make_data(1)
    pipe = make_pipeline(Doubler(), LMRegressor(hidden_layer_sizes=(3,), max_iter=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X[:50], y[:50])
    with pytest.raises(TypeError, match=r"no converter for the step 'doubler' \(Doubler\)"):
        to_onnx(pipe, X[:1])


def test_without_skl2onnx_to_onnx_says_what_to_install_and_to_c_still_works(tmp_path):
    # A fresh interpreter in which skl2onnx cannot be imported.
    code = f"""
import sys
sys.modules["skl2onnx"] = None
import numpy as np
from sklm import LMRegressor
from sklm.export import to_c, to_onnx
X = np.linspace(-1, 1, 30)[:, None]
model = LMRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, X[:, 0] ** 2)
print(to_c(model, {str(tmp_path)!r})[0].name)
try:
    to_onnx(model, X[:1])
except ImportError as exc:
    print("ImportError:", exc)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "surrogate.c" in proc.stdout
    assert "ImportError: sklm.export.to_onnx needs skl2onnx" in proc.stdout
    assert "pip install sklm[onnx]" in proc.stdout


# ------------------------------------------------------------------------ C
def compile_library(directory, *sources):
    """A shared library of ``sources`` built with ``cc -O2``, loaded by ctypes."""
    lib = Path(directory) / "libexport.so"
    subprocess.run([CC, "-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror",
                    "-shared", "-fPIC", "-o", str(lib), *map(str, sources), "-lm"],
                   check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(lib))


def c_predict(lib, name, X, n_outputs, batch=True):
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = np.full((len(X), n_outputs), np.nan)
    ptr = ctypes.c_void_p
    if batch:
        fn = getattr(lib, f"{name}_predict_batch")
        fn.argtypes, fn.restype = [ctypes.c_size_t, ptr, ptr], None
        fn(len(X), X.ctypes.data, Y.ctypes.data)
    else:
        fn = getattr(lib, f"{name}_predict")
        fn.argtypes, fn.restype = [ptr, ptr], None
        for x, y in zip(X, Y):
            fn(x.ctypes.data, y.ctypes.data)
    return Y


@needs_cc
@pytest.mark.parametrize("activation, n_outputs, scaler", CASES, ids=CASE_IDS)
def test_compiled_c_reproduces_predict(activation, n_outputs, scaler, tmp_path):
    model = fitted(activation, n_outputs, scaler)
    X = held_out(n_outputs)
    source, header = to_c(model, tmp_path)
    assert (source, header) == (tmp_path / "surrogate.c", tmp_path / "surrogate.h")
    lib = compile_library(tmp_path, source)
    batch = c_predict(lib, "surrogate", X, n_outputs)
    assert_reproduces(batch, reference(model, X), 1e-12)
    # the batch is the one-row function applied row by row
    np.testing.assert_array_equal(c_predict(lib, "surrogate", X, n_outputs, batch=False),
                                  batch)


@needs_cc
@pytest.mark.parametrize("activation", ["tanh", "identity"])
def test_c_and_onnx_of_a_network_without_hidden_layers(activation, tmp_path):
    # A linear model: one layer, no activation called (nor defined: -Werror
    # refuses an unused static function).
    X, y = make_data(3)
    model = LMRegressor(hidden_layer_sizes=(), activation=activation, max_iter=5,
                        random_state=0).fit(X[:200], y[:200])
    source, _ = to_c(model, tmp_path)
    assert "surrogate_tanh" not in source.read_text()
    lib = compile_library(tmp_path, source)
    assert_reproduces(c_predict(lib, "surrogate", X[200:], 3), reference(model, X[200:]), 1e-12)
    onnx_modules()
    onx = to_onnx(model, X[:1])
    assert [node.op_type for node in onx.graph.node] == ["Gemm"]
    assert_reproduces(onnx_predict(onx, X[200:]), reference(model, X[200:]), 1e-12)


@needs_cc
def test_c_driver_program_uses_the_header_and_only_libm(tmp_path):
    # A main() that knows the model only through its header, built -std=c99
    # -pedantic -Werror, reading rows from stdin and printing with %.17g.
    model = fitted("tanh", 3, True)
    X = held_out(3)
    source, header = to_c(model, tmp_path / "rosen.c", name="rosen")
    assert header == tmp_path / "rosen.h"
    text = source.read_text()
    assert re.findall(r"#include\s*(\S+)", text) == ["<math.h>", "<stddef.h>", '"rosen.h"']
    assert re.findall(r"#include\s*(\S+)", header.read_text()) == ["<stddef.h>"]
    assert "alloc" not in text and "static const double rosen_w1[6][4]" in text
    (tmp_path / "main.c").write_text("""
#include <stdio.h>
#include "rosen.h"
int main(void)
{
    double x[ROSEN_N_INPUTS], y[ROSEN_N_OUTPUTS];
    int i;
    while (1) {
        for (i = 0; i < ROSEN_N_INPUTS; ++i)
            if (scanf("%lf", &x[i]) != 1) return 0;
        rosen_predict(x, y);
        for (i = 0; i < ROSEN_N_OUTPUTS; ++i) printf("%.17g ", y[i]);
        printf("\\n");
    }
}
""")
    exe = tmp_path / "predict"
    subprocess.run([CC, "-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o",
                    str(exe), str(tmp_path / "main.c"), str(source), "-lm"],
                   check=True, capture_output=True, text=True)
    rows = "\n".join(" ".join("%.17g" % v for v in row) for row in X)
    proc = subprocess.run([str(exe)], input=rows, capture_output=True, text=True, check=True)
    out = np.array([[float(v) for v in line.split()] for line in proc.stdout.splitlines()])
    assert_reproduces(out, reference(model, X), 1e-12)


@needs_cc
@pytest.mark.parametrize("activation", ["tanh", "logistic"])
def test_c_activation_matches_numpy_to_a_few_ulp(activation, tmp_path):
    # A 1-1-1 network with unit weights and zero biases predicts f(x): the C
    # tanh (a rational function for |z| < 0.625, exp beyond) against NumPy's
    # over every range it has, its edges, tiny and saturated arguments.
    X = np.linspace(-1, 1, 20)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LMRegressor(hidden_layer_sizes=(1,), activation=activation, max_iter=1,
                            random_state=0).fit(X, X[:, 0])
    model.coefs_ = [np.ones((1, 1)), np.ones((1, 1))]
    model.intercepts_ = [np.zeros(1), np.zeros(1)]
    z = np.concatenate([np.linspace(-3, 3, 20_001), 2.0 * np.linspace(-0.625, 0.625, 501),
                        np.geomspace(1e-300, 1e3, 2_000), [0.0, 0.625, np.nextafter(0.625, 0),
                                                           19.0, 20.0, 400.0, 1e300]])
    z = np.concatenate([z, -z])[:, None]
    source, _ = to_c(model, tmp_path)
    lib = compile_library(tmp_path, source)
    out = c_predict(lib, "surrogate", z, 1)
    expected = model.predict(z)[:, None]
    if activation == "tanh":
        np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)
    else:  # 0.5 tanh(z / 2) + 0.5 cancels for z << 0: an ulp of tanh, absolute
        np.testing.assert_allclose(out, expected, rtol=1e-15, atol=2.5e-16)
    edges = c_predict(lib, "surrogate", np.array([[np.inf], [-np.inf], [np.nan]]), 1)
    np.testing.assert_array_equal(edges[:2, 0], [1.0, -1.0] if activation == "tanh"
                                  else [1.0, 0.0])
    assert np.isnan(edges[2, 0])


def test_c_weights_read_back_exactly(tmp_path):
    model = fitted("relu", 3, True)
    source, _ = to_c(model, tmp_path)
    text = source.read_text()
    regressor, scaler = model[-1], model[0]

    def array(name):
        body = re.search(rf"surrogate_{name}(?:\[\d+\])+ = \{{(.*?)\}};", text, re.S).group(1)
        return np.array([float(v) for v in re.split(r"[\s,{}]+", body) if v])

    for layer, (W, b) in enumerate(zip(regressor.coefs_, regressor.intercepts_), start=1):
        np.testing.assert_array_equal(array(f"w{layer}"), W.T.ravel())  # bit for bit
        np.testing.assert_array_equal(array(f"b{layer}"), b)
    np.testing.assert_array_equal(array("mean0"), scaler.mean_)
    np.testing.assert_array_equal(array("scale0"), scaler.scale_)


@needs_cc
def test_c_pipeline_variants_of_standard_scaler(tmp_path):
    # 'passthrough' is skipped; with_mean=False / with_std=False drop that part;
    # two scalers run in order.
    X, y = make_data(3)
    pipe = make_pipeline("passthrough", StandardScaler(with_mean=False),
                         StandardScaler(with_std=False),
                         LMRegressor(hidden_layer_sizes=(4,), max_iter=10, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X[:200], y[:200])
    source, _ = to_c(pipe, tmp_path, name="twice")
    text = source.read_text()
    assert "twice_scale0" in text and "twice_mean0" not in text
    assert "twice_mean1" in text and "twice_scale1" not in text
    lib = compile_library(tmp_path, source)
    assert_reproduces(c_predict(lib, "twice", X[200:], 3), reference(pipe, X[200:]), 1e-12)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("export", ["onnx", "c"])
@pytest.mark.parametrize("model", [LMRegressor(), make_pipeline(StandardScaler(), LMRegressor())],
                         ids=["LMRegressor", "Pipeline"])
def test_unfitted_model_is_refused(export, model, tmp_path):
    if export == "onnx":
        onnx_modules()
    with pytest.raises(NotFittedError, match="LMRegressor instance is not fitted"):
        if export == "onnx":
            to_onnx(model, held_out(1)[:1])
        else:
            to_c(model, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("step, name", [(MinMaxScaler(), "minmaxscaler"),
                                        (PCA(n_components=2), "pca")])
def test_c_refuses_a_step_other_than_standard_scaler_naming_it(step, name, tmp_path):
    X, y = make_data(1)
    pipe = make_pipeline(StandardScaler(), step,
                         LMRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X[:60], y[:60])
    with pytest.raises(TypeError, match=rf"step '{name}' \({type(step).__name__}\).*only "
                                        "StandardScaler"):
        to_c(pipe, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_c_refuses_what_is_not_an_lm_regressor(tmp_path):
    X, y = make_data(1)
    with pytest.raises(TypeError, match="got StandardScaler"):
        to_c(StandardScaler().fit(X), tmp_path)
    with pytest.raises(TypeError, match="last step 'pca' is PCA"):
        to_c(make_pipeline(StandardScaler(), PCA()).fit(X), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, why", [
    ("2fast", "not a C identifier"), ("my-model", "not a C identifier"),
    ("", "not a C identifier"), ("sur rogate", "not a C identifier"), (3, "not a C identifier"),
    ("double", "C keyword"), ("_Bool", "C keyword"), ("bool", "C keyword"),
    ("__model", "reserved"), ("_Model", "reserved")])
def test_c_refuses_a_name_that_is_no_c_identifier(name, why, tmp_path):
    with pytest.raises(ValueError, match=why):
        to_c(fitted("tanh", 1, False), tmp_path, name=name)
    assert list(tmp_path.iterdir()) == []


def test_c_refuses_a_path_it_cannot_write(tmp_path):
    model = fitted("tanh", 1, False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        to_c(model, tmp_path / "missing" / "model.c")
    (tmp_path / "plain").write_text("a file")
    with pytest.raises(FileNotFoundError, match="not a directory"):
        to_c(model, tmp_path / "plain" / "model.c")
    with pytest.raises(ValueError, match="ending in '.c'"):
        to_c(model, tmp_path / "model.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_c_write_failure_leaves_the_old_files_whole(tmp_path, monkeypatch):
    # A failure while writing (here: the disk full at the second file) leaves
    # neither a temporary nor a half-written file, and earlier files as they were.
    model = fitted("tanh", 1, False)
    (tmp_path / "surrogate.c").write_text("old source")
    (tmp_path / "surrogate.h").write_text("old header")
    real_mkstemp = sklm_export._c.tempfile.mkstemp
    calls = []

    def mkstemp(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(sklm_export._c.tempfile, "mkstemp", mkstemp)
    with pytest.raises(OSError, match="Cannot write .*surrogate.*No space left"):
        to_c(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["surrogate.c", "surrogate.h"]
    assert (tmp_path / "surrogate.c").read_text() == "old source"
    assert (tmp_path / "surrogate.h").read_text() == "old header"
    monkeypatch.undo()
    to_c(model, tmp_path)  # and a later export replaces them
    assert "surrogate_predict" in (tmp_path / "surrogate.c").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["surrogate.c", "surrogate.h"]


# ---------------------------------------------------------------- benchmark
@needs_cc
def test_export_benchmark_runs_tiny():
    onnx_modules()
    from benchmarks import export as bench  # noqa: PLC0415

    rows = bench.main(["--quick"])
    names = [r["what"] for r in rows]
    assert any("predict" in n for n in names) and any("ONNX Runtime" in n for n in names)
    assert any("C" in n for n in names)
    assert all(r["one_row_us"] > 0 and r["rows_per_s"] > 0 for r in rows)
