"""sklm: neural-network regressors trained by second-order methods.

Levenberg-Marquardt (and its relatives) behind one scikit-learn estimator,
on the CPU with NumPy/SciPy or on an NVIDIA GPU with CuPy.
"""

__version__ = "0.2.0"

from ._bayes import UncertaintyWarning  # noqa: E402
from ._estimator import LMRegressor  # noqa: E402

__all__ = ["LMRegressor", "UncertaintyWarning", "__version__"]
