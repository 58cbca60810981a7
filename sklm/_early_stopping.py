"""Early stopping as a callback that any solver can drive.

The monitor scores the current parameters on a held-out set after every
iteration, keeps a copy of the best parameters, and asks the solver to stop
after ``n_iter_no_change`` iterations without an improvement of at least
``tol`` (relative) in validation loss. The estimator then restores the best
parameters: early stopping is never a feature of one solver.
"""

import math


class ValidationMonitor:
    """Callback ``monitor(info) -> stop`` that tracks validation loss.

    Parameters
    ----------
    predict : callable
        ``predict(x) -> (m_val, k)`` outputs on the validation inputs.
    Y_val : array (m_val, k), on the solver's backend
    w_val : array (m_val,), sample weights
    tol : float
        Relative improvement that resets the patience counter.
    n_iter_no_change : int
        Patience; ``None`` never stops (only tracks the best).
    xp : array module
    loss_unit : float, default=1.0
        Factor applied to the validation MSE (the estimator's ``y`` units when
        it trains on normalised targets); R^2 does not depend on it.

    Attributes
    ----------
    defer : callable or None
        ``defer() -> bool``: while it returns True a stop is not asked for
        (the patience still counts; the best parameters are still tracked).
        Bayesian regularisation defers while its noise estimate says the
        data are noise-free (:meth:`sklm._bayes.BayesianPrecisions.noise_free_test`).
    """

    def __init__(self, predict, Y_val, w_val, tol, n_iter_no_change, xp, loss_unit=1.0):
        self.predict = predict
        self.Y_val = Y_val
        self.w_val = w_val[:, None]
        sum_w = float(w_val.sum())
        mean = (self.w_val * Y_val).sum(axis=0) / sum_w
        # weighted total sum of squares per output, for R^2
        tss = (self.w_val * (Y_val - mean) ** 2).sum(axis=0)
        self._init_state(tss, sum_w * Y_val.shape[1], tol, n_iter_no_change, xp, loss_unit)
        # R^2 is undefined on fewer than two rows (scikit-learn's r2_score: NaN)
        self.r2_defined = int(xp.count_nonzero(w_val)) >= 2

    def _init_state(self, tss, norm, tol, n_iter_no_change, xp, loss_unit):
        """The statistics of the validation set and the empty history.

        ``tss``: weighted total sum of squares per output (for R^2); ``norm``:
        the validation weights' sum times the number of outputs.
        """
        self._tss = tss
        self._norm = norm
        self.r2_defined = True
        self.xp = xp
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.loss_unit = loss_unit
        self.losses = []
        self.scores = []
        self.best_loss = math.inf
        self.best_score = None
        self.best_x = None
        self.best_train_loss = None  # the training loss at best_x (iterations only)
        self.best_iteration = 0
        #: added to the solver's iteration numbers (runs chained by the
        #: estimator's growing-sample warm-up count on)
        self.iteration_offset = 0
        self._no_improvement = 0
        #: the solver's stop message when this monitor stops it
        self.stop_message = (
            f"Early stopping: the validation loss did not improve by tol={tol:g} "
            f"(relative) for n_iter_no_change={n_iter_no_change} iterations.")
        self.defer = None

    def start(self, x0):
        """Score the starting point: it is the best until an iteration beats it.

        Without this a warm-started fit whose iterations all do worse on the
        validation set would return the least bad of them, not the start.
        """
        loss, score = self.evaluate(x0)
        if math.isfinite(loss):
            self.best_loss, self.best_score = loss, score
            self.best_x = x0.copy()
            self.best_iteration = 0

    def evaluate(self, x):
        """``(validation MSE, R^2 averaged over outputs)`` at ``x``."""
        sq = self.w_val * (self.Y_val - self.predict(x)) ** 2
        return self._scores(float(sq.sum()), sq.sum(axis=0))

    def _scores(self, sse, rss):
        """``(MSE, mean R^2)`` from the weighted sum of squares, total and per output."""
        xp = self.xp
        mse = sse / self._norm * self.loss_unit
        if not self.r2_defined:
            return mse, math.nan
        tss = self._tss
        # R^2 per output as scikit-learn's r2_score: 1 for a perfect fit of a
        # constant target, 0 for an imperfect one.
        safe = xp.where(tss > 0, tss, 1.0)
        r2 = xp.where(tss > 0, 1.0 - rss / safe, xp.where(rss > 0, 0.0, 1.0))
        return mse, float(r2.mean())

    def __call__(self, info):
        loss, score = self.evaluate(info.x)
        info.extras["val_loss"] = loss
        self.losses.append(loss)
        self.scores.append(score)
        if not math.isfinite(loss):
            self._no_improvement += 1
        elif loss < self.best_loss - self.tol * abs(self.best_loss) or self.best_x is None:
            self._no_improvement = 0
        else:
            self._no_improvement += 1
        if math.isfinite(loss) and loss < self.best_loss:
            self.best_loss, self.best_score = loss, score
            self.best_x = info.x.copy()
            self.best_train_loss = info.loss
            self.best_iteration = info.iteration + self.iteration_offset
        info.extras["val_fails"] = self._no_improvement  # trainlm's validation checks
        stop = (self.n_iter_no_change is not None
                and self._no_improvement >= self.n_iter_no_change)
        return stop and not (self.defer is not None and self.defer())
