"""Derivatives added for speed (directional derivatives, cached passes) vs finite differences."""

import numpy as np
import pytest

from sklm._activations import ACTIVATIONS
from sklm._backend import NumpyBackend
from sklm._mlp import MLP
from sklm._problem import MLPProblem, Problem

from ._helpers import fd_jacobian, make_problem, rel_err

ACTS = sorted(ACTIVATIONS)


CASES = [(a, k, w, alpha) for a in ACTS for k in (1, 3) for w in (False, True)
         for alpha in (0.0, 0.37)]


@pytest.mark.parametrize("activation,n_outputs,weighted,alpha", CASES)
def test_residual_jvp_vjp_match_finite_differences(rng, activation, n_outputs, weighted,
                                                   alpha):
    problem, theta = make_problem(rng, activation, n_outputs, weighted, alpha)
    r = problem.residual(theta)
    assert r @ r / problem.scale == pytest.approx(problem.loss(theta), rel=1e-12)
    J = fd_jacobian(lambda t: problem.residual(t.copy()), theta)
    _, JtJ, Jtr = problem.normal_equations(theta)
    assert rel_err(Jtr, J.T @ r) < 1e-6
    v = rng.normal(size=theta.size)
    u = rng.normal(size=r.size)
    assert rel_err(problem.jvp(theta, v), J @ v) < 1e-6
    assert rel_err(problem.vjp(theta, u), J.T @ u) < 1e-6
    # the two products are adjoint to rounding
    assert problem.jvp(theta, v) @ u == pytest.approx(v @ problem.vjp(theta, u), rel=1e-10)
    # and consistent with the normal equations
    assert rel_err(problem.vjp(theta, problem.jvp(theta, v)), JtJ @ v) < 1e-10


@pytest.mark.parametrize("activation", ["tanh", "logistic"])
def test_second_directional_derivative_by_finite_differences(rng, activation):
    """(2/h) ((r(x + h v) - r(x)) / h - J v) -> r''(x)[v, v] as h -> 0 (error O(h))."""
    problem, theta = make_problem(rng, activation, 2)
    v = rng.normal(size=theta.size)
    r0, Jv = problem.residual(theta), problem.jvp(theta, v)
    eps = 1e-4
    exact = (problem.residual(theta + eps * v) - 2 * r0
             + problem.residual(theta - eps * v)) / eps**2
    errs = []
    for h in (0.1, 0.05, 0.025):
        rvv = (2 / h) * ((problem.residual(theta + h * v) - r0) / h - Jv)
        errs.append(rel_err(rvv, exact))
    assert errs[2] < errs[1] < errs[0] < 1.0
    assert errs[0] / errs[2] == pytest.approx(4.0, rel=0.5)  # first order in h


def test_forward_cache_returns_the_same_numbers(rng):
    problem, theta = make_problem(rng, "tanh", 2, weighted=True, alpha=0.1, chunk=5)
    fresh = MLPProblem(problem.mlp, problem.Xt.T, problem.Yt.T, problem.w, 0.1,
                       NumpyBackend(), 5)
    x1 = theta.copy()
    x2 = theta + 0.01
    l1 = problem.loss(x1)
    l2 = problem.loss(x2)
    assert len(problem._cache) == 2
    # an in-place change to the caller's vector must not poison the cache
    x1 += 0.5
    assert problem.loss(x1) == fresh.loss(x1)
    assert problem.loss(theta) == l1 == fresh.loss(theta)
    assert problem.loss(theta + 0.01) == l2
    a, b = problem.normal_equations(x2), fresh.normal_equations(x2)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    problem.clear_cache()
    assert problem._cache == []


def test_cache_is_skipped_when_it_would_outgrow_a_jacobian_chunk():
    mlp = MLP((3, 40, 1), "tanh")  # n = 201, widths 44: 44 m > chunk * 201 when chunk small
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(1000, 3)), rng.normal(size=(1000, 1))
    small = MLPProblem(mlp, X, Y, np.ones(1000), 0.0, NumpyBackend(), 100)
    big = MLPProblem(mlp, X, Y, np.ones(1000), 0.0, NumpyBackend(), 1000)
    assert not small._cacheable and big._cacheable
    theta = mlp.init_params(np.random.RandomState(1))
    assert small.loss(theta) == pytest.approx(big.loss(theta), rel=1e-13)
    assert small._cache == []


def test_problem_interface_reports_directional_derivatives():
    assert MLPProblem.has_directional_derivatives()
    assert not Problem.has_directional_derivatives()


def test_cholesky_solve_solves_and_reports_failure(rng):
    be = NumpyBackend()
    A = rng.normal(size=(30, 60))
    G = A @ A.T
    b = rng.normal(size=30)
    x = be.cholesky_solve(G, b)
    np.testing.assert_allclose(G @ x, b, rtol=1e-9, atol=1e-9)
    G_before = G.copy()
    assert be.cholesky_solve(-G, b) is None
    np.testing.assert_array_equal(G, G_before)
    bad = G.copy()
    bad[0, 0] = np.nan
    assert be.cholesky_solve(bad, b) is None
