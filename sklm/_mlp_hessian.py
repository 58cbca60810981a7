"""Second derivatives of an MLP: the residual-curvature term of the exact Hessian.

The exact Hessian of a least-squares loss is ``J^T J`` plus a term that
weights the curvature of every output by its residual. For the network this
module computes

    S = sum_{k, i} C[k, i] * d^2 out[k, i] / d theta^2

for given coefficients ``C`` (the weighted residuals), as a dense
``(n_params, n_params)`` matrix, by forward-over-reverse differentiation
(Pearlmutter's R-operator) along *all* parameter directions at once: the
tangents of every layer carry a leading axis of length ``n_params``, so the
whole Hessian comes out of one vectorised forward pass and one backward pass
per chunk of samples - no loop over samples or over directions. Cost and
memory are ``O(c * n_params * sum(widths))`` per chunk of ``c`` samples:
chunk accordingly.

The directions are unit vectors, so the tangent of a layer's own parameters
is written directly (a weight ``W[p, q]`` perturbs only unit ``q`` of its layer,
by ``A_prev[p]``); earlier layers' tangents are propagated by matrix products.
"""


def mlp_curvature(mlp, params, acts, C, xp):
    """``sum_{k,i} C[k, i] * Hessian(out[k, i])`` on one chunk.

    Parameters
    ----------
    mlp : MLP
    params : list of (W, b)
        ``mlp.unpack(theta)``.
    acts : list of arrays
        ``mlp.forward(params, Xt, xp)`` for the chunk, each ``(width, c)``.
    C : array (n_outputs, c)
    xp : array module

    Returns
    -------
    S : array (n_params, n_params), symmetric
    """
    n = mlp.n_params
    act = mlp.activation
    dtype = acts[-1].dtype
    L = mlp.n_layers

    # Forward tangents dZ_l, dA_l with a leading direction axis (n, width, c).
    dZ = [None] * (L + 1)
    dA = [xp.zeros((n,) + acts[0].shape, dtype=dtype)]  # inputs do not move
    fprime = [None] + [act.d1(acts[layer], xp) if layer < L else None for layer in range(1, L + 1)]
    for layer in range(1, L + 1):
        w0, w1, b1, fi, fo = mlp.layout[layer - 1]
        W = params[layer - 1][0]
        Zt = xp.matmul(W.T, dA[layer - 1])  # (n, fo, c): earlier layers' directions
        A_prev = acts[layer - 1]
        for q in range(fo):
            # direction W[p, q] (index w0 + p * fo + q) moves unit q by A_prev[p]
            Zt[w0 + q:w1:fo, q, :] += A_prev
            Zt[w1 + q, q, :] += 1.0
        dZ[layer] = Zt
        dA.append(Zt * fprime[layer][None] if layer < L else Zt)

    # Backward pass (G_l = d phi / d Z_l) and its tangent dG_l.
    H = xp.empty((n, n), dtype=dtype)
    G = C
    dG = xp.zeros((n,) + C.shape, dtype=dtype)
    for layer in range(L, 0, -1):
        w0, w1, b1, fi, fo = mlp.layout[layer - 1]
        W = params[layer - 1][0]
        A_prev = acts[layer - 1]
        # d(grad W_l) = dA_{l-1} G_l^T + A_{l-1} dG_l^T
        dgW = xp.matmul(dA[layer - 1], G.T) + xp.matmul(A_prev, dG.transpose(0, 2, 1))
        H[:, w0:w1] = dgW.reshape(n, fi * fo)
        H[:, w1:b1] = dG.sum(axis=2)
        if layer > 1:
            S = W @ G  # (fi, c)
            dS = xp.matmul(W, dG)  # (n, fi, c)
            rows = xp.arange(fi)
            for q in range(fo):
                # direction W[p, q] (index w0 + p * fo + q) adds G[q] to row p of S
                dS[w0 + q + rows * fo, rows, :] += G[q][None, :]
            d2 = act.d2(acts[layer - 1], xp)
            # dG = f''(Z) dZ S + f'(Z) dS, in place in dZ's and dS's memory
            # (neither is read again): no (n, fi, c) temporaries
            dG = dZ[layer - 1]
            dG *= d2[None]
            dG *= S[None]
            dS *= fprime[layer - 1][None]
            dG += dS
            G = fprime[layer - 1] * S
    return 0.5 * (H + H.T)
