"""Noise-free data: the defaults go on as a noise-free fit once the evidence sees no noise."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def smooth(n, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    y = np.sin(2 * X[:, 0]) * X[:, 1] + X[:, 0] ** 2
    return X, y + noise * y.std() * rng.standard_normal(n)


def rosenbrock(n, seed=0):
    """The tutorial's surrogate (seed-2d's function): a 2-10-1 network fits it to 1e-11."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 2))
    return X, (2.5 - X[:, 0]) ** 2 + 2.5 * (X[:, 1] - X[:, 0] ** 2) ** 2


def test_noise_free_data_switch_to_every_row_no_penalty_and_more(capsys):
    X, y = rosenbrock(500)
    model = LMRegressor((10,), tol=0.0, max_iter=300, random_state=0, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert model.noise_free_
    assert "The evidence sees no noise after" in out and "Moré's trust region" in out
    # the validation rows folded back in: the last iterations used every row
    assert model.sample_rows_curve_[0] == 450 and model.sample_rows_curve_[-1] == 500
    assert model.validation_scores_ is None and model.best_loss_ is not None
    # no penalty after the switch; the evidence's curves stop there
    assert len(model.alpha_curve_) < model.n_iter_
    assert model._bayes_penalty is None and model._solver_carry["mu_update"] == "more"
    assert model.score(X, y) > 1 - 1e-9


def test_the_switch_goes_deeper_than_the_noisy_data_defaults():
    # measured: 2e-11 against 1.6e-8 (validation relative MSE) after 300 iterations
    X, y = rosenbrock(500)
    X_test, y_test = rosenbrock(2000, seed=1)
    kw = dict(hidden_layer_sizes=(10,), tol=0.0, max_iter=300, random_state=0)
    switched = LMRegressor(**kw).fit(X, y)
    kept = LMRegressor(**kw)
    # the same fit with the switch ruled out by the plan's ratio
    from sklm import _plan

    saved = _plan.NOISE_FREE_MIN_RATIO
    _plan.NOISE_FREE_MIN_RATIO = 10**9
    try:
        kept.fit(X, y)
    finally:
        _plan.NOISE_FREE_MIN_RATIO = saved
    assert switched.noise_free_ and not kept.noise_free_

    def error(m):
        return np.mean((m.predict(X_test) - y_test) ** 2) / y_test.var()

    assert error(switched) < 1e-9 and error(switched) < 0.01 * error(kept)


def test_noisy_data_keep_the_noisy_data_defaults():
    X, y = smooth(400, noise=0.05)
    model = LMRegressor((6,), tol=0.0, max_iter=200, random_state=0).fit(X, y)
    assert not model.noise_free_
    assert model.validation_scores_ is not None and model.alpha_ is not None


@pytest.mark.parametrize("options", [
    {"alpha": "bayes"}, {"early_stopping": True}, {"mu_update": "trainlm"},
    {"solver": "gauss-newton"},
])
def test_only_the_defaults_switch(options):
    X, y = smooth(400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LMRegressor((6,), tol=0.0, max_iter=150, random_state=0, **options).fit(X, y)
    assert not model.noise_free_


def test_a_network_that_can_interpolate_keeps_its_penalty():
    # 30 rows, 41 parameters: without the penalty the minimum is not unique
    X, y = smooth(30)
    model = LMRegressor((10,), tol=0.0, max_iter=200, random_state=0).fit(X, y)
    assert not model.noise_free_ and model.alpha_curve_ is not None
