"""Bad input, hard data, numerical faults, interruptions, determinism, pickles.

A fit either succeeds or fails with an error that says what is wrong; it never
crashes deep inside NumPy/SciPy, hangs, or leaves NaN in the weights.
"""

import math
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklm import LMRegressor
from sklm._backend import NumpyBackend
from sklm._early_stopping import ValidationMonitor
from sklm._mlp import MLP
from sklm._problem import MLPProblem, Problem
from sklm.optimize import least_squares
from sklm.solvers import SOLVERS, Status

ALL_SOLVERS = ["lm", "gauss-newton", "newton", "sgd", "adam"]
# learning rates at which the first-order methods make progress on smooth_data
FIRST_ORDER = {"sgd": dict(learning_rate_init=0.05), "adam": dict(learning_rate_init=0.02)}


def smooth_data(n=60, seed=0, n_features=3):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, n_features))
    y = np.sin(2 * X[:, 0]) * X[:, 1] + X[:, 2] ** 2
    return X, y


def quiet_fit(model, X, y, **kw):
    """Fit, ignoring ConvergenceWarnings (the tests judge the outcome)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **kw)


def small(solver="lm", **kw):
    # unpenalised, without a validation split: the tests below are about LM itself
    options = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=20, random_state=0,
                   alpha=0.0, early_stopping=False)
    options.update(FIRST_ORDER.get(solver, {}))
    options.update(kw)
    return LMRegressor(**options)


def params_of(model):
    return np.concatenate([a.ravel() for a in model.coefs_ + model.intercepts_])


def assert_finite_model(model, X):
    assert np.isfinite(params_of(model)).all()
    assert np.isfinite(model.predict(X)).all()
    assert math.isfinite(model.loss_)


# ---------------------------------------------------------------------------
# Bad data: a clear ValueError / TypeError naming the problem
# ---------------------------------------------------------------------------
def _with(a, index, value):
    a = np.array(a, dtype=float)
    a[index] = value
    return a


X0, Y0 = smooth_data(30)

BAD_FIT_INPUTS = {
    "nan in X": (lambda: (_with(X0, (3, 1), np.nan), Y0, None),
                 ValueError, "Input X contains NaN"),
    "inf in X": (lambda: (_with(X0, (3, 1), np.inf), Y0, None),
                 ValueError, "Input X contains infinity"),
    "nan in y": (lambda: (X0, _with(Y0, 4, np.nan), None),
                 ValueError, "Input y contains NaN"),
    "-inf in y": (lambda: (X0, _with(Y0, 4, -np.inf), None),
                  ValueError, "Input y contains infinity"),
    "None in object y": (lambda: (X0, np.array([None] + list(Y0[1:]), dtype=object), None),
                         ValueError, "Input y contains NaN or infinity"),
    "nan in sample_weight": (lambda: (X0, Y0, _with(np.ones(30), 2, np.nan)),
                             ValueError, "Input sample_weight contains NaN"),
    "inf in sample_weight": (lambda: (X0, Y0, _with(np.ones(30), 2, np.inf)),
                             ValueError, "Input sample_weight contains infinity"),
    "negative sample_weight": (lambda: (X0, Y0, _with(np.ones(30), 2, -1.0)),
                               ValueError, "Negative values in data passed to `sample_weight`"),
    "all-zero sample_weight": (lambda: (X0, Y0, np.zeros(30)),
                               ValueError, "Sample weights must contain at least one non-zero"),
    "2-D sample_weight": (lambda: (X0, Y0, np.ones((30, 2))),
                          ValueError, "Sample weights must be 1D"),
    "short sample_weight": (lambda: (X0, Y0, np.ones(29)),
                            ValueError, r"sample_weight.shape == \(29,\), expected \(30,\)"),
    "empty X": (lambda: (np.empty((0, 3)), np.empty(0), None),
                ValueError, r"Found array with 0 sample\(s\)"),
    "no features": (lambda: (np.empty((30, 0)), Y0, None),
                    ValueError, r"Found array with 0 feature\(s\)"),
    "mismatched lengths": (lambda: (X0, Y0[:-1], None),
                           ValueError, r"inconsistent numbers of samples: \[30, 29\]"),
    "strings in X": (lambda: (np.array([["a", "b", "c"]] * 30), Y0, None),
                     ValueError, "could not convert string to float"),
    "strings in object X": (lambda: (np.array([[1.0, "a", 2.0]] * 30, dtype=object), Y0, None),
                            ValueError, "could not convert string to float"),
    "strings in y": (lambda: (X0, np.array(["a"] * 30), None),
                     ValueError, "could not convert string to float"),
    "complex X": (lambda: (X0 + 1j, Y0, None), ValueError, "Complex data not supported"),
    "complex y": (lambda: (X0, Y0 + 1j, None), ValueError, "Complex data not supported"),
    "3-D X": (lambda: (X0.reshape(30, 3, 1), Y0, None),
              ValueError, "Found array with dim 3"),
    "3-D y": (lambda: (X0, Y0.reshape(30, 1, 1), None),
              ValueError, "Found array with dim 3"),
    "1-D X": (lambda: (X0[:, 0], Y0, None), ValueError, "Expected 2D array, got 1D array"),
    "sparse X": (lambda: (sp.csr_matrix(X0), Y0, None),
                 TypeError, "Sparse data was passed for X, but dense data is required"),
}


@pytest.mark.parametrize("case", sorted(BAD_FIT_INPUTS))
def test_bad_data_is_a_clear_error(case):
    make, error, message = BAD_FIT_INPUTS[case]
    X, y, w = make()
    with pytest.raises(error, match=message):
        small().fit(X, y, sample_weight=w)


@pytest.mark.parametrize("normalize_y, message", [
    # the targets' mean squared error itself overflows: it cannot be reported
    (True, r"targets' scale \(.*\) squared is not representable.*Scale them"),
    # the initial loss overflows float64: nothing can be trained
    (False, r"initial parameters is not finite.*Scale them"),
])
def test_data_too_large_to_square_is_a_clear_error(normalize_y, message):
    X, y = smooth_data(30)
    model = small(normalize_y=normalize_y)
    with pytest.raises(ValueError, match=message):
        with np.errstate(over="ignore", invalid="ignore"):
            model.fit(X, y * 1e200)
    with pytest.raises(NotFittedError):
        model.predict(X)


@pytest.mark.parametrize("y_scale, y_shift", [(1e100, 0.0), (1e-100, 0.0), (1e-150, 0.0),
                                              (1.0, 1e8)])
def test_normalised_targets_of_extreme_magnitude_fit_as_well_as_unit_ones(y_scale, y_shift):
    X, y = smooth_data()
    unit = quiet_fit(small(max_iter=60), X, y)
    model = quiet_fit(small(max_iter=60), X, y * y_scale + y_shift)
    assert unit.score(X, y) > 0.999
    assert model.score(X, y * y_scale + y_shift) == pytest.approx(unit.score(X, y), abs=1e-6)
    assert np.isfinite(model.loss_curve_).all() and model.loss_ > 0


def test_early_stopping_split_without_weight_is_a_clear_error():
    # One positive weight: one side of the split has zero total weight (its
    # loss would divide by zero).
    X, y = smooth_data(30)
    w = np.zeros(30)
    w[0] = 1.0
    with pytest.raises(ValueError, match="zero total sample_weight"):
        small(early_stopping=True, validation_fraction=0.2).fit(X, y, sample_weight=w)
    # one sample cannot be split at all
    with pytest.raises(ValueError, match="at least one training and one validation sample"):
        small(early_stopping=True).fit(X[:1], y[:1])


def test_predict_errors():
    X, y = smooth_data(30)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        small().predict(X)
    model = quiet_fit(small(max_iter=3), X, y)
    with pytest.raises(ValueError, match="X has 2 features, but LMRegressor is expecting 3"):
        model.predict(X[:, :2])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict(_with(X, (0, 0), np.nan))
    with pytest.raises(TypeError, match="Sparse data was passed for X"):
        model.predict(sp.csr_matrix(X))
    with pytest.raises(ValueError, match="Found array with dim 3"):
        model.predict(X.reshape(30, 3, 1))


def test_numeric_object_and_boolean_input_is_converted():
    X, y = smooth_data(30)
    a = quiet_fit(small(max_iter=3), X, y)
    b = quiet_fit(small(max_iter=3), X.astype(object), y.astype(object))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    c = quiet_fit(small(max_iter=3), X > 0, y)
    assert_finite_model(c, X > 0)


# ---------------------------------------------------------------------------
# Hard but valid data: fits without errors and without NaN
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_constant_target(solver):
    X, _ = smooth_data()
    model = quiet_fit(small(solver, max_iter=50), X, np.full(60, 3.0))
    assert_finite_model(model, X)
    if solver in ("lm", "gauss-newton"):
        np.testing.assert_allclose(model.predict(X), 3.0, atol=1e-6)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_constant_feature_columns(solver):
    X, y = smooth_data()
    X[:, 1] = 7.0
    assert_finite_model(quiet_fit(small(solver), X, y), X)
    # every column constant: the best fit is the mean
    Xc = np.ones((60, 3))
    model = quiet_fit(small(solver, max_iter=50), Xc, y)
    assert_finite_model(model, Xc)
    if solver == "lm":
        np.testing.assert_allclose(model.predict(Xc), y.mean(), rtol=1e-6)


def test_duplicated_rows_fit_like_weights():
    X, y = smooth_data(40)
    kw = dict(max_iter=15, tol=0.0)
    dup = quiet_fit(small(**kw), np.vstack([X, X, X]), np.concatenate([y, y, y]))
    weighted = quiet_fit(small(**kw), X, y, sample_weight=np.full(40, 3.0))
    assert_finite_model(dup, X)
    np.testing.assert_allclose(dup.predict(X), weighted.predict(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
@pytest.mark.parametrize("x_scale, y_scale", [(1e-8, 1.0), (1e8, 1.0), (1.0, 1e-8),
                                              (1.0, 1e8), (1e8, 1e8), (1e-8, 1e-8)])
def test_extreme_magnitudes_without_scaling_do_not_crash(solver, x_scale, y_scale):
    # Unscaled, the fit may be poor (saturated units); it must not fail or
    # produce NaN. Warnings, if any, are ConvergenceWarnings.
    X, y = smooth_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = small(solver).fit(X * x_scale, y * y_scale)
    assert_finite_model(model, X * x_scale)


@pytest.mark.parametrize("x_scale, y_scale", [(1e-8, 1e-8), (1e8, 1e8), (1e-8, 1e8)])
def test_extreme_magnitudes_with_scaling_fit_well(x_scale, y_scale):
    X, y = smooth_data()
    model = TransformedTargetRegressor(
        make_pipeline(StandardScaler(), small(max_iter=60)), transformer=StandardScaler())
    quiet_fit(model, X * x_scale, y * y_scale)
    pred = model.predict(X * x_scale)
    assert np.isfinite(pred).all()
    assert model.score(X * x_scale, y * y_scale) > 0.99


def test_float32_input_is_upcast_to_float64():
    X, y = smooth_data()
    a = quiet_fit(small(max_iter=5), X.astype(np.float32), y.astype(np.float32))
    b = quiet_fit(small(max_iter=5), X.astype(np.float32).astype(np.float64),
                  y.astype(np.float32).astype(np.float64))
    assert all(W.dtype == np.float64 for W in a.coefs_ + a.intercepts_)
    assert a.predict(X.astype(np.float32)).dtype == np.float64
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(u, v)
    # and the documentation says so
    assert "float64" in LMRegressor.fit.__doc__
    assert "upcast" in LMRegressor.__doc__ and "float32" in LMRegressor.__doc__


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_first_order_fits_do_not_depend_on_the_scale_of_sample_weights(solver, scale):
    # The loss is a weighted mean: multiplying every weight by a constant
    # changes nothing, even where the weighted sum of squares would under- or
    # overflow if formed before dividing.
    X, y = smooth_data()
    unit = quiet_fit(small(solver, tol=0.0), X, y)
    scaled = quiet_fit(small(solver, tol=0.0), X, y, sample_weight=np.full(60, scale))
    assert scaled.n_iter_ == unit.n_iter_ == 20
    np.testing.assert_allclose(scaled.loss_curve_, unit.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(scaled.predict(X), unit.predict(X), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_more_parameters_than_samples(solver):
    # 3-20-1: 101 parameters, 8 samples: J^T J has rank <= 8.
    X, y = smooth_data(8)
    model = quiet_fit(small(solver, hidden_layer_sizes=(20,), max_iter=50), X, y)
    assert_finite_model(model, X)
    if solver in ("lm", "gauss-newton", "newton"):
        assert model.loss_ < 1e-10  # it interpolates


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_one_sample_fits(solver):
    X, y = smooth_data(1)
    model = quiet_fit(small(solver, max_iter=50), X, y)
    assert_finite_model(model, X)
    if solver in ("lm", "gauss-newton", "newton"):
        assert model.predict(X)[0] == pytest.approx(y[0], abs=1e-8)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_more_outputs_than_samples_fits(solver):
    # A valid least-squares problem (sklm's documented choice): it fits.
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(3, 2)), rng.normal(size=(3, 5))
    model = quiet_fit(small(solver, max_iter=50), X, Y)
    assert_finite_model(model, X)
    assert model.predict(X).shape == (3, 5)
    if solver in ("lm", "gauss-newton", "newton"):
        np.testing.assert_allclose(model.predict(X), Y, atol=1e-6)


# ---------------------------------------------------------------------------
# Numerical faults inside the solvers
# ---------------------------------------------------------------------------
class FaultyQuadratic(Problem):
    """``loss = mean((x - c)^2)`` whose derivatives go wrong on request.

    ``fault`` names what is corrupted ('JtJ', 'Jtr', 'hessian', 'gradient',
    'negative JtJ', 'negative hessian') from the ``after``-th call on
    (0: from the first). ``value`` multiplies the corrupted quantity.
    Minibatch gradients: ``n_samples`` rows, corrupted from the ``after``-th
    batch on.
    """

    def __init__(self, fault=None, after=0, value=np.nan, n=3):
        self.backend = NumpyBackend()
        self.n_params = n
        self.scale = float(n)
        self.n_samples = 8
        self.c = np.arange(1.0, n + 1)
        self.fault, self.after, self.value = fault, after, value
        self.calls = 0

    def _corrupt(self, what):
        if self.fault != what:
            return False
        self.calls += 1
        return self.calls > self.after

    def loss(self, x):
        r = x - self.c
        return float(r @ r) / self.scale

    def gradient(self, x, batch=None):
        g = 2.0 * (x - self.c) / self.scale
        if self._corrupt("gradient"):
            g = g * self.value
        return self.loss(x), g

    def normal_equations(self, x):
        JtJ, Jtr = np.eye(self.n_params), x - self.c
        if self._corrupt("JtJ"):
            JtJ = JtJ * self.value
        if self._corrupt("Jtr"):
            Jtr = Jtr * self.value
        if self._corrupt("negative JtJ"):
            JtJ = -4.0 * JtJ
        return self.loss(x), JtJ, Jtr

    def hessian(self, x):
        H = 2.0 * np.eye(self.n_params) / self.scale
        if self._corrupt("hessian"):
            H = H * self.value
        if self._corrupt("negative hessian"):
            H = -4.0 * H
        return self.loss(x), 2.0 * (x - self.c) / self.scale, H


# MATLAB trainlm's rule (sklm's LM defaults are Nielsen's with geodesic acceleration)
TRAINLM = dict(mu_update="trainlm", geodesic=False, mu_init=1e-3)
SECOND_ORDER = [("lm", TRAINLM),
                ("lm", dict(damping="marquardt", mu_update="nielsen", geodesic=False)),
                ("gauss-newton", {}), ("gauss-newton", dict(safeguard=False))]


def run(solver, problem, x0=None, **options):
    """Run ``solver`` from zeros; goal -1 so that a zero loss does not stop it."""
    x0 = np.zeros(problem.n_params) if x0 is None else x0
    with np.errstate(all="ignore"):
        return SOLVERS[solver](max_iter=50, goal=-1.0, **options).run(problem, x0)


@pytest.mark.parametrize("solver, options", SECOND_ORDER)
@pytest.mark.parametrize("fault", ["JtJ", "Jtr"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("after", [0, 1])
def test_non_finite_normal_equations_stop_with_non_finite(solver, options, fault, value,
                                                          after):
    # 'after=1': the start is fine, the normal equations at the first
    # accepted point are not. The solver stops there, at finite parameters.
    problem = FaultyQuadratic(fault, after=after, value=value)
    res = run(solver, problem, **options)
    assert res.status == Status.NON_FINITE and not res.success
    assert res.n_iter == after and len(res.loss_curve) == after
    assert np.isfinite(res.x).all() and math.isfinite(res.loss)
    assert res.loss == pytest.approx(problem.loss(res.x))
    if after == 0:
        np.testing.assert_array_equal(res.x, 0.0)
    assert "not finite" in res.message


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("after", [0, 1])
def test_non_finite_hessian_stops_newton_with_non_finite(value, after):
    problem = FaultyQuadratic("hessian", after=after, value=value)
    res = run("newton", problem)
    assert res.status == Status.NON_FINITE and res.n_iter == after
    assert np.isfinite(res.x).all() and res.loss == problem.loss(res.x)
    if after == 0:
        np.testing.assert_array_equal(res.x, 0.0)
    else:
        assert res.loss < problem.loss(np.zeros(3))


@pytest.mark.parametrize("solver, options", [("lm", TRAINLM), ("newton", {})])
def test_not_positive_definite_normal_matrix_is_damped(solver, options):
    # -4 I (scaled): Cholesky fails until mu exceeds its magnitude; the damped
    # step then points downhill and every accepted step lowers the loss.
    fault = "negative JtJ" if solver == "lm" else "negative hessian"
    problem = FaultyQuadratic(fault)
    res = run(solver, problem, **options)
    assert np.isfinite(res.x).all()
    curve = [res.initial_loss] + res.loss_curve
    assert res.n_iter > 0 and np.all(np.diff(curve) < 0)
    # every accepted mu (10x the recorded one, after mu_decrease) exceeded the
    # magnitude 4 of the negative curvature
    assert min(res.mu_curve) / 0.1 > 4.0


def test_gauss_newton_with_an_uphill_normal_matrix_fails_not_converges():
    # An indefinite "J^T J" gives an uphill least-squares step: the safeguard
    # must report STEP_FAILED, not call the start a minimum (CONVERGED).
    res = run("gauss-newton", FaultyQuadratic("negative JtJ"))
    assert res.status == Status.STEP_FAILED and not res.success
    np.testing.assert_array_equal(res.x, 0.0)
    pure = run("gauss-newton", FaultyQuadratic("negative JtJ"), safeguard=False)
    assert pure.status == Status.SINGULAR


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("after", [0, 1, 5, 9])
def test_nan_minibatch_gradient_mid_epoch_diverges_to_the_best_epoch(solver, momentum, after):
    # 8 rows in batches of 2: four gradients an epoch; the NaN arrives in
    # the middle of the first (after=1) or third (after=9) epoch.
    problem = FaultyQuadratic("gradient", after=after)
    seen = [np.zeros(3)]
    extra = dict(momentum=momentum) if solver == "sgd" else {}
    res = run(solver, problem, learning_rate_init=0.05, batch_size=2, random_state=0,
              callback=lambda info: seen.append(info.x.copy()), **extra)
    assert res.status == Status.DIVERGED and not res.success
    assert res.n_iter == after // 4
    # the lowest-loss point among the start and the completed epochs
    losses = [problem.loss(x) for x in seen]
    best = int(np.argmin(losses))
    np.testing.assert_array_equal(res.x, seen[best])
    assert res.best_iteration == best
    assert res.loss == problem.loss(res.x) == min(losses)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_nan_full_batch_gradient_keeps_finite_parameters(solver):
    problem = FaultyQuadratic("gradient", after=3)
    res = run(solver, problem, learning_rate_init=0.05)
    assert res.status == Status.DIVERGED and np.isfinite(res.x).all()
    assert res.loss == problem.loss(res.x) == min([res.initial_loss] + res.loss_curve)


# A residual function built to overflow: r = (e^p - 1e5)(1 + t). From p = -10
# the undamped Gauss-Newton step is ~1e5 e^10: e^p overflows to inf.
T = np.linspace(0.0, 1.0, 10)


def overflowing(record, root=1e5):
    """``r = (e^p - root)(1 + t)`` and its Jacobian; ``fun`` logs non-finite losses."""
    def fun(p):
        with np.errstate(over="ignore", invalid="ignore"):
            r = (np.exp(p[0]) - root) * (1.0 + T)
            if not np.isfinite(r @ r):
                record.append(p[0])
        return r

    def jac(p):
        with np.errstate(over="ignore"):
            return (np.exp(p[0]) * (1.0 + T))[:, None]

    return fun, jac


@pytest.mark.parametrize("options", [{}, TRAINLM, dict(TRAINLM, damping="marquardt")])
def test_lm_rejects_trial_steps_whose_loss_overflows(options):
    bad = []
    fun, jac = overflowing(bad)
    res = least_squares(fun, [-10.0], jac, max_iter=100, **options)
    assert len(bad) >= 1  # some trial overflowed ...
    assert res.success and res.x[0] == pytest.approx(math.log(1e5))  # ... and was rejected
    assert np.all(np.diff([res.initial_loss] + res.loss_curve) < 0)


def guarded(fun, limit=5000):
    """``fun`` that raises after ``limit`` calls: a hang becomes a failure."""
    calls = [0]

    def wrapped(p):
        calls[0] += 1
        if calls[0] > limit:
            raise RuntimeError("the solver is looping without end")
        return fun(p)

    return wrapped


@pytest.mark.parametrize("mu_update", ["trainlm", "nielsen"])
@pytest.mark.parametrize("mu_init", [0.0, 5e-324])
def test_lm_with_zero_or_underflowed_damping_terminates(mu_update, mu_init):
    # mu = 0 times any factor is 0: a rejected undamped step must not be
    # retried unchanged forever.
    bad = []
    fun, jac = overflowing(bad)
    res = least_squares(guarded(fun), [-10.0], jac, mu_init=mu_init, mu_update=mu_update,
                        max_iter=100)
    assert len(bad) >= 1 and res.success
    assert res.x[0] == pytest.approx(math.log(1e5))
    uphill = least_squares(guarded(lambda p: np.array([p[0] - 1.0])), [3.0],
                           lambda p: np.array([[-1.0]]), mu_init=mu_init,
                           mu_update=mu_update)
    assert uphill.status == Status.MU_MAX and uphill.x[0] == 3.0


def test_lm_mu_reaching_its_cap_is_a_stop_status():
    # Nielsen's rule grows mu geometrically: on this badly scaled problem it
    # passes mu_max before finding a step that fits in float64.
    bad = []
    fun, jac = overflowing(bad)
    res = least_squares(fun, [-10.0], jac, max_iter=100, mu_update="nielsen", mu_max=1e8,
                        mu_init=1e-3, geodesic=False)
    assert res.status == Status.MU_MAX and "mu_max=1e+08" in res.message
    assert np.isfinite(res.x).all() and math.isfinite(res.loss)
    assert res.mu_curve[-1] <= 1e8


def test_gauss_newton_halves_an_overflowing_step():
    bad = []
    fun, jac = overflowing(bad)
    res = least_squares(fun, [-10.0], jac, solver="gauss-newton", max_iter=100)
    assert len(bad) >= 1 and res.success
    assert res.x[0] == pytest.approx(math.log(1e5))
    assert np.all(np.diff([res.initial_loss] + res.loss_curve) < 0)


def test_pure_gauss_newton_diverging_step_stops_at_the_last_finite_point():
    bad = []
    fun, jac = overflowing(bad)
    res = least_squares(fun, [-10.0], jac, solver="gauss-newton", safeguard=False)
    assert res.status == Status.NON_FINITE and res.n_iter == 0
    assert res.x[0] == -10.0 and math.isfinite(res.loss)


@pytest.mark.parametrize("mu_init", [0.0, 1e-3])
def test_newton_rejects_a_diverging_step(mu_init):
    # f(p) = mean(((e^p - 1)(1 + t))^2) just right of its inflection at
    # p = log(1/2): the Hessian is tiny and positive, the Newton step ~500 long.
    bad = []
    fun, jac = overflowing(bad, root=1.0)

    def hess(p):
        e = np.exp(p[0])
        s = 1.0 + T
        return np.array([[2.0 * (s @ s) * e * (2.0 * e - 1.0) / T.size]])

    res = least_squares(fun, [math.log(0.5) + 1e-3], jac, hess, solver="newton",
                        mu_init=mu_init, goal=1e-20)
    assert len(bad) >= 1
    assert res.status == Status.GOAL and abs(res.x[0]) < 1e-8
    assert np.all(np.diff([res.initial_loss] + res.loss_curve) < 0)


@pytest.mark.parametrize("solver, lr", [("sgd", 2000.0), ("adam", 1000.0)])
def test_first_order_overflow_stops_with_finite_parameters(solver, lr):
    bad = []
    fun, jac = overflowing(bad)
    res = least_squares(fun, [-10.0], jac, solver=solver, learning_rate_init=lr,
                        max_iter=50)
    assert res.status == Status.DIVERGED and len(bad) >= 1
    assert np.isfinite(res.x).all() and math.isfinite(res.loss)
    assert res.loss == min([res.initial_loss] + res.loss_curve)


@pytest.mark.parametrize("solver", ["lm", "gauss-newton", "newton"])
def test_nan_loss_region_is_rejected(solver):
    # sqrt(p) is NaN for p < 0; the first full steps land there.
    def fun(p):
        with np.errstate(invalid="ignore"):
            return np.sqrt(p) * (1.0 + T) - 0.1 * (1.0 + T)

    res = least_squares(fun, [4.0], solver=solver, goal=1e-20, max_iter=200)
    assert res.status == Status.GOAL
    assert res.x[0] == pytest.approx(0.01)
    assert np.isfinite(res.loss_curve).all()


# The same faults through the estimator: a ConvergenceWarning with the cause,
# finite weights, finite predictions.
def _corrupt_after(monkeypatch, name, k, corrupt):
    original = getattr(MLPProblem, name)
    calls = [0]

    def patched(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls[0] += 1
        return corrupt(out) if calls[0] > k else out

    monkeypatch.setattr(MLPProblem, name, patched)
    return calls


@pytest.mark.parametrize("solver, method", [
    ("lm", "normal_equations"), ("gauss-newton", "normal_equations"),
    ("newton", "hessian"),
])
def test_estimator_non_finite_curvature_warns_and_keeps_finite_weights(monkeypatch, solver,
                                                                       method):
    X, y = smooth_data()
    _corrupt_after(monkeypatch, method, 3,
                   lambda out: (out[0], out[1] * np.nan, out[2] * np.nan))
    model = small(solver)
    with pytest.warns(ConvergenceWarning, match="not finite.*huge values") as record:
        model.fit(X, y)
    # the data were scaled by the estimator: no advice to scale them
    assert not any("StandardScaler" in str(w.message) for w in record)
    # the 4th evaluation (end of iteration 3) is corrupt: iteration 4 stops
    assert model._status == Status.NON_FINITE and model.n_iter_ == 3
    assert_finite_model(model, X)
    assert model.loss_ == model.loss_curve_[-1]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_estimator_nan_minibatch_gradient_warns_and_keeps_finite_weights(monkeypatch,
                                                                         solver):
    X, y = smooth_data()
    # 60 rows in batches of 16: 4 gradients an epoch (plus one at the start)
    _corrupt_after(monkeypatch, "gradient", 10, lambda out: (out[0], out[1] * np.nan))
    model = small(solver, batch_size=16)
    with pytest.warns(ConvergenceWarning, match="diverged.*Lower learning_rate_init"):
        model.fit(X, y)
    assert model._status == Status.DIVERGED and model.n_iter_ == 2
    assert_finite_model(model, X)
    assert model.loss_ == pytest.approx(min(model.loss_curve_), rel=1e-12)


def test_estimator_mu_cap_warns_with_a_remedy(monkeypatch):
    # Every trial step's loss is inf: LM damps up to mu_max and stops there.
    X, y = smooth_data()
    monkeypatch.setattr(MLPProblem, "loss", lambda self, x: math.inf)
    model = small(mu_max=1e4, normalize_X=False, normalize_y=False)  # initial weights kept
    with pytest.warns(ConvergenceWarning,
                      match=r"mu_max=10000.*normalize_X=True and normalize_y=True, or a "
                            r"StandardScaler"):
        model.fit(X, y)
    assert model._status == Status.MU_MAX and model.n_iter_ == 0
    # the initial weights, untouched
    theta0 = MLP((3, 5, 1), "tanh").init_params(np.random.RandomState(0))
    np.testing.assert_array_equal(np.sort(params_of(model)), np.sort(theta0))


# ---------------------------------------------------------------------------
# Interruption (Ctrl-C): fitted with the best parameters so far, and a warning
# ---------------------------------------------------------------------------
def _interrupt_on_call(monkeypatch, owner, name, k):
    """Make ``owner.name`` raise KeyboardInterrupt on its ``k``-th call."""
    original = getattr(owner, name)
    calls = [0]

    def patched(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == k:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, patched)
    return calls


# (solver, options, method evaluated once at the start and once per iteration)
INTERRUPT_CASES = [
    ("lm", {}, "normal_equations"),
    ("gauss-newton", {}, "normal_equations"),
    ("newton", {}, "hessian"),
    ("sgd", {}, "gradient"),
    ("adam", {}, "gradient"),
]


@pytest.mark.parametrize("solver, options, method", INTERRUPT_CASES)
def test_interrupt_keeps_the_best_parameters_and_warns(monkeypatch, solver, options,
                                                       method):
    X, y = smooth_data()
    kw = dict(tol=0.0, **options)
    # the 4th evaluation is in the 3rd iteration: two iterations completed
    calls = _interrupt_on_call(monkeypatch, MLPProblem, method, 4)
    model = small(solver, **kw)
    with pytest.warns(ConvergenceWarning, match=r"interrupted.*after 2 iterations.*lowest "
                                                r"training loss"):
        model.fit(X, y)
    assert calls[0] == 4
    assert model._status == Status.INTERRUPTED and "interrupted" in model.stop_reason_
    assert model.n_iter_ == 2 and len(model.loss_curve_) == 2
    assert model.loss_ == min(model.loss_curve_) == model.best_loss_
    monkeypatch.undo()
    # exactly the weights of a run stopped after the same two iterations
    reference = quiet_fit(small(solver, max_iter=2, **kw), X, y)
    np.testing.assert_array_equal(params_of(model), params_of(reference))


@pytest.mark.parametrize("solver", ["lm", "gauss-newton", "newton"])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_interrupt_during_a_trial_step(monkeypatch, solver, k):
    # problem.loss evaluates trial points (inside an iteration, between
    # Jacobians): the weights are the last accepted ones, consistent with
    # loss_ and the curves.
    X, y = smooth_data()
    _interrupt_on_call(monkeypatch, MLPProblem, "loss", k)
    model = small(solver, tol=0.0)
    with pytest.warns(ConvergenceWarning, match="interrupted"):
        model.fit(X, y)
    monkeypatch.undo()
    assert model._status == Status.INTERRUPTED
    assert model.n_iter_ == len(model.loss_curve_)
    assert model.loss_ == pytest.approx(np.mean((y - model.predict(X)) ** 2), rel=1e-12)
    if model.n_iter_:
        assert model.loss_ == model.loss_curve_[-1]
        reference = quiet_fit(small(solver, tol=0.0, max_iter=model.n_iter_), X, y)
        np.testing.assert_array_equal(params_of(model), params_of(reference))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_interrupt_mid_epoch_returns_the_last_complete_epoch(monkeypatch, solver):
    X, y = smooth_data()
    # 60 rows in batches of 16: 4 gradients an epoch, after 1 at the start;
    # the 8th is the 3rd batch of the 2nd epoch.
    _interrupt_on_call(monkeypatch, MLPProblem, "gradient", 8)
    model = small(solver, batch_size=16, tol=0.0)
    with pytest.warns(ConvergenceWarning, match="interrupted"):
        model.fit(X, y)
    assert model.n_iter_ == 1
    monkeypatch.undo()
    reference = quiet_fit(small(solver, batch_size=16, tol=0.0, max_iter=1), X, y)
    np.testing.assert_array_equal(params_of(model), params_of(reference))
    assert model.loss_ == reference.loss_


def test_interrupted_sgd_keeps_the_lowest_loss_not_the_last(monkeypatch):
    # With momentum the loss of SGD is not monotone: it rises at epoch 4.
    X, y = smooth_data()
    kw = dict(solver="sgd", learning_rate_init=0.1, momentum=0.9, tol=0.0, max_iter=12)
    free = quiet_fit(small(**kw), X, y)
    curve = free.loss_curve_
    k = next(i for i in range(2, len(curve)) if curve[i - 1] > min(curve[:i]))
    # interrupt in iteration k + 1: iterations 1..k completed, the last not the best
    _interrupt_on_call(monkeypatch, MLPProblem, "gradient", k + 2)
    model = small(**kw)
    with pytest.warns(ConvergenceWarning, match="lowest training loss"):
        model.fit(X, y)
    assert model.loss_curve_ == curve[:k]
    assert model.loss_ == min(curve[:k]) < curve[k - 1]
    monkeypatch.undo()
    best = int(np.argmin(curve[:k])) + 1
    reference = quiet_fit(small(**{**kw, "max_iter": best}), X, y)
    np.testing.assert_array_equal(params_of(model), params_of(reference))


def test_interrupt_in_the_early_stopping_monitor_keeps_the_validation_best(monkeypatch):
    X, y = smooth_data(80)
    kw = dict(early_stopping=True, validation_fraction=0.25, n_iter_no_change=100,
              tol=0.0)
    _interrupt_on_call(monkeypatch, ValidationMonitor, "__call__", 6)
    model = small(**kw)
    with pytest.warns(ConvergenceWarning, match="best validation loss"):
        model.fit(X, y)
    assert model._status == Status.INTERRUPTED
    assert model.n_iter_ == 5 and len(model.validation_loss_curve_) == 5
    monkeypatch.undo()
    reference = quiet_fit(small(**{**kw, "max_iter": 5}), X, y)
    np.testing.assert_array_equal(params_of(model), params_of(reference))


def test_interrupt_from_a_callback_of_least_squares():
    def callback(info):
        if info.iteration == 3:
            raise KeyboardInterrupt

    t = np.linspace(0, 1, 20)
    res = least_squares(lambda p: p[0] * np.exp(-p[1] * t) - 2.0 * np.exp(-1.5 * t),
                        [1.0, 1.0], callback=callback, goal=1e-30)
    assert res.status == Status.INTERRUPTED and not res.success
    assert res.n_iter == 2 and len(res.loss_curve) == 2
    assert res.loss == res.loss_curve[-1]


@pytest.mark.parametrize("solver, options, method", INTERRUPT_CASES)
def test_interrupt_during_the_first_evaluation_propagates(monkeypatch, solver, options,
                                                          method):
    # Nothing was computed yet: the interrupt reaches the caller, and the
    # estimator is left unfitted.
    X, y = smooth_data()
    _interrupt_on_call(monkeypatch, MLPProblem, method, 1)
    model = small(solver, **options)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_interruption_is_documented():
    notes = LMRegressor.__doc__.split("Notes")[1]
    assert "KeyboardInterrupt" in notes and "lowest training loss" in notes
    assert "propagates" in notes


# ---------------------------------------------------------------------------
# Determinism: the same random_state gives bit-identical fits
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("solver, options", [
    ("lm", {}), ("lm", dict(mu_update="nielsen", damping="marquardt")),
    ("gauss-newton", {}), ("newton", {}), ("sgd", {}), ("adam", {}),
    ("sgd", dict(batch_size=16, shuffle=True)), ("adam", dict(batch_size=16, shuffle=True)),
    ("lm", dict(early_stopping=True)), ("adam", dict(early_stopping=True, batch_size=8)),
])
def test_same_random_state_gives_bit_identical_fits(solver, options):
    X, y = smooth_data()
    a = quiet_fit(small(solver, tol=0.0, **options), X, y)
    b = quiet_fit(small(solver, tol=0.0, **options), X, y)
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(u, v)
    assert a.loss_curve_ == b.loss_curve_
    c = quiet_fit(small(solver, tol=0.0, **{**options, "random_state": 1}), X, y)
    assert not np.array_equal(params_of(a), params_of(c))


# ---------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_pickle_round_trip_for_every_solver(solver):
    X, y = smooth_data()
    model = quiet_fit(small(solver, batch_size=16 if solver in ("sgd", "adam") else None),
                      X, y)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))
    assert clone.loss_curve_ == model.loss_curve_
    assert clone.get_params() == model.get_params()
    assert clone.stop_reason_ == model.stop_reason_ and clone._status == model._status


@pytest.mark.parametrize("stored_format", [None, 0, 1])
def test_pickle_from_an_older_or_unversioned_sklm_loads(stored_format):
    X, y = smooth_data()
    model = quiet_fit(small(max_iter=3), X, y)
    state = model.__getstate__()
    del state["normalize_X"], state["normalize_y"]  # parameters since format 2
    if stored_format is None:
        state.pop("_sklm_pickle_format")
        state.pop("_sklm_version")
    else:
        state["_sklm_pickle_format"] = stored_format
    fresh = LMRegressor.__new__(LMRegressor)
    fresh.__setstate__(state)
    np.testing.assert_array_equal(fresh.predict(X), model.predict(X))
    assert "_sklm_pickle_format" not in fresh.__dict__
    # older models trained on raw targets; their parameters are complete
    assert fresh.get_params()["normalize_X"] is fresh.get_params()["normalize_y"] is False
    quiet_fit(fresh, X, y)


def test_pickle_from_a_newer_sklm_fails_with_a_clear_message():
    X, y = smooth_data()
    model = quiet_fit(small(max_iter=3), X, y)
    state = model.__getstate__()
    state["_sklm_pickle_format"] = 7
    state["_sklm_version"] = "9.0"
    fresh = LMRegressor.__new__(LMRegressor)
    with pytest.raises(ValueError, match=r"saved by sklm 9.0 in pickle format 7.*Upgrade sklm"):
        fresh.__setstate__(state)


def test_a_huge_target_on_a_zero_weight_row_does_not_disturb_the_normalisation():
    # The row takes no part in the loss; it must take none in the statistics
    # either (it used to swamp them: the others underflowed beside it).
    X, y = smooth_data(60)
    y = 1e-6 * y
    w = np.ones(60)
    X_extra, y_extra = np.vstack([X[:1], X]), np.concatenate([[1e300], y])
    w_extra = np.concatenate([[0.0], w])
    plain = quiet_fit(small(max_iter=40), X, y, sample_weight=w)
    extra = quiet_fit(small(max_iter=40), X_extra, y_extra, sample_weight=w_extra)
    assert plain.score(X, y) > 0.999
    np.testing.assert_allclose(extra.predict(X), plain.predict(X), rtol=1e-6,
                               atol=1e-6 * np.abs(y).max())


def test_alpha_that_overflows_on_the_normalised_problem_is_a_clear_error():
    X, y = smooth_data(30)
    with pytest.raises(ValueError, match=r"alpha=1e\+10 on the normalised problem overflows"):
        small(alpha=1e10).fit(X, 1e-150 * y)
