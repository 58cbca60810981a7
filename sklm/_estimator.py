"""LMRegressor: the scikit-learn estimator.

The estimator orchestrates and owns no maths: it validates parameters and
data, splits off a validation set, picks the backend, builds the
:class:`~sklm._problem.MLPProblem`, runs the solver, and turns the result into
fitted attributes, warnings and errors.
"""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import __version__ as _version
from . import _driver as driver
from . import _fitted as fitted
from ._backend import get_backend, is_cupy_array, to_host
from ._bayes import BayesianPrecisions, UncertaintyWarning, predictive_std
from ._data import data_source, validation_seed
from ._driver import Budget
from ._mlp import MLP
from ._multistart import fit_starts, initial_params, is_dask_collection, start_deadline
from ._plan import FitPlan
from ._sklearn_compat import Interval, StrOptions, _fit_context
from ._warnings import warn
from .solvers import SOLVERS, option_constraints

__all__ = ["LMRegressor"]

# Rows per chunk in predict: bounds its memory to a few widths x 64k floats.
_PREDICT_CHUNK = 65536

# The estimator's parameters that configure the solvers: the stopping criteria
# and reporting every solver takes, and each solver's own options.
_STOPPING = ("max_iter", "tol", "n_iter_no_change", "goal", "min_grad", "max_time", "verbose")
_SOLVER_PARAMETERS = _STOPPING + tuple(
    dict.fromkeys(name for cls in SOLVERS.values() for name in cls.options))

