"""What an exporter reads from a fitted model: the network and the scalers before it.

Only fitted attributes are read (``coefs_``, ``intercepts_``, ``activation``,
``n_features_in_``, ``n_outputs_``; a ``StandardScaler``'s ``mean_`` and
``scale_``). ``LMRegressor`` trains on normalised inputs and targets but
converts the parameters back before it stores them (``_normalisation.py``:
the first layer absorbs the input shift and scale, the output layer the
target's), so ``coefs_`` and ``intercepts_`` already map raw inputs to
predictions in ``y``'s units: ``predict`` is the plain forward pass
``a_{l+1} = f(a_l W_l + b_l)``, with ``f`` the hidden activation and the
identity on the output layer, and so is every export.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from .._estimator import LMRegressor

__all__ = ["Network", "Standardisation", "read_network", "split_pipeline"]

ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


@dataclass(frozen=True)
class Network:
    """A fitted ``LMRegressor``'s forward pass, as float64 arrays.

    Attributes
    ----------
    coefs : tuple of ndarray
        ``coefs[l]`` of shape ``(fan_in, fan_out)``, as ``coefs_``.
    intercepts : tuple of ndarray
        ``intercepts[l]`` of shape ``(fan_out,)``.
    activation : str
        The hidden layers' activation; the output layer is linear.
    """

    coefs: tuple
    intercepts: tuple
    activation: str

    @property
    def n_features(self):
        return self.coefs[0].shape[0]

    @property
    def n_outputs(self):
        return self.coefs[-1].shape[1]

    @property
    def layer_sizes(self):
        return (self.n_features, *(W.shape[1] for W in self.coefs))

    @property
    def n_params(self):
        return sum(W.size + b.size for W, b in zip(self.coefs, self.intercepts))


@dataclass(frozen=True)
class Standardisation:
    """A fitted ``StandardScaler``: ``(x - mean) / scale``, either part optional.

    Attributes
    ----------
    mean, scale : ndarray of shape (n_features,) or None
        None where the scaler has ``with_mean=False`` or ``with_std=False``.
    """

    mean: object
    scale: object


def read_network(model):
    """The forward pass of a fitted ``LMRegressor``.

    Raises
    ------
    TypeError
        ``model`` is not an ``LMRegressor``.
    sklearn.exceptions.NotFittedError
        ``model`` is not fitted.
    ValueError
        The fitted attributes do not describe one network (shapes that do not
        chain, an unknown activation) or hold non-finite values.
    """
    if not isinstance(model, LMRegressor):
        raise TypeError(f"Expected a fitted sklm.LMRegressor; got {type(model).__name__}.")
    check_is_fitted(model)
    coefs = tuple(np.array(W, dtype=np.float64) for W in model.coefs_)
    intercepts = tuple(np.array(b, dtype=np.float64).reshape(-1) for b in model.intercepts_)
    activation = model.activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {activation!r}; expected one of {ACTIVATIONS}.")
    if getattr(model, "out_activation_", "identity") != "identity":
        raise ValueError(f"Only a linear output layer is exported; the model's is "
                         f"{model.out_activation_!r}.")
    fan_in = model.n_features_in_
    for layer, (W, b) in enumerate(zip(coefs, intercepts)):
        if W.ndim != 2 or W.shape[0] != fan_in or b.shape != (W.shape[1],):
            raise ValueError(f"coefs_[{layer}] of shape {W.shape} and intercepts_[{layer}] of "
                             f"shape {b.shape} do not follow a layer of width {fan_in}.")
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise ValueError(f"Layer {layer} has non-finite weights; refit the model.")
        fan_in = W.shape[1]
    if fan_in != model.n_outputs_:
        raise ValueError(f"The last layer has {fan_in} outputs; n_outputs_ is "
                         f"{model.n_outputs_}.")
    return Network(coefs, intercepts, activation)


def read_standardisation(scaler):
    """The affine map of a fitted ``StandardScaler``, as float64 arrays."""
    check_is_fitted(scaler)
    mean = None if scaler.mean_ is None or not scaler.with_mean else scaler.mean_
    scale = None if scaler.scale_ is None or not scaler.with_std else scaler.scale_
    return Standardisation(None if mean is None else np.array(mean, dtype=np.float64),
                           None if scale is None else np.array(scale, dtype=np.float64))


def split_pipeline(model, allowed=None, purpose="export"):
    """``(steps, regressor)``: a ``Pipeline``'s earlier steps and its final ``LMRegressor``.

    A bare ``LMRegressor`` gives ``([], model)``. ``'passthrough'`` and None
    steps are dropped. With ``allowed`` (a tuple of classes), a step of any
    other type is refused, naming the step.

    Raises
    ------
    TypeError
        ``model`` is neither, its last step is no ``LMRegressor``, or a step
        is not of an ``allowed`` type.
    sklearn.exceptions.NotFittedError
        The ``LMRegressor`` is not fitted (the earlier steps are checked by
        whoever translates them).
    """
    if isinstance(model, LMRegressor):
        return [], model
    if not isinstance(model, Pipeline):
        raise TypeError(f"{purpose} takes a fitted sklm.LMRegressor or a Pipeline ending in "
                        f"one; got {type(model).__name__}.")
    *steps, (last_name, last) = model.steps
    if not isinstance(last, LMRegressor):
        raise TypeError(f"{purpose} takes a Pipeline ending in an sklm.LMRegressor; its last "
                        f"step {last_name!r} is {type(last).__name__}.")
    kept = []
    for name, step in steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if allowed is not None and not isinstance(step, allowed):
            names = " or ".join(cls.__name__ for cls in allowed)
            raise TypeError(f"{purpose} cannot translate the Pipeline's step {name!r} "
                            f"({type(step).__name__}): only {names} steps may precede the "
                            "LMRegressor.")
        kept.append((name, step))
    check_is_fitted(last)
    return kept, last


def standardisations(model):
    """``(scalers, network)`` for an ``LMRegressor`` or a Pipeline of StandardScalers and one."""
    steps, regressor = split_pipeline(model, allowed=(StandardScaler,), purpose="to_c")
    network = read_network(regressor)
    scalers = [read_standardisation(step) for _, step in steps]
    for (name, _), s in zip(steps, scalers):
        for part in (s.mean, s.scale):
            if part is not None and part.shape != (network.n_features,):
                raise ValueError(f"Step {name!r} scales {part.shape[0]} features; the "
                                 f"LMRegressor takes {network.n_features}.")
            if part is not None and not np.all(np.isfinite(part)):
                raise ValueError(f"Step {name!r} has non-finite mean_ or scale_.")
    return scalers, network
