"""The fitted state: the one writer of an estimator's fitted attributes, and its warnings.

:func:`write` turns a run's :class:`~sklm._driver.Outcome` into ``coefs_``,
the curves, the precisions and the posterior, in the user's units, and sets
them all at once: an interruption (Ctrl-C) while they are computed leaves the
estimator as it was. :func:`warn_convergence` and :func:`warn_if_pruned` raise
the warnings that name a stop's cause and its remedy.

The Gauss-Newton posterior (``return_std``, ``beta_``, ``effective_params_``)
costs a factorisation of the normal matrix at the kept parameters; when the
solver's last matrix is at that point the writer forms it at once, otherwise
(a new ``J^T J`` over all rows would be needed) a :class:`PosteriorSlot`
forms it the first time it is asked for, so that no fit pays for it unasked.
"""

import math
import threading

from sklearn.exceptions import ConvergenceWarning

from ._bayes import PRUNED_EFFECTIVE_PARAMS, posterior
from ._warnings import warn
from .solvers import Status

__all__ = ["POSTERIOR_MAX_PARAMS", "PosteriorSlot", "write", "warn_convergence",
           "warn_if_pruned"]

# The Gauss-Newton posterior (return_std, beta_, effective_params_) is formed
# and kept for networks up to this size: n^2 floats (32 MB here) and O(n^3).
POSTERIOR_MAX_PARAMS = 2000


class PosteriorSlot:
    """The posterior of a fit, formed when first needed (see the module docstring).

    Holds the problem of all training rows and the kept parameters until
    then; the problem's caches are released first, so what is kept is the
    normalised training data. A slot pickled before its posterior was formed
    pickles without it: ``return_std`` then says how to get it.
    """

    def __init__(self, problem, x, norm, activation, loss_unit):
        self._inputs = (problem, x, norm, activation)
        self.loss_unit = loss_unit
        self._value = None
        self._lock = threading.Lock()
        self.dropped = False

    @property
    def formed(self):
        return self._value is not None

    def get(self):
        """The :class:`~sklm._bayes.Posterior` (formed now if it was not), or None if dropped."""
        with self._lock:
            if self._value is None and self._inputs is not None:
                self._value = posterior(*self._inputs)
                self._inputs = None
            return self._value

    def __getstate__(self):
        dropped = self._value is None
        return {"_value": self._value, "loss_unit": self.loss_unit,
                "dropped": self.dropped or dropped}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._inputs = None
        self._lock = threading.Lock()


def _posterior_slot(plan, outcome, norm, activation, loss_unit, held_on_cluster, time_left):
    """The fit's :class:`PosteriorSlot` (None where it has no posterior).

    Formed now when the solver's last ``J^T J`` is at the kept point (one
    factorisation), and otherwise later, on first need: except for a problem
    held on a cluster (``held_on_cluster``), whose blocks a pending posterior
    would keep on the workers; that one is formed now while ``time_left``
    (no budget, or some of it left), and dropped otherwise.
    """
    problem = outcome.problem
    if (plan.solver not in ("lm", "gauss-newton", "newton") or problem is None
            or problem.n_params > POSTERIOR_MAX_PARAMS):
        return None
    slot = PosteriorSlot(problem, outcome.x, norm, activation, loss_unit)
    if problem.has_normal_matrix_at(outcome.x) or (held_on_cluster and time_left):
        try:
            slot.get()
        except KeyboardInterrupt:
            slot = PosteriorSlot(problem, outcome.x, norm, activation, loss_unit)
    if held_on_cluster and not slot.formed:
        slot._inputs, slot.dropped = None, True
    elif not slot.formed:
        problem.release()
    return slot


