"""First-order methods: plain/momentum SGD here, Adam in ``adam.py``.

One iteration is one *epoch*: a pass over the training rows in minibatches of
``batch_size`` ('auto': ``min(200, n_samples)`` as in scikit-learn; None: the
full batch, one step per epoch, the tutorial's gradient descent), shuffled
each epoch when ``shuffle``. The loss recorded
after an epoch is the true training loss at the epoch's final parameters (one
forward pass; with full batches it comes with the next gradient for free),
not scikit-learn's running average of minibatch losses.

Learning rates apply to the gradient of sklm's loss, the mean squared error,
so the tutorial's carry over unchanged. scikit-learn's MLPRegressor minimises
half of it: for SGD, sklm's ``learning_rate_init=5e-3`` takes the steps of
MLPRegressor's 1e-2. Adam's steps do not depend on the gradient's scale, so
its learning rates carry over from scikit-learn too.
"""

import abc
import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._sklearn_compat import Interval, StrOptions
from ._base import RANDOM_STATE, IterationInfo, Solver, Status, norm

__all__ = ["FirstOrderSolver", "SGD"]


@dataclass
class _FOState:
    x: object
    loss: float
    grad: object
    t: int = 0
    slots: tuple = ()


class FirstOrderSolver(Solver):
    """Epoch loop shared by SGD and Adam; subclasses define ``_update``.

    A loss that becomes non-finite or rises above ``divergence_factor`` (1e3)
    times its lowest value stops the run with status DIVERGED and returns the
    lowest-loss parameters: the learning rate is too large.
    """

    _parameter_constraints = {
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "shuffle": ["boolean"],
        "random_state": RANDOM_STATE,
    }
    divergence_factor = 1e3

    def __init__(self, *, learning_rate_init=1e-3, batch_size="auto", shuffle=True,
                 random_state=None, **kwargs):
        super().__init__(**kwargs)
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state

    def _slots(self, x, xp):
        """Per-parameter state (velocity, moments) at the start."""
        return ()

    @abc.abstractmethod
    def _update(self, x, state, grad, xp):
        """The new parameters after one step from ``x`` on ``grad`` (``state`` holds the slots)."""

    def init(self, problem, x0):
        loss, grad = problem.gradient(x0)
        self._rng = check_random_state(self.random_state)
        return _FOState(x0, loss, grad, 0, self._slots(x0, problem.backend.xp))

    def carry(self, problem, state):
        return {"t": state.t, "slots": [np.array(problem.backend.to_numpy(s)) for s in state.slots]}

    def resume(self, problem, state, carry):
        state.t = carry["t"]
        state.slots = tuple(problem.backend.asarray(s) for s in carry["slots"])

    def batch_rows(self, n_samples):
        """Rows per minibatch for ``n_samples`` rows (None: the full batch).

        'auto' is scikit-learn's ``min(200, n_samples)``; a size above
        ``n_samples`` is clipped to it.
        """
        if n_samples is None or self.batch_size is None:
            return None
        size = 200 if self.batch_size == "auto" else self.batch_size
        return None if size >= n_samples else size

    def step(self, problem, state, iteration):
        xp = problem.backend.xp
        batch = self.batch_rows(problem.n_samples)
        if batch is None:
            x_new = self._update(state.x, state, state.grad, xp)
            loss, grad = problem.gradient(x_new)
            grad_norm = norm(xp, grad)
        else:
            n = problem.n_samples
            order = self._rng.permutation(n) if self.shuffle else np.arange(n)
            order = xp.asarray(order)  # one transfer per epoch, not per batch
            # state.x stays where the epoch began (the point state.loss belongs
            # to): a failed epoch returns it, not a mid-epoch point that may
            # already be NaN
            x_new = state.x
            for start in range(0, n, batch):
                _, g = problem.gradient(x_new, batch=order[start:start + batch])
                x_new = self._update(x_new, state, g, xp)
            loss, grad, grad_norm = problem.loss(x_new), None, math.nan
        if not (math.isfinite(loss) and bool(xp.isfinite(x_new).all())):
            # (the run loop returns the lowest-loss parameters)
            return IterationInfo(iteration, state.x, state.loss, status=Status.DIVERGED)
        state.x, state.loss, state.grad = x_new, loss, grad
        return IterationInfo(iteration, x_new, loss, grad_norm=grad_norm)


class SGD(FirstOrderSolver):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``v <- momentum * v - lr * g``; the step is ``v``, or with Nesterov's
    momentum ``momentum * v - lr * g`` (scikit-learn's formulation).
    ``momentum=0`` is plain gradient descent.

    Parameters
    ----------
    learning_rate_init : float, default=1e-3
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    batch_size : int, 'auto' or None, default='auto'
    shuffle : bool, default=True
    random_state : int, RandomState or None
    **kwargs
        Stopping criteria and reporting, see :class:`~sklm.solvers._base.Solver`.
    """

    name = "sgd"
    options = ("learning_rate_init", "momentum", "nesterovs_momentum", "batch_size",
               "shuffle", "random_state")
    _parameter_constraints = {
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
    }

    def __init__(self, *, momentum=0.9, nesterovs_momentum=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum

    def _slots(self, x, xp):
        return (xp.zeros_like(x),)

    def _update(self, x, state, grad, xp):
        lr = self.learning_rate_init
        if self.momentum == 0:
            return x - lr * grad
        (v,) = state.slots
        v *= self.momentum
        v -= lr * grad
        step = self.momentum * v - lr * grad if self.nesterovs_momentum else v
        return x + step
