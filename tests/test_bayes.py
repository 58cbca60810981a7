"""Bayesian regularisation (alpha='bayes') and predict(return_std=True).

The re-estimation is checked against scikit-learn's BayesianRidge where the
models coincide (a network with no hidden layer is a linear model), against a
dense computation with finite-difference Jacobians for a tanh network, and by
invariances (integer weights are repeated rows; a duplicated output doubles
the effective parameters and keeps the precisions). The standard deviations
are checked against the dense delta method, for calibration, and for their
fallbacks.
"""

import math
import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import BayesianRidge

from sklm import LMRegressor
from sklm._backend import NumpyBackend, cupy_available
from sklm._bayes import BayesianPrecisions, UncertaintyWarning, evidence_update, inverse_root
from sklm._mlp import MLP
from sklm._normalisation import Normalisation
from sklm._problem import MLPProblem

from ._helpers import fd_jacobian
from .conftest import rosenbrock2d


def quiet(model, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **kw)


def linear_data(n=60, d=4, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ np.linspace(1.0, -0.5, d) + 0.7 + rng.normal(scale=noise, size=n)
    return X, y


def linear_bayes(solver="gauss-newton", **kw):
    # no hidden layer, identity: y = X w + b, the prior on w and b
    return LMRegressor((), activation="identity", alpha="bayes", solver=solver,
                       normalize_X=False, normalize_y=False, tol=0.0, max_iter=500,
                       random_state=0, **kw)


# ------------------------------------------------------ against BayesianRidge
@pytest.mark.parametrize("solver", ["gauss-newton", "lm"])
def test_linear_network_matches_bayesian_ridge(solver):
    # The prior covers the bias too (as trainbr's), so the network is
    # BayesianRidge without intercept on [X, 1], with its Gamma hyperpriors off.
    X, y = linear_data()
    model = quiet(linear_bayes(solver), X, y)
    Xa = np.hstack([X, np.ones((X.shape[0], 1))])
    ridge = BayesianRidge(fit_intercept=False, alpha_1=0, alpha_2=0, lambda_1=0,
                          lambda_2=0, tol=1e-14, max_iter=100_000).fit(Xa, y)
    eig = np.linalg.eigvalsh(Xa.T @ Xa)
    gamma = np.sum(ridge.alpha_ * eig / (ridge.lambda_ + ridge.alpha_ * eig))
    assert model.alpha_ == pytest.approx(ridge.lambda_, rel=1e-6)   # weight precision
    assert model.beta_ == pytest.approx(ridge.alpha_, rel=1e-6)     # noise precision
    assert model.effective_params_ == pytest.approx(gamma, rel=1e-6)
    np.testing.assert_allclose(np.r_[model.coefs_[0].ravel(), model.intercepts_[0]],
                               ridge.coef_, rtol=1e-6)
    # the curves record every iteration, and end at the fitted values
    assert len(model.alpha_curve_) == len(model.beta_curve_) == model.n_iter_
    assert model.alpha_curve_[-1] == pytest.approx(model.alpha_, rel=1e-5)


def test_duplicated_output_keeps_the_precisions():
    # Two identical outputs: twice the errors, twice the parameters used, the
    # same noise and prior precisions. Counting one error per sample instead
    # of one per output would halve beta_.
    X, y = linear_data(seed=1)
    one = quiet(linear_bayes(), X, y)
    two = quiet(linear_bayes(), X, np.c_[y, y])
    assert two.beta_ == pytest.approx(one.beta_, rel=1e-7)
    assert two.alpha_ == pytest.approx(one.alpha_, rel=1e-7)
    assert two.effective_params_ == pytest.approx(2 * one.effective_params_, rel=1e-7)


def test_integer_weights_are_repeated_rows():
    X, y = linear_data(n=40, seed=2)
    w = np.random.default_rng(3).integers(0, 4, size=X.shape[0])
    weighted = quiet(linear_bayes(), X, y, sample_weight=w)
    repeated = quiet(linear_bayes(), np.repeat(X, w, axis=0), np.repeat(y, w))
    for name in ("alpha_", "beta_", "effective_params_"):
        assert getattr(weighted, name) == pytest.approx(getattr(repeated, name), rel=1e-8)
    np.testing.assert_allclose(weighted.coefs_[0], repeated.coefs_[0], rtol=1e-8)


# ------------------------------------------ the update against a dense computation
@pytest.mark.parametrize("n_outputs,weighted", [(1, False), (2, True)])
def test_evidence_update_matches_dense_computation(rng, n_outputs, weighted):
    m = 30
    mlp = MLP((3, 4, n_outputs), "tanh")
    X = rng.normal(size=(m, 3))
    Y = rng.normal(size=(m, n_outputs))
    w = rng.uniform(0.2, 3.0, size=m) if weighted else np.ones(m)
    theta = mlp.init_params(np.random.RandomState(0)) + 0.3 * rng.normal(size=mlp.n_params)
    p0 = 0.05
    evidence = BayesianPrecisions(penalty=p0)
    problem = MLPProblem(mlp, X, Y, w, 0.0, NumpyBackend(), 7, evidence=evidence)
    loss, JtJ, Jtr = problem.after_accepted_step(theta, *problem.normal_equations(theta))

    # dense: J of sqrt(w) (y - f) by central differences, rows sample-major
    def residuals(t):
        f = mlp.predict(mlp.unpack(t), X.T, np).T
        return (np.sqrt(w)[:, None] * (Y - f)).ravel()

    J = fd_jacobian(residuals, theta)
    e = residuals(theta)
    N = mlp.n_params
    A = J.T @ J + p0 * np.eye(N)  # the prior covers every parameter
    gamma = N - p0 * np.trace(np.linalg.inv(A))
    alpha = gamma / (theta @ theta)
    beta = (n_outputs * w.sum() - gamma) / (e @ e)
    assert evidence.gamma_curve[-1] == pytest.approx(gamma, rel=1e-7)
    assert evidence.alpha_curve[-1] == pytest.approx(alpha, rel=1e-7)
    assert evidence.beta_curve[-1] == pytest.approx(beta, rel=1e-7)
    assert evidence.penalty == pytest.approx(alpha / beta, rel=1e-7)
    # the normal equations were shifted to the new penalty, exactly as new ones
    loss2, JtJ2, Jtr2 = problem.normal_equations(theta)
    assert loss == pytest.approx(loss2, rel=1e-12)
    np.testing.assert_allclose(JtJ, JtJ2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Jtr, Jtr2, rtol=1e-12, atol=1e-12)


def test_evidence_update_keeps_the_penalty_where_undefined():
    # no error left (E_D = 0), or every error taken by a parameter
    assert evidence_update(0.5, 4, 0.0, 1.0, 10, 4)[3] is None
    assert evidence_update(0.5, 12, 1.0, 1.0, 10, 12)[3] is None
    alpha, beta, gamma, new = evidence_update(0.5, 4, 2.0, 1.0, 10, 4)
    assert (gamma, alpha, beta) == (3.5, 3.5, (10 - 3.5) / 2.0) and new == alpha / beta


def test_inverse_root_of_a_singular_matrix_is_the_pseudo_inverse(rng):
    B = rng.normal(size=(6, 3))
    A = B @ B.T  # rank 3
    F, rank, how = inverse_root(NumpyBackend(), A)
    assert how == "pseudo-inverse" and rank == 3
    np.testing.assert_allclose(F.T @ F, np.linalg.pinv(A), atol=1e-10)
    F, rank, how = inverse_root(NumpyBackend(), A + np.eye(6))
    assert how == "cholesky" and rank == 6
    np.testing.assert_allclose(F.T @ F, np.linalg.inv(A + np.eye(6)), atol=1e-12)
    assert inverse_root(NumpyBackend(), np.full((2, 2), np.nan))[2] == "non-finite"


# ------------------------------------------------- return_std against the dense delta method
def dense_delta_method(model, X, Y, w, X_new):
    """beta_, effective_params_ and the std at X_new, from scratch (FD Jacobians)."""
    norm = Normalisation.fit(X, Y, w, inputs=model.normalize_X, targets=model.normalize_y)
    Xn, Yn = norm.transform(X, Y)
    mlp = MLP((X.shape[1], *[W.shape[1] for W in model.coefs_]), model.activation)
    theta = mlp.affine_output(mlp.affine_input(mlp.pack(model.coefs_, model.intercepts_),
                                               norm.x_scale, norm.x_shift),
                              1.0 / norm.y_scale, -norm.y_shift / norm.y_scale)
    k = Y.shape[1]
    if model.alpha == "bayes":
        P = np.full(mlp.n_params, model._bayes_penalty)
    else:
        P = np.zeros(mlp.n_params)
        P[mlp.weight_mask()] = norm.penalty(mlp, model.alpha) * k

    def outputs(t, Z):
        return mlp.predict(mlp.unpack(t), Z.T, np).T.ravel()  # sample-major

    J = fd_jacobian(lambda t: np.repeat(np.sqrt(w), k) * outputs(t, Xn), theta)
    e = np.repeat(np.sqrt(w), k) * (Yn.ravel() - outputs(theta, Xn))
    A = J.T @ J + np.diag(P)
    C = np.linalg.inv(A)
    gamma = mlp.n_params - np.sum(P * np.diag(C))
    beta = (k * w.sum() - gamma) / (e @ e)
    G = fd_jacobian(lambda t: outputs(t, (X_new - norm.x_shift) / norm.x_scale), theta)
    var = 1.0 / beta + np.einsum("ij,jk,ik->i", G, C / beta, G)
    return beta / norm.loss_unit, gamma, np.sqrt(var).reshape(-1, k) * norm.y_scale


@pytest.mark.parametrize("alpha,normalize,n_outputs,weighted", [
    (1e-2, False, 1, False),
    (0.0, True, 1, True),
    ("bayes", True, 2, True),
])
def test_return_std_matches_the_dense_delta_method(rng, alpha, normalize, n_outputs, weighted):
    X = rng.uniform(-2, 2, size=(80, 2))
    Y = np.c_[rosenbrock2d(X), np.sin(X[:, 0])][:, :n_outputs] * 3.0 + 5.0
    Y += rng.normal(scale=0.3, size=Y.shape)
    w = rng.uniform(0.5, 2.0, size=80) if weighted else np.ones(80)
    model = quiet(LMRegressor((4,), alpha=alpha, normalize_X=normalize, normalize_y=normalize,
                              max_iter=60, random_state=0), X, Y.squeeze(), sample_weight=w)
    X_new = rng.uniform(-2.5, 2.5, size=(9, 2))
    pred, std = model.predict(X_new, return_std=True)
    assert pred.shape == std.shape == ((9,) if n_outputs == 1 else (9, n_outputs))
    beta, gamma, std_dense = dense_delta_method(model, X, Y, w, X_new)
    assert model.beta_ == pytest.approx(beta, rel=1e-6)
    assert model.effective_params_ == pytest.approx(gamma, rel=1e-6)
    np.testing.assert_allclose(std.reshape(9, -1), std_dense, rtol=1e-5)
    # streamed in chunks of any size: the same numbers
    from sklm._bayes import predictive_std
    chunked = predictive_std(model._posterior, X_new, NumpyBackend(), chunk_size=2)
    np.testing.assert_allclose(chunked.reshape(std.shape), std, rtol=1e-13)


# ------------------------------------------------------------------ calibration
def test_predicted_std_is_calibrated():
    # Well specified: the tutorial's surrogate with Gaussian noise, a network
    # that can represent it, 300 points; 6 seeds, 2,000 held-out noisy targets.
    inside1, inside2 = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        sd = 0.1 * rosenbrock2d(rng.uniform(-2, 2, size=(100_000, 2))).std()
        X = rng.uniform(-2, 2, size=(300, 2))
        y = rosenbrock2d(X) + rng.normal(scale=sd, size=300)
        X_test = rng.uniform(-2, 2, size=(2000, 2))
        y_test = rosenbrock2d(X_test) + rng.normal(scale=sd, size=2000)
        model = quiet(LMRegressor((10,), alpha="bayes", max_iter=300, random_state=seed), X, y)
        pred, std = model.predict(X_test, return_std=True)
        z = np.abs(y_test - pred) / std
        inside1.append(np.mean(z < 1))
        inside2.append(np.mean(z < 2))
    assert abs(np.mean(inside1) - 0.683) < 0.05, inside1
    assert abs(np.mean(inside2) - 0.954) < 0.05, inside2


def test_bayes_beats_no_penalty_on_noisy_data():
    # the over-sized network of the issue, on 150 noisy points
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(150, 2))
    f = rosenbrock2d(X)
    y = f + rng.normal(scale=0.1 * f.std(), size=150)
    X_test = rng.uniform(-2, 2, size=(2000, 2))
    errors = {}
    for alpha in (0.0, "bayes"):
        model = quiet(LMRegressor((30,), alpha=alpha, max_iter=300, random_state=0), X, y)
        errors[alpha] = np.mean((model.predict(X_test) - rosenbrock2d(X_test)) ** 2)
    assert errors["bayes"] < 0.5 * errors[0.0], errors
    assert 0 < model.effective_params_ < 121


