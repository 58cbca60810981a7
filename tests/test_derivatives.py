"""Every derivative against central finite differences."""

import numpy as np
import pytest

from sklm._activations import ACTIVATIONS
from sklm._backend import NumpyBackend
from sklm._problem import MLPProblem

from ._helpers import (
    every_problem_case,
    fd_jacobian,
    make_problem,
    penalty_diagonal,
    rel_err,
    residuals,
)

ACTS = sorted(ACTIVATIONS)


@every_problem_case
def test_normal_equations_match_finite_differences(rng, activation, n_outputs, weighted, alpha):
    problem, theta = make_problem(rng, activation, n_outputs, weighted, alpha)
    J = fd_jacobian(lambda t: residuals(problem, t), theta)
    r = residuals(problem, theta)
    loss, JtJ, Jtr = problem.normal_equations(theta)
    assert loss == pytest.approx(r @ r / problem.scale, rel=1e-12)
    assert loss == pytest.approx(problem.loss(theta), rel=1e-12)
    assert rel_err(JtJ, J.T @ J) < 1e-6
    assert rel_err(Jtr, J.T @ r) < 1e-6


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_model_jacobian_matches_finite_differences(rng, activation, n_outputs):
    """The raw Jacobian of the network outputs, rows (sample, output)."""
    problem, theta = make_problem(rng, activation, n_outputs, chunk=100)
    mlp = problem.mlp
    m = problem.n_samples

    def outputs(t):
        return mlp.predict(mlp.unpack(t), problem.Xt, np).T.ravel()

    J_fd = fd_jacobian(outputs, theta)
    acts = mlp.forward(mlp.unpack(theta), problem.Xt, np)
    Jt = np.empty((mlp.n_params, m * n_outputs))
    mlp.jacobian_t(mlp.unpack(theta), acts, np.ones(m), Jt, np)
    assert rel_err(Jt.T, J_fd) < 1e-6


@every_problem_case
def test_gradient_matches_finite_differences(rng, activation, n_outputs, weighted, alpha):
    problem, theta = make_problem(rng, activation, n_outputs, weighted, alpha)
    loss, g = problem.gradient(theta)
    g_fd = fd_jacobian(lambda t: np.array([problem.loss(t)]), theta)[0]
    assert loss == pytest.approx(problem.loss(theta), rel=1e-12)
    assert rel_err(g, g_fd) < 1e-6
    # the Gauss-Newton form gives the same gradient: 2 J^T r / scale
    _, _, Jtr = problem.normal_equations(theta)
    assert rel_err(2 * Jtr / problem.scale, g) < 1e-10


def test_chunking_does_not_change_normal_equations(rng):
    p1, theta = make_problem(rng, "tanh", 2, True, 0.1, chunk=1)
    p2, _ = make_problem(np.random.default_rng(12345), "tanh", 2, True, 0.1, chunk=1000)
    p2 = MLPProblem(p1.mlp, p1.Xt.T, p1.Yt.T, p1.w, 0.1, NumpyBackend(), 1000)
    a, b = p1.normal_equations(theta), p2.normal_equations(theta)
    assert a[0] == pytest.approx(b[0], rel=1e-13)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-12, atol=1e-14)


def test_minibatch_gradients_average_to_the_full_gradient(rng):
    """Batch gradients weighted by each batch's share of the rows give the full one."""
    problem, theta = make_problem(rng, "tanh", 2, True, 0.2)
    _, g = problem.gradient(theta)
    zero = np.zeros_like(theta)
    pen = 2 * penalty_diagonal(problem) * theta / problem.scale
    batches = np.array_split(rng.permutation(problem.n_samples), 4)
    total = zero.copy()
    for b in batches:
        share = len(b) / problem.n_samples
        total += share * (problem.gradient(theta, batch=b)[1] - pen)
    np.testing.assert_allclose(total + pen, g, rtol=1e-10, atol=1e-14)


def test_penalty_is_alpha_times_outputs_on_weights_only(rng):
    """DESIGN.md's penalty: alpha ||W||^2 / sum(w); in J^T J units alpha * k per weight."""
    for alpha in (0.37, "per-weight"):
        problem, _ = make_problem(rng, "tanh", 3, False, alpha)
        mask = problem.mlp.weight_mask()
        expected = 0.37 if alpha == 0.37 else np.linspace(0.05, 0.9, int(mask.sum()))
        np.testing.assert_allclose(penalty_diagonal(problem)[mask], 3 * expected, rtol=1e-15)
        assert not penalty_diagonal(problem)[~mask].any()
