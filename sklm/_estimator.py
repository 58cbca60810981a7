"""LMRegressor: the scikit-learn estimator.

The estimator orchestrates and owns no maths: it validates parameters and
data, splits off a validation set, picks the backend, builds the
:class:`~sklm._problem.MLPProblem`, runs the solver, and turns the result into
fitted attributes, warnings and errors.
"""

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import __version__ as _version
from ._backend import get_backend, is_cupy_array, to_host
from ._early_stopping import ValidationMonitor
from ._mlp import MLP
from ._multistart import fit_starts, initial_params, is_dask_collection
from ._normalisation import Normalisation
from ._problem import MLPProblem
from ._sklearn_compat import Interval, StrOptions, _fit_context
from .solvers import SOLVERS, Status

__all__ = ["LMRegressor"]

# Rows per chunk in predict: bounds its memory to a few widths x 64k floats.
_PREDICT_CHUNK = 65536

# Bumped whenever the pickled state changes shape; see __setstate__.
# 2: the normalize_X and normalize_y parameters (format 1 models were
#    trained without them).
_PICKLE_FORMAT = 2


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
        not positive definite (uses ``mu_*``; ``mu_init=0`` takes pure steps);
        it costs ``O(m n^2)`` memory-bound work per iteration, so keep networks
        small. 'sgd', 'adam': first-order methods; one iteration is one epoch
        over minibatches of ``batch_size``.
    alpha : float, default=0.0
        L2 penalty on the weights. ``trainlm`` has none, and surrogate models
        that must reach device precision rarely want one.
    max_iter : int, default=1000
        Maximum number of iterations (accepted steps), trainlm's ``epochs``.
    tol : float, default=1e-6
        Training stops when the loss (or the validation loss when
        ``early_stopping``) has not improved by at least ``tol`` times its
        best value for ``n_iter_no_change`` consecutive iterations. Relative,
        so the same value serves any scale of the targets. 0 disables the
        test on the training loss; with ``early_stopping`` it means any
        improvement of the validation loss resets the patience.
    n_iter_no_change : int, default=10
        Patience of the ``tol`` test and of early stopping.
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
        the tutorial
        (which starts at 3), whatever the rule. 'auto' starts each rule as its
        source does: ``solver='lm'`` with ``mu_update='nielsen'`` and
        Levenberg damping at ``1e-3 * max(diag(J^T J))`` (Madsen, Nielsen &
        Tingleff's ``tau = 1e-3``: on the scale of the data whatever the row
        count), anything else ('trainlm', 'marquardt', 'newton') at
        trainlm's 1e-3. Measured against a fixed 1e-3 with
        Nielsen + geodesic: Jacobians to validation relative MSE 1e-4 on the
        6-D Rosenbrock benchmark 302 against 332 over 5 seeds (median 57
        against 67); on the tutorial's figure-2 data, iterations to a
        training relative MSE of 1e-6, median 58 against 66.5 over 10 seeds
        (fewer for 7); on small standardised 2-D fits, no difference (median
        61.5 against 62 over 20 seeds, fewer for 9).
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
    mu_update : {'nielsen', 'trainlm'}, default='nielsen'
        How ``mu`` changes after each trial. 'nielsen': Nielsen's gain-ratio
        rule, smooth, scale-free after the first steps. 'trainlm': MATLAB's
        fixed factors ``mu_decrease`` / ``mu_increase`` (choose it, with
        ``geodesic=False``, to reproduce trainlm). The default was chosen by
        measurement: on the 6-D Rosenbrock benchmark (10,000 samples, 311
        parameters, 3 starts) Nielsen with geodesic acceleration reached a
        validation relative MSE of 1e-4 in 65-68 Jacobians from
        ``mu_init=1e-3`` (46-57 from 'auto'), trainlm's rule in 286 and 545
        (and not within 600 from the third start).
    geodesic : bool, default=True
        Add geodesic acceleration (Transtrum & Sethna, 2012) to every LM
        trial step: a second-order correction along the curvature of the
        residuals, for one more forward pass and two cheap products per
        trial, never a new Jacobian ('lm' only). Where the correction is not
        trustworthy the trial uses the plain step.
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
        assume inputs of order 1. Without it, 2-10-1 fits of the 2-D
        Rosenbrock function on inputs in [-2, 2] (300 iterations, 3 seeds,
        ``python -m benchmarks.defaults inputs``) ended with ``1 - R^2`` of
        1.5e-11; on those inputs times 100, 0.055; times 1e-4, 0.71; plus 10,
        0.024; plus 100, 1 (saturated units). With it, 4e-10 to 5e-10 in
        every case. A ``StandardScaler`` in a ``Pipeline`` does the same job;
        with one, this is all but the identity.
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
        initial weights and ``mu_init`` are made for targets of order 1.
        Without it, 2-10-1 fits of the 2-D Rosenbrock function (300
        iterations, 3 seeds, ``python -m benchmarks.defaults scale``) reached
        a median relative validation MSE of 2.4e-10 on standardised targets,
        0.026 on targets 100 times larger, 0.57 at 1,000 times, 0.37 on
        standardised targets shifted by 10,000; with it, 4e-10 to 6e-10 at
        every scale and shift. False trains on ``y`` as given
        (scikit-learn's MLPRegressor; the tutorial's raw-unit runs).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when its loss has
        not improved for ``n_iter_no_change`` iterations, and keep the
        parameters with the best validation loss.
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
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights (drawn on the CPU, so every backend starts
        from the same point) and the validation split.
    verbose : bool or int, default=False
        Print a table of the iterations.
    warm_start : bool, default=False
        Start from the fitted weights of the previous call to ``fit``; the
        curves and ``n_iter_`` continue.
    learning_rate_init : float, default=1e-3
        Step size of 'sgd' and 'adam', for the gradient of the mean loss (of
        the normalised problem, with the default ``normalize_X`` and
        ``normalize_y``).
    batch_size : int or None, default=None
        Minibatch size of 'sgd' and 'adam'. None is the full batch (one step
        per epoch, deterministic), unlike MLPRegressor's ``'auto'`` (200).
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
        Training loss after each iteration.
    validation_loss_curve_ : list of float or None
        Validation mean squared error after each iteration (``early_stopping``).
    validation_scores_ : list of float or None
        Validation R^2 after each iteration (``early_stopping``).
    best_validation_score_ : float or None
        Validation R^2 of the parameters returned (``early_stopping``): the
        best iteration's, or the starting point's when no iteration beat it
        (a ``warm_start`` fit that only overfits keeps its start).
    mu_curve_ : list of float
        Damping after each iteration (NaN for solvers without damping), on
        the normalised problem's scale with the default ``normalize_X`` and
        ``normalize_y``.
    time_curve_ : list of float
        Seconds since the start of training after each iteration (continued
        across ``warm_start`` fits).
    n_iter_ : int
        Iterations run.
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
    best_validation_loss_ : float or None
        Validation mean squared error of the parameters returned
        (``early_stopping``).
    init_losses_ : list of float
        With ``n_init > 1``: each start's validation loss (``early_stopping``)
        or training loss, in start order.
    best_init_ : int
        With ``n_init > 1``: the start kept.
    dask_stats_ : dict
        After a fit on Dask collections: blocks, tasks run, and bytes sent
        to and received from the workers by the fit's evaluations.

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
    minimum-norm solution); the network interpolates the data.

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
    >>> model = LMRegressor(hidden_layer_sizes=(10,), max_iter=200, random_state=0).fit(X, y)
    >>> bool(model.score(X, y) > 0.999)
    True
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "goal": [Interval(Real, 0, None, closed="left")],
        "min_grad": [Interval(Real, 0, None, closed="left")],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "mu_init": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "mu_increase": [Interval(Real, 1, None, closed="neither")],
        "mu_decrease": [Interval(Real, 0, 1, closed="neither")],
        "mu_max": [Interval(Real, 0, None, closed="neither")],
        "damping": [StrOptions({"levenberg", "marquardt"})],
        "mu_update": [StrOptions({"trainlm", "nielsen"})],
        "geodesic": ["boolean"],
        "init": [StrOptions({"glorot", "nguyen-widrow"})],
        "normalize_X": ["boolean"],
        "normalize_y": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "backend": [StrOptions({"auto", "numpy", "cupy"})],
        "dtype": [StrOptions({"float64", "float32"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "shuffle": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(10,),
        activation="tanh",
        *,
        solver="lm",
        alpha=0.0,
        max_iter=1000,
        tol=1e-6,
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
        init="glorot",
        normalize_X=True,
        normalize_y=True,
        early_stopping=False,
        validation_fraction=0.1,
        chunk_size=None,
        backend="auto",
        dtype="float64",
        random_state=None,
        verbose=False,
        warm_start=False,
        learning_rate_init=1e-3,
        batch_size=None,
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
        self.init = init
        self.normalize_X = normalize_X
        self.normalize_y = normalize_y
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.chunk_size = chunk_size
        self.backend = backend
        self.dtype = dtype
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
        """
        if self.n_init > 1 and not (self.warm_start and hasattr(self, "coefs_")):
            return fit_starts(self, X, y, sample_weight)  # sklm/_multistart.py
        if is_dask_collection(X, y, sample_weight):
            from . import _dask  # noqa: PLC0415 - Dask only for Dask input

            return _dask.fit(self, X, y, sample_weight)
        hidden = self._validated_hidden_layer_sizes()
        continuing = self.warm_start and hasattr(self, "coefs_")
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
                f"y has {Y.shape[1]} outputs but the warm-started model has "
                f"{self.n_outputs_}; fit with warm_start=False to change them."
            )

        rng = check_random_state(self.random_state)
        mlp = MLP((X.shape[1], *hidden, Y.shape[1]), self.activation)
        # Drawn even when continuing, so that the draws after it (the
        # validation split, minibatch order) are those of the first fit: a
        # warm-started fit must validate on the same rows, not on rows it
        # trained on before.
        theta_init = initial_params(self, mlp, rng)
        if continuing:
            if [c.shape for c in self.coefs_] != _weight_shapes(mlp):
                raise ValueError(
                    "warm_start=True needs the same hidden_layer_sizes as the fitted "
                    f"model ({self.coefs_[0].shape[1:]}...); got {hidden}."
                )
            theta0 = mlp.pack(self.coefs_, self.intercepts_)  # in y's units

        X_val = Y_val = w_val = None
        if self.early_stopping:
            X, X_val, Y, Y_val, sample_weight, w_val = self._split(X, Y, sample_weight, rng)

        # The solver works on normalised inputs and targets, from initial
        # weights drawn for them; a warm start's fitted weights and the result
        # are converted at the boundary (see _normalisation).
        x_max, y_max = float(np.abs(X).max()), float(np.abs(Y).max())
        norm = Normalisation.fit(X, Y, sample_weight, inputs=self.normalize_X,
                                 targets=self.normalize_y)
        X, Y = norm.transform(X, Y)
        if X_val is not None:
            X_val, Y_val = norm.transform(X_val, Y_val)
        theta0 = norm.to_solver(mlp, theta0) if continuing else theta_init
        loss_unit = norm.loss_unit

        backend = get_backend(self.backend)
        if self.verbose:
            print(f"LMRegressor: backend {backend.name}, {mlp.n_params} parameters, "
                  f"{X.shape[0]} training samples")
            if self.normalize_X or self.normalize_y:
                print("Training on normalised data (normalize_X, normalize_y); losses in "
                      "y's units, mu and grad norm those of the normalised problem.")
        chunk = self.chunk_size or backend.chunk_rows(
            row_bytes=np.dtype(self.dtype).itemsize * mlp.n_params * Y.shape[1],
            n_rows=X.shape[0])
        problem = MLPProblem(mlp, X, Y, sample_weight, norm.penalty(mlp, self.alpha),
                             backend, chunk, dtype=self.dtype)

        monitor = None
        if self.early_stopping:
            X_val_device = backend.asarray(X_val)

            def predict_val(x):
                return mlp.predict_rows(mlp.unpack(x), X_val_device, backend.xp, chunk)

            monitor = ValidationMonitor(predict_val, backend.asarray(Y_val),
                                        backend.asarray(w_val), self.tol,
                                        self.n_iter_no_change, backend.xp, loss_unit)

        x0 = backend.asarray(theta0)
        if monitor is not None:
            monitor.start(x0)
        solver = SOLVERS[self.solver](**self._solver_options(monitor, rng, loss_unit))
        result = solver.run(problem, x0)
        if not math.isfinite(result.initial_loss):
            # Nothing was trained: rather than a warning and a random network,
            # say which data cannot be squared in float64.
            raise ValueError(
                f"The training loss at the initial parameters is not finite "
                f"({result.initial_loss}): the inputs or targets are too large to "
                f"square in float64 (max |X| = {x_max:.3g}, max |y| = {y_max:.3g}). "
                "Scale them: normalize_X=True and normalize_y=True (the defaults), or "
                "StandardScaler on X in a Pipeline and TransformedTargetRegressor for y."
            )

        x, loss = result.x, result.loss
        if monitor is not None and monitor.best_x is not None:
            # the training loss there is known: the start's, or the iteration's
            x = monitor.best_x
            loss = (monitor.best_train_loss if monitor.best_iteration
                    else result.initial_loss)
        theta = norm.to_user(mlp, backend.to_numpy(x))
        self._set_fitted(mlp, backend, theta, result, monitor, loss, loss_unit, continuing)
        self._warn(result)
        return self

    def _validated_hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not all(isinstance(s, Integral) and s > 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers; got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _split(self, X, Y, sample_weight, rng):
        n_val = math.ceil(self.validation_fraction * X.shape[0])
        if X.shape[0] - n_val < 1 or n_val < 1:
            raise ValueError(
                f"early_stopping=True needs at least one training and one validation "
                f"sample; with {X.shape[0]} samples and validation_fraction="
                f"{self.validation_fraction} there are not enough. Provide more data "
                "or set early_stopping=False."
            )
        seed = rng.randint(np.iinfo(np.int32).max)
        parts = train_test_split(X, Y, sample_weight, test_size=n_val, random_state=seed)
        # Both losses divide by their part's total weight.
        for name, w in (("training", parts[4]), ("validation", parts[5])):
            if not w.sum() > 0:
                raise ValueError(
                    f"early_stopping=True left the {name} part of the data with zero "
                    "total sample_weight (too few rows have positive weight). Give "
                    "more rows positive weight, change validation_fraction or "
                    "random_state, or set early_stopping=False."
                )
        return parts

    def _solver_options(self, monitor, rng, loss_unit):
        options = dict(
            max_iter=self.max_iter,
            goal=self.goal,
            loss_unit=loss_unit,  # goal and verbose in y's units
            # With a validation set, tol/n_iter_no_change judge the validation
            # loss (the monitor), as in scikit-learn, not the training loss.
            tol=0.0 if monitor is not None else self.tol,
            n_iter_no_change=self.n_iter_no_change,
            min_grad=self.min_grad,
            max_time=self.max_time,
            callback=monitor,
            verbose=self.verbose,
        )
        # Each solver names the estimator parameters it uses.
        for name in SOLVERS[self.solver].options:
            options[name] = rng if name == "random_state" else getattr(self, name)
        return options

    def _set_fitted(self, mlp, backend, theta, result, monitor, loss, loss_unit, continuing):
        """Store ``theta`` (in y's units) and the curves, converted to y's units."""
        params = mlp.unpack(theta)
        self.coefs_ = [W.copy() for W, _ in params]
        self.intercepts_ = [b.copy() for _, b in params]
        self.n_outputs_ = mlp.n_outputs
        self.n_layers_ = mlp.n_layers + 1
        self.out_activation_ = "identity"
        self.backend_ = backend.name
        if not continuing:
            self.n_iter_ = 0
            self.loss_curve_ = []
            self.mu_curve_ = []
            self.time_curve_ = []
            self.validation_loss_curve_ = [] if monitor is not None else None
            self.validation_scores_ = [] if monitor is not None else None
        previous_iterations = self.n_iter_
        self.n_iter_ += result.n_iter
        self.loss_curve_ = list(self.loss_curve_) + [v * loss_unit for v in result.loss_curve]
        self.mu_curve_ = list(self.mu_curve_) + result.mu_curve
        offset = self.time_curve_[-1] if continuing and self.time_curve_ else 0.0
        self.time_curve_ = list(self.time_curve_) + [offset + t for t in result.time_curve]
        self.loss_ = float(loss) * loss_unit
        self.stop_reason_ = result.message
        if monitor is not None and result.status == Status.CALLBACK:
            kept = (f"the parameters of iteration {previous_iterations + monitor.best_iteration} "
                    "(best validation loss) were restored" if monitor.best_iteration
                    else "the starting parameters, better than any iteration, were kept")
            self.stop_reason_ = (
                f"Early stopping: the validation loss did not improve by tol={self.tol:g} "
                f"(relative) for n_iter_no_change={self.n_iter_no_change} iterations; "
                f"{kept}."
            )
        self._status = result.status
        if monitor is not None:
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
            self.best_loss_ = min(self.loss_curve_, default=result.initial_loss * loss_unit)

    def _warn(self, result):
        if hasattr(self, "_start"):
            return  # one of n_init starts: the kept one warns (sklm/_multistart.py)
        status = result.status
        where = f"after {result.n_iter} iterations"
        # Scaling advice only where the estimator did not scale the data itself.
        unscaled = [name for name in ("normalize_X", "normalize_y") if not getattr(self, name)]
        scale = (f"Scale the data ({' and '.join(f'{n}=True' for n in unscaled)}, or a "
                 "StandardScaler). " if unscaled else "")
        if status == Status.MAX_ITER:
            advice = ("Increase max_iter, or set max_time to train for a time budget."
                      if not self.early_stopping else "Increase max_iter.")
            msg = f"{result.message} The optimisation has not converged. {advice}"
        elif status == Status.MU_MAX:
            msg = (f"{result.message} ({where}). The loss cannot be lowered further "
                   "from here: the fit has converged to the precision the damping "
                   f"allows, or is stuck in a poor local minimum. {scale}Try another "
                   "random_state, or a larger network.")
        elif status == Status.NON_FINITE:
            advice = (" or lower learning_rate_init" if self.solver in ("sgd", "adam")
                      else "")
            msg = (f"{result.message} ({where}). The estimator holds the last finite "
                   f"parameters. Check the inputs and targets for huge values. {scale}"
                   f"Try another random_state{advice}.")
        elif status == Status.INTERRUPTED:
            best = ("with the best validation loss" if self.early_stopping
                    else "with the lowest training loss")
            msg = (f"{result.message} ({where}). The estimator holds the "
                   f"parameters {best} found so far.")
        elif status in (Status.STEP_FAILED, Status.SINGULAR):
            msg = f"{result.message} ({where})."
        else:
            return
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)

    # -------------------------------------------------------------- predict
    def predict(self, X):
        """Predict with the fitted network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A CuPy array is predicted on its GPU and gives a CuPy array; a
            Dask array or DataFrame gives a Dask array, block by block;
            anything else is computed with NumPy on the CPU, whatever backend
            trained the model.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            from . import _dask  # noqa: PLC0415 - Dask only for Dask input

            return _dask.predict(self, X)
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
        return Y.ravel() if self.n_outputs_ == 1 else Y

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
        state.setdefault("n_init", 1)  # pickled before n_init existed
        super().__setstate__(state)


def _weight_shapes(mlp):
    return [(fi, fo) for *_, fi, fo in mlp.layout]
