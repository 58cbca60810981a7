"""The contenders: each trains on a :class:`~benchmarks.problems.BenchProblem`
from a seed, for a wall-clock budget, and records a trace.

A trace is a list of ``(seconds, validation relative MSE, iterations)``, one
entry per iteration (per function evaluation for L-BFGS and SciPy, whose
iterations are not visible from outside). ``seconds`` is training time only:
the time spent measuring the validation error is subtracted. Every contender
stops at the first record past its budget (so it may overrun by one
iteration).
"""

import contextlib
import time

import numpy as np

from sklm._backend import NumpyBackend
from sklm._mlp import MLP
from sklm._problem import MLPProblem
from sklm.solvers import SOLVERS

__all__ = ["CONTENDERS", "Recorder", "contender_names"]


class _Budget(Exception):
    """Raised inside a third-party optimiser's callback to stop it."""


class Recorder:
    """Clock, trace and budget shared by every contender."""

    def __init__(self, budget, val_error, stop_below=0.0):
        self.budget = budget
        self.val_error = val_error  # callable(params) -> relative MSE
        self.stop_below = stop_below
        self.trace = []
        self.eval_time = 0.0
        self.start = None
        self.extra = {}

    def begin(self):
        self.start = time.perf_counter()

    def now(self):
        return time.perf_counter() - self.start - self.eval_time

    def record(self, params, iterations):
        """Record the validation error at ``params``; True when the run should stop."""
        t = self.now()
        e0 = time.perf_counter()
        err = float(self.val_error(params))
        self.eval_time += time.perf_counter() - e0
        self.trace.append((t, err, int(iterations)))
        return t >= self.budget or not np.isfinite(err) or err <= self.stop_below


def _mlp_and_problem(bp, chunk=None):
    mlp = MLP((bp.X.shape[1], *bp.hidden, 1), "tanh")
    m = bp.X.shape[0]
    problem = MLPProblem(mlp, bp.X, bp.y[:, None], np.ones(m), 0.0, NumpyBackend(),
                         chunk or m)
    return mlp, problem


def _theta_error(mlp, bp):
    Xv_t = np.ascontiguousarray(bp.X_val.T)
    var = float(bp.y_val.var())

    def err(theta):
        out = mlp.predict(mlp.unpack(theta), Xv_t, np)[0]
        return float(np.mean((bp.y_val - out) ** 2)) / var
    return err


def _start(mlp, seed):
    # As LMRegressor(random_state=seed): Glorot from check_random_state(seed).
    return mlp.init_params(np.random.RandomState(seed), "glorot")


def sklm_solver(solver, **options):
    def run(bp, seed, budget, stop_below=0.0, chunk=None):
        mlp, problem = _mlp_and_problem(bp, chunk)
        rec = Recorder(budget, _theta_error(mlp, bp), stop_below)
        opts = dict(options)
        if solver in ("sgd", "adam"):
            opts.setdefault("random_state", seed)

        def callback(info):
            return rec.record(info.x, info.iteration)

        s = SOLVERS[solver](max_iter=10**9, tol=0.0, min_grad=0.0, callback=callback, **opts)
        x0 = _start(mlp, seed)
        rec.begin()
        rec.record(x0, 0)
        result = s.run(problem, x0)
        rec.extra = {"status": result.status.name, "n_iter": result.n_iter,
                     "final_loss": float(result.loss)}
        return rec
    return run


class _Traced:
    """A solver callback that records each iteration, then asks the fit's own."""

    def __init__(self, run, inner, mlp, rec, count):
        self.run, self.inner, self.mlp, self.rec, self.count = run, inner, mlp, rec, count

    @property
    def stop_message(self):
        return getattr(self.inner, "stop_message", None)

    def __call__(self, info):
        self.count[0] += 1
        x = np.asarray(self.run.backend.to_numpy(info.x))
        stop = self.rec.record(self.run.source.norm.to_user(self.mlp, x), self.count[0])
        if self.inner is not None:
            stop = bool(self.inner(info)) or stop
        return stop


