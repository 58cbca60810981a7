"""
Early stopping: keep the weights of the best validation epoch
=============================================================

Levenberg-Marquardt fits the training data so well that, on noisy data and
with a generous network, it fits the noise too. The remedy the tutorial lists
(and MATLAB's ``trainlm`` applies by default): hold out a validation set,
stop when its error has not improved for a while, and keep the best weights.

With ``early_stopping=True``, :class:`sklm.LMRegressor` holds out
``validation_fraction`` of the training data, scores it after every
iteration, stops after ``n_iter_no_change`` iterations without improvement,
and restores the parameters of the best iteration. Early stopping is a
callback that every solver drives, not a feature of Levenberg-Marquardt.

:func:`sklm.plotting.plot_performance` draws the record the way MATLAB's
``plotperform`` does: training and validation loss on a log scale, the best
iteration circled, and the damping ``mu`` on the right-hand axis.

It runs in about a second, so it has no separate quick mode.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor
from sklm.plotting import plot_performance


def rosenbrock(X):
    return (2.5 - X[:, 0]) ** 2 + 2.5 * (X[:, 1] - X[:, 0] ** 2) ** 2


rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, size=(300, 2))
y = rosenbrock(X) + rng.normal(scale=2.0, size=300)   # noise of variance 4
X_test = rng.uniform(-2, 2, size=(2000, 2))
y_test = rosenbrock(X_test)                            # the noiseless truth

# no penalty, to show early stopping alone (alpha='bayes' is the other
# remedy: examples/07_bayesian_uncertainty.py)
params = dict(hidden_layer_sizes=(30,), max_iter=300, random_state=0, alpha=0.0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    plain = LMRegressor(**params, early_stopping=False).fit(X, y)
stopped = LMRegressor(**params, early_stopping=True, validation_fraction=0.25,
                      n_iter_no_change=30).fit(X, y)

# %%
# What early stopping bought
# --------------------------
best = stopped.best_iteration_  # the iteration whose weights were kept
print(f"{'':<22}{'iterations':>11}{'train MSE':>11}{'test MSE vs truth':>19}")
for name, model in [("without validation", plain), ("early stopping", stopped)]:
    test = np.mean((model.predict(X_test) - y_test) ** 2)
    print(f"{name:<22}{model.n_iter_:>11}{model.loss_:>11.3g}{test:>19.3g}")
val = stopped.validation_loss_curve_
print(f"\nearly stopping ran {stopped.n_iter_} iterations ({stopped.n_iter_no_change} "
      f"without improvement) and kept the weights of iteration {best}:\n"
      f"validation MSE {min(val):.3g} there, {val[-1]:.3g} at the end")
print(f"best validation R^2: {stopped.best_validation_score_:.4f}")

# %%
# The training record
# -------------------
# The model without validation drives the training error below the noise
# variance (4): it is fitting the noise. With early stopping, the validation
# curve turns up after the circled iteration, and those weights are kept.
fig, (ax_plain, ax_stop) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
plot_performance(plain, ax=ax_plain)
ax_plain.set_title("No validation set: training loss only")
plot_performance(stopped, ax=ax_stop)
ax_stop.set_title("early_stopping=True: best iteration circled")
plt.show()
