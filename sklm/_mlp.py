"""A multi-layer perceptron as a function of one flat parameter vector.

The model knows nothing of solvers: it computes outputs, and the derivatives of
its outputs with respect to ``theta``. ``theta`` holds, layer by layer, the
weight matrix (``fan_in x fan_out``, row-major, as scikit-learn's ``coefs_``)
then the bias vector; Jacobian rows and gradients use the same order.

Internally every array is *transposed*: a chunk of ``c`` samples is stored as
``(features, c)``. The Jacobian is built as ``J^T`` of shape
``(n_params, c * n_outputs)``, so each layer's block is one contiguous slab that
a broadcast multiply fills in place, and ``J^T J`` is a single symmetric
rank-k update (BLAS syrk) of that buffer.
"""

import numpy as np

from ._activations import ACTIVATIONS


def chunk_bounds(n_rows, chunk_size):
    """``[(start, stop), ...]`` covering ``range(n_rows)`` in chunks."""
    chunk_size = max(1, int(chunk_size))
    return [(i, min(i + chunk_size, n_rows)) for i in range(0, n_rows, chunk_size)]


class MLP:
    """A fully connected network: hidden activation ``activation``, linear output.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_inputs, hidden_1, ..., hidden_h, n_outputs)``.
    activation : {'identity', 'logistic', 'tanh', 'relu'}
        Activation of every hidden layer.
    """

    def __init__(self, layer_sizes, activation):
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.activation = ACTIVATIONS[activation]
        self.n_layers = len(self.layer_sizes) - 1
        self.n_outputs = self.layer_sizes[-1]
        # (w_start, w_end, b_end, fan_in, fan_out) per layer
        self.layout = []
        offset = 0
        for fan_in, fan_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            w_end = offset + fan_in * fan_out
            self.layout.append((offset, w_end, w_end + fan_out, fan_in, fan_out))
            offset = w_end + fan_out
        self.n_params = offset

    # ------------------------------------------------------------------ layout
    def unpack(self, theta):
        """Views ``[(W_1, b_1), ..., (W_L, b_L)]`` into ``theta``."""
        return [
            (theta[w0:w1].reshape(fi, fo), theta[w1:b1])
            for w0, w1, b1, fi, fo in self.layout
        ]

    def pack(self, coefs, intercepts):
        """The flat vector of lists ``coefs`` and ``intercepts`` (NumPy)."""
        parts = []
        for W, b in zip(coefs, intercepts):
            parts += [np.asarray(W, dtype=np.float64).ravel(), np.asarray(b).ravel()]
        return np.concatenate(parts)

    def affine_output(self, theta, scale, shift):
        """``theta`` of the network whose outputs are ``scale * f + shift``.

        The output layer is linear, so this changes only its weights and
        biases (NumPy, a new vector; ``shift`` is one number per output).
        """
        theta = np.array(theta, dtype=np.float64)
        w0, w1, b1, _, _ = self.layout[-1]
        theta[w0:w1] *= scale
        theta[w1:b1] = theta[w1:b1] * scale + shift
        return theta

    def affine_input(self, theta, scale, shift):
        """``theta`` of the network ``x -> f(scale * x + shift)`` (per feature).

        The first layer is affine in the inputs, so this changes only its
        weights and biases (NumPy, a new vector).
        """
        theta = np.array(theta, dtype=np.float64)
        w0, w1, b1, fan_in, fan_out = self.layout[0]
        W = theta[w0:w1].reshape(fan_in, fan_out)
        theta[w1:b1] += np.asarray(shift, dtype=np.float64) @ W
        W *= np.asarray(scale, dtype=np.float64)[:, None]  # a view into theta
        return theta

    def output_weight_mask(self):
        """Boolean mask of the entries of ``theta`` that are output-layer weights."""
        mask = np.zeros(self.n_params, dtype=bool)
        w0, w1, _, _, _ = self.layout[-1]
        mask[w0:w1] = True
        return mask

    def weight_mask(self):
        """Boolean mask of the entries of ``theta`` that are weights, not biases."""
        mask = np.zeros(self.n_params, dtype=bool)
        for w0, w1, _, _, _ in self.layout:
            mask[w0:w1] = True
        return mask

    # ------------------------------------------------------------------- init
    def init_params(self, rng, method="glorot"):
        """Initial ``theta`` (NumPy, float64) drawn from ``rng``.

        'glorot': weights ~ U(-s, s), s = sqrt(6 / (fan_in + fan_out)) (Glorot &
        Bengio 2010; sqrt(2 / ...) for logistic units, as scikit-learn), zero
        biases. 'nguyen-widrow': MATLAB's ``initnw`` for hidden layers (each
        unit's weight vector rescaled to length 0.7 * H^(1/fan_in), biases
        spread over the same range, inputs assumed roughly in [-1, 1]); the
        linear output layer is Glorot-initialised.
        """
        theta = np.zeros(self.n_params)
        factor = 2.0 if self.activation.name == "logistic" else 6.0
        for layer, (w0, w1, b1, fi, fo) in enumerate(self.layout):
            hidden = layer < self.n_layers - 1
            if method == "nguyen-widrow" and hidden:
                beta = 0.7 * fo ** (1.0 / fi)
                W = rng.uniform(-1.0, 1.0, size=(fi, fo))
                W *= beta / np.linalg.norm(W, axis=0, keepdims=True)
                b = rng.uniform(-beta, beta, size=fo)
            else:
                bound = np.sqrt(factor / (fi + fo))
                W = rng.uniform(-bound, bound, size=(fi, fo))
                b = np.zeros(fo)
            theta[w0:w1] = W.ravel()
            theta[w1:b1] = b
        return theta

    # ---------------------------------------------------------------- forward
    def forward(self, params, Xt, xp):
        """Layer outputs ``[A_0 = Xt, A_1, ..., A_L]``, each ``(width, c)``.

        ``params`` is ``unpack(theta)``; ``Xt`` is a chunk of inputs, transposed.
        """
        acts = [Xt]
        f = self.activation.f
        for layer, (W, b) in enumerate(params):
            Z = W.T @ acts[-1]
            Z += b[:, None]
            if layer < self.n_layers - 1:
                f(Z, xp, out=Z)
            acts.append(Z)
        return acts

    def predict(self, params, Xt, xp):
        """Network outputs ``(n_outputs, c)`` for a transposed chunk ``Xt``."""
        return self.forward(params, Xt, xp)[-1]

    def predict_rows(self, params, X, xp, chunk_size):
        """Outputs ``(m, n_outputs)`` for row-major inputs ``X``, ``chunk_size``
        rows at a time (memory: ``chunk_size`` times the widest layer)."""
        Xt = X.T
        return xp.concatenate([self.predict(params, Xt[:, i0:i1], xp).T
                               for i0, i1 in chunk_bounds(X.shape[0], chunk_size)])

    # ------------------------------------------------------------ derivatives
    def _output_sensitivities(self, params, acts, row_scale, xp):
        """``D_l[q, i, k] = row_scale[i] * d out[k, i] / d Z_l[q, i]`` per layer.

        Back-propagated for all outputs at once: ``D_l`` has shape
        ``(width_l, c, n_outputs)``; a matrix product per layer, no loop over
        samples.
        """
        c = acts[0].shape[1]
        k = self.n_outputs
        D = xp.zeros((k, c, k), dtype=acts[-1].dtype)
        for j in range(k):
            D[j, :, j] = row_scale
        deltas = [D]
        d1 = self.activation.d1
        for layer in range(self.n_layers - 1, 0, -1):
            W = params[layer][0]
            D = (W @ D.reshape(W.shape[1], c * k)).reshape(W.shape[0], c, k)
            D *= d1(acts[layer], xp)[:, :, None]
            deltas.append(D)
        return deltas[::-1]

    def jacobian_t(self, params, acts, row_scale, out, xp):
        """Fill ``out`` (n_params, c * n_outputs) with ``J^T``.

        ``J[(i, k), :] = row_scale[i] * d out[k, i] / d theta``: rows are
        sample-major (sample ``i``, then output ``k``), matching a row-major
        ``(c, n_outputs)`` residual array. ``out`` must be C-contiguous.
        """
        c = acts[0].shape[1]
        k = self.n_outputs
        deltas = self._output_sensitivities(params, acts, row_scale, xp)
        for (w0, w1, b1, fi, fo), A, D in zip(self.layout, acts[:-1], deltas):
            # dW[p, q] for row (i, k) = A[p, i] * D[q, i, k]
            block = out[w0:w1].reshape(fi, fo, c, k)
            xp.multiply(A[:, None, :, None], D[None], out=block)
            out[w1:b1] = D.reshape(fo, c * k)
        return out

    def slopes(self, acts, xp):
        """``[None, f'(Z_1), ..., f'(Z_{L-1}), None]`` from the layer outputs.

        :meth:`jvp` and :meth:`vjp` take them to skip recomputing them, when
        many products share one forward pass (the matrix-free step's CG).
        """
        d1 = self.activation.d1
        return [None] + [d1(A, xp) for A in acts[1:-1]] + [None]

    def jvp(self, params, acts, dparams, xp, slopes=None):
        """Directional derivative of the outputs along ``dparams`` (forward mode).

        ``dparams`` is ``unpack(v)`` for a direction ``v`` in parameter space;
        returns ``sum_j v_j d out[k, i] / d theta_j`` of shape
        ``(n_outputs, c)``. Costs about two forward passes; ``acts`` are the
        layer outputs at ``params`` (``slopes`` their :meth:`slopes`, or None).
        """
        slopes = slopes or self.slopes(acts, xp)
        dA = None
        for layer, ((W, _), (dW, db)) in enumerate(zip(params, dparams)):
            dZ = dW.T @ acts[layer]
            if dA is not None:
                dZ += W.T @ dA
            dZ += db[:, None]
            if layer < self.n_layers - 1:
                dZ *= slopes[layer + 1]
            dA = dZ
        return dA

    def vjp(self, params, acts, G, xp, slopes=None):
        """Gradient ``sum_{k,i} G[k, i] * d out[k, i] / d theta`` by back-propagation.

        ``G`` has the shape of the network output, ``(n_outputs, c)``;
        ``slopes`` as in :meth:`jvp`.
        """
        grad = xp.empty(self.n_params, dtype=G.dtype)
        d1 = self.activation.d1
        delta = G
        for layer in range(self.n_layers - 1, -1, -1):
            w0, w1, b1, fi, fo = self.layout[layer]
            A = acts[layer]
            grad[w0:w1] = (A @ delta.T).ravel()
            grad[w1:b1] = delta.sum(axis=1)
            if layer > 0:
                delta = params[layer][0] @ delta
                delta *= d1(A, xp) if slopes is None else slopes[layer]
        return grad

    def jacobian_diagonal(self, params, acts, row_scale, xp):
        """``diag(J^T J)`` of one chunk without forming ``J``.

        ``J[(i, k), :] = row_scale[i] * d out[k, i] / d theta`` (as
        :meth:`jacobian_t`). The weight ``W[p, q]``'s column of ``J`` is
        ``A[p, i] D[q, i, k]``, so its squares sum to
        ``(A**2) @ sum_k(D**2).T``: one matrix product per layer, after a
        backward pass for each output.
        """
        deltas = self._output_sensitivities(params, acts, row_scale, xp)
        d = xp.empty(self.n_params, dtype=acts[-1].dtype)
        for (w0, w1, b1, _, _), A, D in zip(self.layout, acts[:-1], deltas):
            D2 = xp.einsum("qik,qik->qi", D, D)
            d[w0:w1] = ((A * A) @ D2.T).ravel()
            d[w1:b1] = D2.sum(axis=1)
        return d
