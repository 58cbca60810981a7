"""Running a planned fit: the growing sample's stages, the run on all rows, the kept point.

:func:`run` knows the plan (:mod:`sklm._plan`) and the data source
(:mod:`sklm._data`), never the estimator. It owns what spans the solver runs
of one call: the time budget (``max_time`` bounds the whole call, measured
from its start), an interruption during the stages, the check that the start
is finite, and which parameters the model keeps (early stopping's best, or the
run's own).
"""

import dataclasses
import math
import time
from typing import NamedTuple

import numpy as np

from . import _sampling as sampling
from ._data import chunk_rows
from ._warnings import warn
from .solvers import MESSAGES, SOLVERS, SlowFitWarning, SolverResult, Status
from .solvers._base import stop_line

__all__ = ["Budget", "Kept", "Outcome", "run"]

# A fit on course to take longer than this (projected from its first
# iterations) warns once how to bound it.
SLOW_FIT_SECONDS = 30.0

#: The defaults' noise-free switch (FitPlan.noise_free_switch) fires once the
#: evidence's noise variance falls below this share of the targets' variance.
NOISE_FREE_SWITCH_LEVEL = 1e-5

# Rows the cost of one iteration is measured on before a run whose rows are
# many times more, when max_time bounds the fit (see _fits_the_budget).
PROBE_ROWS = 256