# ----------------------------------------------------------------------- faults
def test_singular_hessian_warns_and_uses_the_pseudo_inverse():
    # A hidden identity layer: 2-3-1 is a linear model in 13 parameters
    # (W1 M, M^-1 W2 fit the same), J^T J has rank 3. The pseudo-inverse
    # counts the 3 directions the data determine, and the standard deviations
    # are exactly those of the linear model.
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(200, 2))
    y = X @ [1.0, 2.0] + rng.normal(size=200)
    model = quiet(LMRegressor((3,), activation="identity", alpha=0.0, max_iter=50,
                               random_state=0), X, y)
    with pytest.warns(UncertaintyWarning, match="singular.*rank 3 of 13.*pseudo-inverse"):
        _, std = model.predict(X, return_std=True)
    linear = quiet(LMRegressor((), activation="identity", alpha=0.0, max_iter=50,
                                random_state=0), X, y)
    assert model.effective_params_ == pytest.approx(3.0, rel=1e-9)
    np.testing.assert_allclose(std, linear.predict(X, return_std=True)[1], rtol=1e-6)


def test_interpolating_fit_warns_and_gives_nan():
    # 31 parameters, 6 points fitted to rounding: no residuals to estimate the noise
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(6, 1))
    model = quiet(LMRegressor((10,), alpha=0.0, max_iter=300, random_state=0), X,
                  np.sin(3 * X[:, 0]))
    with pytest.warns(UncertaintyWarning, match="noise variance cannot be estimated.*NaN"):
        _, std = model.predict(X, return_std=True)
    assert np.all(np.isnan(std))


