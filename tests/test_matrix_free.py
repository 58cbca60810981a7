"""The matrix-free damped step: its products, its CG solve, its solvers and its option."""

import warnings

import numpy as np
import pytest

from sklm import LMRegressor
from sklm._activations import ACTIVATIONS
from sklm._backend import NumpyBackend
from sklm._problem import FunctionProblem, MLPProblem
from sklm.solvers import LevenbergMarquardt, Status
from sklm.solvers._damped import CG_CROSSOVER, CGSystem, DenseSystem, resolve_linear_solver

from ._helpers import every_problem_case, fd_jacobian, make_problem, rel_err, residuals

ACTS = sorted(ACTIVATIONS)


def dense_jacobian(problem, theta):
    """``J`` column by column from ``jvp`` (checked against differences below)."""
    return np.stack([problem.jvp(theta, e) for e in np.eye(problem.n_params)], axis=1)


# ------------------------------------------------------------- derivatives
@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.37])
def test_jvp_and_vjp_match_finite_differences_and_the_dense_jacobian(
        rng, activation, n_outputs, weighted, alpha):
    problem, theta = make_problem(rng, activation, n_outputs, weighted, alpha)
    J_fd = fd_jacobian(lambda t: residuals(problem, t), theta)
    v = rng.normal(size=problem.n_params)
    u = rng.normal(size=J_fd.shape[0])
    assert rel_err(problem.jvp(theta, v), J_fd @ v) < 1e-6
    assert rel_err(problem.vjp(theta, u), J_fd.T @ u) < 1e-6
    # and against the Jacobian the normal equations are formed from
    _, JtJ, _ = problem.normal_equations(theta)
    J = dense_jacobian(problem, theta)
    assert rel_err(J.T @ J, JtJ) < 1e-12
    assert rel_err(problem.vjp(theta, u), J.T @ u) < 1e-12