class Budget:
    """``max_time`` over a whole call to ``fit``: a deadline, and what is left of it.

    Parameters
    ----------
    max_time : float or None
        The user's budget (None: none).
    start : float
        ``time.perf_counter()`` when the call began.
    deadline : float or None
        An earlier deadline that also holds (the whole ``fit`` of ``n_init``
        starts, for each start).
    """

    def __init__(self, max_time, start=None, deadline=None):
        self.max_time = max_time
        self.start = time.perf_counter() if start is None else start
        own = None if max_time is None else self.start + max_time
        self.deadline = min((d for d in (own, deadline) if d is not None), default=None)

    def remaining(self):
        """Seconds left (None: no budget); a tiny positive number once spent."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.perf_counter(), math.ulp(1.0))

    def spent(self):
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def elapsed(self):
        return time.perf_counter() - self.start


class Kept(NamedTuple):
    """The parameters the model keeps (optimiser's units, host), their loss and iteration."""

    theta: np.ndarray
    loss: float
    iteration: int


@dataclasses.dataclass
class Outcome:
    """What the run hands to the writer of fitted attributes."""

    result: object  # SolverResult: the stages' and the full run's, chained
    full: object  # SolverResult of the last run (all rows, or the stage that ended the fit)
    rows_curve: list  # training rows each iteration used
    monitor: object  # ValidationMonitor or None
    kept: Kept
    problem: object  # the problem of all training rows (posterior, evidence)
    x: object  # the kept parameters on the backend
    evidence: object  # BayesianPrecisions or None
    runs_on_all_rows: bool  # False: the fit ended before its run on all rows
    noise_free: bool = False  # the evidence saw no noise, and the fit acted on it


def run(plan, source, mlp, theta0, params, rng, *, backend, carry, evidence, budget):
    """Run the plan on the source from ``theta0``; return an :class:`Outcome`.

    ``params``: the estimator's parameters (``get_params()``); ``carry``: the
    solver state a ``partial_fit`` resumes (None: a fresh start);
    ``evidence``: the :class:`~sklm._bayes.BayesianPrecisions` of a Bayesian
    fit (None otherwise).
    """
    return _Run(plan, source, mlp, params, rng, backend, evidence, budget).go(theta0, carry)


class _Run:
    """One call's runs: the stages, the run on all rows, the noise-free run."""

    def __init__(self, plan, source, mlp, params, rng, backend, evidence, budget):
        self.plan, self.source, self.mlp, self.params = plan, source, mlp, params
        self.rng, self.backend, self.evidence, self.budget = rng, backend, evidence, budget
        self.dtype = params["dtype"]
        self.penalty = source.norm.penalty(mlp, plan.penalty) if plan.penalty else 0.0
        self.monitor = source.monitor(mlp, backend, self.chunk(), params["tol"],
                                      params["n_iter_no_change"])
        self.watch = None
        self.switched = None  # the message of the switch to the noise-free run
        if evidence is not None and (self.monitor is not None or plan.noise_free_switch):
            variance = source.target_variance()
            if self.monitor is not None:
                # no stop while the evidence sees no noise
                self.monitor.defer = evidence.noise_free_test(variance)
            if plan.noise_free_switch:
                self.watch = NoiseFreeWatch(self.monitor, evidence.noise_free_test(
                    variance, NOISE_FREE_SWITCH_LEVEL))

    def chunk(self):
        return self.params["chunk_size"] or chunk_rows(
            self.backend, self.mlp, self.source.n_samples, self.source.n_outputs, self.dtype,
            self.plan.matrix_free)

    def options(self, **kw):
        """The solver's options now (what is left of the budget), ``kw`` applied."""
        made = self.plan.solver_options(self.params, monitor=self.monitor, rng=self.rng,
                                        loss_unit=self.source.loss_unit,
                                        max_time=self.budget.remaining(),
                                        slow_fit_warning=SLOW_FIT_SECONDS)
        if self.watch is not None:
            made["callback"] = self.watch
        return {**made, **kw}

    def go(self, theta0, carry):
        x = self.backend.asarray(theta0)
        if self.monitor is not None:
            self.monitor.start(x)
        stages, holdout = ([], None)
        if self.plan.growing_sample:
            stages, holdout = sampling.sample_stages(self.source.n_samples, self.rng)
        runs, rows, x, carry, ended = _warm_up(self, stages, holdout, x, carry)
        n_stages = len(runs) - (1 if ended and runs else 0)
        # (built even when a stage ended the fit: the posterior is of all rows)
        problem = self.source.problem(self.mlp, self.penalty, self.backend, self.chunk(),
                                      self.dtype, self.evidence, self.plan.matrix_free)
        if not ended and not _fits_the_budget(self, runs, stages, x):
            ended = True
            if runs:
                runs[-1] = _with_status(runs[-1], Status.MAX_TIME)
        if not (ended and runs):  # (else the last stage's run is the fit's last)
            runs.append(self.all_rows(problem, x, carry, ended, sum(r.n_iter for r in runs)))
            rows.append(self.source.n_samples)
        if self.watch is not None and self.watch.fired:
            problem = self.noise_free(runs, rows)
        return self.outcome(runs, rows, problem, n_stages)

    def all_rows(self, problem, x, carry, ended, used):
        """The run on all training rows (none when not one iteration fits the budget)."""
        if ended:  # the start kept
            loss = problem.loss(x)
            return SolverResult(x=x, loss=loss, n_iter=0, status=Status.MAX_TIME,
                                message=MESSAGES[Status.MAX_TIME], success=False,
                                initial_loss=loss, best_iteration=0, carry=carry or {})
        if self.monitor is not None:
            self.monitor.iteration_offset = used
        max_iter = 1 if self.plan.incremental else self.params["max_iter"] - used
        solver = SOLVERS[self.plan.solver](**self.options(max_iter=max_iter))
        # (one iteration of partial_fit would close with "max_iter=1 was
        # reached"; after the samples the line comes below, in the fit's terms)
        solver.verbose_stop_line = not (self.plan.incremental or used)
        return solver.run(problem, x, carry=carry)

    def noise_free(self, runs, rows):
        """The evidence saw no noise: every row, no penalty, the deepest damping rule.

        Appends the run to ``runs`` (its rows to ``rows``); returns its problem.
        """
        source, params = self.source, self.params
        if self.monitor is not None:
            source.fold_validation()
        self.switched = self.watch.stop_message  # what ended the run before
        self.monitor = self.watch = None
        used = sum(r.n_iter for r in runs)
        if params["verbose"]:
            print(f"The evidence sees no noise after {used} iterations: training on all "
                  f"{source.n_samples} rows without a penalty, with Moré's trust region.")
        self.params = dict(params, mu_update="more")
        problem = source.problem(self.mlp, 0.0, self.backend, self.chunk(), self.dtype,
                                 None, self.plan.matrix_free)
        left = params["max_iter"] - used
        if left > 0 and not self.budget.spent():
            solver = SOLVERS["lm"](**self.options(max_iter=left))
            solver.verbose_stop_line = False
            runs.append(solver.run(problem, runs[-1].x))
            rows.append(source.n_samples)
        return problem

    def outcome(self, runs, rows, problem, n_stages):
        source, monitor, params = self.source, self.monitor, self.params
        result = sampling.chain(runs) if len(runs) > 1 else runs[0]
        # quoted with the user's max_iter and max_time, not what each run had left
        result.message = SOLVERS[self.plan.solver](
            **self.options(max_time=params["max_time"])).message(result.status)
        if result.status == Status.CALLBACK and self.switched:
            result.message = self.switched  # (the noise-free run had no time left)
        if len(runs) > 1 and params["verbose"]:
            print(stop_line(result.n_iter, self.budget.elapsed(),
                            result.loss * source.loss_unit, result.message,
                            f" ({sum(r.n_iter for r in runs[:n_stages])} on samples)"
                            if n_stages else ""))
        if not math.isfinite(result.initial_loss):
            # Nothing was trained: rather than a warning and a random network,
            # say which data cannot be squared in float64.
            x_max, y_max = source.raw_max
            raise ValueError(
                f"The training loss at the initial parameters is not finite "
                f"({result.initial_loss}): the inputs or targets are too large to "
                f"square in float64 (max |X| = {x_max:.3g}, max |y| = {y_max:.3g}). "
                "Scale them: normalize_X=True and normalize_y=True (the defaults), or "
                "StandardScaler on X in a Pipeline and TransformedTargetRegressor for y."
            )
        x, kept = result.x, Kept(None, result.loss, result.best_iteration)
        if monitor is not None and monitor.best_x is not None:
            # the training loss there is known: the start's, or the iteration's
            x = monitor.best_x
            kept = Kept(None, monitor.best_train_loss if monitor.best_iteration
                        else result.initial_loss, monitor.best_iteration)
        kept = kept._replace(theta=np.array(self.backend.to_numpy(x), dtype=np.float64))
        rows_curve = [n for n, r in zip(rows, runs) for _ in range(r.n_iter)]
        return Outcome(result, runs[-1], rows_curve, monitor, kept, problem, x,
                       self.evidence, rows[-1] == source.n_samples, bool(self.switched))


class NoiseFreeWatch:
    """The callback that ends a Bayesian run once its evidence sees no noise.

    Wraps the validation monitor (if any), which goes on recording and may
    stop the run first. ``fired`` says that the evidence, not the monitor,
    stopped it.
    """

    def __init__(self, monitor, test):
        self.monitor = monitor
        self.test = test
        self.fired = False

    @property
    def stop_message(self):
        if self.fired:
            return ("The evidence sees no noise: the fit went on with every row, no "
                    "penalty and Moré's trust region.")
        return self.monitor.stop_message

    def __call__(self, info):
        stop = bool(self.monitor(info)) if self.monitor is not None else False
        if not stop and self.test():
            self.fired = True
            return True
        return stop


def _with_status(result, status):
    return dataclasses.replace(result, status=status, success=False,
                               message=MESSAGES[status])


def _warm_up(run, stages, holdout, x, carry):
    """LM on each row sample in turn (float32 normal matrix): see ``_sampling``.

    Returns ``(results, rows, x, carry, ended)``: the stages' results and
    their rows, where the full-data run starts, and whether a stage ended the
    whole fit (time spent, interruption, non-finite values: its result is the
    last).
    """
    results, sizes = [], []
    if not stages:
        return results, sizes, x, carry, False
    source, monitor, max_iter = run.source, run.monitor, run.params["max_iter"]
    common = (run.mlp, run.penalty, run.backend, run.chunk())
    source.hold(np.concatenate([stages[-1], holdout]))
    held_out = source.rows_problem(holdout, *common, "float64")
    for rows in stages:
        used = sum(r.n_iter for r in results)
        if used >= max_iter:
            break
        try:
            sample = source.rows_problem(rows, *common, "float32", run.evidence)
            if not sample.sum_w > 0:
                continue  # every row of this sample has zero weight: the next is larger
            stage = run.options(max_iter=min(sampling.STAGE_ITERATIONS, max_iter - used),
                                verbose=0, slow_fit_warning=None,
                                callback=sampling.StageWatch(sample, held_out, monitor))
            if monitor is not None:
                monitor.iteration_offset = used
            result = SOLVERS["lm"](**stage).run(sample, x, carry=carry)
        except KeyboardInterrupt:
            if not results:
                raise  # nothing trained yet, as in any fit
            results[-1] = _with_status(results[-1], Status.INTERRUPTED)
            return results, sizes, x, carry, True
        results.append(result)
        sizes.append(len(rows))
        x, carry = result.x, result.carry
        if run.params["verbose"]:
            why = ("the stage's budget" if result.status == Status.MAX_ITER
                   else result.message)
            print(f"Sample of {len(rows)} rows: {result.n_iter} iterations, loss "
                  f"{result.loss * source.loss_unit:.6g} ({why})")
        if sampling.ends_the_fit(result):
            return results, sizes, x, carry, True
    source.release_held()
    return results, sizes, x, carry, False


def _fits_the_budget(run, stage_results, stages, x):
    """Whether one iteration on all rows fits what is left of ``max_time``.

    Estimated from the last sample stage (seconds per iteration times the
    ratio of rows, twice for float64), or measured on :data:`PROBE_ROWS` rows
    where there was none. A run that cannot complete one iteration is not
    started: the fit warns with the estimate instead of overrunning its
    budget many times (an exact Hessian of 60,000 rows took 200 s where
    ``max_time=2``).
    """
    plan, source, budget = run.plan, run.source, run.budget
    left = budget.remaining()
    if left is None or plan.incremental:
        return True
    n = source.n_samples
    if stage_results and stage_results[-1].n_iter:
        last = stage_results[-1]
        rows = len(stages[len(stage_results) - 1])  # (an estimate: skipped stages aside)
        estimate = last.time_curve[-1] / last.n_iter * (n / rows) * 2.0
    elif n > 4 * PROBE_ROWS:
        estimate = _probe(run, x) * n / PROBE_ROWS
    else:
        return True
    if estimate <= left:
        return True
    warn(f"One iteration of solver={plan.solver!r} on the {n} training rows needs about "
         f"{estimate:.3g} s (measured on fewer rows), more than the {left:.3g} s left of "
         f"max_time={budget.max_time:g} s: it was not started, and the model keeps "
         + ("the sample stages' parameters. " if stage_results else "its start. ")
         + "Raise max_time, or train on fewer rows or a smaller network.",
         SlowFitWarning)
    return False


def _probe(run, x):
    """Seconds of one iteration's dominant evaluation on :data:`PROBE_ROWS` rows."""
    plan, source = run.plan, run.source
    rows = np.arange(PROBE_ROWS)
    source.hold(rows)
    try:
        probe = source.rows_problem(rows, run.mlp, run.penalty, run.backend, run.chunk(),
                                    run.dtype)
        if plan.solver == "newton":
            evaluate = probe.hessian
        elif plan.matrix_free or plan.solver in ("sgd", "adam"):
            evaluate = probe.gradient
        else:
            evaluate = probe.normal_equations
        start = time.perf_counter()
        evaluate(x)
        return time.perf_counter() - start
    finally:
        source.release_held()