def test_non_finite_hessian_warns_and_falls_back_to_the_noise(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(50, 2))
    y = rosenbrock2d(X) + rng.normal(size=50)
    monkeypatch.setattr(MLPProblem, "normal_matrix",
                        lambda self, x: np.full((self.n_params,) * 2, np.inf))
    model = quiet(LMRegressor((3,), alpha=0.0, max_iter=20, random_state=0), X, y)
    with pytest.warns(UncertaintyWarning, match="not finite.*noise's alone"):
        _, std = model.predict(X, return_std=True)
    np.testing.assert_allclose(std, 1.0 / np.sqrt(model.beta_), rtol=1e-12)


# --------------------------------------------------------------- the estimator
def test_bayes_with_early_stopping_keeps_the_best_iterations_penalty():
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(200, 2))
    y = rosenbrock2d(X) + rng.normal(scale=2.0, size=200)
    model = quiet(LMRegressor((20,), alpha="bayes", early_stopping=True, n_iter_no_change=5,
                              max_iter=300, random_state=0), X, y)
    n = model.n_iter_
    assert len(model.alpha_curve_) == len(model.effective_params_curve_) == n
    assert len(model.validation_loss_curve_) == n
    best = int(np.argmin(model.validation_loss_curve_)) + 1
    if min(model.validation_loss_curve_) < model.validation_loss_curve_[-1]:
        assert best < n
    # the penalty of the returned parameters is the one re-estimated there
    Y_train_scale = model._posterior.y_scale ** 2
    expected = model.alpha_curve_[best - 1] / (model.beta_curve_[best - 1] * Y_train_scale)
    assert model._bayes_penalty == pytest.approx(expected, rel=1e-12)
    assert np.all(np.isfinite(model.predict(X, return_std=True)[1]))


