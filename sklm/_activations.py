"""Hidden-layer activation functions and their derivatives.

Every derivative is written in terms of the activation's *output* ``a = f(z)``
(for ReLU, ``a > 0`` is the same test as ``z > 0``), so the forward pass only has
to keep the layer outputs: that halves the memory of a chunk's forward pass and
lets the Jacobian pass reuse them without recomputing ``z``.

Functions take an array module ``xp`` so the same code runs on NumPy and CuPy, and
they write into ``out`` where the caller gives one, to avoid temporaries in the
inner loop.
"""

from dataclasses import dataclass
from typing import Callable


def _identity(z, xp, out=None):
    if out is None or out is z:
        return z
    out[...] = z
    return out


def _identity_d1(a, xp):
    return xp.ones_like(a)


def _identity_d2(a, xp):
    return xp.zeros_like(a)


def _tanh(z, xp, out=None):
    return xp.tanh(z, out=out)


def _tanh_d1(a, xp):
    # d tanh = 1 - a^2
    d = a * a
    xp.subtract(1.0, d, out=d)
    return d


def _tanh_d2(a, xp):
    # d2 tanh = -2 a (1 - a^2)
    return -2.0 * a * (1.0 - a * a)


def _logistic(z, xp, out=None):
    # 1 / (1 + exp(-z)) written through tanh: no overflow warning for large |z|.
    out = xp.multiply(z, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _logistic_d1(a, xp):
    return a * (1.0 - a)


def _logistic_d2(a, xp):
    return a * (1.0 - a) * (1.0 - 2.0 * a)


def _relu(z, xp, out=None):
    return xp.maximum(z, 0.0, out=out)


def _relu_d1(a, xp):
    return (a > 0).astype(a.dtype)


def _relu_d2(a, xp):
    return xp.zeros_like(a)


@dataclass(frozen=True)
class Activation:
    """An activation ``f`` with ``f'`` and ``f''`` as functions of ``a = f(z)``."""

    name: str
    f: Callable
    d1: Callable
    d2: Callable


ACTIVATIONS = {
    "identity": Activation("identity", _identity, _identity_d1, _identity_d2),
    "logistic": Activation("logistic", _logistic, _logistic_d1, _logistic_d2),
    "tanh": Activation("tanh", _tanh, _tanh_d1, _tanh_d2),
    "relu": Activation("relu", _relu, _relu_d1, _relu_d2),
}
