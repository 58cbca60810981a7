"""Shared by the derivative tests: a small MLP problem and central finite differences."""

import numpy as np

from sklm._backend import NumpyBackend
from sklm._mlp import MLP
from sklm._problem import MLPProblem


def make_problem(rng, activation, n_outputs=1, weighted=False, alpha=0.0, chunk=7,
                 sizes=(3, 5, 4)):
    m = 23
    mlp = MLP((sizes[0], *sizes[1:], n_outputs), activation)
    X = rng.normal(size=(m, sizes[0]))
    Y = rng.normal(size=(m, n_outputs))
    w = rng.uniform(0.2, 3.0, size=m) if weighted else np.ones(m)
    theta = mlp.init_params(np.random.RandomState(0)) + 0.3 * rng.normal(size=mlp.n_params)
    problem = MLPProblem(mlp, X, Y, w, alpha, NumpyBackend(), chunk)
    return problem, theta


def fd_jacobian(f, theta, h=1e-6):
    cols = []
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        cols.append((f(theta + e) - f(theta - e)) / (2 * h))
    return np.stack(cols, axis=-1)


def rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)
