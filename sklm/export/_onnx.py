"""The ``skl2onnx`` shape calculator and converter of ``LMRegressor``.

The graph is ``predict``'s forward pass: per layer a ``Gemm`` (``a W + b``)
and, on the hidden layers, the activation's operator (``Tanh``, ``Sigmoid``,
``Relu``; none for 'identity'). The weights are stored in the input's
floating type, float64 or float32. The output has shape ``(N, n_outputs)``,
a column for a single output, as skl2onnx's other regressors.

This module imports ``skl2onnx``; :mod:`sklm.export` imports it where
``skl2onnx`` and ``onnx`` are installed and registers the converter.
"""

import numpy as np
import skl2onnx
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    guess_numpy_type,
    guess_proto_type,
)
from skl2onnx.common.exceptions import MissingConverter, MissingShapeCalculator
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types

from .._estimator import LMRegressor
from ._network import read_network

__all__ = ["ALIAS", "register"]

ALIAS = "SklmLMRegressor"

_ACTIVATION_OPS = {"identity": None, "tanh": "Tanh", "logistic": "Sigmoid", "relu": "Relu"}


def lm_regressor_shape(operator):
    """Output type: the input's floating type, shape ``(N, n_outputs_)``."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=[FloatTensorType, DoubleTensorType])
    input_type = operator.inputs[0].type
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = input_type.__class__([n_rows, operator.raw_operator.n_outputs_])


def lm_regressor_converter(scope, operator, container):
    """Add the network's nodes and weights to the graph."""
    network = read_network(operator.raw_operator)
    input_type = operator.inputs[0].type
    dtype = guess_numpy_type(input_type)
    proto_dtype = guess_proto_type(input_type)
    activation = _ACTIVATION_OPS[network.activation]
    current = operator.inputs[0].full_name
    n_layers = len(network.coefs)
    for layer, (W, b) in enumerate(zip(network.coefs, network.intercepts), start=1):
        last = layer == n_layers
        w_name = scope.get_unique_variable_name(f"sklm_w{layer}")
        b_name = scope.get_unique_variable_name(f"sklm_b{layer}")
        container.add_initializer(w_name, proto_dtype, list(W.shape),
                                  W.astype(dtype).ravel().tolist())
        container.add_initializer(b_name, proto_dtype, [W.shape[1]],
                                  b.astype(dtype).tolist())
        if last:
            z_name = operator.outputs[0].full_name
        else:
            z_name = scope.get_unique_variable_name(f"sklm_z{layer}")
        container.add_node("Gemm", [current, w_name, b_name], z_name,
                           name=scope.get_unique_operator_name("SklmGemm"))
        current = z_name
        if not last and activation is not None:
            a_name = scope.get_unique_variable_name(f"sklm_a{layer}")
            container.add_node(activation, [z_name], a_name,
                               name=scope.get_unique_operator_name(f"Sklm{activation}"))
            current = a_name


def register():
    """Register the converter with skl2onnx (idempotent)."""
    update_registered_converter(LMRegressor, ALIAS, lm_regressor_shape,
                                lm_regressor_converter, overwrite=True)


def convert(model, steps, X_sample, dtype, target_opset=None):
    """``skl2onnx.to_onnx`` of ``model`` for inputs like ``X_sample`` in ``dtype``.

    ``steps`` are the Pipeline's ``(name, step)`` pairs before the
    ``LMRegressor``: an error of skl2onnx's about a type names its step.
    """
    X_sample = np.asarray(X_sample, dtype=dtype)
    if X_sample.ndim != 2:
        raise ValueError(f"X_sample must be 2-D, (n_samples, n_features); got shape "
                         f"{X_sample.shape}.")
    try:
        return skl2onnx.to_onnx(model, X_sample, target_opset=target_opset)
    except (MissingShapeCalculator, MissingConverter) as exc:
        culprits = [f"{name!r} ({type(step).__name__})" for name, step in steps
                    if repr(type(step)) in str(exc)]
        which = " and ".join(culprits) or "of this Pipeline"
        raise TypeError(f"skl2onnx has no converter for the step {which}: register one "
                        "with skl2onnx.update_registered_converter, or leave the step out. "
                        f"skl2onnx says: {str(exc).splitlines()[0]}") from exc
