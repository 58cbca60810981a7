"""Deploy a fitted ``LMRegressor`` without sklm: as an ONNX graph or as C source.

- :func:`to_onnx` gives an ``onnx.ModelProto`` for ONNX Runtime (C, C++, C#,
  Java, Python, phones), float64 or float32, of a fitted ``LMRegressor`` or
  a ``Pipeline`` ending in one (the earlier steps converted by ``skl2onnx``).
  Needs ``pip install sklm[onnx]``. Importing this module registers sklm's
  converter with ``skl2onnx``, so ``skl2onnx.to_onnx(pipeline, X[:1])``
  converts pipelines that contain an ``LMRegressor`` too.
- :func:`to_c` writes one C99 source file and its header: the weights as
  constants, a one-row and a batch prediction function, no allocation, no
  library beyond ``<math.h>``. Needs nothing beyond sklm.

Both read only the fitted network (``coefs_``, ``intercepts_``,
``activation``), which already includes the normalisation the model trained
with, and, in a Pipeline, the fitted steps before it. Neither exports
``predict(X, return_std=True)``'s uncertainty nor anything needed to
continue training (``warm_start``, ``partial_fit``): pickle the estimator for
that. See the user guide's page "Deploying a surrogate".
"""

import numpy as np

from ._c import to_c
from ._network import read_network, split_pipeline

try:
    from . import _onnx
except ImportError as exc:  # skl2onnx or onnx absent: to_onnx says what to install
    _onnx = None
    _ONNX_IMPORT_ERROR = exc
else:
    _ONNX_IMPORT_ERROR = None
    _onnx.register()

__all__ = ["to_c", "to_onnx"]

ONNX_MISSING = ("sklm.export.to_onnx needs skl2onnx and onnx (and onnxruntime to run the "
                "graph): pip install sklm[onnx]")


def to_onnx(model, X_sample, dtype=np.float64, *, target_opset=None):
    """Convert a fitted model to an ONNX graph.

    The network's part of the graph is ``predict``'s forward pass: per layer
    a ``Gemm`` and the hidden activation (``Tanh``, ``Sigmoid``, ``Relu``),
    the weights stored in ``dtype``. ONNX Runtime reproduces ``predict`` to
    rounding in float64 and to float32's precision (about 1e-6 relative) in
    float32.

    Parameters
    ----------
    model : LMRegressor or Pipeline
        A fitted ``LMRegressor``, or a fitted ``Pipeline`` whose last step is
        one; the steps before it are converted by ``skl2onnx`` (any step it
        supports).
    X_sample : array-like of shape (n_samples, n_features)
        A few input rows: they fix the input's width (the number of rows is
        left free in the graph).
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        The graph's floating type, of its input, weights and output.
    target_opset : int or dict, default=None
        Passed to ``skl2onnx.to_onnx``; None takes skl2onnx's latest tested
        opset.

    Returns
    -------
    onnx.ModelProto
        Input ``'X'`` of shape ``(None, n_features)``, one output of shape
        ``(None, n_outputs)`` (a column for one output, where ``predict``
        returns a 1-D array). Save it with ``model.SerializeToString()``.

    Raises
    ------
    ImportError
        skl2onnx or onnx is not installed (``pip install sklm[onnx]``).
    sklearn.exceptions.NotFittedError
        The model is not fitted.
    TypeError
        ``model`` is not an ``LMRegressor`` or a ``Pipeline`` ending in one,
        or skl2onnx has no converter for one of its steps (the message
        names it).
    ValueError
        ``dtype`` is neither float64 nor float32, or ``X_sample`` is not 2-D.

    See Also
    --------
    to_c : the model as dependency-free C source.

    Examples
    --------
    >>> import numpy as np
    >>> from sklm import LMRegressor
    >>> from sklm.export import to_onnx
    >>> X = np.linspace(-1, 1, 40)[:, None]
    >>> model = LMRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    >>> model = model.fit(X, np.sin(3 * X[:, 0]))
    >>> onx = to_onnx(model, X[:1])  # doctest: +SKIP
    >>> import onnxruntime as ort  # doctest: +SKIP
    >>> runtime = ort.InferenceSession(onx.SerializeToString())  # doctest: +SKIP
    >>> runtime.run(None, {"X": X})[0].shape  # doctest: +SKIP
    (40, 1)
    """
    if _onnx is None:
        raise ImportError(ONNX_MISSING) from _ONNX_IMPORT_ERROR
    dtype = np.dtype(dtype)
    if dtype not in (np.float64, np.float32):
        raise ValueError(f"dtype must be numpy.float64 or numpy.float32; got {dtype}.")
    steps, regressor = split_pipeline(model, purpose="to_onnx")
    read_network(regressor)  # fitted, finite, one network: before skl2onnx's own messages
    return _onnx.convert(model, steps, X_sample, dtype, target_opset)
