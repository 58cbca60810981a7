"""Options checked at both doors, and every stall and divergence named.

Each solver declares its options' constraints once; ``LMRegressor`` and
``least_squares`` validate with them and give the same error. Every test here
runs under a time limit: a configuration that used to hang must now fail fast.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor
from sklm._early_stopping import ValidationMonitor
from sklm._problem import MLPProblem
from sklm._sklearn_compat import InvalidParameterError, validate_parameter_constraints
from sklm.optimize import least_squares
from sklm.solvers import MESSAGES, SOLVERS, Status

from .conftest import rosenbrock2d

pytestmark = pytest.mark.timeout(120)

# Out-of-range values for every option any solver declares. A new option
# without an entry here fails test_every_declared_option_has_bad_values.
BAD = {
    "max_iter": [0, -1, 1.5],
    "goal": [-1e-3, math.nan, math.inf],
    "tol": [-1.0, math.nan],
    "n_iter_no_change": [0, 2.5, -math.inf],
    "min_grad": [-1.0, math.nan],
    "stop_on_tol": ["yes", 0],
    "max_time": [0.0, -1.0, math.nan],
    "callback": [3],
    "verbose": ["yes", 2.5],
    "loss_unit": [0.0, -1.0],
    "slow_fit_warning": [0.0, -5.0, "soon"],
    "mu_init": [-1.0, "fast", math.nan],
    "mu_increase": [1.0, 0.5, 0.0],
    "mu_decrease": [0.0, 1.0, 1.5],
    "mu_max": [0.0, -1.0, math.inf],
    "damping": ["lm"],
    "mu_update": ["foo"],
    "geodesic": ["yes", 1],
    "geodesic_alpha": [0.0, -1.0],
    "geodesic_h": [0.0],
    "safeguard": ["no"],
    "max_halvings": [-1, 1.5],
    "learning_rate_init": [0.0, -1e-3],
    "batch_size": [0, "big", 1.5],
    "shuffle": ["no"],
    "random_state": ["seed", -1],
    "momentum": [-0.1, 1.1],
    "nesterovs_momentum": ["x"],
    "beta_1": [1.0, -0.1],
    "beta_2": [1.0],
    "epsilon": [0.0],
    "linear_solver": ["cholesky", None],
    "cg_max_iter": [0, 2.5],
    "cg_tol": [0.0, 1.0, math.nan],
    "curvature_rows": [0, -3],
}
# Options least_squares does not take (the solver is built with them by the
# caller) or takes under another name.
NOT_AT_LEAST_SQUARES = {"stream"}

CASES = [(solver, name, value)
         for solver, cls in SOLVERS.items()
         for name in cls.parameter_constraints() if name not in NOT_AT_LEAST_SQUARES
         for value in BAD[name]]


def line(p):
    return np.array([p[0] - 1.0, 2.0 * (p[0] - 1.0)])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(60, 2))
    return X, rosenbrock2d(X)


def test_every_declared_option_has_bad_values():
    declared = {name for cls in SOLVERS.values() for name in cls.parameter_constraints()}
    assert declared - NOT_AT_LEAST_SQUARES <= set(BAD)


@pytest.mark.parametrize("solver, name, value", CASES)
def test_an_out_of_range_option_is_the_same_error_at_both_doors(data, solver, name, value):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of least_squares"
                       ) as functional:
        least_squares(line, [0.0], solver=solver, **{name: value})
    if name not in LMRegressor().get_params():
        return  # a least_squares option only (geodesic_h, safeguard, ...)
    X, y = data
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of LMRegressor"
                       ) as estimator:
        LMRegressor(solver=solver, **{name: value}).fit(X, y)
    assert (str(functional.value).replace("least_squares", "LMRegressor")
            == str(estimator.value))


def test_the_estimator_validates_every_option_whatever_the_solver(data):
    # an Adam option is checked when LM trains, as scikit-learn checks all
    X, y = data
    with pytest.raises(InvalidParameterError, match="'beta_1'"):
        LMRegressor(solver="lm", beta_1=2.0).fit(X, y)


def test_the_hanging_damping_rules_are_refused():
    # a rejected trial could not raise mu: the same trial was retried forever
    for mu_increase in (0.5, 1.0):
        with pytest.raises(InvalidParameterError, match="mu_increase"):
            least_squares(line, [0.0], mu_init=0.0, mu_increase=mu_increase)


def test_unknown_solver_and_backend_are_clear_errors():
    with pytest.raises(InvalidParameterError, match="'solver' parameter of least_squares"):
        least_squares(line, [0.0], solver="bfgs")
    with pytest.raises(InvalidParameterError, match="'backend' parameter of least_squares"):
        least_squares(line, [0.0], backend="torch")


@pytest.mark.parametrize("x0, match", [
    ([], "x0 is empty"),
    ([[1.0, 2.0]], "x0 must be 1-D"),
    ([1.0, math.nan], "x0 contains NaN"),
    (["a"], "x0 must be a 1-D array of real numbers"),
])
def test_least_squares_bad_start_is_a_clear_error(x0, match):
    with pytest.raises(ValueError, match=match):
        least_squares(lambda p: p - 1.0, x0)


def test_least_squares_empty_residual_is_a_clear_error():
    with pytest.raises(ValueError, match="fun returned an empty array"):
        least_squares(lambda p: np.array([]), [1.0])


def test_least_squares_fun_that_is_no_function_or_returns_nothing_is_named():
    with pytest.raises(TypeError, match="fun must be callable; got int"):
        least_squares(3, [1.0, 2.0])
    with pytest.raises(TypeError, match="jac must be callable; got list"):
        least_squares(lambda p: p, [1.0], jac=[1.0])
    # None became a NaN residual and a NON_FINITE status
    with pytest.raises(ValueError, match="fun returned None"):
        least_squares(lambda p: None, [0.0, 0.0])

    def buggy(p):
        return p + "1"  # the user's own TypeError is not relabelled as sklm's

    with pytest.raises(TypeError, match="ufunc|unsupported|add"):
        least_squares(buggy, [0.0])


#: 20 residuals, one parameter: ``fun(p) = p T20 - 1`` below.
T20 = np.linspace(0.0, 1.0, 20)


@pytest.mark.parametrize("kwargs, match", [
    (dict(fun=lambda p: (p[0] * T20 - 1.0).astype(complex)), "fun returned complex values"),
    (dict(jac=lambda p: T20[:, None] + 0j), "jac returned complex values"),
    (dict(hess=lambda p: np.eye(1, dtype=complex), solver="newton"),
     "hess returned complex values"),
])
def test_least_squares_refuses_complex_values(kwargs, match):
    # NumPy alone would drop the imaginary parts with a ComplexWarning
    kwargs = dict(dict(fun=lambda p: p[0] * T20 - 1.0), **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning before the error
        with pytest.raises(ValueError, match=match):
            least_squares(x0=[0.5], **kwargs)


@pytest.mark.parametrize("jac, says", [
    (lambda p: T20, r"jac must return an array of shape \(m, n\) = \(20, 1\); got shape \(20,\)"),
    (lambda p: np.ones((1, 1)), r"\(m, n\) = \(20, 1\); got shape \(1, 1\)"),
    (lambda p: None, "jac returned None"),
])
def test_least_squares_names_the_shape_jac_returned(jac, says):
    with pytest.raises(ValueError, match=says):
        least_squares(lambda p: p[0] * T20 - 1.0, [0.5], jac=jac)


def test_least_squares_names_the_shape_hess_returned():
    with pytest.raises(ValueError, match="hess returned None"):
        least_squares(lambda p: p[0] * T20 - 1.0, [0.5], hess=lambda p: None, solver="newton")
    with pytest.raises(ValueError, match=r"\(n, n\) = \(1, 1\); got shape \(1,\)"):
        least_squares(lambda p: p[0] * T20 - 1.0, [0.5], hess=lambda p: np.ones(1),
                      solver="newton")


def test_least_squares_takes_one_residuals_jacobian_as_a_row():
    res = least_squares(lambda p: np.array([p[0] - 1.0]), [0.0], jac=lambda p: np.ones(1))
    np.testing.assert_allclose(res.x, [1.0])


def test_least_squares_residual_changing_length_is_a_clear_error():
    calls = [0]

    def fun(p):
        calls[0] += 1
        return np.full(3 if calls[0] == 1 else 4, p[0] - 1.0)

    with pytest.raises(ValueError, match=r"shape \(4,\).*returned \(3,\) at x0"):
        least_squares(fun, [0.0])


def test_least_squares_lm_defaults_are_the_estimators():
    # One LM default: the functional door trains as LMRegressor(solver='lm').
    estimator = LMRegressor().get_params()
    for solver in ("lm", "newton", "sgd", "adam"):
        cls = SOLVERS[solver]
        defaults = {name: p.default for klass in cls.__mro__[::-1]
                    for name, p in _signature(klass).items()}
        for name in cls.options:
            if name == "random_state":
                continue
            assert defaults[name] == estimator[name], (solver, name)


def _signature(klass):
    import inspect
    if "__init__" not in vars(klass):
        return {}
    return {name: p for name, p in inspect.signature(klass.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


# ---------------------------------------------------------------- divergence
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_diverging_first_order_fit_is_a_status_with_the_best_parameters(data, solver):
    X, y = data
    model = LMRegressor(solver=solver, learning_rate_init=1e3, max_iter=50, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged.*Lower learning_rate_init"):
        model.fit(X, 1e3 * y)
    assert model._status == Status.DIVERGED
    assert "diverged" in model.stop_reason_
    # the lowest training loss seen is the one the model holds, and it is its
    # real loss (alpha = 0: the mean squared error of its predictions)
    pred = model.predict(X)
    assert np.isfinite(pred).all()
    assert model.loss_ == model.best_loss_
    assert model.loss_ <= min(model.loss_curve_)
    assert np.mean((1e3 * y - pred) ** 2) == pytest.approx(model.loss_, rel=1e-9)
    # what the issue saw: R^2 of -2e81 from the last, diverged weights
    assert model.score(X, 1e3 * y) > -10


def test_a_small_rise_of_the_loss_is_not_divergence():
    # a quadratic bowl with an oscillating but contracting SGD (lr near 2/L):
    # the loss rises and falls by far less than the documented factor
    res = least_squares(lambda p: p - 1.0, [0.0], solver="sgd", learning_rate_init=0.95,
                        momentum=0.0, max_iter=40)
    assert res.status != Status.DIVERGED


# -------------------------------------------------------------------- stalls
def _surrogate(n=500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    return X, rosenbrock2d(X)


@pytest.mark.parametrize("options", [dict(normalize_X=False, normalize_y=False), {}])
def test_a_stalled_gauss_newton_fit_is_a_failure_that_suggests_lm(options):
    # the case: the halved steps lower the loss by a hair, and the tol
    # rule used to call that convergence (R^2 < 0, gradient norm 7.8). Without
    # a penalty: the Bayesian one of the defaults regularises J^T J enough for
    # Gauss-Newton to fit these data.
    X, y = _surrogate()
    options = dict(options, alpha=0.0, early_stopping=False)
    model = LMRegressor(solver="gauss-newton", max_iter=300, random_state=0, **options)
    with pytest.warns(ConvergenceWarning, match="stuck, not converged.*solver='lm'"):
        model.fit(X, y)
    assert model._status == Status.STALLED
    # LM on the same data and start does fit
    lm = LMRegressor(max_iter=300, random_state=0, **options).fit(X, y)
    assert lm.score(X, y) > 0.99 > model.score(X, y)


def test_gauss_newton_that_converges_still_succeeds():
    # a linear model: the full step solves it, and the tol rule ends the run
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LMRegressor((2,), activation="identity", solver="gauss-newton",
                            random_state=0).fit(X, y)
    assert model._status in (Status.TOL, Status.CONVERGED, Status.MIN_GRAD)


def test_early_stopping_that_never_beats_the_start_says_so(data, monkeypatch):
    X, y = data
    original = ValidationMonitor.evaluate
    calls = [0]

    def evaluate(self, x):
        calls[0] += 1
        return (0.0, 1.0) if calls[0] == 1 else original(self, x)  # a perfect start

    monkeypatch.setattr(ValidationMonitor, "evaluate", evaluate)
    model = LMRegressor(early_stopping=True, random_state=0, max_iter=100)
    with pytest.warns(ConvergenceWarning, match="no iteration improved.*untrained"):
        model.fit(X, y)
    assert "starting parameters" in model.stop_reason_


# ------------------------------------------------------------------ messages
def test_mu_max_under_float32_names_the_precision(data, monkeypatch):
    X, y = data
    monkeypatch.setattr(MLPProblem, "loss", lambda self, x: math.inf)
    model = LMRegressor(dtype="float32", mu_max=1e4, random_state=0)
    with pytest.warns(ConvergenceWarning) as record:
        model.fit(X, y)
    text = " ".join(str(w.message) for w in record)
    assert "dtype='float32'" in text and "dtype='float64'" in text
    assert "local minimum" not in text and ". (" not in text


def test_every_status_message_is_a_sentence():
    for status, text in MESSAGES.items():
        assert text[0].isupper() and text.endswith("."), status
        assert "callback" not in text or status == Status.CALLBACK


def test_early_stopping_messages_do_not_speak_of_a_callback(data):
    X, y = data
    model = LMRegressor(early_stopping=True, n_iter_no_change=2, random_state=0).fit(X, y)
    assert model._status == Status.CALLBACK
    assert model.stop_reason_.startswith("Early stopping")
    assert "callback" not in model.stop_reason_


# ------------------------------------------------------------- property test
_OPTION_VALUES = {
    "max_iter": st.sampled_from([1, 5, 20, 0, -1]),
    "tol": st.sampled_from([0.0, 1e-6, 0.1, -1.0, math.nan]),
    "n_iter_no_change": st.sampled_from([1, 3, math.inf, 0]),
    "goal": st.sampled_from([0.0, 1e-3, -1.0]),
    "min_grad": st.sampled_from([0.0, 1e-10, -1.0]),
    "mu_init": st.sampled_from(["auto", 0.0, 1e-3, 3.0, 1e8, -1.0]),
    "mu_increase": st.sampled_from([1.5, 10.0, 1e6, 1.0, 0.5]),
    "mu_decrease": st.sampled_from([1e-6, 0.1, 0.9, 1.0]),
    "mu_max": st.sampled_from([1e-2, 1e10, 1e300, 0.0]),
    "damping": st.sampled_from(["levenberg", "marquardt", "lm"]),
    "mu_update": st.sampled_from(["nielsen", "trainlm", "foo"]),
    "geodesic": st.sampled_from([True, False, 1]),
    "learning_rate_init": st.sampled_from([1e-6, 1e-2, 10.0, 1e6, 0.0]),
    "batch_size": st.sampled_from([None, "auto", 1, 7, 10_000, 0]),
    "momentum": st.sampled_from([0.0, 0.5, 1.0, 1.5]),
    "beta_1": st.sampled_from([0.0, 0.9, 1.0]),
    "epsilon": st.sampled_from([1e-300, 1e-8, 1.0, 0.0]),
}


def _is_valid(name, value, solver):
    constraints = SOLVERS[solver].parameter_constraints()
    try:
        validate_parameter_constraints(constraints, {name: value}, caller_name="check")
    except InvalidParameterError:
        return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(solver=st.sampled_from(sorted(SOLVERS)),
       options=st.fixed_dictionaries({}, optional=_OPTION_VALUES))
def test_random_option_sets_return_or_fail_clearly_at_both_doors(solver, options):
    X, y = _surrogate(n=40, seed=3)
    model = LMRegressor((4,), solver=solver, random_state=0, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning, overflow in NumPy
        try:
            model.fit(X, y)
        except InvalidParameterError as exc:
            # refused only for an option out of range, which it names
            bad = [k for k, v in options.items() if not _is_valid(k, v, _owner(k, solver))]
            assert bad and any(f"'{k}'" in str(exc) for k in bad)
        else:
            assert np.isfinite(model.predict(X)).all()
            assert math.isfinite(model.loss_)
        own = {k: v for k, v in options.items() if k in SOLVERS[solver].parameter_constraints()}
        try:
            res = least_squares(lambda p: np.tanh(p[0] * X[:, 0]) + p[1] - y / 100, [0.1, 0.0],
                                solver=solver, **own)
        except InvalidParameterError as exc:
            assert any(f"'{k}'" in str(exc) for k in own)
        else:
            assert np.isfinite(res.x).all() and math.isfinite(res.loss)


def _owner(name, solver):
    """A solver that declares ``name`` (the estimator validates all of them)."""
    if name in SOLVERS[solver].parameter_constraints():
        return solver
    return next(s for s, cls in SOLVERS.items() if name in cls.parameter_constraints())


def test_a_start_that_meets_the_goal_is_no_untrained_network():
    # with early stopping (the default on 200 rows) a goal met before the first
    # iteration was warned about as "no iteration improved ... untrained"
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(200, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = LMRegressor((4,), goal=1e6, random_state=0).fit(X, rosenbrock2d(X))
    assert model.n_iter_ == 0 and "goal" in model.stop_reason_


def test_a_goal_met_after_iterations_that_never_beat_the_start_still_warns():
    # the goal may be met while no iteration validated better than the start:
    # the fit then returns its random start, which must be said
    rng = np.random.default_rng(0)
    X, y = rng.uniform(-1, 1, (60, 5)), rng.normal(size=60)
    kw = dict(hidden_layer_sizes=(30,), early_stopping=True, alpha=0.0,
              validation_fraction=0.5, max_iter=30, tol=0.0, n_iter_no_change=50,
              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = LMRegressor(**kw).fit(X, y)
    model = LMRegressor(goal=first.loss_curve_[0] * 1.0001, **kw)
    with pytest.warns(ConvergenceWarning, match="no iteration improved"):
        model.fit(X, y)
    assert model.n_iter_ >= 1 and model.best_iteration_ == 0 and "goal" in model.stop_reason_


@pytest.mark.parametrize("kw", [dict(), dict(n_init=2), dict(solver="adam", batch_size=500)])
def test_warnings_name_the_line_of_the_users_code(kw):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(120, 2))
    with pytest.warns(UserWarning) as record:
        LMRegressor((4,), max_iter=2, random_state=0, **kw).fit(X, rosenbrock2d(X))
    assert len(record) >= 1
    assert {w.filename for w in record} == {__file__}


def test_a_one_row_validation_split_has_no_r2():
    # R^2 is undefined on one row: NaN as scikit-learn's r2_score, not 0.0
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(100, 2))
    model = LMRegressor((4,), early_stopping=True, validation_fraction=0.01, max_iter=5,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, rosenbrock2d(X))
    assert len(model.validation_scores_) == model.n_iter_
    assert all(math.isnan(s) for s in model.validation_scores_)
    assert math.isnan(model.best_validation_score_)
    assert all(math.isfinite(v) for v in model.validation_loss_curve_)