def test_bayes_needs_a_normal_equation_solver():
    X, y = linear_data()
    with pytest.raises(ValueError, match="alpha='bayes' needs solver='lm' or 'gauss-newton'"):
        LMRegressor(alpha="bayes", solver="adam").fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        LMRegressor(alpha="bayesian").fit(X, y)
    model = quiet(LMRegressor((3,), solver="adam", max_iter=5, random_state=0), X, y)
    assert model.beta_ is None and model.alpha_ is None and model.alpha_curve_ is None
    with pytest.raises(ValueError, match="needs the Gauss-Newton posterior.*fitted by .adam."):
        model.predict(X, return_std=True)


def test_ordinary_fit_reports_noise_and_no_bayes_curves():
    X, y = linear_data(n=200, noise=0.5)
    model = quiet(LMRegressor((), activation="identity", alpha=0.0, early_stopping=False,
                              max_iter=20, random_state=0), X, y)
    assert model.alpha_ is None and model.alpha_curve_ is None
    assert model.effective_params_ == pytest.approx(5.0, rel=1e-9)   # 4 weights, 1 bias
    residuals = y - model.predict(X)
    assert model.beta_ == pytest.approx((200 - 5) / (residuals @ residuals), rel=1e-9)


def test_std_survives_pickling_and_warm_start_continues_the_curves():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(100, 2))
    y = rosenbrock2d(X) + rng.normal(size=100)
    model = quiet(LMRegressor((5,), alpha="bayes", max_iter=10, random_state=0,
                              warm_start=True), X, y)
    std = model.predict(X, return_std=True)[1]
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X, return_std=True)[1], std)
    quiet(model, X, y)
    assert len(model.alpha_curve_) == len(model.loss_curve_) == 2 * model.n_iter_


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and an NVIDIA GPU")
def test_cupy_bayes_matches_numpy():
    import cupy

    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(200, 2))
    y = rosenbrock2d(X) + rng.normal(size=200)
    kw = dict(alpha="bayes", max_iter=30, random_state=0)
    cpu = quiet(LMRegressor((8,), backend="numpy", **kw), X, y)
    gpu = quiet(LMRegressor((8,), backend="cupy", **kw), X, y)
    assert gpu.alpha_ == pytest.approx(cpu.alpha_, rel=1e-6)
    assert gpu.beta_ == pytest.approx(cpu.beta_, rel=1e-6)
    std_cpu = cpu.predict(X, return_std=True)[1]
    pred_gpu, std_gpu = gpu.predict(cupy.asarray(X), return_std=True)
    assert isinstance(std_gpu, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(std_gpu), std_cpu, rtol=1e-6)


