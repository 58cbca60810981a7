import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def rosenbrock2d(X, a=2.5, b=2.5):
    """The tutorial's surrogate target f(x, y) = (a - x)^2 + b (y - x^2)^2."""
    return (a - X[:, 0]) ** 2 + b * (X[:, 1] - X[:, 0] ** 2) ** 2
