"""Property-based tests (hypothesis): derivatives and monotone descent.

On random small networks, data, weights, penalties and activations, every
derivative sklm computes matches central finite differences; on random
problems, Levenberg-Marquardt (and the other safeguarded second-order
methods) never accept a step that raises the training loss.

Examples are derandomized (the same ones every run, so the suite cannot
flake) and bounded in number; the whole file runs in a few seconds.
"""

import math
import warnings

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor
from sklm._activations import ACTIVATIONS
from sklm._backend import NumpyBackend
from sklm._mlp import MLP
from sklm._problem import MLPProblem
from sklm.optimize import least_squares
from sklm.solvers import LevenbergMarquardt

from ._helpers import penalty_diagonal, penalty_residuals

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@st.composite
def mlp_problems(draw):
    """A random small MLPProblem and a parameter vector away from relu kinks."""
    activation = draw(st.sampled_from(sorted(ACTIVATIONS)))
    n_in = draw(st.integers(1, 3))
    hidden = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))
    n_out = draw(st.integers(1, 2))
    m = draw(st.integers(1, 7))
    alpha = draw(st.sampled_from([0.0, 0.3]))
    weighted = draw(st.booleans())
    chunk = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    x_scale = draw(st.sampled_from([0.3, 1.0, 3.0]))
    rng = np.random.default_rng(seed)
    mlp = MLP((n_in, *hidden, n_out), activation)
    X = x_scale * rng.normal(size=(m, n_in))
    Y = rng.normal(size=(m, n_out))
    w = rng.uniform(0.1, 3.0, size=m) if weighted else np.ones(m)
    theta = rng.normal(scale=0.8, size=mlp.n_params)
    if activation == "relu":
        # central differences must not straddle a kink
        assume(_min_preactivation(mlp, theta, X) > 1e-3)
    problem = MLPProblem(mlp, X, Y, w, alpha, NumpyBackend(), chunk)
    return problem, theta


def _min_preactivation(mlp, theta, X):
    A = X.T
    smallest = math.inf
    for layer, (W, b) in enumerate(mlp.unpack(theta)):
        Z = W.T @ A + b[:, None]
        if layer < mlp.n_layers - 1:
            smallest = min(smallest, float(np.abs(Z).min()))
            A = np.maximum(Z, 0.0)
    return smallest


def residuals(problem, theta):
    """The stacked least-squares residuals, ``||r||^2 / scale == loss``."""
    mlp = problem.mlp
    out = mlp.predict(mlp.unpack(theta), problem.Xt, np)
    r = (problem.sqrt_w * (problem.Yt - out)).T.ravel()
    return np.concatenate([r, penalty_residuals(problem, theta)])


def fd(f, theta, h=1e-6):
    """Central-difference derivative of ``f`` (columns: parameters)."""
    cols = []
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        cols.append((np.atleast_1d(f(theta + e)) - np.atleast_1d(f(theta - e))) / (2 * h))
    return np.stack(cols, axis=-1)


def close(a, b, rtol=1e-5, atol=1e-7):
    """Agreement up to finite-difference error, relative to the array's size."""
    return np.linalg.norm(a - b) <= rtol * np.linalg.norm(b) + atol


@settings(max_examples=200, **SETTINGS)
@given(mlp_problems())
def test_normal_equations_and_gradient_match_finite_differences(case):
    problem, theta = case
    J = fd(lambda t: residuals(problem, t), theta)
    r = residuals(problem, theta)
    loss, JtJ, Jtr = problem.normal_equations(theta)
    assert math.isclose(loss, r @ r / problem.scale, rel_tol=1e-12, abs_tol=1e-300)
    assert math.isclose(loss, problem.loss(theta), rel_tol=1e-12, abs_tol=1e-300)
    assert close(JtJ, J.T @ J)
    assert close(Jtr, J.T @ r)
    g_loss, g = problem.gradient(theta)
    assert math.isclose(g_loss, loss, rel_tol=1e-12, abs_tol=1e-300)
    assert close(g, fd(problem.loss, theta)[0])
    assert close(g, 2.0 * Jtr / problem.scale, rtol=1e-10, atol=1e-14)


@settings(max_examples=100, **SETTINGS)
@given(mlp_problems(), st.integers(0, 2**32 - 1))
def test_directional_derivatives_match_the_jacobian(case, seed):
    problem, theta = case
    J = fd(lambda t: residuals(problem, t), theta)
    rng = np.random.default_rng(seed)
    v = rng.normal(size=theta.size)
    u = rng.normal(size=J.shape[0])
    np.testing.assert_allclose(problem.residual(theta), residuals(problem, theta),
                               rtol=1e-12, atol=1e-14)
    assert close(problem.jvp(theta, v), J @ v)
    assert close(problem.vjp(theta, u), J.T @ u)


@settings(max_examples=100, **SETTINGS)
@given(mlp_problems())
def test_exact_hessian_matches_finite_differences_of_the_gradient(case):
    problem, theta = case
    loss, g, H = problem.hessian(theta)
    H_fd = fd(lambda t: problem.gradient(t)[1], theta)
    assert math.isclose(loss, problem.loss(theta), rel_tol=1e-12, abs_tol=1e-300)
    assert close(H, H_fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-12)


