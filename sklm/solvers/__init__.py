"""Solvers: each sees only a :class:`~sklm._problem.Problem`."""

from ._base import MESSAGES, IterationInfo, Solver, SolverResult, Status
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

__all__ = ["MESSAGES", "SOLVERS", "Adam", "GaussNewton", "IterationInfo",
           "LevenbergMarquardt", "Newton", "SGD", "Solver", "SolverResult", "Status"]
