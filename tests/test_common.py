"""scikit-learn's estimator checks, for every solver, with no expected failures."""

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklm import LMRegressor
from sklm.solvers import SOLVERS

# Small iteration counts keep the checks fast (scikit-learn does the same for
# its MLPRegressor); first-order solvers get a learning rate that trains in it.
ESTIMATORS = [
    LMRegressor(max_iter=50, random_state=0),
    LMRegressor(solver="gauss-newton", max_iter=30, random_state=0),
    LMRegressor(solver="newton", max_iter=20, random_state=0),
    LMRegressor(solver="sgd", learning_rate_init=0.05, max_iter=200, random_state=0),
    LMRegressor(solver="adam", learning_rate_init=0.02, max_iter=200, random_state=0),
]
# And every solver at its defaults, as a user gets it (about 25 s in all on
# one core: Newton's exact Hessians take half of it).
ESTIMATORS += [LMRegressor(solver=solver) for solver in SOLVERS]
# Minibatch training is left out on purpose: with minibatches, weighting a row
# by 2 and repeating it change which rows share a batch, so the fits agree only
# in expectation and check_sample_weight_equivalence cannot hold (scikit-learn
# exempts its stochastic MLP solvers for the same reason). Full-batch fits of
# every solver pass every check.


@pytest.mark.filterwarnings(f"ignore::{ConvergenceWarning.__module__}.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