@contextlib.contextmanager
def traced_options(mlp, rec, count):
    """Every solver run of a fit (the sample stages', all rows', the noise-free one)
    records its iterations in ``rec``: the driver's options wrap their callback."""
    from sklm import _driver  # noqa: PLC0415

    original = _driver._Run.options

    def options(self, **kw):
        made = original(self, **kw)
        made["callback"] = _Traced(self, made.get("callback"), mlp, rec, count)
        return made

    _driver._Run.options = options
    try:
        yield
    finally:
        _driver._Run.options = original


def sklm_estimator(**params):
    """``LMRegressor`` with its defaults (all of its plan: normalisation, growing sample).

    The trace is recorded by wrapping the callbacks the estimator gives its
    solvers (the sample stages' and the full data's), with the parameters
    converted to the benchmark's units as ``fit`` would convert them.
    """
    def run(bp, seed, budget, stop_below=0.0, chunk=None):
        from sklm import LMRegressor  # noqa: PLC0415

        mlp = MLP((bp.X.shape[1], *bp.hidden, 1), "tanh")
        err = _theta_error(mlp, bp)
        count = [0]
        rec = None

        class Recorded(LMRegressor):
            def _fit_source(self, *args, **kw):
                with traced_options(mlp, rec, count):
                    return super()._fit_source(*args, **kw)

        # (params may override these: benchmarks.counts bounds max_iter)
        model = Recorded(bp.hidden, **{**dict(random_state=seed, tol=0.0, min_grad=0.0,
                                              max_iter=10**9, max_time=budget,
                                              chunk_size=chunk), **params})
        rec = Recorder(budget, err, stop_below)
        rec.begin()
        # (the data are standardised already: the estimator's normalisation of
        # them is the identity to rounding, and its start is this one)
        rec.record(mlp.init_params(np.random.RandomState(seed), "glorot"), 0)
        model.fit(bp.X, bp.y)
        rec.extra = {"status": model.stop_reason_, "n_iter": model.n_iter_,
                     "rows": sorted(set(model.sample_rows_curve_))}
        return rec
    return run


def sklearn_mlp(solver):
    def run(bp, seed, budget, stop_below=0.0, chunk=None):
        import warnings  # noqa: PLC0415

        from sklearn.exceptions import ConvergenceWarning  # noqa: PLC0415
        from sklearn.neural_network import MLPRegressor  # noqa: PLC0415

        var = float(bp.y_val.var())

        def err(model):
            return float(np.mean((bp.y_val - model.predict(bp.X_val)) ** 2)) / var

        rec = Recorder(budget, err, stop_below)
        common = dict(hidden_layer_sizes=bp.hidden, activation="tanh", alpha=0.0,
                      random_state=seed)
        if solver == "lbfgs":
            calls = [0]

            class Traced(MLPRegressor):
                def _loss_grad_lbfgs(self, packed, *args, **kwargs):
                    out = super()._loss_grad_lbfgs(packed, *args, **kwargs)
                    calls[0] += 1  # coefs_ now hold ``packed``
                    if rec.record(self, calls[0]):
                        raise _Budget
                    return out

            model = Traced(solver="lbfgs", max_iter=10**7, max_fun=10**7, tol=0.0, **common)
            rec.begin()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                try:
                    model.fit(bp.X, bp.y)
                    rec.extra = {"status": "stopped itself"}
                except _Budget:
                    rec.extra = {"status": "budget"}
        else:
            model = MLPRegressor(solver="adam", batch_size=200, learning_rate_init=1e-3,
                                 shuffle=True, **common)
            rec.begin()
            epoch = 0
            while True:
                model.partial_fit(bp.X, bp.y)
                epoch += 1
                if rec.record(model, epoch):
                    break
            rec.extra = {"status": "budget"}
        return rec
    return run


