"""
Scaling, pipelines and a grid search over solvers and network sizes
===================================================================

:class:`sklm.LMRegressor` is a scikit-learn estimator, so the usual tools
apply. Scaling matters for every neural network and for Levenberg-Marquardt
in particular: the damping ``mu`` is added to ``J^T J`` on one scale for all
parameters, and tanh units saturate on large inputs. LMRegressor already
standardises inputs and targets for its optimiser (``normalize_X``,
``normalize_y``); this example shows the scikit-learn way, which works for any
estimator and also puts the training record in standardised units:

* :class:`~sklearn.preprocessing.StandardScaler` scales the inputs inside a
  :class:`~sklearn.pipeline.Pipeline`, so each cross-validation fold is scaled
  with its own training statistics;
* :class:`~sklearn.compose.TransformedTargetRegressor` scales the targets and
  maps predictions back, so scores are in the original units;
* :class:`~sklearn.model_selection.GridSearchCV` picks the solver and the
  hidden layer sizes by cross-validated mean squared error.

The data are the tutorial's 2-D Rosenbrock surrogate with its targets shifted
and scaled to ``1000 + 50 f(x, y)``, as a simulator's raw outputs might be.

Set ``SKLM_EXAMPLES_QUICK=1`` (or pass ``--quick``) for a run of a few seconds.
"""

# %%
import os
import sys
import time
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklm import LMRegressor

QUICK = os.environ.get("SKLM_EXAMPLES_QUICK") == "1" or "--quick" in sys.argv

rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, size=(300 if QUICK else 1000, 2))
y = 1000 + 50 * ((2.5 - X[:, 0]) ** 2 + 2.5 * (X[:, 1] - X[:, 0] ** 2) ** 2)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

model = TransformedTargetRegressor(
    regressor=Pipeline([("scale", StandardScaler()),
                        ("net", LMRegressor(random_state=0))]),
    transformer=StandardScaler(),
)

# %%
# The grid: each solver with a budget that suits it
# -------------------------------------------------
# Parameters of the network are reached through the meta-estimators:
# ``regressor__net__<parameter>``.
p = "regressor__net__"
sizes = [(5,), (10,), (10, 10)] if not QUICK else [(5,), (10,)]
param_grid = [
    {f"{p}solver": ["lm"], f"{p}hidden_layer_sizes": sizes,
     f"{p}max_iter": [30 if QUICK else 300]},
    {f"{p}solver": ["adam"], f"{p}hidden_layer_sizes": sizes,
     f"{p}learning_rate_init": [1e-2], f"{p}max_iter": [200 if QUICK else 3000],
     f"{p}tol": [0.0]},  # run the whole budget: Adam's loss is noisy
]
search = GridSearchCV(model, param_grid, cv=3, scoring="neg_mean_squared_error")
start = time.perf_counter()
# Small matrices (at most 750 x 151): one BLAS thread is fastest, and it keeps
# idle BLAS workers from spinning when the machine is busy.
with warnings.catch_warnings(), threadpool_limits(limits=1):
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)
print(f"grid search: {len(search.cv_results_['params'])} candidates x 3 folds "
      f"in {time.perf_counter() - start:.1f} s\n")

print(f"{'solver':<8}{'hidden':<10}{'max_iter':>9}{'CV MSE':>12}{'fit s':>8}{'rank':>6}")
res = search.cv_results_
for i in np.argsort(res["rank_test_score"]):
    params = res["params"][i]
    print(f"{params[p + 'solver']:<8}{str(params[p + 'hidden_layer_sizes']):<10}"
          f"{params[p + 'max_iter']:>9}{-res['mean_test_score'][i]:>12.4g}"
          f"{res['mean_fit_time'][i]:>8.2f}{res['rank_test_score'][i]:>6}")

# %%
# The best model, refitted on all training data
# ---------------------------------------------
best = search.best_estimator_
net = best.regressor_.named_steps["net"]
test_mse = np.mean((best.predict(X_test) - y_test) ** 2)
print(f"\nbest: solver={net.solver!r}, hidden_layer_sizes={net.hidden_layer_sizes}, "
      f"{net.n_iter_} iterations")
print(f"test MSE {test_mse:.4g} in the targets' units (their variance: "
      f"{np.var(y_test):.4g}); 1 - R^2 = {1 - best.score(X_test, y_test):.2e}")
