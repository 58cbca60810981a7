"""
Bayesian regularisation and prediction uncertainty
==================================================

A network with far more parameters than the data can pin down fits their
noise. ``alpha='bayes'`` (MATLAB's ``trainbr``) re-estimates, after every
Levenberg-Marquardt step, how much the weights should be penalised, from the
evidence the data give: the noise precision ``beta_``, the weights' prior
precision ``alpha_`` and the number of parameters the data actually
determine, ``effective_params_``.

``predict(X, return_std=True)`` then gives the standard deviation of a new
observation: the estimated noise plus the parameters' uncertainty propagated
through the network (the Laplace / delta method with the Gauss-Newton
Hessian). The band widens where there are no data.

Set ``SKLM_EXAMPLES_QUICK=1`` (or pass ``--quick``) for a run with fewer
seeds in the coverage count at the end.
"""

# %%
import os
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor

QUICK = os.environ.get("SKLM_EXAMPLES_QUICK") == "1" or "--quick" in sys.argv
SEEDS = range(3 if QUICK else 20)
NOISE = 0.2


def truth(x):
    return np.sin(3 * x) + 0.3 * x


def sample(rng, n):
    # x in [-2, 2] without the gap (0.3, 1.0): nothing is observed there
    x = rng.uniform(-2, 2, size=4 * n)
    x = x[(x < 0.3) | (x > 1.0)][:n]
    return x[:, None], truth(x) + rng.normal(scale=NOISE, size=n)


rng = np.random.default_rng(0)
X, y = sample(rng, 80)
params = dict(hidden_layer_sizes=(30,), max_iter=300, random_state=0)  # 91 parameters
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    plain = LMRegressor(alpha=0.0, early_stopping=False, **params).fit(X, y)
bayes = LMRegressor(alpha="bayes", **params).fit(X, y)

print(f"alpha='bayes': {bayes.n_iter_} iterations, effective_params_ = "
      f"{bayes.effective_params_:.1f} of 91")
print(f"estimated noise sd 1/sqrt(beta_) = {1 / np.sqrt(bayes.beta_):.3f} "
      f"(true {NOISE}), weight prior precision alpha_ = {bayes.alpha_:.3g}")

# %%
# The fit and its band
# --------------------
# Without a penalty the 91-parameter network chases the noise; the Bayesian
# fit stays close to the truth, and its +-2 sd band (of a new observation)
# covers the data and widens in the gap and beyond the data.
x_plot = np.linspace(-2.5, 2.5, 400)[:, None]
mean, std = bayes.predict(x_plot, return_std=True)
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
ax.fill_between(x_plot[:, 0], mean - 2 * std, mean + 2 * std, color="C0", alpha=0.2,
                label="alpha='bayes', ±2 sd")
ax.plot(x_plot[:, 0], truth(x_plot[:, 0]), "k--", lw=1.5, label="true function")
ax.plot(x_plot[:, 0], mean, "C0", lw=2, label="alpha='bayes'")
ax.plot(x_plot[:, 0], plain.predict(x_plot), "C3", lw=1, alpha=0.8,
        label="alpha=0 (no penalty)")
ax.plot(X[:, 0], y, "k.", ms=5, label="data")
ax.axvspan(0.3, 1.0, color="0.9", zorder=-1)
ax.set_ylim(-3, 3)
ax.set_xlabel("x")
ax.legend(loc="lower right", ncol=2)
ax.set_title("30 hidden units on 80 noisy points (no data in the grey gap)")
plt.show()

# %%
# Is the band calibrated?
# -----------------------
# On fresh noisy observations inside the data's range, the fraction within
# +-1 and +-2 predicted standard deviations should be near 68.3% and 95.4%.
inside1, inside2 = [], []
for seed in SEEDS:
    r = np.random.default_rng(seed + 1)
    Xs, ys = sample(r, 80)
    Xt, yt = sample(r, 2000)
    model = LMRegressor(alpha="bayes", hidden_layer_sizes=(30,), max_iter=300,
                        random_state=seed).fit(Xs, ys)
    m, s = model.predict(Xt, return_std=True)
    inside1.append(np.mean(np.abs(yt - m) < s))
    inside2.append(np.mean(np.abs(yt - m) < 2 * s))
print(f"over {len(SEEDS)} seeds: within ±1 sd {np.mean(inside1):.3f} (0.683), "
      f"within ±2 sd {np.mean(inside2):.3f} (0.954)")
