"""What the estimator's prepare phase hands to the run: data in the optimiser's units.

:class:`TrainingData` owns the host-side training and validation rows after
the split and the normalisation, and every conversion between the user's
units and the optimiser's (parameters, losses). The estimator validates the
raw input and builds one with :func:`prepare_training_data`; the run phase
moves its arrays to the backend; the finish phase converts the result back
through it, once.
"""

import math
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from ._normalisation import Normalisation

__all__ = ["TrainingData", "prepare_training_data"]


@dataclass
class TrainingData:
    """Training (and validation) rows, normalised, with their conversions.

    Attributes
    ----------
    X, Y, w : ndarray
        Training inputs ``(m, d)`` and targets ``(m, k)`` in the optimiser's
        units, and the sample weights ``(m,)``.
    validation : tuple of ndarray or None
        ``(X_val, Y_val, w_val)`` in the optimiser's units when a validation
        set was split off.
    norm : Normalisation
    raw_max : tuple of float
        ``max |X|`` and ``max |y|`` of the raw training rows, for the message
        when even the initial loss overflows.
    """

    X: np.ndarray
    Y: np.ndarray
    w: np.ndarray
    validation: tuple | None
    norm: Normalisation
    raw_max: tuple

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def loss_unit(self):
        """A loss of the optimiser's problem times this is in ``y``'s units."""
        return self.norm.loss_unit

    def to_solver(self, mlp, theta):
        """Parameters for raw data -> the optimiser's parameters."""
        return self.norm.to_solver(mlp, theta)

    def to_user(self, mlp, theta):
        """The optimiser's parameters -> parameters for raw data."""
        return self.norm.to_user(mlp, theta)


def prepare_training_data(X, Y, w, *, validation_fraction, rng, normalize_X, normalize_y,
                          norm=None):
    """Split off the validation rows (if ``validation_fraction``) and normalise.

    The normalisation statistics come from the training rows, or are ``norm``
    as given (a ``partial_fit`` keeps the first call's).
    """
    validation = None
    if validation_fraction is not None:
        X, X_val, Y, Y_val, w, w_val = _split(X, Y, w, validation_fraction, rng)
        validation = (X_val, Y_val, w_val)
    raw_max = (float(np.abs(X).max()), float(np.abs(Y).max()))
    if norm is None:
        norm = Normalisation.fit(X, Y, w, inputs=normalize_X, targets=normalize_y)
    X, Y = norm.transform(X, Y)
    if validation is not None:
        X_val, Y_val = norm.transform(*validation[:2])
        validation = (X_val, Y_val, validation[2])
    return TrainingData(X, Y, w, validation, norm, raw_max)


def _split(X, Y, w, fraction, rng):
    n_val = math.ceil(fraction * X.shape[0])
    if X.shape[0] - n_val < 1 or n_val < 1:
        raise ValueError(
            f"early_stopping=True needs at least one training and one validation "
            f"sample; with {X.shape[0]} samples and validation_fraction="
            f"{fraction} there are not enough. Provide more data "
            "or set early_stopping=False."
        )
    seed = rng.randint(np.iinfo(np.int32).max)
    parts = train_test_split(X, Y, w, test_size=n_val, random_state=seed)
    # Both losses divide by their part's total weight.
    for name, part in (("training", parts[4]), ("validation", parts[5])):
        if not part.sum() > 0:
            raise ValueError(
                f"early_stopping=True left the {name} part of the data with zero "
                "total sample_weight (too few rows have positive weight). Give "
                "more rows positive weight, change validation_fraction or "
                "random_state, or set early_stopping=False."
            )
    return parts
