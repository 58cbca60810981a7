"""The benchmark problems, generated in code from fixed seeds.

Every problem returns standardised data: inputs and targets are scaled with the
training set's mean and standard deviation (as a StandardScaler in a Pipeline
would), and every contender sees exactly the same arrays. Validation relative
MSE is ``mean((y_val - f(x_val))^2) / var(y_val)`` on the standardised targets,
so 1e-4 means the network explains all but 0.01% of the validation variance.

- ``seed-2d``: the tutorial's surrogate ``f = (a - x)^2 + b (y - x^2)^2``,
  ``a = b = 2.5``, ``x, y ~ U(-2, 2)``, 500 training + 500 validation points,
  network 2-10-1 tanh (41 parameters).
- ``seed-6d``: 6-D Rosenbrock ``sum_{i=1..5} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2``,
  ``x ~ U(-2, 2)^6``, 10,000 training + 2,000 validation points, network
  6-12-10-8-1 tanh (311 parameters).
- ``wide``: 100,000 training + 10,000 validation points, ``x ~ U(-1, 1)^8``,
  network 8-32-32-1 tanh (1,377 parameters), target (smooth, mixes every input,
  products and one oscillation)::

      f(x) = sin(2 x1) cos(x2) + x3 x4 + exp(-(x5^2 + x6^2)) + 0.5 tanh(2 x7) x8 + 0.3 x1 x8^2

- ``wide-128`` and ``wide-256``: ``wide``'s data (the same rows) with networks
  8-128-128-1 (17,793 parameters) and 8-256-256-1 (68,353): the matrix-free step's
  problems, where the normal matrix takes 2.5 GB and 37 GB. Any ``wide-W`` is
  the same data with two hidden layers of ``W`` units (the crossover runs).

The data seed is fixed per problem (the "data seed"); the benchmark's seeds
vary only the initial weights (and, for stochastic solvers, their shuffling).
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["BenchProblem", "make_problem", "PROBLEMS"]


@dataclass
class BenchProblem:
    name: str
    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    hidden: tuple
    description: str

    @property
    def n_params(self):
        sizes = (self.X.shape[1], *self.hidden, 1)
        return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def rosenbrock2d(X, a=2.5, b=2.5):
    return (a - X[:, 0]) ** 2 + b * (X[:, 1] - X[:, 0] ** 2) ** 2


def rosenbrock(X):
    x0, x1 = X[:, :-1], X[:, 1:]
    return np.sum(100.0 * (x1 - x0 ** 2) ** 2 + (1.0 - x0) ** 2, axis=1)


def wide_function(X):
    x = X.T
    return (np.sin(2 * x[0]) * np.cos(x[1]) + x[2] * x[3]
            + np.exp(-(x[4] ** 2 + x[5] ** 2)) + 0.5 * np.tanh(2 * x[6]) * x[7]
            + 0.3 * x[0] * x[7] ** 2)


def wide10_function(X):
    """A second smooth function of 1e5 rows: ten inputs, products, a ridge, a bump."""
    x = X.T
    return (np.sin(np.pi * x[0] * x[1]) + 2.0 * (x[2] - 0.5) ** 2 + x[3]
            + 0.5 * x[4] * np.cos(2 * x[5]) + np.exp(-(x[6] ** 2 + x[7] ** 2))
            + 0.3 * np.tanh(3 * x[8] - x[9]))


def _standardise(X, y, X_val, y_val):
    mx, sx = X.mean(axis=0), X.std(axis=0)
    my, sy = y.mean(), y.std()
    return (X - mx) / sx, (y - my) / sy, (X_val - mx) / sx, (y_val - my) / sy


def make_problem(name, n_train=None, n_val=None):
    """The problem ``name``; ``n_train``/``n_val`` shrink it (smoke tests)."""
    if name == "seed-2d":
        d, lo, hi, f, hidden, m, mv, seed = 2, -2, 2, rosenbrock2d, (10,), 500, 500, 2
        desc = "tutorial 2-D Rosenbrock surrogate, 2-10-1 tanh"
    elif name == "seed-6d":
        d, lo, hi, f, hidden, m, mv, seed = 6, -2, 2, rosenbrock, (12, 10, 8), 10_000, 2_000, 6
        desc = "6-D Rosenbrock, 6-12-10-8-1 tanh"
    elif name == "wide":
        d, lo, hi, f, hidden, m, mv, seed = 8, -1, 1, wide_function, (32, 32), 100_000, 10_000, 8
        desc = "smooth 8-D function, 8-32-32-1 tanh"
    elif name.startswith("wide-") and name[5:].isdigit():  # wide-128, wide-256, ...
        width = int(name[5:])
        d, lo, hi, f, hidden, m, mv, seed = (8, -1, 1, wide_function, (width, width), 100_000,
                                             10_000, 8)
        desc = f"wide's function, 8-{width}-{width}-1 tanh"
    elif name == "wide10":
        d, lo, hi, f, hidden, m, mv, seed = (10, -1, 1, wide10_function, (32, 32), 100_000,
                                             10_000, 10)
        desc = "smooth 10-D function, 10-32-32-1 tanh"
    else:
        raise ValueError(f"unknown problem {name!r}; expected one of {PROBLEMS}")
    m = n_train or m
    mv = n_val or mv
    rng = np.random.default_rng(seed)
    X = rng.uniform(lo, hi, size=(m + mv, d))
    y = f(X)
    Xs, ys, Xv, yv = _standardise(X[:m], y[:m], X[m:], y[m:])
    return BenchProblem(name, Xs, ys, Xv, yv, hidden, desc)


PROBLEMS = ("seed-2d", "seed-6d", "wide", "wide10", "wide-128", "wide-256")