@settings(max_examples=100, **SETTINGS)
@given(mlp_problems(), st.integers(1, 6))
def test_minibatch_gradient_matches_finite_differences_on_its_rows(case, batch_seed):
    problem, theta = case
    rng = np.random.default_rng(batch_seed)
    batch = np.sort(rng.choice(problem.n_samples, size=max(1, problem.n_samples // 2),
                               replace=False))
    sub = MLPProblem(problem.mlp, problem.Xt.T[batch], problem.Yt.T[batch], problem.w[batch],
                     0.0, NumpyBackend(), 8)
    _, g = problem.gradient(theta, batch=batch)
    # the data term is the batch's sum of squares over its expected share of
    # the weight (an unbiased estimate of the full mean); the penalty is the
    # full problem's
    pen = 2.0 * penalty_diagonal(problem) * theta / problem.scale
    expected = problem.scale * len(batch) / problem.n_samples
    assert close(g - pen, fd(sub.loss, theta)[0] * sub.scale / expected)


# ---------------------------------------------------------------------------
# Monotone descent: accepted steps never raise the training loss
# ---------------------------------------------------------------------------
LM_OPTIONS = st.fixed_dictionaries({
    "mu_init": st.sampled_from([1e-6, 1e-3, 1.0, 100.0]),
    "damping": st.sampled_from(["levenberg", "marquardt"]),
    "mu_update": st.sampled_from(["trainlm", "nielsen"]),
})


@settings(max_examples=150, **SETTINGS)
@given(mlp_problems(), LM_OPTIONS, st.booleans())
def test_lm_never_accepts_a_step_that_raises_the_loss_beyond_its_rounding(case, options,
                                                                          geodesic):
    problem, theta = case
    solver = LevenbergMarquardt(max_iter=25, geodesic=geodesic, **options)
    with np.errstate(all="ignore"):
        res = solver.run(problem, theta)
    curve = np.array([res.initial_loss] + res.loss_curve)
    # Near a minimum a step the loss cannot resolve is judged by the gradient
    # (it must shrink), and may move the loss within sqrt(eps) of its value:
    # the rounding of a loss whose residuals cancel (sklm.solvers._damped).
    assert np.all(np.diff(curve) <= np.sqrt(np.finfo(float).eps) * np.abs(curve[:-1]))
    assert np.isfinite(res.x).all()
    assert res.loss == curve[-1] == problem.loss(res.x)


@settings(max_examples=60, **SETTINGS)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(sorted(ACTIVATIONS)),
    st.sampled_from(["lm", "gauss-newton", "newton"]),
    st.integers(1, 2),
    st.sampled_from([0.0, 1e-2]),
)
def test_estimator_loss_curve_decreases_on_random_data(seed, activation, solver, n_out,
                                                       alpha):
    # LM, safeguarded Gauss-Newton and damped Newton only ever accept a step
    # that lowers the loss: loss_curve_ is strictly decreasing.
    rng = np.random.default_rng(seed)
    m = int(rng.integers(5, 40))
    X = rng.normal(size=(m, 2)) * rng.choice([0.1, 1.0, 10.0])
    Y = np.tanh(X @ rng.normal(size=(2, n_out))) + 0.1 * rng.normal(size=(m, n_out))
    w = rng.uniform(0.2, 2.0, size=m)
    model = LMRegressor(hidden_layer_sizes=(4,), activation=activation, solver=solver,
                        alpha=alpha, max_iter=15, tol=0.0, random_state=seed % 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, Y[:, 0] if n_out == 1 else Y, sample_weight=w)
    curve = model.loss_curve_
    assert np.all(np.diff(curve) <= np.sqrt(np.finfo(float).eps) * np.abs(curve[:-1]))
    assert not curve or model.loss_ == curve[-1]
    assert np.isfinite(model.predict(X)).all()


@settings(max_examples=100, **SETTINGS)
@given(
    st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=4),
    st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=4),
    st.sampled_from(["trainlm", "nielsen"]),
    st.sampled_from(["levenberg", "marquardt"]),
)
def test_lm_on_random_curve_fits_descends(true, start, mu_update, damping):
    # Sums of damped exponentials and sinusoids: nonlinear, often badly
    # conditioned, sometimes overflowing on a trial step.
    n = min(len(true), len(start))
    true, start = np.array(true[:n]), np.array(start[:n])
    t = np.linspace(0.0, 2.0, 15)

    def model(p):
        out = p[0] * np.exp(-p[1] * t)
        if p.size > 2:
            out = out + p[2] * np.sin((p[3] if p.size > 3 else 1.0) * t)
        return out

    y = model(true)

    def fun(p):
        with np.errstate(all="ignore"):
            return model(p) - y

    res = least_squares(fun, start, mu_update=mu_update, damping=damping, max_iter=60)
    curve = np.array([res.initial_loss] + res.loss_curve)
    assume(math.isfinite(res.initial_loss))
    assert np.all(np.diff(curve) <= np.sqrt(np.finfo(float).eps) * np.abs(curve[:-1]))
    assert np.isfinite(res.x).all() and math.isfinite(res.loss)