def test_monitor_defers_its_stop_while_asked():
    from sklm._early_stopping import ValidationMonitor
    from sklm.solvers import IterationInfo

    monitor = ValidationMonitor(lambda x: np.zeros((3, 1)), np.ones((3, 1)), np.ones(3),
                                0.0, 2, np)
    monitor.start(np.zeros(1))
    deferring = [True]
    monitor.defer = lambda: deferring[0]
    # the validation loss never improves on the start's
    assert not any(monitor(IterationInfo(i, np.zeros(1), 1.0)) for i in range(1, 6))
    deferring[0] = False
    assert monitor(IterationInfo(6, np.zeros(1), 1.0))


def test_noise_free_test_reads_the_latest_noise_estimate():
    evidence = BayesianPrecisions(penalty=1.0)
    test = evidence.noise_free_test(1.0)  # the targets' variance
    assert not test()  # no estimate yet
    evidence.record(1.0, 1e7, 3.0, 1.0, "cholesky")
    assert test()       # noise variance 1e-7 < 1e-6
    evidence.record(1.0, 1e5, 3.0, 1.0, "cholesky")
    assert not test()


def test_auto_defaults_resolve_by_solver_and_rows():
    from sklm._plan import resolve_regularisation

    assert resolve_regularisation("auto", "auto", "lm", 100) == (True, True)
    assert resolve_regularisation("auto", "auto", "gauss-newton", 99) == (True, False)
    assert resolve_regularisation("auto", "auto", "adam", 1000) == (False, False)
    assert resolve_regularisation(0.0, "auto", "lm", 1000) == (False, False)
    assert resolve_regularisation("auto", False, "lm", 1000) == (True, False)
    assert resolve_regularisation(0.1, True, "newton", 10) == (False, True)
    # too few rows for the evidence to tell signal from noise: no penalty
    assert resolve_regularisation("auto", "auto", "lm", 15) == (True, False)
    assert resolve_regularisation("auto", "auto", "lm", 14) == (False, False)
    assert resolve_regularisation("bayes", "auto", "lm", 14) == (True, False)
    # what the evidence counts: 10 rows weighted as 20 observations
    assert resolve_regularisation("auto", "auto", "lm", 10, n_observations=20) == (True, False)
    # a fit by default on noisy data of 200 rows: Bayesian, with a validation split
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(200, 2))
    y = rosenbrock2d(X) + rng.normal(scale=2.0, size=200)
    model = quiet(LMRegressor((10,), max_iter=50, random_state=0), X, y)
    assert model.alpha_ is not None and model.validation_loss_curve_ is not None
    # rows of zero weight do not count
    w = np.r_[np.ones(90), np.zeros(110)]
    model = quiet(LMRegressor((10,), max_iter=5, random_state=0), X, y, sample_weight=w)
    assert model.validation_loss_curve_ is None


