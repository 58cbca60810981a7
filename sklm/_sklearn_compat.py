"""The one module that imports scikit-learn's private API.

scikit-learn moves private helpers between releases; keeping every such import
here means a new release is absorbed in one file (the habit of
imbalanced-learn's ``utils/_sklearn_compat.py``). sklm requires
scikit-learn >= 1.6, the first release with public ``validate_data`` and
``__sklearn_tags__``.
"""

from sklearn.base import _fit_context
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import _check_sample_weight

__all__ = ["get_chunk_n_rows", "Interval", "InvalidParameterError", "Options", "StrOptions",
           "_check_sample_weight", "_fit_context", "validate_parameter_constraints"]
