"""The CuPy backend against the NumPy one. Runs only with CuPy and a GPU."""

import pickle

import numpy as np
import pytest

from sklm import LMRegressor
from sklm._backend import cupy_available, get_backend
from sklm.solvers import SOLVERS

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(
    not cupy_available(),
    reason="needs CuPy and an NVIDIA GPU (pip install sklm[gpu]); none found",
)]


def rosen2d(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 2))
    return X, (2.5 - X[:, 0]) ** 2 + 2.5 * (X[:, 1] - X[:, 0] ** 2) ** 2


def rosen6d(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 6))
    y = np.sum(100 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1 - X[:, :-1]) ** 2, axis=1)
    return (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("data, hidden", [
    (rosen2d(500, 0), (10,)),
    (rosen6d(10_000, 0), (12, 10, 8)),
])
def test_cpu_and_gpu_lm_fits_agree(data, hidden):
    X, y = data
    kw = dict(hidden_layer_sizes=hidden, max_iter=20, tol=0.0, random_state=0)
    cpu = LMRegressor(backend="numpy", **kw).fit(X, y)
    gpu = LMRegressor(backend="cupy", **kw).fit(X, y)
    assert gpu.backend_ == "cupy" and gpu.n_iter_ == cpu.n_iter_ == 20
    theta_cpu = np.concatenate([a.ravel() for a in cpu.coefs_ + cpu.intercepts_])
    theta_gpu = np.concatenate([a.ravel() for a in gpu.coefs_ + gpu.intercepts_])
    assert np.linalg.norm(theta_gpu - theta_cpu) <= 1e-8 * np.linalg.norm(theta_cpu)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_every_solver_runs_on_the_gpu_through_the_same_code(solver):
    X, y = rosen2d(300, 1)
    kw = dict(solver=solver, max_iter=5, tol=0.0, random_state=0,
              learning_rate_init=0.01)
    cpu = LMRegressor(backend="numpy", **kw).fit(X, y)
    gpu = LMRegressor(backend="cupy", **kw).fit(X, y)
    if solver == "gauss-newton":
        # Undamped Gauss-Newton on this problem is chaotic at rounding level
        # (ulp-sized changes to J^T J moved the first step's loss by 30% on
        # the CPU), so the two backends need not follow one path: check that
        # it runs, stays finite and, with its safeguard, never goes uphill.
        assert gpu.n_iter_ >= 1 and np.isfinite(gpu.loss_curve_).all()
        assert np.all(np.diff(gpu.loss_curve_) <= 0)
        return
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-8)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_gpu_model_pickles_and_predicts_on_the_cpu():
    X, y = rosen2d(300, 2)
    model = LMRegressor(backend="cupy", max_iter=10, random_state=0).fit(X, y)
    assert all(type(W) is np.ndarray for W in model.coefs_ + model.intercepts_)
    clone = pickle.loads(pickle.dumps(model))
    pred = clone.predict(X)
    assert type(pred) is np.ndarray
    np.testing.assert_array_equal(pred, model.predict(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cupy_input_gives_cupy_output():
    import cupy

    X, y = rosen2d(300, 3)
    model = LMRegressor(max_iter=10, random_state=0).fit(cupy.asarray(X), cupy.asarray(y))
    assert model.backend_ == "cupy"  # 'auto' picks the GPU
    pred = model.predict(cupy.asarray(X))
    assert isinstance(pred, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(pred), model.predict(X), rtol=1e-12,
                               atol=1e-12 * np.abs(y).max())
    with pytest.raises(ValueError, match="features"):
        model.predict(cupy.asarray(X[:, :1]))
    with pytest.raises(ValueError, match="0 sample"):
        model.predict(cupy.asarray(X[:0]))
    assert model.score(cupy.asarray(X), cupy.asarray(y)) == pytest.approx(model.score(X, y))


def test_failed_gpu_cholesky_is_a_rejected_step_not_an_error():
    import cupy

    backend = get_backend("cupy")
    A = cupy.asarray([[1.0, 2.0], [2.0, 1.0]])  # indefinite
    assert backend.cholesky_solve(A, cupy.ones(2)) is None
    A = cupy.asarray([[4.0, 2.0], [2.0, 3.0]])
    x = backend.cholesky_solve(A, cupy.ones(2))
    np.testing.assert_allclose(cupy.asnumpy(A @ x), [1.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gpu_gram_by_syrk_is_the_whole_symmetric_product(dtype):
    import cupy

    rng = np.random.default_rng(0)
    At = rng.standard_normal((37, 500)).astype(dtype)
    start = rng.standard_normal((37, 37))
    start = start + start.T
    expected = get_backend("numpy").add_gram(start.copy(), At)
    out = get_backend("cupy").add_gram(cupy.asarray(start), cupy.asarray(At))
    assert out.dtype == np.float64
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(cupy.asnumpy(out), expected, rtol=rtol, atol=rtol * 500)
    np.testing.assert_array_equal(cupy.asnumpy(out), cupy.asnumpy(out).T)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_minibatch_sgd_on_the_gpu_matches_the_cpu():
    X, y = rosen2d(300, 4)
    kw = dict(solver="sgd", batch_size=32, max_iter=3, tol=0.0, random_state=0,
              learning_rate_init=0.01)
    cpu = LMRegressor(backend="numpy", **kw).fit(X, y)
    gpu = LMRegressor(backend="cupy", **kw).fit(X, y)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-8)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_growing_sample_and_bayes_run_on_the_gpu(monkeypatch):
    # the growing-sample warm-up (its stages shrunk) and Bayesian
    # regularisation with return_std, on the device as on the host
    from sklm import _sampling

    monkeypatch.setattr(_sampling, "FIRST_ROWS", 300)
    monkeypatch.setattr(_sampling, "HOLDOUT_ROWS", 500)
    X, y = rosen2d(2000, 3)
    kw = dict(hidden_layer_sizes=(10,), max_iter=30, random_state=0)
    # the growing sample's stages are float32: a 1-ulp difference of the two
    # BLAS libraries moves their iterates (up to 7e-3 under simulated rounding)
    cpu = LMRegressor(backend="numpy", growing_sample=True, alpha=0.0, early_stopping=False,
                      **kw).fit(X, y)
    gpu = LMRegressor(backend="cupy", growing_sample=True, alpha=0.0, early_stopping=False,
                      **kw).fit(X, y)
    assert gpu.n_iter_ == cpu.n_iter_ and gpu.loss_curve_[-1] < 0.1 * gpu.loss_curve_[0]
    np.testing.assert_allclose(gpu.loss_curve_[-1], cpu.loss_curve_[-1], rtol=1e-2)
    # the default (Bayesian, all rows, float64) fit follows the host's closely
    cpu = LMRegressor(backend="numpy", **kw).fit(X, y)
    gpu = LMRegressor(backend="cupy", **kw).fit(X, y)
    assert gpu.sample_rows_curve_ == cpu.sample_rows_curve_
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-6)
    _, std_cpu = cpu.predict(X[:50], return_std=True)
    _, std_gpu = gpu.predict(X[:50], return_std=True)
    np.testing.assert_allclose(std_gpu, std_cpu, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_matrix_free_products_and_fit_agree_on_cpu_and_gpu():
    """The matrix-free step's J^T J v and diag(J^T J), then a fit through it."""
    from sklm._mlp import MLP  # noqa: PLC0415
    from sklm._problem import MLPProblem  # noqa: PLC0415

    X, y = rosen6d(3_000, 2)
    mlp = MLP((6, 40, 30, 1), "tanh")
    theta = mlp.init_params(np.random.RandomState(0))
    v = np.random.default_rng(0).normal(size=mlp.n_params)
    rows = np.arange(0, 3_000, 3)
    out = {}
    for name in ("numpy", "cupy"):
        backend = get_backend(name)
        problem = MLPProblem(mlp, X, y[:, None], np.ones(len(y)), 0.01, backend, 512,
                             matrix_free=True)
        op = problem.gauss_newton_operator(backend.asarray(theta), rows)
        out[name] = [backend.to_numpy(op.product(backend.asarray(v))),
                     backend.to_numpy(op.diagonal())]
    for a, b in zip(out["numpy"], out["cupy"]):
        # a sample's products are float32: entries that cancel differ by more
        # than 1e-5 of themselves under 1-ulp rounding, the vector does not
        assert np.linalg.norm(b - a) <= 1e-5 * np.linalg.norm(a)
    kw = dict(hidden_layer_sizes=(40, 30), linear_solver="cg", alpha=0.0, max_iter=10,
              tol=0.0, random_state=0)
    cpu = LMRegressor(backend="numpy", **kw).fit(X, y)
    gpu = LMRegressor(backend="cupy", **kw).fit(X, y)
    assert gpu.linear_solver_ == "cg" and gpu.n_iter_ == cpu.n_iter_ == 10
    # (float32 curvature: the two CG paths drift apart within a few iterations)
    assert gpu.loss_curve_[-1] < 0.5 * gpu.loss_curve_[0]
    np.testing.assert_allclose(gpu.loss_curve_[-1], cpu.loss_curve_[-1], rtol=0.1)
