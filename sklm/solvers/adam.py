"""Adam (Kingma & Ba, 2015), one iteration per epoch (see ``sgd.py``).

The bias correction is folded into the step size, as scikit-learn and
TensorFlow 1 do: ``lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`` and
``x -= lr_t * m / (sqrt(v) + epsilon)``. (It differs from dividing ``m`` and
``v`` by their corrections only in where ``epsilon`` enters.)
"""

from numbers import Real

from .._sklearn_compat import Interval
from .sgd import FirstOrderSolver

__all__ = ["Adam"]


class Adam(FirstOrderSolver):
    """Adam.

    Parameters
    ----------
    learning_rate_init : float, default=1e-3
    beta_1, beta_2 : float, default=0.9, 0.999
    epsilon : float, default=1e-8
    batch_size : int, 'auto' or None, default='auto'
    shuffle : bool, default=True
    random_state : int, RandomState or None
    **kwargs
        Stopping criteria and reporting, see :class:`~sklm.solvers._base.Solver`.
    """

    name = "adam"
    options = ("learning_rate_init", "beta_1", "beta_2", "epsilon", "batch_size",
               "shuffle", "random_state")
    _parameter_constraints = {
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _slots(self, x, xp):
        return (xp.zeros_like(x), xp.zeros_like(x))

    def _update(self, x, state, grad, xp):
        m, v = state.slots
        state.t += 1
        t = state.t
        m *= self.beta_1
        m += (1.0 - self.beta_1) * grad
        v *= self.beta_2
        v += (1.0 - self.beta_2) * (grad * grad)
        lr = self.learning_rate_init * (1.0 - self.beta_2**t) ** 0.5 / (1.0 - self.beta_1**t)
        return x - lr * m / (xp.sqrt(v) + self.epsilon)