@every_problem_case
def test_operator_on_all_rows_is_the_normal_matrix(rng, activation, n_outputs, weighted, alpha):
    problem, theta = make_problem(rng, activation, n_outputs, weighted, alpha)
    J = fd_jacobian(lambda t: residuals(problem, t), theta)
    _, JtJ, _ = problem.normal_equations(theta)
    op = problem.gauss_newton_operator(theta)
    V = rng.normal(size=(problem.n_params, 3))
    for v in V.T:
        assert rel_err(op.product(v), JtJ @ v) < 1e-12
        assert rel_err(op.product(v), J.T @ (J @ v)) < 1e-6
    np.testing.assert_allclose(op.diagonal(), np.diag(JtJ), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_operator_on_a_row_sample_is_scaled_to_the_whole_data(rng, n_outputs):
    problem, theta = make_problem(rng, "tanh", n_outputs, weighted=True, alpha=0.3)
    k, m = n_outputs, problem.n_samples
    rows = np.array([1, 4, 5, 11, 20])
    J = dense_jacobian(problem, theta)
    data_rows = (rows[:, None] * k + np.arange(k)).ravel()
    Js = J[data_rows]
    pen = np.zeros(problem.n_params)
    pen[problem.mlp.weight_mask()] = problem.penalty
    expected = (m / len(rows)) * Js.T @ Js + np.diag(pen)
    op = problem.gauss_newton_operator(theta, rows)
    v = rng.normal(size=problem.n_params)
    # (a sample's products are computed in float32)
    assert op.product(v).dtype == op.diagonal().dtype == np.float64
    assert rel_err(op.product(v), expected @ v) < 1e-5
    np.testing.assert_allclose(op.diagonal(), np.diag(expected), rtol=1e-5, atol=1e-7)


def test_operator_in_float32_is_close_to_float64(rng):
    p64, theta = make_problem(rng, "tanh", 2, True, 0.1)
    p32 = MLPProblem(p64.mlp, p64.Xt.T, p64.Yt.T, p64.w, 0.1, NumpyBackend(), 7,
                     dtype=np.float32, matrix_free=True)
    v = rng.normal(size=p64.n_params)
    a, b = p64.gauss_newton_operator(theta), p32.gauss_newton_operator(theta)
    assert a.product(v).dtype == b.product(v).dtype == np.float64
    assert rel_err(b.product(v), a.product(v)) < 1e-5
    assert rel_err(b.diagonal(), a.diagonal()) < 1e-5


def test_the_default_operator_of_a_function_problem_is_its_normal_matrix(rng):
    A = rng.normal(size=(8, 3))
    problem = FunctionProblem(lambda x: A @ x - 1.0, np.zeros(3), jac=lambda x: A,
                              backend=NumpyBackend())
    op = problem.gauss_newton_operator(np.ones(3))
    v = rng.normal(size=3)
    np.testing.assert_allclose(op.product(v), A.T @ A @ v, rtol=1e-13)
    np.testing.assert_allclose(op.diagonal(), np.diag(A.T @ A), rtol=1e-13)


# ------------------------------------------------------------------- CG
def spd_system(rng, n=30):
    B = rng.normal(size=(n, n))
    A = B @ B.T / n + 0.1 * np.eye(n)
    return A, rng.normal(size=n), rng.uniform(0.5, 2.0, size=n)


def test_cg_to_convergence_is_the_dense_solution(rng):
    A, b, D = spd_system(rng)
    mu = 0.3
    cg = CGSystem(NumpyBackend(), lambda v: A @ v, -b, D, np.diag(A).copy(), None,
                  max_iter=200, rtol=1e-12)
    dense = DenseSystem(NumpyBackend(), A.copy(), -b, D)
    s_cg, s_dense = cg.solve(mu), dense.solve(mu)
    dense.close()
    np.testing.assert_allclose(s_cg, s_dense, rtol=1e-8, atol=1e-10)
    # the predicted decrease of the sum of squares, -2 s.b - s.A s
    exact = float(-2 * s_dense @ b - s_dense @ A @ s_dense)
    assert cg.predicted(s_cg, mu) == pytest.approx(exact, rel=1e-8)
    assert dense.predicted(s_dense, mu) == pytest.approx(exact, rel=1e-8)


def test_truncated_cg_predicts_its_own_decrease_and_descends(rng):
    A, b, D = spd_system(rng, n=60)
    cg = CGSystem(NumpyBackend(), lambda v: A @ v, -b, D, np.diag(A).copy(), None,
                  max_iter=3, rtol=1e-12)
    s = cg.solve(0.1)
    assert cg.iterations == 3
    exact = float(-2 * s @ b - s @ A @ s)
    assert cg.predicted(s, 0.1) == pytest.approx(exact, rel=1e-10)
    assert exact > 0 and s @ b < 0


def test_cg_warm_start_from_the_solution_needs_no_iteration(rng):
    A, b, D = spd_system(rng)
    exact = np.linalg.solve(A + 0.2 * np.diag(D), -b)
    cg = CGSystem(NumpyBackend(), lambda v: A @ v, -b, D, np.diag(A).copy(), exact,
                  max_iter=50, rtol=1e-6)
    np.testing.assert_allclose(cg.solve(0.2), exact, rtol=1e-12)
    assert cg.iterations == 0
    # a useless start (its model value above zero's) is not taken
    cg = CGSystem(NumpyBackend(), lambda v: A @ v, -b, D, np.diag(A).copy(), -10 * exact,
                  max_iter=500, rtol=1e-10)
    np.testing.assert_allclose(cg.solve(0.2), exact, rtol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_cg_with_a_non_finite_product_is_a_rejected_trial(rng, bad):
    A, b, D = spd_system(rng)
    cg = CGSystem(NumpyBackend(), lambda v: np.full_like(v, bad), -b, D, np.diag(A).copy(),
                  None, max_iter=10, rtol=1e-6)
    assert cg.solve(0.1) is None


def test_cg_without_positive_curvature_is_a_rejected_trial(rng):
    A, b, D = spd_system(rng)
    cg = CGSystem(NumpyBackend(), lambda v: -(A @ v), -b, np.zeros_like(D), np.diag(A).copy(),
                  None, max_iter=10, rtol=1e-6)
    assert cg.solve(0.0) is None


# --------------------------------------------------------------- solvers
def small_fit_problem(rng, n=400, hidden=(8, 8), matrix_free=True, dtype=np.float64):
    from sklm._mlp import MLP

    X = rng.uniform(-1, 1, size=(n, 3))
    y = (np.sin(2 * X[:, 0]) * X[:, 1] + X[:, 2] ** 2)[:, None]
    mlp = MLP((3, *hidden, 1), "tanh")
    problem = MLPProblem(mlp, X, y, np.ones(n), 0.0, NumpyBackend(), 128, dtype=dtype,
                         matrix_free=matrix_free)
    return problem, mlp.init_params(np.random.RandomState(0)), y.var()


def test_matrix_free_lm_fits_without_the_normal_matrix(rng, monkeypatch):
    problem, x0, var = small_fit_problem(rng)

    def refuse(*args):
        raise AssertionError("the matrix-free path formed J^T J")

    monkeypatch.setattr(problem, "normal_equations", refuse)
    result = LevenbergMarquardt(linear_solver="cg", max_iter=150, tol=0, random_state=0,
                                curvature_rows=200).run(problem, x0)
    assert result.status in (Status.MAX_ITER, Status.CONVERGED, Status.TOL)
    assert result.loss < 3e-3 * var
    assert np.all(np.isfinite(result.x))


def test_matrix_free_lm_with_exact_curvature_matches_the_dense_lm(rng):
    """Every row's curvature and CG to convergence: the dense LM's steps, bar rounding."""
    problem, x0, var = small_fit_problem(rng, n=200, hidden=(6,))
    common = dict(max_iter=8, tol=0, geodesic=False, random_state=0)
    dense = LevenbergMarquardt(linear_solver="dense", **common).run(problem, x0)
    cg = LevenbergMarquardt(linear_solver="cg", cg_max_iter=500, cg_tol=1e-13,
                            curvature_rows=10**6, **common).run(problem, x0)
    np.testing.assert_allclose(cg.loss_curve, dense.loss_curve, rtol=1e-6)
    np.testing.assert_allclose(cg.mu_curve, dense.mu_curve, rtol=1e-6)


def test_non_finite_products_end_as_a_status_not_a_crash(rng, monkeypatch):
    problem, x0, _ = small_fit_problem(rng)
    real = problem.gauss_newton_operator

    def broken(x, rows=None):
        op = real(x, rows)
        op.product = lambda v: np.full_like(v, np.nan)
        return op

    monkeypatch.setattr(problem, "gauss_newton_operator", broken)
    result = LevenbergMarquardt(linear_solver="cg", max_iter=20, random_state=0).run(
        problem, x0)
    assert result.status == Status.MU_MAX
    assert np.array_equal(result.x, x0)


def test_mu_stays_above_its_floor(rng):
    problem, x0, _ = small_fit_problem(rng)
    result = LevenbergMarquardt(linear_solver="cg", max_iter=150, tol=0, random_state=0,
                                curvature_rows=100).run(problem, x0)
    top = problem.gauss_newton_operator(result.x).diagonal().max()
    assert min(result.mu_curve) >= 1e-9 * top


def test_cg_cap_auto_buys_about_four_passes_over_the_rows():
    from types import SimpleNamespace

    from sklm.solvers._damped import MatrixFree

    def cap(n, rows=2000, max_iter="auto"):
        return MatrixFree(0, max_iter, 1e-2, rows)._cap(SimpleNamespace(n_samples=n))

    assert cap(1_500) == cap(24_000) == 50  # a growing-sample stage
    assert cap(40_000) == 80
    assert cap(100_000) == cap(10**6) == cap(None) == 200
    assert cap(100_000, max_iter=7) == 7


def test_resolve_linear_solver_picks_cg_above_the_crossover():
    assert resolve_linear_solver("auto", CG_CROSSOVER) == "dense"
    assert resolve_linear_solver("auto", CG_CROSSOVER + 1) == "cg"
    assert resolve_linear_solver("dense", 10**6) == "dense"
    # Moré's trust region needs the normal matrix: 'auto' keeps it at any size
    assert resolve_linear_solver("auto", CG_CROSSOVER + 1, "more") == "dense"
    assert resolve_linear_solver("cg", 3) == "cg"


# -------------------------------------------------------------- estimator
def data(rng, n=300):
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] ** 2


def test_estimator_cg_fits_and_says_which_step_it_took(rng):
    X, y = data(rng)
    model = LMRegressor((10,), linear_solver="cg", alpha=0.0, max_iter=200,
                        random_state=0).fit(X, y)
    assert model.linear_solver_ == "cg"
    assert model.score(X, y) > 0.999
    dense = LMRegressor((10,), alpha=0.0, random_state=0).fit(X, y)
    assert dense.linear_solver_ == "dense"
    assert LMRegressor((4,), solver="adam", max_iter=2).fit(X, y).linear_solver_ is None


def test_auto_takes_the_matrix_free_step_for_large_networks(rng):
    X, y = data(rng, n=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LMRegressor((50, 50), max_iter=3, random_state=0).fit(X, y)
        small = LMRegressor((40, 40), max_iter=3, alpha=0.0, random_state=0).fit(X, y)
    n_params = [sum(c.size + i.size for c, i in zip(m.coefs_, m.intercepts_))
                for m in (model, small)]
    assert n_params[1] <= CG_CROSSOVER < n_params[0]  # 1,801 and 2,751
    assert model.linear_solver_ == "cg" and small.linear_solver_ == "dense"
    # 'auto' alpha means no penalty on the matrix-free path (no J^T J for the evidence)
    assert model.alpha_ is None and model.validation_loss_curve_ is None


def test_bayes_and_gauss_newton_need_the_dense_step(rng):
    X, y = data(rng)
    with pytest.raises(ValueError, match="alpha='bayes' needs the normal matrix"):
        LMRegressor((5,), alpha="bayes", linear_solver="cg").fit(X, y)
    with pytest.raises(ValueError, match="linear_solver='cg' needs solver='lm'"):
        LMRegressor((5,), solver="gauss-newton", linear_solver="cg").fit(X, y)
    with pytest.raises(ValueError, match="linear_solver='cg' needs solver='lm'.*Hessian"):
        LMRegressor((5,), solver="newton", linear_solver="cg").fit(X, y)
    with pytest.raises(ValueError, match="mu_update='more'.*needs the dense step"):
        LMRegressor((5,), mu_update="more", linear_solver="cg").fit(X, y)
    assert LMRegressor((5,), solver="gauss-newton", max_iter=2).fit(X, y).linear_solver_ == (
        "dense")


def test_estimator_cg_with_weights_float32_early_stopping_partial_fit(rng):
    X, y = data(rng, n=400)
    w = rng.uniform(0, 2, size=len(y))
    solver = "lm"
    model = LMRegressor((8,), solver=solver, linear_solver="cg", alpha=1e-4, dtype="float32",
                        early_stopping=True, max_iter=60, random_state=0)
    model.fit(X, y, sample_weight=w)
    assert model.score(X, y, sample_weight=w) > 0.99
    # integer weights are repeated rows on this path too
    Xr, yr = np.repeat(X[:50], 2, axis=0), np.repeat(y[:50], 2)
    a = LMRegressor((4,), solver=solver, linear_solver="cg", alpha=0.0, max_iter=5,
                    random_state=0, normalize_X=False, normalize_y=False)
    b = LMRegressor(**a.get_params())
    a.fit(X[:50], y[:50], sample_weight=np.full(50, 2.0))
    b.fit(Xr, yr)
    np.testing.assert_allclose(a.loss_curve_[:2], b.loss_curve_[:2], rtol=1e-8)
    p = LMRegressor((6,), solver=solver, linear_solver="cg", alpha=0.0, random_state=0)
    for _ in range(3):
        p.partial_fit(X, y)
    assert p.n_iter_ == 1 and len(p.loss_curve_) == 3
    assert p.loss_curve_[-1] < p.loss_curve_[0]
