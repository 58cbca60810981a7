"""n_init: several random starts through joblib, the best kept (no Dask needed)."""

import warnings

import joblib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor
from sklm._multistart import criterion


def data(rows=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(rows, 3))
    return X, np.sin(X[:, 0]) * X[:, 1] + X[:, 2] ** 2


def quiet(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def test_n_init_one_is_the_plain_fit():
    X, y = data()
    a = quiet(LMRegressor(max_iter=10, random_state=0), X, y)
    b = quiet(LMRegressor(max_iter=10, random_state=0, n_init=1), X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert a.loss_curve_ == b.loss_curve_
    assert not hasattr(b, "init_losses_")


def test_n_init_keeps_the_best_start_and_start_0_is_the_plain_fit():
    X, y = data()
    kw = dict(hidden_layer_sizes=(6,), max_iter=20, random_state=3)
    one = quiet(LMRegressor(**kw), X, y)
    several = quiet(LMRegressor(**kw, n_init=4), X, y)
    assert len(set(several.init_losses_)) == 4
    # (the defaults hold out a validation set here: the criterion is its loss)
    assert several.init_losses_[0] == criterion(one)
    assert criterion(several) == min(several.init_losses_)
    assert several.best_init_ == int(np.argmin(several.init_losses_))
    assert several.loss_curve_[several.best_iteration_ - 1] == several.loss_
    assert several.n_iter_ == len(several.loss_curve_)


def test_the_kept_start_warns_once_whatever_the_joblib_backend():
    # max_iter=3: every start stops at max_iter; only the kept one warns, and
    # the starts may run in threads (catch_warnings is not thread-safe there)
    X, y = data()
    kw = dict(hidden_layer_sizes=(6,), max_iter=3, random_state=0, n_init=4)
    with pytest.warns(ConvergenceWarning, match="max_iter=3") as caught:
        sequential = LMRegressor(**kw).fit(X, y)
    assert len([w for w in caught if w.category is ConvergenceWarning]) == 1
    with pytest.warns(ConvergenceWarning) as caught, \
            joblib.parallel_backend("threading", n_jobs=4):
        threads = LMRegressor(**kw).fit(X, y)
    assert len([w for w in caught if w.category is ConvergenceWarning]) == 1
    assert threads.init_losses_ == sequential.init_losses_
    assert not hasattr(threads, "_start")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        LMRegressor(**{**kw, "max_iter": 200, "tol": 1e-3}).fit(X, y)


def test_n_init_with_early_stopping_judges_the_validation_loss():
    X, y = data()
    fitted = quiet(LMRegressor(hidden_layer_sizes=(6,), max_iter=50, random_state=0,
                               n_init=3, early_stopping=True), X, y)
    assert fitted.best_validation_loss_ == min(fitted.init_losses_)
    assert fitted.init_losses_[fitted.best_init_] == fitted.best_validation_loss_


def test_warm_start_runs_one_start():
    X, y = data()
    fitted = quiet(LMRegressor(max_iter=5, random_state=0, n_init=3, warm_start=True), X, y)
    losses = fitted.init_losses_
    first = len(fitted.loss_curve_)
    quiet(fitted, X, y)  # continues from the kept start
    assert fitted.n_iter_ == 5 and len(fitted.loss_curve_) == first + 5
    assert fitted.init_losses_ == losses


def test_n_init_is_validated():
    X, y = data()
    with pytest.raises(ValueError, match="n_init"):
        LMRegressor(n_init=0).fit(X, y)


def test_a_model_pickled_before_n_init_loads_with_one_start():
    import pickle

    X, y = data()
    fitted = quiet(LMRegressor(max_iter=3, random_state=0), X, y)
    state = fitted.__getstate__()
    del state["n_init"]
    old = LMRegressor.__new__(LMRegressor)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.get_params()["n_init"] == 1
    np.testing.assert_array_equal(old.predict(X), fitted.predict(X))
