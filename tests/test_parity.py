"""Drop-in for MLPRegressor users: scikit-learn's test_mlp.py regression tests, for sklm.

Re-expressed from scikit-learn 1.9's ``sklearn/neural_network/tests/test_mlp.py``
(warm start, partial_fit, early stopping, n_iter_no_change, batch size
clipping, attribute shapes) for every solver they apply to; and trainlm-like
progress (the throttled verbose table, the slow-fit warning).
"""

import copy
import io
import itertools
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor
from sklm.solvers import SlowFitWarning, Status, _base

pytestmark = pytest.mark.timeout(120)

ALL = ["lm", "gauss-newton", "newton", "sgd", "adam"]
# options under which each solver is well behaved on the small data below
OPTIONS = {"lm": {}, "gauss-newton": {}, "newton": {},
           "sgd": dict(learning_rate_init=0.01), "adam": dict(learning_rate_init=0.01)}


@pytest.fixture(scope="module")
def data():
    X, y = make_regression(n_samples=60, n_features=4, noise=1.0, random_state=0)
    return X, y / y.std()


def model(solver, **kw):
    return LMRegressor((5,), solver=solver, random_state=1, **{**OPTIONS[solver], **kw})


# ------------------------------------------------------------ attributes
@pytest.mark.parametrize("solver", ALL)
def test_fitted_attribute_shapes(data, solver):
    X, y = data
    Y = np.column_stack([y, -y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = model(solver, max_iter=7, tol=0.0).fit(X, Y)
    assert [c.shape for c in m.coefs_] == [(4, 5), (5, 2)]
    assert [b.shape for b in m.intercepts_] == [(5,), (2,)]
    assert m.n_layers_ == 3 and m.n_outputs_ == 2 and m.out_activation_ == "identity"
    assert m.n_iter_ == len(m.loss_curve_) == len(m.gradient_curve_) == len(m.mu_curve_) == 7
    assert m.t_ == 7 * X.shape[0]
    assert m.predict(X).shape == (60, 2)
    assert m.best_iteration_ == 7  # the last: nothing diverged or was interrupted


def test_gradient_curve_is_the_gradient_norm(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lm = model("lm", max_iter=10, tol=0.0).fit(X, y)
        adam = model("adam", max_iter=3, tol=0.0, batch_size=16).fit(X, y)
    g = np.array(lm.gradient_curve_)
    assert np.all(np.isfinite(g) & (g > 0)) and g[-1] < g[0]
    # minibatch epochs compute no full gradient
    assert np.all(np.isnan(adam.gradient_curve_))


# ------------------------------------------------------------- warm start
@pytest.mark.parametrize("solver", ALL)
def test_warm_start_counts_the_last_call_and_continues_the_curves(data, solver):
    # test_mlp.py::test_warm_start_full_iteration / test_mlp_warm_start_no_convergence
    X, y = data
    m = model(solver, max_iter=5, tol=0.0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m.fit(X, y)
        first = list(m.loss_curve_)
        m.set_params(max_iter=3)
        with pytest.warns(ConvergenceWarning, match="max_iter=3"):
            m.fit(X, y)
    assert m.n_iter_ == 3 and len(m.loss_curve_) == 8 and m.loss_curve_[:5] == first
    assert m.t_ == 8 * X.shape[0]


def test_warm_start_with_early_stopping_accumulates_validation_scores(data):
    # test_mlp.py::test_warm_start_with_early_stopping
    X, y = data
    m = model("lm", early_stopping=True, max_iter=10, warm_start=True, n_iter_no_change=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m.fit(X, y)
        n_scores = len(m.validation_scores_)
        m.set_params(max_iter=20).fit(X, y)
    assert len(m.validation_scores_) == n_scores + m.n_iter_
    assert len(m.validation_scores_) == len(m.loss_curve_)


# ------------------------------------------------------------- partial_fit
@pytest.mark.parametrize("solver", ALL)
def test_partial_fit_equals_fit(data, solver):
    # test_mlp.py::test_partial_fit_regression: k calls of partial_fit are k
    # iterations of fit (the solver's state - mu, moments - carries over)
    X, y = data
    k = 6
    # (alpha=0: 'auto' is Bayesian in fit, no penalty in partial_fit)
    kw = dict(max_iter=k, tol=0.0, shuffle=False, alpha=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = model(solver, **kw).fit(X, y)
    parts = model(solver, **kw)
    for _ in range(k):
        parts.partial_fit(X, y)
        assert parts.n_iter_ == 1
    # (to round-off: between calls the weights are stored in the user's units;
    # undamped Gauss-Newton amplifies the round trip the most)
    np.testing.assert_allclose(parts.loss_curve_, whole.loss_curve_, rtol=1e-7)
    np.testing.assert_allclose(parts.predict(X), whole.predict(X), rtol=1e-7, atol=1e-10)
    assert parts.t_ == whole.t_ == k * X.shape[0]


@pytest.mark.parametrize("first,then", list(itertools.permutations(ALL, 2)))
def test_partial_fit_after_a_change_of_solver_starts_the_new_ones_state_afresh(data, first,
                                                                                then):
    # the weights carry over; the first solver's damping or moments mean nothing
    # to the second, which starts its own as with no state at all
    X, y = data
    m = model(first, alpha=0.0)
    m.partial_fit(X, y)
    m.partial_fit(X, y)
    m.set_params(solver=then, **OPTIONS[then])
    stateless = copy.deepcopy(m)
    stateless._solver_carry = {}
    m.partial_fit(X, y)
    stateless.partial_fit(X, y)
    assert m.n_iter_ == 1 and len(m.loss_curve_) == 3 and np.isfinite(m.loss_curve_).all()
    assert m.loss_curve_ == stateless.loss_curve_
    for a, b in zip(m.coefs_, stateless.coefs_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_keeps_the_first_calls_normalisation(data):
    X, y = data
    m = model("adam")
    m.partial_fit(X[:30], 100.0 * y[:30])
    norm = m._normalisation
    m.partial_fit(X[30:], 100.0 * y[30:] + 5.0)
    assert m._normalisation is norm
    assert len(m.loss_curve_) == 2 and m.t_ == 60


def test_partial_fit_with_sample_weight(data):
    X, y = data
    w = np.arange(1, 61, dtype=float)
    a = model("lm").partial_fit(X, y, sample_weight=w)
    b = model("lm").partial_fit(np.repeat(X, w.astype(int), axis=0),
                                np.repeat(y, w.astype(int)))
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-8)


def test_partial_fit_errors(data):
    # test_mlp.py::test_partial_fit_errors
    X, y = data
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        model("adam", early_stopping=True).partial_fit(X, y)
    m = model("lm").partial_fit(X, y)
    with pytest.raises(ValueError, match="features"):
        m.partial_fit(X[:, :3], y)
    with pytest.raises(ValueError, match="outputs"):
        m.partial_fit(X, np.column_stack([y, y]))


# ---------------------------------------------------------- early stopping
@pytest.mark.parametrize("solver", ALL)
def test_early_stopping_records_scores_and_keeps_the_best(data, solver):
    # test_mlp.py::test_early_stopping (regression)
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = model(solver, early_stopping=True, max_iter=60, tol=0.0,
                  n_iter_no_change=5).fit(X, y)
    scores = m.validation_scores_
    assert len(scores) == m.n_iter_ == len(m.loss_curve_)
    assert m.best_loss_ is None
    best = m.best_iteration_
    assert 0 <= best <= m.n_iter_
    if best:
        # the parameters held are the best validated iteration's
        assert m.best_validation_score_ == pytest.approx(max(scores))
        assert scores[best - 1] == pytest.approx(max(scores))
        assert m.loss_ == pytest.approx(m.loss_curve_[best - 1])


# -------------------------------------------------------- n_iter_no_change
@pytest.mark.parametrize("solver", ALL)
@pytest.mark.parametrize("n_iter_no_change", [2, 5])
def test_n_iter_no_change(data, solver, n_iter_no_change):
    # test_mlp.py::test_n_iter_no_change: a tol no iteration can meet stops
    # the run after exactly n_iter_no_change iterations
    X, y = data
    m = model(solver, tol=1e6, n_iter_no_change=n_iter_no_change, max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            m.fit(X, y)
        except ConvergenceWarning:
            assert solver == "gauss-newton"  # (halved steps: a stall)
            return
    assert m.n_iter_ == n_iter_no_change and m._status == Status.TOL


@pytest.mark.parametrize("solver", ["lm", "adam"])
def test_n_iter_no_change_inf(data, solver):
    # test_mlp.py::test_n_iter_no_change_inf: never stops on tol
    X, y = data
    m = model(solver, tol=1e6, n_iter_no_change=np.inf, max_iter=8)
    with pytest.warns(ConvergenceWarning, match="max_iter=8"):
        m.fit(X, y)
    assert m.n_iter_ == 8


# -------------------------------------------------------------- batch size
def test_batch_size_auto_is_the_default_and_min_200_n():
    X, y = make_regression(n_samples=450, n_features=3, random_state=0)
    m = LMRegressor((3,), solver="adam", max_iter=1, random_state=0)
    assert m.batch_size == "auto"
    from sklm._plan import DataCounts, FitPlan
    from sklm.solvers import Adam

    params = m.get_params()
    plan = FitPlan.resolve(params, DataCounts(450, 450, 450.0), 16, incremental=False,
                           continuing=False)
    solver = plan.solver_options(params, monitor=None, rng=np.random.RandomState(0),
                                 loss_unit=1.0, max_time=None, slow_fit_warning=None)
    assert Adam(**solver).batch_rows(450) == 200
    assert Adam(**solver).batch_rows(150) is None  # min(200, n): the full batch


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_batch_size_above_the_samples_is_clipped_with_a_warning(data, solver):
    # test_mlp.py::test_warn_batch_size (MLPRegressor warns, then clips)
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="batch_size=1000 is larger than the 60"):
            big = model(solver, batch_size=1000, max_iter=3, tol=0.0).fit(X, y)
        full = model(solver, batch_size=None, max_iter=3, tol=0.0).fit(X, y)
    assert big.loss_curve_ == full.loss_curve_


# -------------------------------------------------------------- progress
class _Clock:
    """``time.perf_counter`` that advances ``step`` seconds a call."""

    def __init__(self, step):
        self.t = itertools.count(0.0, step)

    def __call__(self):
        return next(self.t)


def _rows(out):
    return [line for line in out.splitlines() if line.split() and line.split()[0].isdigit()]


def test_verbose_1_throttles_to_about_a_row_a_second(data, monkeypatch, capsys):
    X, y = data
    monkeypatch.setattr(_base.time, "perf_counter", _Clock(0.15))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model("adam", max_iter=40, tol=0.0, verbose=1).fit(X, y)
    rows = _rows(capsys.readouterr().out)
    iters = [int(r.split()[0]) for r in rows]
    times = [float(r.split()[1]) for r in rows]
    assert iters[0] == 1 and iters[-1] == 40
    assert 3 < len(rows) < 20  # not all 40
    assert all(b - a >= 1.0 for a, b in zip(times[:-2], times[1:-1]))


def test_verbose_2_prints_every_iteration(data, capsys):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model("adam", max_iter=25, tol=0.0, verbose=2).fit(X, y)
    out = capsys.readouterr().out
    assert [int(r.split()[0]) for r in _rows(out)] == list(range(1, 26))
    assert out.splitlines()[-1].startswith("Stopped after 25 iterations")


def test_closing_line_says_why_in_y_units(data, capsys):
    X, y = data
    m = model("lm", goal=1e-3 * np.var(100 * y), verbose=1, max_iter=500)
    m.fit(X, 100 * y)
    last = capsys.readouterr().out.splitlines()[-1]
    assert f"training loss {m.loss_:.6g}" in last and "reached the goal" in last


def test_a_fit_on_course_to_take_long_warns_once(data, monkeypatch):
    X, y = data
    monkeypatch.setattr(_base.time, "perf_counter", _Clock(1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(SlowFitWarning, match="max_time") as record:
            model("adam", max_iter=200, tol=0.0).fit(X, y)
    assert sum(isinstance(w.message, SlowFitWarning) for w in record) == 1
    # a budget within the threshold: nothing to warn about
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowFitWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model("adam", max_iter=200, tol=0.0, max_time=20.0).fit(X, y)


def test_quiet_fits_print_nothing(data, capsys):
    X, y = data
    model("lm").fit(X, y)
    assert capsys.readouterr().out == ""


def test_verbose_table_shows_validation_checks(data):
    X, y = data
    stream = io.StringIO()
    m = model("lm", early_stopping=True, verbose=2, n_iter_no_change=3, max_iter=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        monkey = _base.sys.stdout
        _base.sys.stdout = stream
        try:
            m.fit(X, y)
        finally:
            _base.sys.stdout = monkey
    rows = _rows(stream.getvalue())
    fails = [int(r.split()[4]) for r in rows]
    # the checks failed count up to n_iter_no_change at the stop
    assert fails[-1] == 3 and m._status == Status.CALLBACK
