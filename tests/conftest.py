import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _auto_backend_is_numpy(request, monkeypatch):
    """``backend='auto'`` (the default) means NumPy, except in tests marked ``gpu``.

    On a machine with CuPy and a GPU, 'auto' would fit every other test's
    estimators on the device, whose rounding the exact expectations there are
    not written for; the GPU tests compare the two backends themselves.
    """
    if request.node.get_closest_marker("gpu") is None:
        from sklm import _backend  # noqa: PLC0415

        monkeypatch.setattr(_backend, "_auto_backend_name", lambda: "numpy")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def rosenbrock2d(X, a=2.5, b=2.5):
    """The tutorial's surrogate target f(x, y) = (a - x)^2 + b (y - x^2)^2."""
    return (a - X[:, 0]) ** 2 + b * (X[:, 1] - X[:, 0] ** 2) ** 2
