"""Functional API: the sklm solvers on any least-squares problem.

>>> import numpy as np
>>> from sklm.optimize import least_squares
>>> t = np.linspace(0, 1, 20)
>>> y = 2.0 * np.exp(-1.5 * t)
>>> res = least_squares(lambda p: p[0] * np.exp(-p[1] * t) - y, x0=[1.0, 1.0])
>>> np.round(res.x, 6).tolist(), res.status.name
([2.0, 1.5], 'GOAL')
"""

import inspect

import numpy as np

from ._backend import get_backend
from ._problem import FunctionProblem
from .solvers import SOLVERS

__all__ = ["least_squares"]


def least_squares(fun, x0, jac=None, hess=None, *, solver="lm", goal=0.0, max_iter=1000,
                  callback=None, verbose=0, backend="numpy", **solver_options):
    """Minimise ``loss(x) = mean(fun(x) ** 2)`` with one of sklm's solvers.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array of shape (m,)``, the residuals.
    x0 : array-like of shape (n,)
        Starting point.
    jac : callable, optional
        ``jac(x) -> (m, n)``, the Jacobian of ``fun``. Without it, central
        finite differences are used (``2 n`` extra calls of ``fun``).
    hess : callable, optional
        ``hess(x) -> (n, n)``, the Hessian of ``loss`` (used by 'newton').
        Without it, Newton uses central finite differences of the analytic
        gradient ``2 J^T r / m`` (``2 n`` Jacobian evaluations per iteration).
    solver : {'lm', 'gauss-newton', 'newton', 'sgd', 'adam'}, default='lm'
        'lm' here defaults to MATLAB trainlm's damping rule
        (``mu_update='trainlm'``, an absolute ``mu_init=1e-3``) without
        geodesic acceleration, so that the tutorial's figures reproduce;
        ``mu_update='nielsen', geodesic=True, mu_init='auto'`` is
        LMRegressor's default (the products ``J v`` and ``J^T u`` it needs
        reuse the iteration's Jacobian).
    goal : float, default=0.0
        Stop when the loss is at or below ``goal``.
    max_iter : int, default=1000
    callback : callable, optional
        ``callback(info) -> bool`` after each iteration, with ``info.iteration``,
        ``info.x``, ``info.loss``, ``info.grad_norm``, ``info.mu``; returning
        True stops the run.
    verbose : int, default=0
        Print a table of the iterations.
    backend : {'numpy', 'cupy', 'auto'}, default='numpy'
        Arrays passed to ``fun`` live on this backend.
    **solver_options
        The solver's own parameters, named as in :class:`~sklm.LMRegressor`
        (``mu_init``, ``learning_rate_init``, ``momentum``, ...), the stopping
        criteria ``tol``, ``n_iter_no_change``, ``min_grad``, ``max_time``,
        and for 'gauss-newton' ``safeguard`` (default True; False takes pure
        steps) and ``max_halvings``.

    Returns
    -------
    result : SolverResult
        With ``x`` (NumPy), ``loss``, ``n_iter``, ``loss_curve``, ``status``,
        ``message``, ``success``, ``initial_loss``, ``mu_curve``,
        ``grad_norm_curve``, ``time_curve``.
    """
    if solver not in SOLVERS:
        raise ValueError(f"Unknown solver {solver!r}; expected one of {sorted(SOLVERS)}.")
    cls = SOLVERS[solver]
    own = {name for klass in cls.__mro__ if klass is not object
           for name in inspect.signature(klass.__init__).parameters} - {"self", "kwargs"}
    unknown = sorted(set(solver_options) - own)
    if unknown:
        raise TypeError(
            f"least_squares got options {unknown} that solver {solver!r} does not take."
        )
    be = get_backend(backend)
    x0 = np.asarray(x0, dtype=np.float64)
    if x0.ndim != 1:
        raise ValueError(f"x0 must be 1-D; got shape {x0.shape}.")
    problem = FunctionProblem(fun, x0, jac=jac, hess=hess, backend=be)
    result = cls(goal=goal, max_iter=max_iter, callback=callback, verbose=verbose,
                 **solver_options).run(problem, be.asarray(x0))
    result.x = be.to_numpy(result.x)
    return result
