"""Moré's trust-region Levenberg-Marquardt (mu_update='more') and the Bayesian trace."""

import math

import numpy as np
import pytest

from sklm import LMRegressor
from sklm._backend import NumpyBackend
from sklm._bayes import inverse_root, inverse_trace, trace_over
from sklm.optimize import least_squares
from sklm.solvers import LevenbergMarquardt, Status
from sklm.solvers._trust_region import SHARPNESS, TrustRegion, _Damped, lmpar

from .test_lm_geodesic import surrogate_problem


def _normal_system(rng, n=12, m=40, rank=None):
    J = rng.normal(size=(m, n))
    if rank is not None:
        J = J[:, :rank] @ rng.normal(size=(rank, n))
    r = rng.normal(size=m)
    JtJ = J.T @ J
    Jtr = J.T @ r
    D2 = np.maximum(JtJ.diagonal(), 1e-3) * rng.uniform(0.5, 2.0, size=n)
    return JtJ, Jtr, D2


@pytest.mark.parametrize("start", [0.0, 1e-6, 1.0, 1e3])  # the last iteration's damping
@pytest.mark.parametrize("rank", [None, 5])
@pytest.mark.parametrize("delta", [1e-3, 1e-1, 10.0, 1e6])
def test_lmpar_finds_the_damping_of_the_radius(rank, delta, start):
    rng = np.random.default_rng(3)
    JtJ, Jtr, D2 = _normal_system(rng, rank=rank)
    A = JtJ.copy()
    system = _Damped(NumpyBackend(), A, Jtr, D2)
    gnorm = math.sqrt(float(Jtr @ (Jtr / D2)))
    p, pnorm, lam = lmpar(system, delta, start, gnorm)
    # the factor left for the acceleration is the step's
    np.testing.assert_allclose(NumpyBackend().cholesky_factor_solve(system.factor, -Jtr), p)
    system.close()
    np.testing.assert_array_equal(A, JtJ)  # the diagonal restored
    assert lam >= 0
    assert pnorm == pytest.approx(np.sqrt(p @ (D2 * p)))
    # p solves the damped system at the lam returned
    np.testing.assert_allclose((JtJ + lam * np.diag(D2)) @ p, -Jtr, rtol=1e-6,
                               atol=1e-8 * np.abs(Jtr).max())
    assert pnorm <= (1 + SHARPNESS) * delta
    if lam > 0 and pnorm < (1 - SHARPNESS) * delta:
        # only where even an undamped step cannot reach the radius (J^T J
        # singular and its range's step shorter): the damping is then ~0
        assert rank is not None
        assert lam < 1e-6 * JtJ.diagonal().max() / D2.max()


def test_lmpar_warm_start_gives_the_same_step():
    rng = np.random.default_rng(4)
    JtJ, Jtr, D2 = _normal_system(rng)
    gnorm = math.sqrt(float(Jtr @ (Jtr / D2)))
    out = []
    for start in (0.0, 1e-6, 1e3):
        system = _Damped(NumpyBackend(), JtJ.copy(), Jtr, D2)
        out.append(lmpar(system, 0.05, start, gnorm))
    for p, pnorm, _ in out:
        assert abs(pnorm - 0.05) <= SHARPNESS * 0.05


@pytest.mark.parametrize("geodesic", [False, True])
def test_more_lm_decreases_the_loss_monotonically(geodesic):
    problem, x0 = surrogate_problem(alpha=1e-4)
    res = LevenbergMarquardt(max_iter=60, mu_update="more", geodesic=geodesic).run(problem, x0)
    assert res.n_iter > 10
    curve = [res.initial_loss, *res.loss_curve]
    assert all(b < a for a, b in zip(curve, curve[1:]))
    assert res.loss < 1e-2 * res.initial_loss
    assert res.loss == pytest.approx(problem.loss(res.x), rel=1e-12)


@pytest.mark.parametrize("geodesic", [False, True])
def test_more_lm_solves_rosenbrock(geodesic):
    res = least_squares(lambda x: np.array([10 * (x[1] - x[0] ** 2), 1 - x[0]]),
                        np.array([-1.2, 1.0]),
                        jac=lambda x: np.array([[-20 * x[0], 10.0], [-1.0, 0.0]]),
                        mu_update="more", geodesic=geodesic, max_iter=200)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)