def write(est, plan, source, mlp, outcome, backend_label, time_left=True, extra=None):
    """Set ``est``'s fitted attributes from ``outcome``; warn as the outcome asks.

    ``backend_label``: what ``backend_`` says; ``time_left``: whether the
    fit's budget has room for the posterior (see :func:`_posterior_slot`);
    ``extra``: more attributes to set with the others (the Dask source's
    statistics).
    """
    continuing = plan.continuing
    result, monitor, kept = outcome.result, outcome.monitor, outcome.kept
    unit = source.loss_unit
    params = mlp.unpack(source.norm.to_user(mlp, kept.theta))
    old = vars(est) if continuing else {}
    s = {
        "coefs_": [W.copy() for W, _ in params],
        "intercepts_": [b.copy() for _, b in params],
        "n_outputs_": mlp.n_outputs,
        "n_layers_": mlp.n_layers + 1,
        "out_activation_": "identity",
        "backend_": backend_label,
        "linear_solver_": plan.linear_solver,
        "_normalisation": source.norm,
        "_solver_carry": result.carry,
        "_status": result.status,
        "_early_stopping": plan.early_stopping and not outcome.noise_free,
        "noise_free_": outcome.noise_free,
        "n_iter_": result.n_iter,
    }
    s.update(_curves(outcome, continuing, old, unit))
    s.update(_validation(outcome, old, unit, s["best_iteration_"]))
    s.update(_precisions(outcome, continuing, old, unit))
    s["_posterior_slot"] = _posterior_slot(plan, outcome, source.norm, est.activation, unit,
                                           source.kind == "dask", time_left)
    s.update(extra or {})
    # All at once (one dict update): Ctrl-C before it leaves the estimator as
    # it was, after it a complete model.
    est.__dict__.update(s)
    if not (plan.incremental and result.status == Status.MAX_ITER):
        warn_convergence(est, result.status, result.n_iter, result.message,
                         result.best_iteration, monitor)
    warn_if_pruned(est)


def _curves(outcome, continuing, old, unit):
    """The curves, counts and kept iteration, continued from the earlier calls'."""
    result, kept = outcome.result, outcome.kept
    s = {}
    before = len(old.get("loss_curve_", []))  # iterations of the earlier calls
    s["t_"] = old.get("t_", 0) + sum(outcome.rows_curve)
    s["sample_rows_curve_"] = list(old.get("sample_rows_curve_", [])) + outcome.rows_curve
    # (a continued fit that kept its start holds the earlier call's kept weights)
    s["best_iteration_"] = (before + kept.iteration if kept.iteration or not continuing
                            else old.get("best_iteration_", before))
    s["loss_curve_"] = list(old.get("loss_curve_", [])) + [v * unit for v in result.loss_curve]
    s["mu_curve_"] = list(old.get("mu_curve_", [])) + result.mu_curve
    s["gradient_curve_"] = list(old.get("gradient_curve_", [])) + result.grad_norm_curve
    times = old.get("time_curve_", [])
    offset = times[-1] if continuing and times else 0.0
    s["time_curve_"] = list(times) + [offset + t for t in result.time_curve]
    s["loss_"] = float(kept.loss) * unit
    s["stop_reason_"] = result.message
    return s


def _validation(outcome, old, unit, best_iteration):
    """Early stopping's record, or the lowest training loss without it."""
    result, monitor, kept = outcome.result, outcome.monitor, outcome.kept
    s = {}
    if monitor is not None:
        if result.status == Status.CALLBACK:
            restored = (f"The parameters of iteration {best_iteration} (best "
                        "validation loss) were restored." if kept.iteration
                        else "The starting parameters, better than any iteration, "
                        "were kept.")
            s["stop_reason_"] = f"{result.message} {restored}"
        # (the monitor reports in y's units already)
        s["validation_loss_curve_"] = (list(old.get("validation_loss_curve_") or [])
                                       + monitor.losses)
        s["validation_scores_"] = list(old.get("validation_scores_") or []) + monitor.scores
        # the score of the parameters returned (the start when no iteration
        # beat it: see ValidationMonitor.start)
        s["best_validation_score_"] = monitor.best_score
        s["best_validation_loss_"] = monitor.best_loss
        s["best_loss_"] = None
        return s
    s.update(validation_loss_curve_=None, validation_scores_=None,
             best_validation_score_=None, best_validation_loss_=None)
    # the lowest loss on all the training rows (the warm-up's sample losses
    # are not comparable), the start's too: a fit that diverged from its
    # first epoch keeps it
    full = outcome.full
    previous = old.get("best_loss_")
    previous = math.inf if previous is None else previous
    s["best_loss_"] = min([previous, full.initial_loss * unit]
                          + [v * unit for v in full.loss_curve])
    return s


