"""LMRegressor: the scikit-learn estimator.

The estimator orchestrates and owns no maths: it validates parameters and
data, splits off a validation set, picks the backend, builds the
:class:`~sklm._problem.MLPProblem`, runs the solver, and turns the result into
fitted attributes, warnings and errors.
"""

import dataclasses
import math
import time
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import __version__ as _version
from . import _sampling as sampling
from ._backend import get_backend, is_cupy_array, to_host
from ._bayes import (
    PRUNED_EFFECTIVE_PARAMS,
    BayesianPrecisions,
    UncertaintyWarning,
    posterior,
    predictive_std,
    resolve_regularisation,
)
from ._early_stopping import ValidationMonitor
from ._mlp import MLP
from ._multistart import fit_starts, initial_params, is_dask_collection
from ._problem import MLPProblem, weight_unit_of
from ._sklearn_compat import Interval, StrOptions, _check_sample_weight, _fit_context
from ._training_data import prepare_training_data
from ._warnings import warn
from .solvers import MESSAGES, SOLVERS, Status, option_constraints
from .solvers._base import stop_line
from .solvers._damped import resolve_linear_solver

__all__ = ["LMRegressor"]

# Rows per chunk in predict: bounds its memory to a few widths x 64k floats.
_PREDICT_CHUNK = 65536

# The estimator's parameters that configure the solvers: the stopping criteria
# and reporting every solver takes, and each solver's own options.
_STOPPING = ("max_iter", "tol", "n_iter_no_change", "goal", "min_grad", "max_time", "verbose")
_SOLVER_PARAMETERS = _STOPPING + tuple(
    dict.fromkeys(name for cls in SOLVERS.values() for name in cls.options))

# The Gauss-Newton posterior (return_std, beta_, effective_params_) is formed
# and kept for networks up to this size: n^2 floats (32 MB here) and O(n^3).
_POSTERIOR_MAX_PARAMS = 2000

# Rows per chunk at most on the matrix-free path (LMRegressor._chunk_rows).
_MATRIX_FREE_CHUNK_ROWS = 4096

# A fit on course to take longer than this (projected from its first
# iterations) warns once how to bound it.
_SLOW_FIT_SECONDS = 30.0


class _Kept(NamedTuple):
    """The parameters the model keeps (optimiser's units), their loss and iteration."""

    theta: np.ndarray
    loss: float
    iteration: int


class _Run(NamedTuple):
    """What the run phase hands to the finish phase."""

    result: object  # SolverResult, the sample stages' and the full data's chained
    full: object  # SolverResult of the run on all the training rows
    rows_curve: list  # training rows each iteration used
    monitor: object  # ValidationMonitor or None
    backend: str
    kept: _Kept
    one_iteration: bool  # partial_fit: reaching max_iter=1 is the plan, not a failure
    posterior: object  # _Posterior


class _Posterior(NamedTuple):
    """What the finish phase needs for the precisions and ``return_std``."""

    problem: object  # the MLPProblem on all the training rows
    x: object  # the parameters kept, on the backend
    evidence: object  # BayesianPrecisions or None


# Bumped whenever the pickled state changes shape; see __setstate__.
# 2: the normalize_X and normalize_y parameters (format 1 models were
#    trained without them).
# 3: growing_sample; t_, gradient_curve_, sample_rows_curve_, best_iteration_
#    and the state partial_fit resumes from (older models resume afresh).
_PICKLE_FORMAT = 3


