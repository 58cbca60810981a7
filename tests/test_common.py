"""scikit-learn's estimator checks, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklm import LMRegressor


@parametrize_with_checks([LMRegressor(max_iter=50, random_state=0)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
