"""The estimator's plan for large data: LM on a growing random sample of rows first.

A full-batch LM step on 1e5 rows pays a normal matrix of all the rows from the
first iteration on, when a few thousand rows already tell the first digits.
So, before the full data (Byrd, Chin, Nocedal & Wu 2012, "Sample size
selection in optimization methods for machine learning"; Friedlander &
Schmidt 2012):

1. LM trains on a random sample of ``FIRST_ROWS`` rows, with its Jacobian and
   ``J^T J`` in float32 (sums and the solve in float64);
2. a stage ends when the loss on ``HOLDOUT_ROWS`` training rows outside every
   sample rises above ``OVERFIT_RATIO`` times the sample's own (the sample is
   being over-fitted), after ``STAGE_ITERATIONS`` iterations, or when LM
   stops on the sample (goal, tolerance, damping cap);
3. the next stage takes ``GROWTH`` times more rows (the samples are nested)
   and carries the parameters and LM's ``mu`` over (the solver rescales
   ``mu`` with the rows, as ``J^T J`` is a sum over rows);
4. once a sample would exceed half the data, LM trains on all of it, in the
   estimator's own ``dtype``, for the rest of the budget.

Solvers know nothing of this: each stage is an ordinary run on a problem
over a subset of the rows.
"""

import math
import time

import numpy as np

from .solvers import SolverResult, Status

__all__ = ["sample_stages", "StageWatch", "chain"]

FIRST_ROWS = 1_500
GROWTH = 4
STAGE_ITERATIONS = 15
OVERFIT_RATIO = 1.5
HOLDOUT_ROWS = 5_000

# Statuses of a sample stage that end the whole fit, not just the stage.
_FINAL = {Status.INTERRUPTED, Status.MAX_TIME, Status.NON_FINITE}


def sample_stages(n_rows, rng):
    """The nested row samples of the warm-up stages, and the held-out rows.

    Returns ``(stages, holdout)``: index arrays into the training rows, the
    samples growing by ``GROWTH`` up to half the data, the holdout (at most
    ``HOLDOUT_ROWS``) disjoint from all of them; ``([], None)`` where not
    even ``FIRST_ROWS`` is at most half the data. (Whether a fit has stages
    at all is the plan's decision: sklm._plan.)
    """
    sizes = []
    size = FIRST_ROWS
    while size <= n_rows // 2:
        sizes.append(size)
        size *= GROWTH
    if not sizes:
        return [], None
    order = rng.permutation(n_rows)
    holdout = min(HOLDOUT_ROWS, n_rows - sizes[-1])
    return [np.sort(order[:s]) for s in sizes], np.sort(order[n_rows - holdout:])


class StageWatch:
    """The callback of one sample stage: ends it when the sample is over-fitted.

    Wraps the estimator's validation monitor (if any), which goes on
    recording; a stop the monitor asks for ends only the stage, since the
    larger samples still to come change what the validation loss can reach.

    Parameters
    ----------
    sample, holdout : MLPProblem
        The problems on the stage's sample and on the held-out rows: their
        mean squared errors are compared, penalties left out (a penalty
        divided by a sample's weight is not comparable across samples).
    monitor : callable or None
    """

    def __init__(self, sample, holdout, monitor):
        self.sample = sample
        self.holdout = holdout
        self.monitor = monitor
        self.stop_message = (
            f"The sample of {sample.n_samples} rows is fitted: its held-out error rose "
            f"above {OVERFIT_RATIO:g} times its own, or the sample's patience ran out.")

    def __call__(self, info):
        stop = bool(self.monitor(info)) if self.monitor is not None else False
        own = self.sample.data_sse(info.x) / self.sample.scale  # (a cached pass)
        held_out = self.holdout.data_sse(info.x) / self.holdout.scale
        return stop or held_out > OVERFIT_RATIO * own


def ends_the_fit(result):
    """Whether a sample stage's status ends the whole fit (not only the stage)."""
    return result.status in _FINAL


def remaining_time(max_time, start):
    """What is left of ``max_time`` after ``start`` (None: no budget)."""
    if max_time is None:
        return None
    return max(max_time - (time.perf_counter() - start), math.ulp(1.0))


def chain(results):
    """One :class:`SolverResult` for consecutive runs (the stages, then the last run).

    Curves are concatenated (times continued), the counts added; the end -
    parameters, loss, status, message, carry - is the last run's, and
    ``best_iteration`` is counted along the chained curves.
    """
    last = results[-1]
    before = sum(r.n_iter for r in results[:-1])
    chained = SolverResult(
        x=last.x, loss=last.loss, n_iter=before + last.n_iter, status=last.status,
        message=last.message, success=last.success, initial_loss=results[0].initial_loss,
        best_iteration=before + last.best_iteration, carry=last.carry)
    offset = 0.0
    for r in results:
        chained.loss_curve += r.loss_curve
        chained.mu_curve += r.mu_curve
        chained.grad_norm_curve += r.grad_norm_curve
        chained.time_curve += [offset + t for t in r.time_curve]
        offset += r.time_curve[-1] if r.time_curve else 0.0
    return chained