class LMRegressor(RegressorMixin, BaseEstimator):
    """Multi-layer perceptron regressor trained by Levenberg-Marquardt.

    A drop-in for scikit-learn's :class:`~sklearn.neural_network.MLPRegressor`
    (parameters of the same name mean the same thing, with learning rates
    acting on normalised data unless ``normalize_X`` and ``normalize_y`` are
    False) with the second-order
    training of MATLAB's ``trainlm``: it fits smooth surrogate models to
    precisions first-order optimisers do not reach.

    The loss minimised, and reported in ``loss_curve_``, is the weighted mean
    squared error plus an L2 penalty on the weights (not the biases)::

        loss = sum_i w_i ||y_i - f(x_i)||^2 / (k sum_i w_i) + alpha ||W||^2 / sum_i w_i

    for ``k`` outputs and sample weights ``w_i`` (default 1).

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(10,)
        Width of each hidden layer. The default is MATLAB ``fitnet``'s: a
        Levenberg-Marquardt iteration costs ``m * n^2`` flops for ``n``
        parameters, so small networks are where it shines.
    activation : {'tanh', 'logistic', 'relu', 'identity'}, default='tanh'
        Hidden-layer activation; the output layer is linear. ``tanh`` is
        trainlm's ``tansig``: smooth, as the Gauss-Newton model assumes.
    solver : {'lm', 'gauss-newton', 'newton', 'sgd', 'adam'}, default='lm'
        The optimiser. 'lm': Levenberg-Marquardt (uses the ``mu_*``,
        ``damping`` and ``mu_update`` parameters). 'gauss-newton': undamped
        Gauss-Newton steps with a step-halving safeguard that acts only when
        the full step fails. 'newton': the exact Hessian (including the
        residual-curvature term Gauss-Newton drops), damped like LM where it is
        not positive definite (uses ``mu_*``; ``mu_init=0`` starts with pure
        Newton steps and damps once a step fails to lower the loss);
        it costs ``O(m n^2)`` memory-bound work per iteration, so keep networks
        small. 'sgd', 'adam': first-order methods; one iteration is one epoch
        over minibatches of ``batch_size``.
    alpha : float, 'bayes' or 'auto', default='auto'
        L2 penalty on the weights (a number; ``trainlm`` has none). 'bayes':
        Bayesian regularisation (MATLAB's ``trainbr``; MacKay's evidence
        approximation as Foresee & Hagan apply it to Levenberg-Marquardt),
        for ``solver='lm'`` and ``'gauss-newton'``: one Gaussian prior on all
        parameters of the normalised problem, whose precision ``alpha_`` and
        the noise precision ``beta_`` are re-estimated after every accepted
        step from ``J^T J``. It penalises as much as the data's noise calls
        for: much on noisy data, next to nothing on noise-free data. 'auto':
        'bayes' for 'lm' and 'gauss-newton' with the dense step (up to 2,500
        parameters under ``linear_solver='auto'``, any number with
        ``mu_update='more'``), from 15 observations (the
        sum of the sample weights) to 49,999 training rows; 0 otherwise (on
        more rows, the ``growing_sample`` warm-up takes over, the
        evidence's ``O(n_params^3)`` update after every step would cost more
        than a step, and rows outnumber parameters so much that little noise
        is fitted; on fewer, the evidence cannot tell the signal from the
        noise and settles on a constant or a nearly linear model). Why it is
        the default: on noisy real data the unpenalised fit overfits
        (scikit-learn's diabetes data, 5-fold CV: test R^2 0.02, against 0.49
        for RidgeCV), while on the noise-free benchmark problems the evidence
        lowers the penalty with the error and the fits reach the
        same depths (docs/benchmarks.md, "Noisy data and the defaults"). Set
        ``alpha=0.0, early_stopping=False`` for trainlm's (and sklm's
        earlier) unpenalised fit. See the user guide's "Bayesian
        regularisation" page.
    max_iter : int, default=1000
        Maximum number of iterations (accepted steps), trainlm's ``epochs``.
    tol : float, default=1e-4
        Training stops when the loss (or the validation loss when
        ``early_stopping``) has not improved by at least ``tol`` times its
        best value for ``n_iter_no_change`` consecutive iterations. Relative,
        so the same value serves any scale of the targets (on standardised
        targets, about what MLPRegressor's absolute ``tol=1e-4`` means).
        Chosen by measurement (docs/benchmarks.md, "The stopping rule on
        noisy data"): noisy fits end converged instead of at ``max_iter``,
        the seed problems' deep fits are not cut short. 0 disables the
        test on the training loss; with ``early_stopping`` it means any
        improvement of the validation loss resets the patience. When
        ``n_iter_no_change`` iterations have passed without such an
        improvement and most of them were Gauss-Newton steps its line search
        had to halve, the run is *stalled* instead, a failure with a
        ``ConvergenceWarning`` (see the user guide's stopping rules).
    n_iter_no_change : int or np.inf, default=10
        Patience of the ``tol`` test and of early stopping; ``np.inf`` never
        stops on it (as in MLPRegressor).
    goal : float, default=0.0
        Stop when the training loss is at or below ``goal`` (trainlm's ``goal``).
    min_grad : float, default=1e-10
        Stop when the norm of the gradient of the loss falls below this (of
        the normalised problem, with the default ``normalize_X`` and
        ``normalize_y``). Smaller than trainlm's 1e-7 because sklm's loss is
        a mean, not a sum.
    max_time : float or None, default=None
        Wall-clock budget in seconds (trainlm's ``time``); None for no limit.
        Reaching it is not a warning: the budget was asked for.
    mu_init : float or 'auto', default='auto'
        Initial damping. A number is on the scale of ``J^T J`` of the
        weighted sum of squared errors (of the normalised problem, with the
        default ``normalize_X`` and ``normalize_y``), as in trainlm and in
        the tutorial (which starts at 3), whatever the rule. 'auto' starts
        each rule as its source does: ``solver='lm'`` with
        ``mu_update='nielsen'`` and Levenberg damping at
        ``1e-3 * max(diag(J^T J))`` (Madsen, Nielsen & Tingleff's
        ``tau = 1e-3``: on the scale of the data whatever the row count),
        anything else ('trainlm', 'marquardt', 'newton') at trainlm's 1e-3.
        Measured in docs/benchmarks.md ("Which damping rule should be the
        default").
    mu_increase : float, default=10.0
        Factor applied to ``mu`` after a rejected trial step (trainlm
        ``mu_inc``), by the 'trainlm' rule and by Newton. Nielsen's rule
        multiplies by 2, 4, 8, ... on consecutive rejections instead.
    mu_decrease : float, default=0.1
        Factor applied to ``mu`` after an accepted step (trainlm ``mu_dec``;
        used by ``mu_update='trainlm'``).
    mu_max : float, default=1e10
        Training stops when ``mu`` exceeds this (trainlm ``mu_max``).
    damping : {'levenberg', 'marquardt'}, default='levenberg'
        ``J^T J + mu I`` (trainlm) or ``J^T J + mu diag(J^T J)`` (Marquardt's
        scale-invariant damping).
    mu_update : {'nielsen', 'trainlm', 'more'}, default='nielsen'
        How ``mu`` changes after each trial. 'nielsen': Nielsen's gain-ratio
        rule, smooth, scale-free after the first steps. 'trainlm': MATLAB's
        fixed factors ``mu_decrease`` / ``mu_increase`` (choose it, with
        ``geodesic=False``, to reproduce trainlm). 'more': Moré's trust
        region (MINPACK's lmpar): a radius on the scaled step, updated by the
        gain ratio, and ``mu`` found for it by a few Cholesky factorisations
        of the same ``J^T J`` (dense steps only; ``mu_init``, ``mu_increase``,
        ``mu_decrease``, ``mu_max`` and ``damping`` do not apply). The default
        was chosen by measurement (docs/benchmarks.md, "Which damping rule
        should be the default" and "Small data, deeper and sooner").
    geodesic : bool, default=True
        Add geodesic acceleration (Transtrum & Sethna, 2012) to every LM
        trial step: a second-order correction along the curvature of the
        residuals, for one more forward pass and two cheap products per
        trial, never a new Jacobian ('lm' only). Where the correction is not
        trustworthy the trial uses the plain step (dense steps only).
    linear_solver : {'auto', 'dense', 'cg'}, default='auto'
        How 'lm' solves its damped step ('gauss-newton' and 'newton' are
        always dense, and refuse 'cg': Gauss-Newton's undamped steps on a
        sampled ``J^T J`` were measured unstable, and Newton forms the exact
        Hessian; 'sgd' and 'adam' solve no system). 'dense': form
        ``J^T J`` (streamed over row chunks) and factor it by Cholesky:
        ``n_params^2`` memory and ``n_samples * n_params^2`` flops an
        iteration, the fastest route for up to a few thousand parameters.
        'cg': matrix-free, never an ``n_params x n_params`` array: the step
        is solved by preconditioned conjugate gradients (at most 200) from
        Jacobian-vector products on a fresh random sample of 2,000 rows
        each iteration, against the gradient of all rows (Martens 2010,
        Hessian-free optimisation); memory ``O(n_samples * width +
        n_params)``, and an iteration costs about two passes over the data
        plus a hundred over the sample. No geodesic acceleration and no
        Bayesian regularisation there. 'auto': 'cg' above 2,500 parameters,
        where the measured crossover lies (user guide, "Large networks"),
        except with ``mu_update='more'``, which needs 'dense'.
    init : {'glorot', 'nguyen-widrow'}, default='glorot'
        Initial weights: Glorot/Xavier uniform (the tutorial's) or MATLAB's
        Nguyen-Widrow (which assumes inputs scaled to about [-1, 1]).
    normalize_X : bool, default=True
        Train on standardised inputs ``(x - mu) / sigma`` (each feature's
        weighted mean and standard deviation; constant features only
        centred), as MATLAB's ``fitnet`` maps its inputs (``mapminmax``). The
        first layer absorbs the change, so the fitted ``coefs_`` and
        ``intercepts_`` take raw inputs and the objective is unchanged (the
        solver gives first-layer weights ``alpha / sigma_j^2``): only the
        optimiser's path changes. Why it is the default: the initial weights
        assume inputs of order 1; measured on shifted and scaled inputs in
        docs/benchmarks.md ("Estimator defaults for inputs and targets"). A
        ``StandardScaler`` in a ``Pipeline`` does the same job; with one, this
        is all but the identity.
    normalize_y : bool, default=True
        Train on centred, scaled targets ``(y - c) / s``, as MATLAB's
        ``fitnet`` does by default (``mapminmax``): ``c`` is each output's
        weighted mean and ``s`` one scale for all outputs (the weighted root
        mean square of ``y - c``), so the loss in ``y``'s units is
        ``s^2`` times the normalised one, exactly, with ``alpha`` on the
        output weights and ``alpha / s^2`` on the others. Only the path of the
        optimiser changes, not the problem: the fitted ``coefs_`` and
        ``intercepts_`` give predictions in ``y``'s units and every loss
        attribute, ``goal`` and the losses printed by ``verbose`` are in
        those units. ``mu``, ``mu_curve_``, ``min_grad`` and the learning
        rates of 'sgd' and 'adam' refer to the normalised problem, as
        trainlm's ``mu`` does (so a learning rate tuned for MLPRegressor on
        targets far from order 1 does not carry over). Why it is the default: the
        initial weights and ``mu_init`` are made for targets of order 1;
        measured on scaled and shifted targets in docs/benchmarks.md
        ("Estimator defaults for inputs and targets"). False trains on ``y``
        as given (scikit-learn's MLPRegressor; the tutorial's raw-unit runs).
    early_stopping : bool or 'auto', default='auto'
        Hold out ``validation_fraction`` of the data, stop when its loss has
        not improved for ``n_iter_no_change`` iterations, and keep the
        parameters with the best validation loss. 'auto': on for Bayesian
        fits (``alpha='bayes'``, or 'auto' where it means Bayesian
        regularisation) of at least 100 samples of positive weight, off
        otherwise. With Bayesian
        regularisation a stop is deferred while the evidence estimates the
        noise variance below 1e-6 of the targets' (noise-free data: a
        plateau of the validation loss is not overfitting). Why 'auto': the
        evidence alone stops at an over-fitted fixed point on some noisy data
        (diabetes: test R^2 0.42; with early stopping 0.49), and on
        noise-free data the deferral keeps the fits about as deep as without
        a validation split (docs/benchmarks.md, "Noisy data and the
        defaults").
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping``.
    chunk_size : int or None, default=None
        Samples per chunk when forming ``J^T J``: memory is
        ``O(chunk_size * n_outputs * n_params + n_params^2)``. None takes as
        many rows as fit in scikit-learn's ``working_memory`` setting on the
        CPU, and in an eighth of the free device memory on a GPU.
    backend : {'auto', 'numpy', 'cupy'}, default='auto'
        Where to compute: 'auto' uses CuPy when it imports and sees a GPU.
    dtype : {'float64', 'float32'}, default='float64'
        Precision of the forward passes and Jacobians. 'float32' halves
        memory and, on GPUs with weak float64 (most consumer cards), is
        expected to be many times faster (not yet measured). The parameters,
        the loss and the damped solve stay float64; each chunk's ``J^T J`` is
        a float32 product, summed over chunks in float64. Its limit:
        residuals and Jacobian entries carry ~1e-7 relative rounding, so fits stop improving
        near a relative MSE of about 1e-7 to 1e-6 and the LM steps get noisy
        before that; use float64 for the last digits.
    growing_sample : 'auto' or bool, default='auto'
        Before the full data, train ``solver='lm'`` on a growing random
        sample of the rows: 1,500 rows first, then 4 times more each time
        the sample is over-fitted (its error on 5,000 held-out training rows
        exceeds 1.5 times its own) or after 15 iterations, with the Jacobian
        and ``J^T J`` in float32, until a sample would exceed half the data;
        then all rows in ``dtype``. On 1e5 rows a full-batch step costs a
        normal matrix of every row from the first iteration on, when a few
        thousand rows already tell the first digits (measured in
        docs/benchmarks.md, "Time to precision on 1e5 rows"). 'auto': from
        50,000 training rows on, for fresh fits (not ``warm_start`` or
        ``partial_fit``); True: whenever 1,500 rows are at most half the
        data; False: never, every iteration on all rows (as before this
        option existed).
        ``loss_curve_`` then holds each sample's own loss for its
        iterations, ``sample_rows_curve_`` their rows.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights (drawn on the CPU, so every backend starts
        from the same point) and the validation split.
    verbose : bool or int, default=False
        Print progress as MATLAB's trainlm does: iteration, time, loss and
        (with early stopping) validation loss and checks failed, gradient
        norm and ``mu``, then a line that says why training stopped. 1 (or
        True) prints the first and last iterations and at most about one row
        a second between them; 2 or more prints every iteration. A fit still
        running after 5 s whose iterations so far project more than 30 s to
        ``max_iter`` warns once how to bound it (``SlowFitWarning``).
    warm_start : bool, default=False
        Start from the fitted weights of the previous call to ``fit``; the
        curves continue, ``n_iter_`` counts the new call's iterations (as in
        scikit-learn).
    learning_rate_init : float, default=1e-3
        Step size of 'sgd' and 'adam', for the gradient of the mean loss (of
        the normalised problem, with the default ``normalize_X`` and
        ``normalize_y``).
    batch_size : int, 'auto' or None, default='auto'
        Minibatch size of 'sgd' and 'adam': 'auto' is ``min(200, n_samples)``
        as in MLPRegressor; a size above the number of training samples is
        clipped to it, with a warning. None is the full batch (one step per
        epoch, deterministic: the tutorial's gradient descent).
    shuffle : bool, default=True
        Shuffle the rows every epoch ('sgd', 'adam' with minibatches).
    momentum : float, default=0.9
        Momentum of 'sgd'; 0 is plain gradient descent.
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for 'sgd'.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's moment decay rates and denominator guard.
    n_init : int, default=1
        Random starts: fits from ``n_init`` initial weights, keeping the one
        with the lowest validation loss (``early_stopping``) or training loss.
        Start 0 is the ``n_init=1`` fit; the others draw their weights from
        seeds derived from ``random_state`` and share everything else (the
        validation split included, for an integer ``random_state``). They run
        through :class:`joblib.Parallel`, so under the active joblib backend:
        one after another by default, in local processes with
        ``joblib.parallel_config(n_jobs=...)``, on a Dask cluster with
        ``joblib.parallel_backend('dask')``. A ``warm_start`` refit runs one
        start, from the fitted weights. See the user guide's Dask page.

    Attributes
    ----------
    coefs_ : list of ndarray
        Weight matrices, ``coefs_[i]`` of shape ``(fan_in, fan_out)``.
    intercepts_ : list of ndarray
        Bias vectors.
    loss_ : float
        Training loss at the returned parameters.
    best_loss_ : float or None
        Lowest training loss seen; None when ``early_stopping``.
    loss_curve_ : list of float
        Training loss after each iteration (of every ``fit`` with
        ``warm_start`` and every ``partial_fit`` call).
    validation_loss_curve_ : list of float or None
        Validation mean squared error after each iteration (``early_stopping``).
    validation_scores_ : list of float or None
        Validation R^2 after each iteration (``early_stopping``); NaN where
        the validation split has a single row, as scikit-learn's
        ``r2_score``.
    best_validation_score_ : float or None
        Validation R^2 of the parameters returned (``early_stopping``): the
        best iteration's, or the starting point's when no iteration beat it
        (a ``warm_start`` fit that only overfits keeps its start).
    mu_curve_ : list of float
        Damping after each iteration (NaN for solvers without damping), on
        the normalised problem's scale with the default ``normalize_X`` and
        ``normalize_y``.
    gradient_curve_ : list of float
        Norm of the gradient of the loss after each iteration (trainlm's
        ``tr.gradient``), of the normalised problem with the default
        ``normalize_X`` and ``normalize_y``; NaN for minibatch epochs.
    time_curve_ : list of float
        Seconds since the start of training after each iteration (continued
        across ``warm_start`` fits).
    n_iter_ : int
        Iterations run by the last call to ``fit`` or ``partial_fit``
        (accepted steps of the damped solvers, epochs of 'sgd' and 'adam').
    t_ : int
        Training samples seen by the solver, over all calls: the rows each
        iteration used, summed (as MLPRegressor's ``t_``).
    sample_rows_curve_ : list of int
        Training rows each iteration used: all of them, except during the
        ``growing_sample`` warm-up.
    best_iteration_ : int
        The iteration whose parameters the model holds, counted along
        ``loss_curve_`` (1 for its first entry; 0 for the starting point):
        the last one, the best validated one with ``early_stopping``, or the
        one with the lowest loss after a divergence or an interruption.
    stop_reason_ : str
        Why training stopped.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined only when ``X`` has string feature names.
    n_outputs_ : int
    n_layers_ : int
        Number of layers, input and output included.
    out_activation_ : str
        Always 'identity'.
    backend_ : str
        The backend that trained the model.
    linear_solver_ : {'dense', 'cg'} or None
        How 'lm' and 'gauss-newton' solved their damped steps: 'dense'
        (Cholesky of ``J^T J``) or 'cg' (the matrix-free step), what
        ``linear_solver`` resolved to. None for the other solvers.
    alpha_ : float or None
        ``alpha='bayes'``: the precision of the prior on the weights of the
        normalised problem (``1 / variance`` of a weight; twice Foresee &
        Hagan's ``alpha``), re-estimated at the parameters returned; NaN where
        the prior has pruned every weight (the estimator then warns that the
        network predicts a constant). None otherwise, and for networks of
        more than 2,000 parameters or fits on Dask collections (no posterior
        is formed there; ``alpha_curve_`` still records the estimates).
    beta_ : float or None
        The noise precision (``1 / sigma^2`` of an observation of unit sample
        weight, in ``y``'s units; twice Foresee & Hagan's ``beta``) at the
        parameters returned: the evidence's estimate for ``alpha='bayes'``,
        ``(n - effective_params_) / SSE`` of the training residuals otherwise
        (``n`` = outputs times the sum of the sample weights). None for 'sgd'
        and 'adam', for networks of more than 2,000 parameters and for fits
        on Dask collections.
    effective_params_ : float or None
        The effective number of parameters ``gamma``: the number of
        parameters minus what the penalty holds at the prior (all of them
        when there is no penalty and ``J^T J`` is regular; its rank when it is
        singular). None where ``beta_`` is.
    alpha_curve_, beta_curve_, effective_params_curve_ : list of float or None
        ``alpha='bayes'``: the estimates after each iteration (``beta`` in
        ``y``'s units). None otherwise.
    best_validation_loss_ : float or None
        Validation mean squared error of the parameters returned
        (``early_stopping``).
    init_losses_ : list of float
        With ``n_init > 1``: each start's validation loss (``early_stopping``)
        or training loss, in start order.
    best_init_ : int
        With ``n_init > 1``: the start kept. Both describe the starts the
        weights came from, and stay through ``warm_start`` refits (which run
        one start, from the kept weights).
    dask_stats_ : dict
        After a fit on Dask collections: ``blocks``, ``tasks`` run,
        ``bytes_sent`` to and ``bytes_received`` from the workers by the
        fit's evaluations, and ``tasks_moved`` (tasks resubmitted because
        their worker lost its block).

    See Also
    --------
    sklearn.neural_network.MLPRegressor : first-order training of the same model.

    Notes
    -----
    **Input.** ``X``, ``y`` and ``sample_weight`` are converted to float64
    (float32, integer and boolean input is upcast; the fitted weights and the
    predictions are float64; ``dtype='float32'`` then computes the forward
    passes and Jacobians in float32). NaN or infinite values, complex or non-numeric
    data, 3-D arrays, empty arrays, mismatched lengths, negative or all-zero
    sample weights raise ``ValueError``; sparse ``X`` raises ``TypeError``
    (densify it with ``X.toarray()``). Targets whose scale squared is not a
    normal float64 (beyond about 1e+-154) raise ``ValueError``, as, with
    normalisation off, do data so large that the initial loss overflows.
    Unscaled inputs and targets are normalised for the optimiser
    (``normalize_X``, ``normalize_y``); with those set to False, data of very
    large or very small magnitude train without error but poorly (saturated
    units).
    One sample, more outputs than samples and more parameters than samples
    are all valid: the normal matrix ``J^T J`` is then singular and the
    damping keeps each step defined (Gauss-Newton falls back to the
    minimum-norm solution); without a penalty (``alpha='auto'`` below 15
    rows) the network interpolates the data.

    **Interruption.** A ``KeyboardInterrupt`` (Ctrl-C) during training stops
    it, as MATLAB's "Stop Training" does: ``fit`` returns normally with the
    estimator fitted, ``stop_reason_`` saying so and a ``ConvergenceWarning``.
    The weights kept are those with the lowest training loss among the start
    and the completed iterations (for SGD and Adam, whose loss can rise, not
    necessarily the last), or with ``early_stopping`` the best on the
    validation set. An interrupt during the very first evaluation of the loss
    and its derivatives, before any iteration, propagates: nothing was
    trained yet.

    **Reproducibility.** With an integer ``random_state``, fits on the same
    data, backend and thread count are bit-for-bit identical, for every solver
    (minibatch shuffling included). The pickled state carries a format
    number: an older one loads, a newer one fails with a message to upgrade.

    Examples
    --------
    >>> import numpy as np
    >>> from sklm import LMRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(200, 2))
    >>> y = np.sin(3 * X[:, 0]) * X[:, 1]
    >>> model = LMRegressor(hidden_layer_sizes=(10,), goal=1e-6 * y.var(), random_state=0)
    >>> model = model.fit(X, y)
    >>> bool(model.score(X, y) > 0.999)
    True
    """

    # The estimator's own parameters; every solver option is declared once, by
    # the solver that reads it (the same constraints least_squares applies).
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"bayes", "auto"})],
        "init": [StrOptions({"glorot", "nguyen-widrow"})],
        "normalize_X": ["boolean"],
        "normalize_y": ["boolean"],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "backend": [StrOptions({"auto", "numpy", "cupy"})],
        "dtype": [StrOptions({"float64", "float32"})],
        "growing_sample": [StrOptions({"auto"}), "boolean"],
        "warm_start": ["boolean"],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        **option_constraints(_SOLVER_PARAMETERS),
    }

    def __init__(
        self,
        hidden_layer_sizes=(10,),
        activation="tanh",
        *,
        solver="lm",
        alpha="auto",
        max_iter=1000,
        tol=1e-4,
        n_iter_no_change=10,
        goal=0.0,
        min_grad=1e-10,
        max_time=None,
        mu_init="auto",
        mu_increase=10.0,
        mu_decrease=0.1,
        mu_max=1e10,
        damping="levenberg",
        mu_update="nielsen",
        geodesic=True,
        linear_solver="auto",
        init="glorot",
        normalize_X=True,
        normalize_y=True,
        early_stopping="auto",
        validation_fraction=0.1,
        chunk_size=None,
        backend="auto",
        dtype="float64",
        growing_sample="auto",
        random_state=None,
        verbose=False,
        warm_start=False,
        learning_rate_init=1e-3,
        batch_size="auto",
        shuffle=True,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_init=1,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.goal = goal
        self.min_grad = min_grad
        self.max_time = max_time
        self.mu_init = mu_init
        self.mu_increase = mu_increase
        self.mu_decrease = mu_decrease
        self.mu_max = mu_max
        self.damping = damping
        self.mu_update = mu_update
        self.geodesic = geodesic
        self.linear_solver = linear_solver
        self.init = init
        self.normalize_X = normalize_X
        self.normalize_y = normalize_y
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.chunk_size = chunk_size
        self.backend = backend
        self.dtype = dtype
        self.growing_sample = growing_sample
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_init = n_init

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (converted to float64). A Dask array or
            DataFrame is fitted where its blocks live, on the cluster of the
            current ``distributed.Client`` (user guide, Dask page).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (a Dask collection with ``X``'s row blocks, or in memory).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; integer weights are equivalent to repeating
            rows.

        Returns
        -------
        self : LMRegressor
            The fitted estimator.
        """
        if self.n_init > 1 and not (self.warm_start and hasattr(self, "coefs_")):
            return fit_starts(self, X, y, sample_weight)  # sklm/_multistart.py
        if is_dask_collection(X, y, sample_weight):
            from . import _dask  # noqa: PLC0415 - Dask only for Dask input

            return _dask.fit(self, X, y, sample_weight)
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One more iteration on ``X``, ``y``: an epoch for 'sgd' and 'adam', one step otherwise.

        The first call initialises the network and, with ``normalize_X`` and
        ``normalize_y``, fixes the normalisation from its data (later calls
        reuse it: give the first call representative rows, or scale outside
        with those options off). Later calls continue from the fitted weights
        and from the solver's state (Adam's moments, SGD's velocity, LM's and
        Newton's ``mu``), whatever ``warm_start`` says. The stopping rules do
        not apply across calls; a call ends after its one iteration, without
        a warning unless that iteration failed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : LMRegressor
            The updated estimator.
        """
        if self.early_stopping is True:
            raise ValueError("partial_fit does not support early_stopping=True: one "
                             "iteration has nothing to stop. Use fit.")
        if is_dask_collection(X, y, sample_weight):
            raise TypeError("partial_fit takes in-memory arrays; fit takes Dask collections "
                            "(and n_init random starts).")
        return self._fit(X, y, sample_weight, incremental=True)

    def _fit(self, X, y, sample_weight, incremental):
        continuing = (incremental or self.warm_start) and hasattr(self, "coefs_")
        mlp, data, theta0, rng, bayes = self._prepare(X, y, sample_weight, continuing,
                                                      incremental)
        carry = self._solver_carry if incremental and continuing else None
        stages, holdout = self._sample_plan(data, rng, fresh=not continuing and not incremental)
        run = self._run(mlp, data, theta0, rng, incremental, carry, stages, holdout, bayes,
                        continuing)
        self._finish(mlp, data, run, continuing)
        return self

    # ---------------------------------------------------------- 1. prepare
    def _prepare(self, X, y, sample_weight, continuing, incremental):
        """Validate the input; split, normalise; the network and its start.

        Returns ``(mlp, data, theta0, rng, bayes)``: ``theta0`` in the
        optimiser's units, ``data`` a :class:`~sklm._training_data.TrainingData`,
        ``bayes`` whether ``alpha`` asks for Bayesian regularisation. Sets
        ``_early_stopping``, what ``early_stopping`` resolves to (never on in
        ``partial_fit``).
        """
        hidden = self._validated_hidden_layer_sizes()
        X, Y, sample_weight = self._validated_data(X, y, sample_weight, continuing)
        mlp = MLP((X.shape[1], *hidden, Y.shape[1]), self.activation)
        if self.solver == "gauss-newton" and self.linear_solver == "cg":
            raise ValueError("linear_solver='cg' needs solver='lm': undamped Gauss-Newton "
                             "steps on a sampled J^T J are unstable (docs: Large networks).")
        if self.solver == "newton" and self.linear_solver == "cg":
            raise ValueError("linear_solver='cg' needs solver='lm': solver='newton' forms "
                             "the exact n_params x n_params Hessian (docs: Large networks).")
        self._matrix_free = (self.solver == "lm" and resolve_linear_solver(
            self.linear_solver, mlp.n_params, self.mu_update) == "cg")
        sum_w = float(np.sum(sample_weight))
        bayes, self._early_stopping = resolve_regularisation(
            self.alpha, self.early_stopping, self.solver, int(np.count_nonzero(sample_weight)),
            matrix_free=self._matrix_free,
            n_observations=sum_w / weight_unit_of(sum_w / sample_weight.shape[0]))
        if incremental and continuing and isinstance(self.alpha, str) and self.alpha == "auto":
            # what 'auto' meant on the first call holds for the later ones, whatever
            # their batch's size (else the penalty comes and goes with it)
            bayes = getattr(self, "alpha_curve_", None) is not None
        self._early_stopping = self._early_stopping and not incremental
        rng = check_random_state(self.random_state)
        # Drawn even when continuing, so that the draws after it (the
        # validation split, minibatch order) are those of the first fit: a
        # warm-started fit must validate on the same rows, not on rows it
        # trained on before.
        theta_init = initial_params(self, mlp, rng)  # (this start's, with n_init)
        if continuing and [c.shape for c in self.coefs_] != _weight_shapes(mlp):
            raise ValueError(
                "warm_start=True and partial_fit need the same hidden_layer_sizes as "
                f"the fitted model ({self.coefs_[0].shape[1:]}...); got {hidden}."
            )
        # A partial_fit keeps the first call's normalisation: its solver
        # state (moments, mu) lives in those units.
        keep = incremental and continuing and getattr(self, "_normalisation", None)
        data = prepare_training_data(
            X, Y, sample_weight, rng=rng,
            validation_fraction=self.validation_fraction if self._early_stopping else None,
            normalize_X=self.normalize_X, normalize_y=self.normalize_y,
            norm=keep or None)
        if continuing:
            theta0 = data.to_solver(mlp, mlp.pack(self.coefs_, self.intercepts_))
        else:
            theta0 = theta_init
        return mlp, data, theta0, rng, bayes

    def _validated_data(self, X, y, sample_weight, continuing):
        """``X``, ``Y`` (2-D) and the weights as checked float64 host arrays."""
        # CuPy inputs are validated and split on the host, then the problem
        # moves the training rows to the device once (a single round trip).
        X, y, sample_weight = (to_host(v) for v in (X, y, sample_weight))
        X, y = validate_data(self, X, y, reset=not continuing, multi_output=True,
                             y_numeric=True, dtype=np.float64)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if Y.dtype.kind not in "biuf":
            # validate_data leaves string targets alone (a classifier's labels).
            try:
                Y = Y.astype(np.float64)
            except ValueError as exc:
                raise ValueError(f"y must be numeric for a regressor; {exc}.") from exc
        Y = Y.astype(np.float64, copy=False)  # float32 y: normalised in float64 too
        if not np.isfinite(Y).all():
            # validate_data checks y before y_numeric converts an object array
            # to float, so None entries arrive here as NaN.
            raise ValueError(
                "Input y contains NaN or infinity after conversion to float64 "
                "(None in an object array becomes NaN). Drop or impute those rows."
            )
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True)
        if not sample_weight.sum() > 0:
            raise ValueError("sample_weight must have a positive sum; got all zeros.")
        if continuing and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} outputs but the fitted model has {self.n_outputs_}; "
                "fit with warm_start=False to change them."
            )
        return X, Y, sample_weight

    # -------------------------------------------------------------- 2. run
    def _sample_plan(self, data, rng, fresh):
        """The growing-sample warm-up's row samples and holdout (``([], None)``: none)."""
        # (the permutation is drawn only when a plan is made: a fit without
        # one draws exactly what it always drew)
        if not (self.growing_sample and fresh and self.solver == "lm"):
            return [], None
        return sampling.sample_stages(data.n_samples, rng,
                                      force=self.growing_sample is True)

    def _run(self, mlp, data, theta0, rng, one_iteration, carry, stages, holdout, bayes,
             continuing):
        """Problem, monitor and solver on the backend; the solver's result.

        ``one_iteration`` for ``partial_fit``; ``carry`` the solver state it
        resumes from (None: a fresh start); ``stages`` the row samples of the
        growing-sample warm-up (see ``_sampling``), trained on before all rows;
        ``bayes`` for Bayesian regularisation (see ``_bayes``).
        """
        backend = get_backend(self.backend)
        if self.verbose:
            print(f"LMRegressor: solver {self.solver!r}, backend {backend.name}, "
                  f"{mlp.n_params} parameters, {data.n_samples} training samples; losses "
                  "in y's units, gradient and mu those of the normalised problem.")
        chunk = self.chunk_size or self._chunk_rows(backend, mlp, data)
        penalty = 0.0 if isinstance(self.alpha, str) else data.norm.penalty(mlp, self.alpha)
        evidence = (BayesianPrecisions.start(self if continuing else None) if bayes
                    else None)

        def problem_on(rows=None, dtype=self.dtype, evidence=evidence):
            part = (data.X, data.Y, data.w) if rows is None else (
                data.X[rows], data.Y[rows], data.w[rows])
            return MLPProblem(mlp, *part, penalty, backend, chunk, dtype=dtype,
                              evidence=evidence, matrix_free=self._matrix_free)

        monitor = self._validation_monitor(mlp, data, backend, chunk, evidence)
        x0 = backend.asarray(theta0)
        if monitor is not None:
            monitor.start(x0)
        options = self._solver_options(monitor, rng, data)
        if one_iteration:
            options["max_iter"] = 1
        start = time.perf_counter()
        stage_results, x0, carry, ended = self._warm_up(stages, holdout, problem_on, options,
                                                         x0, carry, monitor, start)
        used = sum(r.n_iter for r in stage_results)
        problem = problem_on()
        if ended:
            full = stage_results.pop()
        else:
            if stage_results:
                options["max_iter"] = self.max_iter - used
                options["max_time"] = sampling.remaining_time(self.max_time, start)
                if monitor is not None:
                    monitor.iteration_offset = used
            solver = SOLVERS[self.solver](**options)
            # (one iteration of partial_fit would close with "max_iter=1 was
            # reached"; after the samples the line comes below, in the fit's terms)
            solver.verbose_stop_line = not (one_iteration or stage_results)
            full = solver.run(problem, x0, carry=carry)
        if stage_results:
            result = sampling.chain(stage_results + [full])
            # quoted with the user's max_iter and max_time, not what the last
            # run had left of them
            result.message = SOLVERS[self.solver](
                **self._solver_options(monitor, rng, data)).message(result.status)
            if self.verbose:
                print(stop_line(result.n_iter, time.perf_counter() - start,
                                result.loss * data.loss_unit, result.message,
                                f" ({used} on samples)"))
        else:
            result = full
        rows_curve = [len(r) for r, s in zip(stages, stage_results) for _ in range(s.n_iter)]
        rows_curve += [data.n_samples if not ended else len(stages[len(stage_results)])
                       ] * full.n_iter
        if not math.isfinite(result.initial_loss):
            # Nothing was trained: rather than a warning and a random network,
            # say which data cannot be squared in float64.
            x_max, y_max = data.raw_max
            raise ValueError(
                f"The training loss at the initial parameters is not finite "
                f"({result.initial_loss}): the inputs or targets are too large to "
                f"square in float64 (max |X| = {x_max:.3g}, max |y| = {y_max:.3g}). "
                "Scale them: normalize_X=True and normalize_y=True (the defaults), or "
                "StandardScaler on X in a Pipeline and TransformedTargetRegressor for y."
            )
        x, kept = result.x, _Kept(None, result.loss, result.best_iteration)
        if monitor is not None and monitor.best_x is not None:
            # the training loss there is known: the start's, or the iteration's
            x = monitor.best_x
            kept = _Kept(None, monitor.best_train_loss if monitor.best_iteration
                         else result.initial_loss, monitor.best_iteration)
        kept = kept._replace(theta=backend.to_numpy(x))
        return _Run(result, full, rows_curve, monitor, backend.name, kept, one_iteration,
                    _Posterior(problem, x, evidence))

    def _validation_monitor(self, mlp, data, backend, chunk, evidence):
        """Early stopping's :class:`ValidationMonitor` (None without a validation split)."""
        if data.validation is None:
            return None
        X_val, Y_val, w_val = (backend.asarray(a) for a in data.validation)

        def predict_val(x):
            return mlp.predict_rows(mlp.unpack(x), X_val, backend.xp, chunk)

        monitor = ValidationMonitor(predict_val, Y_val, w_val, self.tol,
                                    self.n_iter_no_change, backend.xp, data.loss_unit)
        if evidence is not None:  # no stop while the evidence sees no noise
            monitor.defer = evidence.noise_free_test(data.Y, data.w)
        return monitor

    def _chunk_rows(self, backend, mlp, data):
        """Rows per chunk: a chunk's Jacobian, or (matrix-free) its layer outputs,
        in the backend's working memory."""
        itemsize = np.dtype(self.dtype).itemsize
        if self._matrix_free:
            # A product holds a few arrays of every layer's width per row; the
            # cap keeps a chunk's arrays near the caches (and memory O(width)).
            rows = backend.chunk_rows(row_bytes=8 * itemsize * sum(mlp.layer_sizes),
                                      n_rows=data.n_samples)
            return min(rows, _MATRIX_FREE_CHUNK_ROWS)
        return backend.chunk_rows(row_bytes=itemsize * mlp.n_params * data.Y.shape[1],
                                  n_rows=data.n_samples)

    def _warm_up(self, stages, holdout, problem_on, options, x, carry, monitor, start):
        """LM on each row sample in turn (float32 normal matrix): see ``_sampling``.

        Returns ``(results, x, carry, ended)``: the stages' results, where the
        full-data run starts, and whether a stage ended the whole fit (time
        spent, interruption, non-finite values: its result is the last).
        """
        results = []
        if not stages:
            return results, x, carry, False
        held_out = problem_on(holdout, "float64", evidence=None)
        for rows in stages:
            used = sum(r.n_iter for r in results)
            if used >= self.max_iter:
                break
            try:
                sample = problem_on(rows, "float32")
                stage = dict(options, max_iter=min(sampling.STAGE_ITERATIONS,
                                                   self.max_iter - used), verbose=0,
                             callback=sampling.StageWatch(sample, held_out, monitor),
                             max_time=sampling.remaining_time(self.max_time, start),
                             slow_fit_warning=None)
                if monitor is not None:
                    monitor.iteration_offset = used
                result = SOLVERS[self.solver](**stage).run(sample, x, carry=carry)
            except KeyboardInterrupt:
                if not results:
                    raise  # nothing trained yet, as in any fit
                last = results[-1]
                results[-1] = dataclasses.replace(
                    last, status=Status.INTERRUPTED, success=False,
                    message=MESSAGES[Status.INTERRUPTED])
                return results, x, carry, True
            results.append(result)
            x, carry = result.x, result.carry
            if self.verbose:
                why = ("the stage's budget" if result.status == Status.MAX_ITER
                       else result.message)
                print(f"Sample of {len(rows)} rows: {result.n_iter} iterations, loss "
                      f"{result.loss * options['loss_unit']:.6g} ({why})")
            if sampling.ends_the_fit(result):
                return results, x, carry, True
        return results, x, carry, False

    def _solver_options(self, monitor, rng, data):
        options = dict(
            max_iter=self.max_iter,
            goal=self.goal,
            loss_unit=data.loss_unit,  # goal and verbose in y's units
            # With a validation set, tol/n_iter_no_change judge the validation
            # loss (the monitor), as in scikit-learn; on the training loss they
            # only detect a stalled line search.
            tol=self.tol,
            stop_on_tol=monitor is None,
            n_iter_no_change=self.n_iter_no_change,
            min_grad=self.min_grad,
            max_time=self.max_time,
            callback=monitor,
            verbose=self.verbose,
            slow_fit_warning=_SLOW_FIT_SECONDS,
        )
        # Each solver names the estimator parameters it uses.
        for name in SOLVERS[self.solver].options:
            options[name] = rng if name == "random_state" else getattr(self, name)
        if "linear_solver" in options:
            options["linear_solver"] = "cg" if self._matrix_free else "dense"
        if "batch_size" in options:
            self._check_batch_size(data.n_samples)
        return options

    def _check_batch_size(self, n_samples):
        size = self.batch_size
        if isinstance(size, Integral) and size > n_samples:
            warn(f"batch_size={size} is larger than the {n_samples} training samples; "
                 "it is clipped to a full batch.", UserWarning)

    # ----------------------------------------------------------- 3. finish
    def _finish(self, mlp, data, run, continuing):
        """Parameters and curves in the user's units, fitted attributes, warnings."""
        result, monitor, kept = run.result, run.monitor, run.kept
        unit = data.loss_unit
        params = mlp.unpack(data.to_user(mlp, kept.theta))
        self.coefs_ = [W.copy() for W, _ in params]
        self.intercepts_ = [b.copy() for _, b in params]
        self.n_outputs_ = mlp.n_outputs
        self.n_layers_ = mlp.n_layers + 1
        self.out_activation_ = "identity"
        self.backend_ = run.backend
        self.linear_solver_ = (("cg" if self._matrix_free else "dense")
                               if self.solver in ("lm", "gauss-newton") else None)
        self._normalisation = data.norm
        self._solver_carry = result.carry
        self._status = result.status
        if not continuing:
            self.t_ = 0
            self.best_loss_ = math.inf
            self.sample_rows_curve_ = []
            self.loss_curve_ = []
            self.mu_curve_ = []
            self.gradient_curve_ = []
            self.time_curve_ = []
            self.validation_loss_curve_ = [] if monitor is not None else None
            self.validation_scores_ = [] if monitor is not None else None
        before = len(self.loss_curve_)  # iterations of the earlier calls
        self.n_iter_ = result.n_iter
        self.t_ += sum(run.rows_curve)
        self.sample_rows_curve_ = list(self.sample_rows_curve_) + run.rows_curve
        # (a continued fit that kept its start holds the earlier call's kept weights)
        self.best_iteration_ = (before + kept.iteration if kept.iteration or not continuing
                                else getattr(self, "best_iteration_", before))
        self.loss_curve_ = list(self.loss_curve_) + [v * unit for v in result.loss_curve]
        self.mu_curve_ = list(self.mu_curve_) + result.mu_curve
        self.gradient_curve_ = list(self.gradient_curve_) + result.grad_norm_curve
        offset = self.time_curve_[-1] if continuing and self.time_curve_ else 0.0
        self.time_curve_ = list(self.time_curve_) + [offset + t for t in result.time_curve]
        self.loss_ = float(kept.loss) * unit
        self.stop_reason_ = result.message
        if monitor is not None:
            if result.status == Status.CALLBACK:
                restored = (f"The parameters of iteration {self.best_iteration_} (best "
                            "validation loss) were restored." if kept.iteration
                            else "The starting parameters, better than any iteration, "
                            "were kept.")
                self.stop_reason_ = f"{result.message} {restored}"
            # (the monitor reports in y's units already)
            self.validation_loss_curve_ = list(self.validation_loss_curve_ or []) + monitor.losses
            self.validation_scores_ = list(self.validation_scores_ or []) + monitor.scores
            # the score of the parameters returned (the start when no
            # iteration beat it: see ValidationMonitor.start)
            self.best_validation_score_ = monitor.best_score
            self.best_validation_loss_ = monitor.best_loss
            self.best_loss_ = None
        else:
            self.validation_loss_curve_ = None
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_validation_loss_ = None
            # the lowest loss on all the training rows (the warm-up's sample
            # losses are not comparable), the start's too: a fit that diverged
            # from its first epoch keeps it
            full = run.full
            previous = self.best_loss_ if self.best_loss_ is not None else math.inf
            self.best_loss_ = min([previous, full.initial_loss * unit]
                                  + [v * unit for v in full.loss_curve])
        self._set_uncertainty(run.posterior, data.norm, monitor, unit, continuing)
        if not (run.one_iteration and result.status == Status.MAX_ITER):
            self._warn(result, monitor)
        self._warn_if_pruned()

    def _set_uncertainty(self, post, norm, monitor, loss_unit, continuing):
        """The precisions, effective parameters and posterior (damped solvers only)."""
        self.alpha_ = self.beta_ = self.effective_params_ = self._posterior = None
        if post.evidence is not None:
            best = monitor.best_iteration if monitor is not None else None
            post.evidence.fitted(post.problem, best, self, loss_unit, continuing)
        # (no posterior of a fit on Dask collections: post.problem is None)
        if (self.solver in ("lm", "gauss-newton", "newton") and post.problem is not None
                and post.problem.n_params <= _POSTERIOR_MAX_PARAMS):
            self._posterior = posterior(post.problem, post.x, norm, self.activation)
            self.beta_ = self._posterior.beta / loss_unit
            self.effective_params_ = self._posterior.gamma
            if post.evidence is not None:
                self.alpha_ = self._posterior.alpha
        if post.evidence is None:
            self.alpha_curve_ = self.beta_curve_ = self.effective_params_curve_ = None

    def _validated_hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not all(isinstance(s, Integral) and s > 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers; got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _warn(self, result, monitor):
        """A ConvergenceWarning naming the cause of a stop that is not a success."""
        if hasattr(self, "_start"):
            return  # one of n_init starts: the kept one warns (sklm/_multistart.py)
        status = result.status
        stopped = f"Training stopped after {result.n_iter} iterations."
        # Scaling advice only where the estimator did not scale the data itself.
        unscaled = [name for name in ("normalize_X", "normalize_y") if not getattr(self, name)]
        scale = (f"Scale the data ({' and '.join(f'{n}=True' for n in unscaled)}, or a "
                 "StandardScaler). " if unscaled else "")
        kept = ("the parameters with the best validation loss" if monitor is not None
                else "the parameters with the lowest training loss")
        if status == Status.MAX_ITER:
            advice = ("Increase max_iter, or set max_time to train for a time budget."
                      if not self._early_stopping else "Increase max_iter.")
            msg = f"{result.message} The optimisation has not converged. {advice}"
        elif status == Status.MU_MAX:
            if self.dtype == "float32":
                cause = ("With dtype='float32' the loss and its derivatives carry about "
                         "1e-7 relative rounding, most likely what stopped the fit: use "
                         "dtype='float64' for more digits.")
            else:
                cause = ("The loss cannot be lowered further from here: the fit has "
                         "converged to the precision the damping allows, or is stuck in a "
                         f"poor local minimum. {scale}Try another random_state, or a "
                         "larger network.")
            msg = f"{result.message} {stopped} {cause}"
        elif status == Status.DIVERGED:
            msg = (f"{result.message} {stopped} The estimator holds {kept} (iteration "
                   f"{result.best_iteration}). {scale}Lower learning_rate_init (now "
                   f"{self.learning_rate_init:g}).")
        elif status == Status.NON_FINITE:
            msg = (f"{result.message} {stopped} The estimator holds the last finite "
                   f"parameters. Check the inputs and targets for huge values. {scale}"
                   "Try another random_state.")
        elif status == Status.INTERRUPTED:
            msg = f"{result.message} {stopped} The estimator holds {kept} found so far."
        elif status in (Status.STEP_FAILED, Status.SINGULAR, Status.STALLED):
            msg = (f"{result.message} {stopped} The undamped step cannot make progress "
                   f"from here. {scale}Use solver='lm': its damping shortens the step "
                   "where the Gauss-Newton model does not hold.")
        elif monitor is not None and monitor.best_iteration == 0 and result.n_iter > 0:
            # (a start that meets the goal, no iteration run, is no failure to improve)
            start = ("the warm start's parameters" if self.warm_start
                     else "the random initial parameters (the network is untrained)")
            msg = (f"Early stopping: no iteration improved the validation loss of the "
                   f"starting point, so the model keeps {start}. Lower tol, raise "
                   "n_iter_no_change or validation_fraction, or check that y depends on X.")
        else:
            return
        warn(msg, ConvergenceWarning)

    def _warn_if_pruned(self):
        """Warn when Bayesian regularisation has pruned every parameter."""
        if hasattr(self, "_start") or self.alpha_curve_ is None:
            return  # one of n_init starts (the kept one warns), or no evidence
        gamma = self.effective_params_
        if gamma is None or not gamma < PRUNED_EFFECTIVE_PARAMS:
            return
        warn(
            f"Bayesian regularisation pruned every parameter (effective_params_ = "
            f"{gamma:.3g}): the network predicts a constant. With this few rows for "
            f"its {sum(W.size + b.size for W, b in zip(self.coefs_, self.intercepts_))} "
            "parameters the evidence takes the data for noise. Use a number for alpha "
            "(0.0: no penalty), more data or a smaller network.",
            ConvergenceWarning)

    # -------------------------------------------------------------- predict
    def predict(self, X, return_std=False):
        """Predict with the fitted network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A CuPy array is predicted on its GPU and gives a CuPy array; a
            Dask array or DataFrame gives a Dask array, block by block;
            anything else is computed with NumPy on the CPU, whatever backend
            trained the model.
        return_std : bool, default=False
            Also return the standard deviation of a new observation at each
            row: ``sqrt(1 / beta_ + g^T A^-1 g)``, the noise plus the
            parameters' uncertainty propagated through the network's gradient
            ``g`` (the Laplace / delta method with the Gauss-Newton Hessian
            ``A`` of the training loss). Models fitted in memory by 'lm',
            'gauss-newton' or 'newton', with at most 2,000 parameters (the
            fit keeps ``A``'s inverse factor, ``n_params^2`` floats, to
            predict with). Meaningful near a minimum of a
            smooth fit with more data than effective parameters; see the user
            guide's "Bayesian regularisation" page for when it is not, and
            for the warnings of its fallbacks (singular or non-finite ``J^T
            J``, no noise estimate).

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        y_std : ndarray of the same shape
            Only with ``return_std=True``.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            from . import _dask  # noqa: PLC0415 - Dask only for Dask input

            return _dask.predict(self, X, return_std)
        if is_cupy_array(X):
            backend = get_backend("cupy")
            X = self._validate_device_input(X, backend)
        else:
            backend = get_backend("numpy")
            X = validate_data(self, X, reset=False, dtype=np.float64)
        xp = backend.xp
        mlp = MLP((X.shape[1], *[W.shape[1] for W in self.coefs_]), self.activation)
        params = [(backend.asarray(W), backend.asarray(b))
                  for W, b in zip(self.coefs_, self.intercepts_)]
        Y = mlp.predict_rows(params, X, xp, _PREDICT_CHUNK)
        if not return_std:
            return Y.ravel() if self.n_outputs_ == 1 else Y
        std = self._predictive_std(X, backend)
        return (Y.ravel(), std.ravel()) if self.n_outputs_ == 1 else (Y, std)

    def _predictive_std(self, X, backend):
        post = getattr(self, "_posterior", None)
        n_params = sum(W.size + b.size for W, b in zip(self.coefs_, self.intercepts_))
        if post is None and n_params > _POSTERIOR_MAX_PARAMS:
            raise ValueError(
                f"return_std=True needs the Gauss-Newton posterior, which sklm keeps for "
                f"networks of at most {_POSTERIOR_MAX_PARAMS} parameters (it takes "
                f"n_params^2 memory); this one has {n_params}."
            )
        if post is None:
            raise ValueError(
                "return_std=True needs the Gauss-Newton posterior of a fit by solver "
                "'lm', 'gauss-newton' or 'newton' on in-memory data; "
                + (f"this model was fitted by {self.solver!r}. Refit it with one of them."
                   if self.solver in ("sgd", "adam") else
                   "this one has none: it was fitted on Dask collections, or by an older "
                   "version of sklm. Refit it in memory.")
            )
        if post.status != "cholesky":
            fallback = {"pseudo-inverse": "the standard deviations use the pseudo-inverse "
                        "(a lower bound where the data leave parameters undetermined)",
                        "non-finite": "the standard deviations are the noise's alone",
                        "no-noise-estimate": "the standard deviations are NaN"}[post.status]
            warn(f"predict(return_std=True): {post.detail}; {fallback}. Use a penalty "
                 "(alpha > 0 or alpha='bayes'), more data or a smaller network.",
                 UncertaintyWarning)
        return predictive_std(post, X, backend)

    def _validate_device_input(self, X, backend):
        """Checks of ``validate_data`` for an array that stays on the GPU."""
        xp = backend.xp
        if X.ndim != 2:
            raise ValueError(
                f"Expected a 2-D array, got a {X.ndim}-D CuPy array instead. Reshape "
                "your data with X.reshape(-1, 1) for a single feature."
            )
        if X.dtype.kind not in "biuf":
            raise ValueError(f"X must be a real numeric array; got dtype {X.dtype}.")
        if X.shape[0] < 1:
            raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a "
                             "minimum of 1 is required.")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        X = xp.ascontiguousarray(X, dtype=xp.float64)
        if not bool(xp.isfinite(X).all()):
            raise ValueError("Input X contains NaN or infinity.")
        return X

    def score(self, X, y, sample_weight=None):
        """R^2 of the predictions for ``X`` against ``y`` (scikit-learn's ``r2_score``).

        CuPy arrays are copied to the host first: scikit-learn's metrics
        compute with NumPy.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            The coefficient of determination, averaged uniformly over outputs.
        """
        X, y, sample_weight = (to_host(v) for v in (X, y, sample_weight))
        return super().score(X, y, sample_weight=sample_weight)

    # ------------------------------------------------------------ protocol
    def __sklearn_is_fitted__(self):
        # Not "any attribute ending in _": validate_data sets n_features_in_
        # before training, so a fit that raised would otherwise look fitted.
        return hasattr(self, "coefs_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        state["_sklm_pickle_format"] = _PICKLE_FORMAT
        state["_sklm_version"] = _version
        return state

    def __setstate__(self, state):
        fmt = state.pop("_sklm_pickle_format", None)
        version = state.pop("_sklm_version", "unknown")
        if fmt is not None and fmt > _PICKLE_FORMAT:
            raise ValueError(
                f"This LMRegressor was saved by sklm {version} in pickle format {fmt}, "
                f"newer than this sklm ({_version}) reads (format {_PICKLE_FORMAT}). "
                "Upgrade sklm to load it."
            )
        if fmt is None or fmt < 2:
            # trained on raw data: a refit (warm start included) stays so
            state.setdefault("normalize_X", False)
            state.setdefault("normalize_y", False)
        if fmt is None or fmt < 3:
            state.setdefault("growing_sample", False)  # trained on every row throughout
        if (fmt is None or fmt < 3) and "coefs_" in state:
            # fitted before these were recorded: what a warm start or a
            # partial_fit continues from
            n = len(state.get("loss_curve_", []))
            state.setdefault("gradient_curve_", [math.nan] * n)
            state.setdefault("t_", 0)
            state.setdefault("sample_rows_curve_", [0] * n)
            state.setdefault("best_iteration_", n)
            state.setdefault("_solver_carry", {})
            state.setdefault("_normalisation", None)
        state.setdefault("n_init", 1)  # pickled before n_init existed
        super().__setstate__(state)


def _weight_shapes(mlp):
    return [(fi, fo) for *_, fi, fo in mlp.layout]
