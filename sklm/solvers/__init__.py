"""Solvers: each sees only a :class:`~sklm._problem.Problem`."""

from ._base import MESSAGES, IterationInfo, Solver, SolverResult, Status
from .lm import LevenbergMarquardt

SOLVERS = {"lm": LevenbergMarquardt}

__all__ = ["MESSAGES", "IterationInfo", "LevenbergMarquardt", "SOLVERS", "Solver",
           "SolverResult", "Status"]
