"""Functional API: the sklm solvers on any least-squares problem.

>>> import numpy as np
>>> from sklm.optimize import least_squares
>>> t = np.linspace(0, 1, 20)
>>> y = 2.0 * np.exp(-1.5 * t)
>>> res = least_squares(lambda p: p[0] * np.exp(-p[1] * t) - y, x0=[1.0, 1.0])
>>> np.round(res.x, 6).tolist(), res.status.name
([2.0, 1.5], 'GOAL')
"""

import numpy as np

from ._backend import get_backend, to_host
from ._problem import FunctionProblem
from ._sklearn_compat import StrOptions, validate_parameter_constraints
from .solvers import SOLVERS

__all__ = ["least_squares"]


def least_squares(fun, x0, jac=None, hess=None, *, solver="lm", goal=0.0, max_iter=1000,
                  callback=None, verbose=0, backend="numpy", **solver_options):
    """Minimise ``loss(x) = mean(fun(x) ** 2)`` with one of sklm's solvers.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array of shape (m,)``, the residuals; ``m`` must not
        change between calls.
    x0 : array-like of shape (n,)
        Starting point (finite, at least one parameter).
    jac : callable, optional
        ``jac(x) -> (m, n)``, the Jacobian of ``fun``. Without it, central
        finite differences are used (``2 n`` extra calls of ``fun``).
    hess : callable, optional
        ``hess(x) -> (n, n)``, the Hessian of ``loss`` (used by 'newton').
        Without it, Newton uses central finite differences of the analytic
        gradient ``2 J^T r / m`` (``2 n`` Jacobian evaluations per iteration).
    solver : {'lm', 'gauss-newton', 'newton', 'sgd', 'adam'}, default='lm'
        'lm' has :class:`~sklm.LMRegressor`'s damping defaults: Nielsen's
        rule with geodesic acceleration from a relative ``mu_init='auto'``
        (the products ``J v`` and ``J^T u`` it needs reuse the iteration's
        Jacobian). ``mu_update='trainlm', geodesic=False, mu_init=1e-3`` is
        MATLAB's trainlm, the tutorial's method.
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
        criteria ``tol`` (default 0: off), ``n_iter_no_change``, ``min_grad``
        (default 0), ``max_time``, for 'lm' ``geodesic_alpha`` and
        ``geodesic_h``, and for 'gauss-newton' ``safeguard`` (default True;
        False takes pure steps) and ``max_halvings``.

    Returns
    -------
    result : SolverResult
        With ``x`` (NumPy), ``loss``, ``n_iter``, ``loss_curve``, ``status``,
        ``message``, ``success``, ``initial_loss``, ``mu_curve``,
        ``grad_norm_curve``, ``time_curve``, ``best_iteration``.

    Raises
    ------
    InvalidParameterError
        An option out of its range, with the same message
        :class:`~sklm.LMRegressor` gives for it (a ``ValueError``).
    TypeError
        An option the chosen solver does not take; ``fun``, ``jac`` or
        ``hess`` not callable.
    ValueError
        An empty or non-finite ``x0``; ``fun`` returning None, an empty or not
        1-D array, or changing its length; ``fun``, ``jac`` or ``hess``
        returning complex values, or ``jac`` or ``hess`` returning None or an
        array of another shape than ``(m, n)`` or ``(n, n)``.

    Notes
    -----
    How it differs from :func:`scipy.optimize.least_squares`:

    - the loss is the *mean* of the squared residuals (MATLAB's ``mse``, the
      tutorial's), not half their sum, so ``goal``, ``loss`` and the curves
      are means, and gradients and ``min_grad`` are those of the mean;
      ``J^T J``, ``J^T r`` and ``mu`` are those of the plain sum of squares,
      as in trainlm;
    - the stopping criteria are trainlm's (``goal``, ``min_grad``,
      ``mu_max``, ``max_iter``, ``max_time``) plus a relative ``tol`` on the
      loss over ``n_iter_no_change`` iterations, instead of SciPy's
      ``ftol``, ``xtol``, ``gtol`` and ``max_nfev``;
    - the result is a :class:`~sklm.solvers.SolverResult`: ``status`` is a
      :class:`~sklm.solvers.Status` (negative for failures), ``loss`` the
      mean of squares where SciPy's ``cost`` is half the sum, and there is
      no ``fun``, ``jac`` or ``nfev`` field;
    - there are no bounds, robust losses (``loss='huber'``...) or sparse
      Jacobians; there are first-order solvers, Newton's method, geodesic
      acceleration and a GPU backend.
    """
    validate_parameter_constraints(
        {"solver": [StrOptions(set(SOLVERS))],
         "backend": [StrOptions({"numpy", "cupy", "auto"})]},
        {"solver": solver, "backend": backend}, caller_name="least_squares")
    cls = SOLVERS[solver]
    constraints = cls.parameter_constraints()
    unknown = sorted(set(solver_options) - set(constraints))
    if unknown:
        raise TypeError(
            f"least_squares got options {unknown} that solver {solver!r} does not take."
        )
    options = dict(solver_options, goal=goal, max_iter=max_iter, callback=callback,
                   verbose=verbose)
    validate_parameter_constraints(constraints, options, caller_name="least_squares")
    be = get_backend(backend)
    try:
        x0 = np.asarray(to_host(x0), dtype=np.float64)  # (a CuPy x0 refuses np.asarray)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"x0 must be a 1-D array of real numbers; {exc}.") from exc
    if x0.ndim != 1:
        raise ValueError(f"x0 must be 1-D; got shape {x0.shape}.")
    if x0.size == 0:
        raise ValueError("x0 is empty: there are no parameters to fit.")
    if not np.isfinite(x0).all():
        raise ValueError("x0 contains NaN or infinity.")
    shapes = {}  # (m, n) once the problem knows m, for jac's and hess's checks
    problem = FunctionProblem(_checked(fun, "fun", shapes), x0,
                              jac=_checked(jac, "jac", shapes),
                              hess=_checked(hess, "hess", shapes), backend=be)
    shapes.update(jac=(problem.n_residuals, problem.n_params),
                  hess=(problem.n_params, problem.n_params))
    result = cls(**options).run(problem, be.asarray(x0))
    result.x = be.to_numpy(result.x)
    return result