def scipy_least_squares(method):
    def run(bp, seed, budget, stop_below=0.0, chunk=None):
        from scipy.optimize import least_squares  # noqa: PLC0415

        mlp, problem = _mlp_and_problem(bp)
        rec = Recorder(budget, _theta_error(mlp, bp), stop_below)
        m, n = bp.X.shape[0], mlp.n_params
        Jt = np.empty((n, m))  # sklm's Jacobian, held whole for SciPy
        counts = {"nfev": 0, "njev": 0}
        ones = -np.ones(m)

        def fun(theta):
            counts["nfev"] += 1
            if rec.record(theta, counts["njev"]):
                raise _Budget
            return problem.residual(theta)

        def jac(theta):
            counts["njev"] += 1
            params = mlp.unpack(theta)
            acts = mlp.forward(params, problem.Xt, np)
            mlp.jacobian_t(params, acts, ones, Jt, np)
            return Jt.T

        rec.begin()
        try:
            res = least_squares(fun, _start(mlp, seed), jac=jac, method=method,
                                ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=10**7)
            rec.extra = {"status": f"stopped itself: {res.message}"}
        except _Budget:
            rec.extra = {"status": "budget"}
        rec.extra.update(counts)
        return rec
    return run


#: name -> (runner, what the iteration count counts)
CONTENDERS = {
    # (every rule spelled out: the solver's own defaults are LMRegressor's)
    "sklm lm trainlm": (sklm_solver("lm", mu_update="trainlm", geodesic=False, mu_init=1e-3),
                        "Jacobians - 1"),
    "sklm lm trainlm marquardt": (sklm_solver("lm", mu_update="trainlm", damping="marquardt",
                                              geodesic=False, mu_init=1e-3), "Jacobians - 1"),
    "sklm lm nielsen": (sklm_solver("lm", mu_update="nielsen", geodesic=False, mu_init=1e-3),
                        "Jacobians - 1"),
    "sklm lm trainlm geodesic": (sklm_solver("lm", mu_update="trainlm", geodesic=True,
                                             mu_init=1e-3), "Jacobians - 1"),
    "sklm lm nielsen geodesic": (sklm_solver("lm", mu_update="nielsen", geodesic=True,
                                             mu_init=1e-3), "Jacobians - 1"),
    # LMRegressor's defaults: the above, started at mu_init='auto' (relative)
    "sklm lm default": (sklm_solver("lm", mu_update="nielsen", geodesic=True,
                                    mu_init="auto"), "Jacobians - 1"),
    # the estimator with its defaults, the growing sample included on 1e5 rows
    "LMRegressor": (sklm_estimator(), "iterations (all stages)"),
    "LMRegressor full batch": (sklm_estimator(growing_sample=False), "Jacobians - 1"),
    # the two linear solvers whatever 'auto' picks (the crossover)
    "LMRegressor dense": (sklm_estimator(linear_solver="dense"), "iterations (all stages)"),
    "LMRegressor cg": (sklm_estimator(linear_solver="cg"), "iterations (all stages)"),
    # Moré's trust-region form of the damping (MINPACK's lmpar)
    "LMRegressor more": (sklm_estimator(mu_update="more"), "iterations (all stages)"),
    "sklm lm more geodesic": (sklm_solver("lm", mu_update="more", geodesic=True),
                              "Jacobians - 1"),
    "sklm lm more": (sklm_solver("lm", mu_update="more", geodesic=False), "Jacobians - 1"),
    "sklm gauss-newton": (sklm_solver("gauss-newton"), "Jacobians - 1"),
    "sklm newton": (sklm_solver("newton"), "Hessians - 1"),
    "sklm adam": (sklm_solver("adam", learning_rate_init=1e-3, batch_size=200), "epochs"),
    "sklm sgd": (sklm_solver("sgd", learning_rate_init=1e-3, batch_size=200), "epochs"),
    "sklearn lbfgs": (sklearn_mlp("lbfgs"), "function evaluations"),
    "sklearn adam": (sklearn_mlp("adam"), "epochs"),
    "scipy trf": (scipy_least_squares("trf"), "Jacobians"),
    "scipy lm": (scipy_least_squares("lm"), "Jacobians"),
}
# Hook: sklm solvers registered in sklm.solvers.SOLVERS after this file was
# written run with their defaults under the name "sklm <solver>".
for _name in SOLVERS:
    if f"sklm {_name}" not in CONTENDERS and _name != "lm":
        CONTENDERS[f"sklm {_name}"] = (sklm_solver(_name), "iterations")
CONTENDERS = {k: v for k, v in CONTENDERS.items()
              if not k.startswith("sklm ") or k.split()[1] in SOLVERS}


def contender_names():
    return list(CONTENDERS)
