"""Levenberg-Marquardt with geodesic acceleration (Transtrum & Sethna)."""

import numpy as np
import pytest

from sklm._backend import NumpyBackend
from sklm._mlp import MLP
from sklm._problem import MLPProblem, Problem
from sklm.solvers import LevenbergMarquardt


def surrogate_problem(m=200, hidden=(8,), chunk=64, alpha=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(m, 2))
    y = (2.5 - X[:, 0]) ** 2 + 2.5 * (X[:, 1] - X[:, 0] ** 2) ** 2
    y = (y - y.mean()) / y.std()
    mlp = MLP((2, *hidden, 1), "tanh")
    problem = MLPProblem(mlp, X, y[:, None], np.ones(m), alpha, NumpyBackend(), chunk)
    return problem, mlp.init_params(np.random.RandomState(seed))


@pytest.mark.parametrize("mu_update", ["trainlm", "nielsen"])
@pytest.mark.parametrize("damping", ["levenberg", "marquardt"])
def test_geodesic_lm_decreases_the_loss_monotonically(mu_update, damping):
    problem, x0 = surrogate_problem(alpha=1e-4)
    res = LevenbergMarquardt(max_iter=60, mu_update=mu_update, damping=damping,
                             geodesic=True).run(problem, x0)
    assert res.n_iter > 10
    curve = [res.initial_loss, *res.loss_curve]
    assert all(b < a for a, b in zip(curve, curve[1:]))
    assert res.loss < 1e-2 * res.initial_loss
    assert res.loss == pytest.approx(problem.loss(res.x), rel=1e-12)


def test_geodesic_on_a_linear_model_is_the_plain_step():
    """r is linear in x for a network without hidden layers: the acceleration is ~0."""
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    mlp = MLP((3, 2), "tanh")
    problem = MLPProblem(mlp, X, Y, np.ones(50), 0.0, NumpyBackend(), 20)
    x0 = rng.normal(size=mlp.n_params)
    a = LevenbergMarquardt(max_iter=5, mu_update="nielsen").run(problem, x0)
    b = LevenbergMarquardt(max_iter=5, mu_update="nielsen", geodesic=True).run(problem, x0)
    np.testing.assert_allclose(b.x, a.x, rtol=1e-7, atol=1e-9)


def test_geodesic_alpha_zero_falls_back_to_the_plain_step_every_time():
    # No acceleration is ever trusted: the iterates are plain LM's, exactly.
    problem, x0 = surrogate_problem()
    plain = LevenbergMarquardt(max_iter=5, geodesic=False).run(problem, x0)
    problem, x0 = surrogate_problem()
    never = LevenbergMarquardt(max_iter=5, geodesic=True, geodesic_alpha=0.0).run(problem, x0)
    assert never.loss_curve == plain.loss_curve
    np.testing.assert_array_equal(never.x, plain.x)


def test_geodesic_needs_directional_derivatives():
    class Bare(Problem):
        n_params = 2
        backend = NumpyBackend()

        def loss(self, x):
            return float(x @ x)

        def normal_equations(self, x):
            return float(x @ x), np.eye(2), x.copy()

    with pytest.raises(ValueError, match="geodesic=True needs"):
        LevenbergMarquardt(geodesic=True).run(Bare(), np.ones(2))
    # without geodesic the same problem runs
    LevenbergMarquardt(max_iter=3, geodesic=False).run(Bare(), np.ones(2))


def test_relative_initial_damping_scales_with_the_normal_matrix():
    problem, x0 = surrogate_problem()
    _, JtJ, _ = problem.normal_equations(x0)
    solver = LevenbergMarquardt(mu_init="auto", max_iter=20, mu_update="nielsen",
                                geodesic=True)
    state = solver.init(problem, x0)
    assert state.mu == pytest.approx(1e-3 * JtJ.diagonal().max())
    res = solver.run(problem, x0)
    assert res.loss < 0.1 * res.initial_loss
    # a number is kept as given; 'auto' is 1e-3 under trainlm's rule or Marquardt's damping
    assert LevenbergMarquardt(mu_init=1e-3, mu_update="nielsen").init(problem, x0).mu == 1e-3
    assert LevenbergMarquardt(mu_init="auto", mu_update="trainlm").init(problem, x0).mu == 1e-3
    assert LevenbergMarquardt(mu_init="auto", mu_update="nielsen",
                              damping="marquardt").init(problem, x0).mu == 1e-3
