"""Promises of the estimator's API, held at their edges.

``max_time`` bounds the whole call; Ctrl-C leaves the previous state or a
complete model; ``partial_fit`` on small batches with the defaults ends near
``fit``; odd but valid option values mean what they say.
"""

import pickle
import time
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor
from sklm import _fitted as fitted
from sklm.solvers import SlowFitWarning, Status

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def smooth(n, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    return X, np.sin(2 * X[:, 0]) * X[:, 1] + (X[:, 2:] ** 2).sum(axis=1)


# ------------------------------------------------------------------ max_time
def test_max_time_bounds_the_whole_fit_on_many_rows():
    # 60,000 x 8, (32, 32): the LM defaults took 4.5 s for max_time=1 (the
    # posterior's J^T J over all rows came after the budget). Now: the budget,
    # plus at most one iteration, plus what the call does besides.
    X, y = smooth(60_000)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowFitWarning)
        model = LMRegressor((32, 32), max_time=1.0, random_state=0).fit(X, y)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0 + 2.5, elapsed
    assert model._status == Status.MAX_TIME
    assert "max_time=1 s" in model.stop_reason_  # the user's value, not what was left
    assert not model._posterior_slot.formed  # formed when first needed ...
    _, std = model.predict(X[:5], return_std=True)  # ... as here
    assert np.all(std > 0) and model._posterior_slot.formed


def test_a_method_whose_iteration_cannot_fit_the_budget_says_so_before_it():
    # an exact Hessian of 20,000 rows and 1,377 parameters: a few seconds an
    # iteration on this machine, against a budget of 0.2 s
    X, y = smooth(20_000)
    start = time.perf_counter()
    with pytest.warns(SlowFitWarning, match="needs about .* s .*was not started"):
        model = LMRegressor((32, 32), solver="newton", max_time=0.2, alpha=0.0,
                            early_stopping=False, random_state=0).fit(X, y)
    assert time.perf_counter() - start < 3.0
    assert model.n_iter_ == 0 and model._status == Status.MAX_TIME


def test_n_init_shares_one_budget():
    X, y = smooth(3000, d=3)
    start = time.perf_counter()
    model = LMRegressor((20,), n_init=20, max_time=0.6, tol=0.0, random_state=0,
                        alpha=0.0, early_stopping=False).fit(X, y)
    assert time.perf_counter() - start < 0.6 + 1.5
    assert 1 <= len(model.init_losses_) < 20  # the starts not begun by then were not run
    assert np.isfinite(model.init_losses_[0])


def test_n_init_makes_its_seeds_lazily():
    # n_init=10**9 raised MemoryError in NumPy's SeedSequence
    X, y = smooth(50, d=2)
    model = LMRegressor((3,), n_init=10**9, max_time=0.3, max_iter=2,
                        random_state=0).fit(X, y)
    assert len(model.init_losses_) < 10**6 and np.isfinite(model.init_losses_[0])


# ------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_while_the_data_are_prepared_leaves_the_previous_model(monkeypatch):
    from sklm import _data

    X, y = smooth(200, d=3)
    model = LMRegressor((5,), max_iter=5, random_state=0).fit(X, y)
    before = {k: v for k, v in vars(model).items()}

    def interrupted(self, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(_data.InMemorySource, "prepare", interrupted)
    X4 = np.column_stack([X, X[:, 0]])  # another feature count, validated first
    with pytest.raises(KeyboardInterrupt):
        model.fit(X4, y)
    assert model.n_features_in_ == 3
    assert vars(model).keys() == before.keys()
    for key, value in before.items():
        assert vars(model)[key] is value


def test_ctrl_c_while_the_posterior_is_formed_leaves_a_complete_model(monkeypatch):
    X, y = smooth(200, d=3)
    original = fitted.posterior
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(fitted, "posterior", interrupted)
    model = LMRegressor((5,), max_iter=5, random_state=0, early_stopping=False).fit(X, y)
    assert calls  # the posterior was begun in the fit, at the solver's last J^T J
    assert hasattr(model, "stop_reason_") and model.n_iter_ == 5
    _, std = model.predict(X, return_std=True)  # formed when first needed
    assert np.all(np.isfinite(std)) and model.beta_ > 0


def test_a_model_pickled_before_its_posterior_was_formed_says_how_to_get_it():
    X, y = smooth(60_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowFitWarning)
        model = LMRegressor((32, 32), max_time=1.0, random_state=0).fit(X, y)
    assert not model._posterior_slot.formed
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(X[:3]), model.predict(X[:3]))
    with pytest.raises(ValueError, match="before pickling"):
        copy.predict(X[:3], return_std=True)


# -------------------------------------------------------------- partial_fit
def test_partial_fit_on_small_batches_ends_near_fit_with_the_defaults():
    # 10-row batches after a 20-row first one ended at R^2 0.765 (the evidence
    # re-estimated on each batch), 3-row ones pruned the network (R^2 -0.02)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (600, 2))
    y = np.sin(2 * X[:, 0]) * X[:, 1] + X[:, 0] ** 2
    X_test = rng.uniform(-1, 1, (2000, 2))
    y_test = np.sin(2 * X_test[:, 0]) * X_test[:, 1] + X_test[:, 0] ** 2
    whole = LMRegressor((10,), random_state=0).fit(X, y).score(X_test, y_test)
    for batch, bound in ((10, 0.01), (3, 0.05)):
        model = LMRegressor((10,), random_state=0).partial_fit(X[:20], y[:20])
        for epoch in range(5):
            for i in range(20 if epoch == 0 else 0, 600, batch):
                model.partial_fit(X[i:i + batch], y[i:i + batch])
        assert model.score(X_test, y_test) > whole - bound, batch


def test_a_change_of_solver_between_partial_fits_keeps_no_refused_penalty():
    X, y = smooth(100, d=2)
    model = LMRegressor((4,), random_state=0).partial_fit(X, y)
    model.set_params(solver="adam").partial_fit(X, y)
    assert model.alpha_curve_ is None and np.isfinite(model.loss_curve_).all()


# ------------------------------------------------------------------ options
def test_numpy_booleans_mean_what_python_booleans_mean():
    X, y = smooth(300, d=2)
    kw = dict(hidden_layer_sizes=(4,), max_iter=8, random_state=0)
    a = LMRegressor(early_stopping=np.True_, **kw).fit(X, y)
    b = LMRegressor(early_stopping=True, **kw).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        LMRegressor(early_stopping=np.True_, **kw).partial_fit(X, y)


def test_return_std_does_not_ask_for_a_penalty_that_is_there():
    X = np.linspace(-1, 1, 8)[:, None]
    y = X[:, 0] ** 2
    model = LMRegressor((6,), alpha=1e-3, random_state=0, max_iter=50).fit(X, y)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.predict(X, return_std=True)
    for w in record:
        assert "Use a penalty" not in str(w.message)


def test_growing_sample_with_most_weights_zero_works():
    # OverflowError from the weights' unit of a sample of zero-weight rows
    X, y = smooth(8000, d=3)
    w = np.zeros(8000)
    w[::50] = 1.0
    model = LMRegressor((5,), growing_sample=True, max_iter=20, random_state=0)
    model.fit(X, y, sample_weight=w)
    assert np.isfinite(model.loss_)


def test_plan_is_printed_by_verbose(capsys):
    X, y = smooth(300, d=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        LMRegressor((4,), max_iter=2, verbose=1, random_state=0).fit(X, y)
    first = capsys.readouterr().out.splitlines()[0]
    assert "Bayesian penalty" in first and "held out for early stopping" in first