def _precisions(outcome, continuing, old, loss_unit):
    """The Bayesian curves and the penalty kept (``alpha_`` comes with the posterior)."""
    evidence = outcome.evidence
    if evidence is None:
        return {"alpha_curve_": None, "beta_curve_": None, "effective_params_curve_": None,
                "_bayes_penalty": None, "_bayes_gamma": None}
    monitor = outcome.monitor
    best = monitor.best_iteration if monitor is not None else None
    penalty = gamma = None
    if not outcome.noise_free:  # (else the problem returned has no penalty)
        penalty, gamma = evidence.fitted(outcome.problem, best)

    def previous(name):
        return list(old.get(name) or []) if continuing else []

    return {
        "alpha_curve_": previous("alpha_curve_") + evidence.alpha_curve,
        "beta_curve_": previous("beta_curve_") + [b / loss_unit
                                                 for b in evidence.beta_curve],
        "effective_params_curve_": previous("effective_params_curve_") + evidence.gamma_curve,
        "_bayes_penalty": penalty,
        "_bayes_gamma": gamma,
    }


def warn_convergence(est, status, n_iter, message, best_iteration, monitor):
    """A ConvergenceWarning naming the cause of a stop that is not a success."""
    if getattr(est, "_start", None) is not None:
        return  # one of n_init starts: the kept one warns (sklm/_multistart.py)
    stopped = f"Training stopped after {n_iter} iterations."
    # Scaling advice only where the estimator did not scale the data itself.
    unscaled = [name for name in ("normalize_X", "normalize_y") if not getattr(est, name)]
    scale = (f"Scale the data ({' and '.join(f'{n}=True' for n in unscaled)}, or a "
             "StandardScaler). " if unscaled else "")
    kept = ("the parameters with the best validation loss" if monitor is not None
            else "the parameters with the lowest training loss")
    if status == Status.MAX_ITER:
        advice = ("Increase max_iter, or set max_time to train for a time budget."
                  if not est._early_stopping else "Increase max_iter.")
        msg = f"{message} The optimisation has not converged. {advice}"
    elif status == Status.MU_MAX:
        if est.dtype == "float32":
            cause = ("With dtype='float32' the loss and its derivatives carry about "
                     "1e-7 relative rounding, most likely what stopped the fit: use "
                     "dtype='float64' for more digits.")
        else:
            cause = ("The loss cannot be lowered further from here: the fit has "
                     "converged to the precision the damping allows, or is stuck in a "
                     f"poor local minimum. {scale}Try another random_state, or a "
                     "larger network.")
        msg = f"{message} {stopped} {cause}"
    elif status == Status.DIVERGED:
        msg = (f"{message} {stopped} The estimator holds {kept} (iteration "
               f"{best_iteration}). {scale}Lower learning_rate_init (now "
               f"{est.learning_rate_init:g}).")
    elif status == Status.NON_FINITE:
        msg = (f"{message} {stopped} The estimator holds the last finite "
               f"parameters. Check the inputs and targets for huge values. {scale}"
               "Try another random_state.")
    elif status == Status.INTERRUPTED:
        msg = f"{message} {stopped} The estimator holds {kept} found so far."
    elif status in (Status.STEP_FAILED, Status.SINGULAR, Status.STALLED):
        msg = (f"{message} {stopped} The undamped step cannot make progress "
               f"from here. {scale}Use solver='lm': its damping shortens the step "
               "where the Gauss-Newton model does not hold.")
    elif monitor is not None and monitor.best_iteration == 0 and n_iter > 0:
        # (a start that meets the goal, no iteration run, is no failure to improve)
        start = ("the warm start's parameters" if est.warm_start
                 else "the random initial parameters (the network is untrained)")
        msg = (f"Early stopping: no iteration improved the validation loss of the "
               f"starting point, so the model keeps {start}. Lower tol, raise "
               "n_iter_no_change or validation_fraction, or check that y depends on X.")
    else:
        return
    warn(msg, ConvergenceWarning)


def warn_if_pruned(est):
    """Warn when Bayesian regularisation has pruned every parameter."""
    if getattr(est, "_start", None) is not None or est.alpha_curve_ is None:
        return  # one of n_init starts (the kept one warns), or no evidence
    gamma = est._bayes_gamma
    if gamma is None or not gamma < PRUNED_EFFECTIVE_PARAMS:
        return
    n_params = sum(W.size + b.size for W, b in zip(est.coefs_, est.intercepts_))
    warn(
        f"Bayesian regularisation pruned every parameter (effective parameters "
        f"{gamma:.3g}): the network predicts a constant. With this few rows for "
        f"its {n_params} parameters the evidence takes the data for noise. Use a number "
        "for alpha (0.0: no penalty), more data or a smaller network.",
        ConvergenceWarning)
