"""Solvers: each sees only a :class:`~sklm._problem.Problem`."""

from ._base import MESSAGES, IterationInfo, SlowFitWarning, Solver, SolverResult, Status
from .adam import Adam
from .gauss_newton import GaussNewton
from .lm import LevenbergMarquardt
from .newton import Newton
from .sgd import SGD

#: solver name -> class; the estimator's ``solver`` parameter takes these keys.
SOLVERS = {
    "lm": LevenbergMarquardt,
    "gauss-newton": GaussNewton,
    "newton": Newton,
    "sgd": SGD,
    "adam": Adam,
}



def option_constraints(names):
    """The constraints the solvers declare for the parameters ``names``.

    One declaration per option, wherever several solvers share it (``mu_init``
    of LM and Newton, ``learning_rate_init`` of SGD and Adam, the stopping
    criteria of all): :class:`~sklm.LMRegressor` and
    :func:`~sklm.optimize.least_squares` validate with the same constraints.
    """
    merged = {}
    for cls in SOLVERS.values():
        for name, constraint in cls.parameter_constraints().items():
            if name not in names:
                continue
            if name in merged and merged[name] is not constraint:
                raise RuntimeError(f"solvers declare {name!r} twice, differently")
            merged[name] = constraint
    missing = set(names) - set(merged)
    if missing:
        raise RuntimeError(f"no solver declares {sorted(missing)}")
    return merged


__all__ = ["MESSAGES", "SOLVERS", "Adam", "GaussNewton", "IterationInfo", "LevenbergMarquardt",
           "Newton", "SGD", "SlowFitWarning", "Solver", "SolverResult", "Status",
           "option_constraints"]