def test_evidence_update_with_as_many_effective_parameters_as_errors_keeps_the_penalty():
    # beta = (n - gamma) / E_D = 0: undefined (Python floats raise on / 0)
    assert evidence_update(1.0, 5, 0.3, 2.0, 4.0, 5)[3] is None


def test_the_posterior_reuses_the_solvers_last_normal_matrix(monkeypatch):
    calls = []
    original = MLPProblem.normal_equations
    monkeypatch.setattr(MLPProblem, "normal_equations",
                        lambda self, x: calls.append(1) or original(self, x))
    X, y = tiny_smooth_data(60)
    quiet(LMRegressor((4,), alpha="bayes", early_stopping=False, max_iter=20, tol=0.0,
                      random_state=0), X, y)
    assert len(calls) == 21  # the start and one per iteration, none for the posterior


def tiny_smooth_data(n):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(n, 2))
    return X, X[:, 0] * X[:, 1] + np.sin(X[:, 0])


def test_auto_on_a_handful_of_rows_interpolates_them():
    # Bayesian regularisation took these 2 rows for noise and predicted their
    # mean; with 'auto' below 15 rows the network interpolates them
    X, y = tiny_smooth_data(2)
    model = quiet(LMRegressor((4,), random_state=0), X, y)
    assert model.alpha_ is None and model.alpha_curve_ is None
    np.testing.assert_allclose(model.predict(X), y, atol=1e-6)


def test_partial_fit_never_estimates_the_evidence_from_a_batch():
    # batches of 20 and 10 rows: 'auto' is no penalty whatever the batch's size
    # (re-estimated per batch it pruned the network to a constant)
    X, y = tiny_smooth_data(20)
    model = LMRegressor((5,), random_state=0)
    for n in (20, 10, 20, 10):
        assert model.partial_fit(X[:n], y[:n]).alpha_curve_ is None
    assert model.alpha_ is None and len(model.loss_curve_) == 4
    with pytest.raises(ValueError, match="alpha='bayes' is not available in partial_fit"):
        LMRegressor((5,), alpha="bayes").partial_fit(X, y)


def test_a_bayesian_fit_that_prunes_every_parameter_says_so():
    X, y = tiny_smooth_data(2)
    with pytest.warns(ConvergenceWarning, match="pruned every parameter") as record:
        model = LMRegressor((4,), alpha="bayes", random_state=0).fit(X, y)
    # attributed to this line, not to sklm's or scikit-learn's
    assert {w.filename for w in record} == {__file__}
    assert model.effective_params_ < 1.0 and model.effective_params_ >= 0.0
    # the prior's precision is undefined there (it was reported as -2e62)
    assert math.isnan(model.alpha_)
    assert np.ptp(model.predict(X)) < 1e-6 * np.ptp(y)


def test_return_std_of_a_network_too_large_for_its_posterior_is_a_clear_error():
    # (60, 60) on 3 inputs: 3,961 parameters, beyond the 2,000 whose posterior is kept
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    model = LMRegressor((60, 60), alpha=0.0, early_stopping=False, max_iter=1,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, X[:, 0])
    assert model.beta_ is None and model.effective_params_ is None
    np.testing.assert_array_equal(model.predict(X[:3]), model.predict(X[:3]))
    with pytest.raises(ValueError, match="at most 2000 parameters.*3961"):
        model.predict(X[:3], return_std=True)
