"""Shared by the derivative tests: a small MLP problem and central finite differences."""

import numpy as np
import pytest

from sklm._activations import ACTIVATIONS
from sklm._backend import NumpyBackend
from sklm._mlp import MLP
from sklm._problem import MLPProblem


def every_problem_case(test):
    """Parametrize ``test`` over every activation, 1 and 3 outputs, with and
    without weights, and no penalty, one penalty or a penalty per weight: the
    cases of :func:`make_problem` that the derivative tests cover."""
    for name, values in (("alpha", [0.0, 0.37, "per-weight"]), ("weighted", [False, True]),
                         ("n_outputs", [1, 3]), ("activation", sorted(ACTIVATIONS))):
        test = pytest.mark.parametrize(name, values)(test)
    return test


def make_problem(rng, activation, n_outputs=1, weighted=False, alpha=0.0, chunk=7,
                 sizes=(3, 5, 4)):
    m = 23
    mlp = MLP((sizes[0], *sizes[1:], n_outputs), activation)
    if isinstance(alpha, str) and alpha == "per-weight":  # a different alpha for every weight
        alpha = np.linspace(0.05, 0.9, int(mlp.weight_mask().sum()))
    X = rng.normal(size=(m, sizes[0]))
    Y = rng.normal(size=(m, n_outputs))
    w = rng.uniform(0.2, 3.0, size=m) if weighted else np.ones(m)
    theta = mlp.init_params(np.random.RandomState(0)) + 0.3 * rng.normal(size=mlp.n_params)
    problem = MLPProblem(mlp, X, Y, w, alpha, NumpyBackend(), chunk)
    return problem, theta


def penalty_diagonal(problem):
    """What the L2 penalty adds to ``J^T J``'s diagonal, per parameter (0 on biases)."""
    d = np.zeros(problem.n_params)
    if problem.penalty is not None:
        d[problem.mlp.weight_mask()] = problem.penalty
    return d


def penalty_residuals(problem, theta):
    """The penalty's block of least-squares residuals, ``sqrt(d_j) * theta_j`` on weights.

    Empty without a penalty: the problem then has no penalty residuals.
    """
    if problem.penalty is None:
        return np.zeros(0)
    mask = problem.mlp.weight_mask()
    return np.sqrt(penalty_diagonal(problem)[mask]) * theta[mask]


def fd_jacobian(f, theta, h=1e-6):
    cols = []
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        cols.append((f(theta + e) - f(theta - e)) / (2 * h))
    return np.stack(cols, axis=-1)


def rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def residuals(problem, theta):
    """Stacked least-squares residuals r(x), with ||r||^2 / scale == loss."""
    mlp = problem.mlp
    out = mlp.predict(mlp.unpack(theta), problem.Xt, np)  # (k, m)
    r = (problem.sqrt_w * (problem.Yt - out)).T.ravel()
    return np.concatenate([r, penalty_residuals(problem, theta)])
