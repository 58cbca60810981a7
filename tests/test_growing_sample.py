"""The growing-sample warm-up of large LM fits, on small data (the stage sizes shrunk)."""

import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor, _plan
from sklm import _sampling as sampling
from sklm._backend import NumpyBackend
from sklm._mlp import MLP
from sklm._problem import MLPProblem
from sklm.solvers import LevenbergMarquardt, Newton, Status

pytestmark = pytest.mark.timeout(120)

# What 'auto' resolves to on the >= 50,000 rows the warm-up is for (fewer
# rows here, with its sizes shrunk): no Bayesian penalty, no validation split.
LARGE = dict(alpha=0.0, early_stopping=False)


@pytest.fixture
def small_stages(monkeypatch):
    """Stages of 300 and 1,200 rows, a 1,000-row holdout, 5 iterations a stage."""
    monkeypatch.setattr(sampling, "FIRST_ROWS", 300)
    monkeypatch.setattr(sampling, "HOLDOUT_ROWS", 1000)
    monkeypatch.setattr(sampling, "STAGE_ITERATIONS", 5)
    monkeypatch.setattr(_plan, "MIN_ROWS", 3000)


def smooth(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    return X, np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + X[:, 2] ** 2


def test_sample_stages_are_nested_and_disjoint_from_the_holdout(small_stages):
    stages, holdout = sampling.sample_stages(4000, np.random.RandomState(0))
    assert [len(s) for s in stages] == [300, 1200]
    assert set(stages[0]) <= set(stages[1])
    assert not set(stages[-1]) & set(holdout) and len(holdout) == 1000
    # never when not even the first sample is at most half the rows
    assert len(sampling.sample_stages(2999, np.random.RandomState(0))[0]) == 2
    assert sampling.sample_stages(500, np.random.RandomState(0)) == ([], None)


def test_auto_trains_on_growing_samples_then_all_rows(small_stages):
    X, y = smooth(4000)
    model = LMRegressor((8,), **LARGE, random_state=0, max_iter=60).fit(X, y)
    rows = model.sample_rows_curve_
    assert rows[0] == 300 and 1200 in rows and rows[-1] == 4000
    assert rows == sorted(rows) and len(rows) == model.n_iter_ == len(model.loss_curve_)
    assert model.t_ == sum(rows)
    assert model.score(X, y) > 0.999
    # loss_ and best_loss_ are losses on all the rows, whatever the samples'
    mse = float(np.mean((y - model.predict(X)) ** 2))
    assert model.loss_ == pytest.approx(mse, rel=1e-8)
    full = [v for v, r in zip(model.loss_curve_, rows) if r == 4000]
    assert model.best_loss_ <= min(full) and model.best_loss_ == pytest.approx(model.loss_)


def test_off_is_the_full_batch_path_exactly(small_stages):
    X, y = smooth(4000)
    off = LMRegressor((8,), **LARGE, random_state=0, max_iter=30, growing_sample=False).fit(X, y)
    assert off.sample_rows_curve_ == [4000] * off.n_iter_
    # below the size 'auto' starts at, 'auto' draws nothing more: bit-identical
    X, y = smooth(2500)
    auto = LMRegressor((8,), **LARGE, random_state=0, max_iter=30).fit(X, y)
    off = LMRegressor((8,), **LARGE, random_state=0, max_iter=30, growing_sample=False).fit(X, y)
    assert auto.loss_curve_ == off.loss_curve_
    np.testing.assert_array_equal(auto.coefs_[0], off.coefs_[0])


def test_samples_train_in_float32_and_the_full_data_in_dtype(small_stages, monkeypatch):
    dtypes = []
    original = MLPProblem.__init__

    def init(self, mlp, X, *args, dtype=np.float64, **kwargs):
        dtypes.append((X.shape[0], np.dtype(dtype).name))
        original(self, mlp, X, *args, dtype=dtype, **kwargs)

    monkeypatch.setattr(MLPProblem, "__init__", init)
    X, y = smooth(4000)
    LMRegressor((8,), **LARGE, random_state=0, max_iter=40).fit(X, y)
    assert dtypes == [(1000, "float64"), (300, "float32"), (1200, "float32"),
                      (4000, "float64")]


def test_lm_rescales_mu_with_the_rows_it_resumes_on():
    rng = np.random.default_rng(0)
    mlp = MLP((2, 4, 1), "tanh")
    X = rng.normal(size=(40, 2))
    Y = np.sin(X[:, :1])

    def problem(rows):
        return MLPProblem(mlp, X[:rows], Y[:rows], np.ones(rows), 0.0, NumpyBackend(), 64)

    x0 = mlp.init_params(np.random.RandomState(0))
    first = LevenbergMarquardt(max_iter=3).run(problem(10), x0)
    solver = LevenbergMarquardt()
    state = solver.init(problem(40), first.x)
    solver.resume(problem(40), state, first.carry)
    assert state.mu == pytest.approx(first.carry["mu"] * 4.0)
    # a run that ended past mu_max (MU_MAX) hands on nothing: the next starts
    # afresh (it took ~20 wasted iterations on the full data after a float32
    # sample stage that stopped so)
    fresh = solver.init(problem(40), first.x)
    state = solver.init(problem(40), first.x)
    solver.resume(problem(40), state, {**first.carry, "mu": 2 * solver.mu_max})
    assert state.mu == fresh.mu
    # nor does another damping rule's (Moré's damping may be exactly 0, which
    # Nielsen's factors would never raise)
    more = LevenbergMarquardt(max_iter=3, mu_update="more").run(problem(10), x0)
    state = solver.init(problem(40), first.x)
    solver.resume(problem(40), state, more.carry)
    assert state.mu == fresh.mu
    # Newton likewise (its partial_fit calls multiplied mu past mu_max call after call)
    newton = Newton()
    ran = Newton(max_iter=2).run(problem(10), x0)
    state, fresh = newton.init(problem(40), ran.x), newton.init(problem(40), ran.x)
    newton.resume(problem(40), state, {**ran.carry, "mu": 2 * newton.mu_max})
    assert state.mu == fresh.mu


def test_sample_weights_are_respected(small_stages):
    # zero-weight rows carry nonsense: no sample may be thrown by them
    X, y = smooth(4000)
    w = np.ones(4000)
    w[::2] = 0.0
    y_bad = y.copy()
    y_bad[::2] = 1e3
    model = LMRegressor((8,), **LARGE, random_state=0, max_iter=60).fit(X, y_bad, sample_weight=w)
    assert model.sample_rows_curve_[0] == 300
    assert model.score(X[1::2], y[1::2]) > 0.999


def test_early_stopping_counts_iterations_across_the_stages(small_stages):
    X, y = smooth(4500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LMRegressor((8,), alpha=0.0, random_state=0, max_iter=80,
                            early_stopping=True, n_iter_no_change=5).fit(X, y)
    assert model.sample_rows_curve_[0] == 300  # the warm-up ran (on 4,050 training rows)
    assert len(model.validation_scores_) == model.n_iter_ == len(model.loss_curve_)
    best = model.best_iteration_
    assert 0 < best <= model.n_iter_
    assert model.validation_scores_[best - 1] == pytest.approx(max(model.validation_scores_))
    assert model.best_validation_score_ == pytest.approx(max(model.validation_scores_))


def test_a_time_budget_spent_in_a_sample_ends_the_fit(small_stages):
    X, y = smooth(4000)
    model = LMRegressor((8,), **LARGE, random_state=0, max_time=1e-9).fit(X, y)  # no warning
    assert model._status == Status.MAX_TIME
    assert model.sample_rows_curve_ == [300] and model.n_iter_ == 1


def test_max_iter_counts_every_stage(small_stages):
    X, y = smooth(4000)
    with pytest.warns(ConvergenceWarning, match="max_iter=7"):
        model = LMRegressor((8,), **LARGE, random_state=0, max_iter=7, tol=0.0).fit(X, y)
    assert model.n_iter_ == 7 and len(model.loss_curve_) == 7


def test_interrupt_in_a_later_stage_keeps_what_was_trained(small_stages, monkeypatch):
    X, y = smooth(4000)
    original = MLPProblem.normal_equations
    calls = [0]

    def normal_equations(self, x):
        calls[0] += 1
        if self.n_samples == 1200:  # the second sample's first evaluation
            raise KeyboardInterrupt
        return original(self, x)

    monkeypatch.setattr(MLPProblem, "normal_equations", normal_equations)
    model = LMRegressor((8,), **LARGE, random_state=0, max_iter=60)
    with pytest.warns(ConvergenceWarning, match="interrupted"):
        model.fit(X, y)
    assert model._status == Status.INTERRUPTED
    assert set(model.sample_rows_curve_) == {300} and model.n_iter_ >= 1
    assert np.isfinite(model.predict(X)).all() and math.isfinite(model.loss_)


def test_only_fresh_lm_fits_use_it(small_stages):
    X, y = smooth(4000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        adam = LMRegressor((8,), **LARGE, solver="adam", random_state=0,
                           max_iter=2).fit(X, y)
        warm = LMRegressor((8,), **LARGE, random_state=0, max_iter=5, warm_start=True).fit(X, y)
        warm.fit(X, y)
    assert set(adam.sample_rows_curve_) == {4000}
    assert set(warm.sample_rows_curve_[-warm.n_iter_:]) == {4000}


def test_verbose_speaks_of_the_whole_fit_not_of_its_runs(small_stages, capsys):
    # the stages end on their own budget, and the closing line counts every
    # iteration against the user's max_iter (it said max_iter=<what was left>)
    X, y = smooth(4000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LMRegressor((8,), **LARGE, max_iter=14, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    stages = [line for line in out if line.startswith("Sample of")]
    assert stages and all("budget" in line or "mu_max" in line for line in stages)
    closing = [line for line in out if line.startswith("Stopped after")]
    assert len(closing) == 1 and model.n_iter_ == 14
    assert closing[0].startswith("Stopped after 14 iterations") and "max_iter=14" in closing[0]


def test_partial_fit_with_verbose_does_not_quote_its_one_iteration_as_max_iter(capsys):
    X, y = smooth(200)
    model = LMRegressor((4,), **LARGE, verbose=1, random_state=0)
    model.partial_fit(X, y)
    model.partial_fit(X, y)
    out = capsys.readouterr().out
    assert "max_iter=1" not in out and out.count("Iter ") == 2