#: What each user function returns, in its error messages.
_RETURNS = {"fun": "the residuals, a 1-D array", "jac": "the Jacobian, an array of shape (m, n)",
            "hess": "the Hessian of the loss, an array of shape (n, n)"}


def _checked(f, name, shapes):
    """``f`` with its value checked as it comes back, before NumPy converts it.

    The conversion to float64 would turn complex values into their real parts
    (with only NumPy's ComplexWarning), and ``atleast_2d`` a Jacobian of shape
    ``(m,)`` into ``(1, m)``: refused here, in the user's terms, with the
    shape the function returned. ``shapes[name]`` is the shape ``jac`` and
    ``hess`` must return (set once the residuals' length is known); ``f``
    not callable is left to :class:`~sklm._problem.FunctionProblem` to refuse.
    """
    if not callable(f):
        return f

    def checked(x):
        value = f(x)  # (an error inside f is the user's, and propagates as is)
        if value is None:
            raise ValueError(f"{name} returned None: it must return {_RETURNS[name]} of "
                             "real numbers.")
        if np.iscomplexobj(value):
            raise ValueError(
                f"{name} returned complex values (dtype {np.asarray(to_host(value)).dtype}): "
                "least_squares minimises the squares of real residuals. For a complex "
                "residual r, return np.concatenate([r.real, r.imag]) (and the Jacobian's "
                "real and imaginary parts stacked likewise)."
            )
        expected = shapes.get(name)
        shape = getattr(value, "shape", None)
        if shape is None:
            shape = np.shape(value)
        if expected is not None and tuple(shape) != expected and not (
                name == "jac" and expected[0] == 1 and tuple(shape) == expected[1:]):
            # (one residual: a Jacobian row of shape (n,) is taken as (1, n))
            symbols = "(m, n)" if name == "jac" else "(n, n)"
            raise ValueError(f"{name} must return an array of shape {symbols} = "
                             f"{expected}; got shape {tuple(shape)}.")
        return value

    return checked