def test_more_lm_on_a_linear_problem_takes_the_gauss_newton_step():
    # linear residuals: the first trial is inside the (large) first region, lam = 0
    rng = np.random.default_rng(5)
    A, b = rng.normal(size=(30, 4)), rng.normal(size=30)
    res = least_squares(lambda x: A @ x - b, np.zeros(4), jac=lambda x: A,
                        mu_update="more", geodesic=False, max_iter=5)
    np.testing.assert_allclose(res.x, np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-8)


def test_more_lm_stops_converged_at_the_minimum():
    res = least_squares(lambda x: np.array([x[0] - 1.0, 2.0 * (x[1] + 3.0)]), np.zeros(2),
                        mu_update="more", max_iter=50)
    np.testing.assert_allclose(res.x, [1.0, -3.0])
    assert res.status in (Status.CONVERGED, Status.MIN_GRAD, Status.TOL, Status.GOAL)


def test_trust_region_rescaled_for_more_rows():
    tr = TrustRegion(delta=2.0, lam=0.5, D2=np.array([1.0, 4.0]), first=False)
    big = tr.rescaled(4.0)
    assert big.delta == 4.0 and big.lam == 0.5 and not big.first
    np.testing.assert_array_equal(big.D2, [4.0, 16.0])
    assert TrustRegion().rescaled(3.0).delta is None


def test_estimator_with_more_fits_as_well_as_nielsen():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    y = (2.5 - X[:, 0]) ** 2 + 2.5 * (X[:, 1] - X[:, 0] ** 2) ** 2
    scores = {}
    for rule in ("nielsen", "more"):
        model = LMRegressor((8,), mu_update=rule, random_state=0, max_iter=80).fit(X, y)
        scores[rule] = model.score(X, y)
        assert np.all(np.diff(model.loss_curve_) <= 1e-12 * model.loss_curve_[0])
    assert scores["more"] > 0.999
    assert scores["more"] > scores["nielsen"] - 1e-3


@pytest.mark.parametrize("singular", [False, True])
def test_inverse_trace_is_the_trace_of_inverse_root(singular):
    rng = np.random.default_rng(6)
    B = rng.normal(size=(30, 9))
    if singular:
        B[:, 3] = B[:, 4]  # rank 8
    A = B.T @ B
    backend = NumpyBackend()
    F, rank, how = inverse_root(backend, A)
    trace, rank2, how2 = inverse_trace(backend, A)
    assert (rank2, how2) == (rank, how)
    assert how == ("pseudo-inverse" if singular else "cholesky")
    assert trace == pytest.approx(trace_over(F, np.arange(9), np, np.ones(9)), rel=1e-9)
    assert inverse_trace(backend, np.full((2, 2), np.nan))[2] == "non-finite"


def test_inverse_cholesky_is_the_inverse_factor():
    rng = np.random.default_rng(7)
    B = rng.normal(size=(20, 6))
    A = B.T @ B + np.eye(6)
    Linv = NumpyBackend().inverse_cholesky(A)
    np.testing.assert_allclose(Linv.T @ Linv, np.linalg.inv(A), rtol=1e-10)
    np.testing.assert_array_equal(np.triu(Linv, 1), 0)
    assert NumpyBackend().inverse_cholesky(-A) is None


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_products_with_the_stored_jacobian_match_the_chunked_ones(alpha):
    # one chunk: after normal_equations(x), jvp and vjp at x use the stored J^T
    problem, x = surrogate_problem(m=50, chunk=50, alpha=alpha)
    chunked, _ = surrogate_problem(m=50, chunk=7, alpha=alpha)
    rng = np.random.default_rng(8)
    v = rng.normal(size=problem.n_params)
    u = rng.normal(size=problem.residual(x).shape[0])
    problem.normal_equations(x)
    assert problem._stored_jacobian_t(x) is not None
    np.testing.assert_allclose(problem.jvp(x, v), chunked.jvp(x, v), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(problem.vjp(x, u), chunked.vjp(x, u), rtol=1e-12, atol=1e-12)
    # at another point the buffer is not used
    y = x + 0.1
    assert problem._stored_jacobian_t(y) is None
    np.testing.assert_allclose(problem.jvp(y, v), chunked.jvp(y, v), rtol=1e-12, atol=1e-12)
    assert chunked._stored_jacobian_t(x) is None  # several chunks: never stored