# Bumped whenever the pickled state changes shape; see __setstate__.
# 2: the normalize_X and normalize_y parameters (format 1 models were
#    trained without them).
# 3: growing_sample; t_, gradient_curve_, sample_rows_curve_, best_iteration_
#    and the state partial_fit resumes from (older models resume afresh).
# 4: the posterior is formed when first needed (_posterior_slot); alpha_,
#    beta_ and effective_params_ are read from it.
_PICKLE_FORMAT = 4


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
        Wall-clock budget in seconds (trainlm's ``time``) for the whole call
        to ``fit``: preparation, every stage, every start of ``n_init``, on
        Dask as in memory. A fit returns within it plus at most one iteration;
        a run whose single iteration is estimated (on a few rows) to exceed
        what is left is not started, with a ``SlowFitWarning`` giving the
        estimate. None for no limit. Reaching it is not a warning: the budget
        was asked for.
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
        more than 2,000 parameters (no posterior is formed there;
        ``alpha_curve_`` still records the estimates).
    beta_ : float or None
        The noise precision (``1 / sigma^2`` of an observation of unit sample
        weight, in ``y``'s units; twice Foresee & Hagan's ``beta``) at the
        parameters returned: the evidence's estimate for ``alpha='bayes'``,
        ``(n - effective_params_) / SSE`` of the training residuals otherwise
        (``n`` = outputs times the sum of the sample weights). None for 'sgd'
        and 'adam' and for networks of more than 2,000 parameters. Read from
        the Gauss-Newton posterior, which is formed when first needed (this
        attribute, ``effective_params_``, ``alpha_`` or ``return_std``) where
        the fit did not hold its normal matrix at the parameters returned.
    effective_params_ : float or None
        The effective number of parameters ``gamma``: the number of
        parameters minus what the penalty holds at the prior (all of them
        when there is no penalty and ``J^T J`` is regular; its rank when it is
        singular). None where ``beta_`` is.
    alpha_curve_, beta_curve_, effective_params_curve_ : list of float or None
        ``alpha='bayes'``: the estimates after each iteration (``beta`` in
        ``y``'s units). None otherwise.
    noise_free_ : bool
        Whether the fit found its data noise-free and acted on it: with the
        defaults (``alpha`` and ``early_stopping`` 'auto', 'lm' with
        ``mu_update='nielsen'``, at least two observations a parameter: an
        interpolating network keeps its penalty, without which it has no
        unique minimum), once the Bayesian evidence puts the noise
        variance below a millionth of the targets' (``1 / beta`` under
        ``1e-6`` times their variance), the fit goes on with every row (the
        validation rows folded back in), no penalty and Moré's trust region
        (``mu_update='more'``), the rule that fits noise-free data deepest.
        ``validation_*`` and ``best_validation_*`` are then None, and the
        curves of the evidence stop at the switch. False otherwise.
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
            current ``distributed.Client``, with the same plan and to the
            same model as in memory (user guide, Dask page).
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
        a warning unless that iteration failed. ``alpha='auto'`` is no
        penalty here: one batch is too few rows to estimate the evidence of
        the whole stream from (``alpha='bayes'`` is refused).

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
        if is_dask_collection(X, y, sample_weight):
            raise TypeError("partial_fit takes in-memory arrays; fit takes Dask collections "
                            "(and n_init random starts).")
        return self._fit(X, y, sample_weight, incremental=True)

    def _fit(self, X, y, sample_weight, incremental):
        """prepare -> plan -> run -> write, for every data source (DESIGN.md)."""
        budget = Budget(self.max_time, deadline=start_deadline(self))
        continuing = (incremental or self.warm_start) and hasattr(self, "coefs_")
        # validate_data records the input's features before the fit is done:
        # an interrupted fit puts back what the fitted model had
        saved = {k: v for k, v in vars(self).items()
                 if k in ("n_features_in_", "feature_names_in_")}
        try:
            source = data_source(self, X, y, sample_weight, continuing)
            try:
                self._fit_source(source, incremental, continuing, budget)
            finally:
                source.close()
        except KeyboardInterrupt:
            for name in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(name, None)
            self.__dict__.update(saved)
            raise
        return self

    def _fit_source(self, source, incremental, continuing, budget):
        params = self.get_params(deep=False)
        hidden = self._validated_hidden_layer_sizes()
        if continuing and source.n_outputs != self.n_outputs_:
            raise ValueError(
                f"y has {source.n_outputs} outputs but the fitted model has "
                f"{self.n_outputs_}; fit with warm_start=False to change them.")
        mlp = MLP((source.n_features, *hidden, source.n_outputs), self.activation)
        plan = FitPlan.resolve(params, source.counts, mlp.n_params, incremental=incremental,
                               continuing=continuing)
        if source.kind == "dask" and plan.solver in ("sgd", "adam"):
            if self.batch_size is not None:
                warn(f"batch_size={self.batch_size!r}: on Dask input 'sgd' and 'adam' take "
                     "full batches (one step per epoch over every block); set "
                     "batch_size=None to say so.", UserWarning)
            params["batch_size"] = None
        elif plan.solver in ("sgd", "adam"):
            self._check_batch_size(source.counts.n_rows)
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
        source.prepare(split_seed=validation_seed(rng) if plan.early_stopping else None,
                       fraction=plan.validation_fraction, normalize_X=self.normalize_X,
                       normalize_y=self.normalize_y, norm=keep or None)
        theta0 = (source.norm.to_solver(mlp, mlp.pack(self.coefs_, self.intercepts_))
                  if continuing else theta_init)
        backend = get_backend(self.backend)
        if self.verbose:
            where = "Dask blocks" if source.kind == "dask" else f"backend {backend.name}"
            print(f"LMRegressor: solver {plan.solver!r}, {where}, {mlp.n_params} parameters, "
                  f"{source.n_samples} training samples ({plan.describe()}); losses in y's "
                  "units, gradient and mu those of the normalised problem.")
        evidence = (BayesianPrecisions.start(self if continuing else None) if plan.bayes
                    else None)
        carry = getattr(self, "_solver_carry", None) if incremental and continuing else None
        outcome = driver.run(plan, source, mlp, theta0, params, rng, backend=backend,
                             carry=carry, evidence=evidence, budget=budget)
        label = f"dask ({self.backend})" if source.kind == "dask" else backend.name
        extra = {"dask_stats_": source.stats()} if source.kind == "dask" else None
        fitted.write(self, plan, source, mlp, outcome, label, not budget.spent(), extra)

    def _check_batch_size(self, n_samples):
        size = self.batch_size
        if isinstance(size, Integral) and size > n_samples:
            warn(f"batch_size={size} is larger than the {n_samples} training samples; "
                 "it is clipped to a full batch.", UserWarning)

    def _validated_hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not all(isinstance(s, Integral) and s > 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers; got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    # ---------------------------------------------------------- posterior
    def _posterior_value(self, name):
        if "coefs_" not in vars(self):
            raise AttributeError(f"{name} is set by fit.")
        slot = vars(self).get("_posterior_slot")
        return None if slot is None else slot.get()

    @property
    def _posterior(self):
        """The Gauss-Newton posterior (:class:`sklm._bayes.Posterior`), formed when first read."""
        return self._posterior_value("_posterior")

    @property
    def beta_(self):
        post = self._posterior_value("beta_")
        return None if post is None else post.beta / vars(self)["_posterior_slot"].loss_unit

    @property
    def effective_params_(self):
        post = self._posterior_value("effective_params_")
        return None if post is None else post.gamma

    @property
    def alpha_(self):
        post = self._posterior_value("alpha_")
        return None if post is None or self.alpha_curve_ is None else post.alpha

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
        slot = vars(self).get("_posterior_slot")
        n_params = sum(W.size + b.size for W, b in zip(self.coefs_, self.intercepts_))
        if slot is None and n_params > fitted.POSTERIOR_MAX_PARAMS:
            raise ValueError(
                f"return_std=True needs the Gauss-Newton posterior, which sklm keeps for "
                f"networks of at most {fitted.POSTERIOR_MAX_PARAMS} parameters (it takes "
                f"n_params^2 memory); this one has {n_params}."
            )
        if slot is None:
            raise ValueError(
                "return_std=True needs the Gauss-Newton posterior of a fit by solver "
                "'lm', 'gauss-newton' or 'newton'; "
                + (f"this model was fitted by {self.solver!r}. Refit it with one of them."
                   if self.solver in ("sgd", "adam") else
                   "this one has none: it was fitted by an older version of sklm. Refit it.")
            )
        post = slot.get()
        if post is None and self.backend_.startswith("dask"):
            raise ValueError(
                "return_std=True needs the Gauss-Newton posterior, which a fit on Dask "
                "collections forms within its max_time (one more pass over the blocks); "
                "this fit's budget was spent. Refit with a larger max_time.")
        if post is None:
            raise ValueError(
                "return_std=True needs the Gauss-Newton posterior, which this model "
                "had not formed when it was pickled (it is formed when first needed, "
                "from the training data, which a pickle does not hold). Call "
                "predict(X, return_std=True) once before pickling, or refit.")
        if post.status != "cholesky":
            fallback = {"pseudo-inverse": "the standard deviations use the pseudo-inverse "
                        "(a lower bound where the data leave parameters undetermined)",
                        "non-finite": "the standard deviations are the noise's alone",
                        "no-noise-estimate": "the standard deviations are NaN"}[post.status]
            remedy = ("Use more data or a smaller network." if self._has_penalty()
                      else "Use a penalty (alpha > 0 or alpha='bayes'), more data or a "
                      "smaller network.")
            warn(f"predict(return_std=True): {post.detail}; {fallback}. {remedy}",
                 UncertaintyWarning)
        return predictive_std(post, X, backend)

    def _has_penalty(self):
        """Whether the fit had a penalty (a number above 0, or Bayesian)."""
        return self.alpha_curve_ is not None or (not isinstance(self.alpha, str)
                                                 and self.alpha > 0)

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
        if (fmt is None or fmt < 4) and "coefs_" in state:
            # the posterior and the values read from it were attributes
            post = state.pop("_posterior", None)
            beta = state.pop("beta_", None)
            for name in ("alpha_", "effective_params_"):
                state.pop(name, None)
            state["_posterior_slot"] = None
            if post is not None:
                slot = fitted.PosteriorSlot(None, None, None, None,
                                            post.beta / beta if beta else 1.0)
                slot._value, slot._inputs = post, None
                state["_posterior_slot"] = slot
            state.setdefault("_bayes_gamma", None)
            state.setdefault("_early_stopping", state.get("validation_scores_") is not None)
        super().__setstate__(state)


def _weight_shapes(mlp):
    return [(fi, fo) for *_, fi, fo in mlp.layout]
