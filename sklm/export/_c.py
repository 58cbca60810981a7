"""A fitted network as one C99 source file and its header, with no dependency but libm.

The weights are ``static const double`` arrays printed with ``%.17g``: 17
significant digits identify a double uniquely, so a correctly rounding
compiler (GCC, Clang, MSVC) reads back the very weights ``predict`` uses.
The arithmetic follows ``predict``'s: each scaler computes ``(x - mean) /
scale`` as scikit-learn's ``StandardScaler.transform`` does (not folded into
the first layer, which would round differently), every unit sums its inputs
times its weights and then adds its bias, and the logistic activation is
``0.5 tanh(z / 2) + 0.5``, sklm's form. tanh is written into the file
(:func:`_tanh_function`): within 4.3e-16 relative of the exact value
(glibc's: 2.9e-16) and nearly twice as fast as glibc's, in which a small network
spends most of its time. Only the order of the sums differs from NumPy's matrix
products, by a few units in the last place.

The functions keep their layers in arrays on the stack, sized at generation:
no allocation. The batch function passes ``BLOCK_ROWS`` rows at a time with
the rows innermost, which lets the compiler vectorise the sums; every row
sees the same operations in the same order as in the one-row function.
"""

import os
import re
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import __version__
from ._network import standardisations

__all__ = ["to_c"]

# C99, C11 and C23 keywords: none may name the generated functions' prefix.
C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef
    union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic
    _Imaginary _Noreturn _Static_assert _Thread_local alignas alignof bool constexpr false
    nullptr static_assert thread_local true typeof typeof_unqual _BitInt _Decimal32 _Decimal64
    _Decimal128
""".split())

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Rows of a batch that go through the network together (the stack holds
# BLOCK_ROWS values of every layer).
BLOCK_ROWS = 8


def check_name(name):
    """Refuse a ``name`` that cannot prefix C identifiers."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"name={name!r} is not a C identifier: use letters, digits and "
                         "underscores, not starting with a digit.")
    if name in C_KEYWORDS:
        raise ValueError(f"name={name!r} is a C keyword; choose another name.")
    if name.startswith("__") or re.match(r"_[A-Z]", name):
        raise ValueError(f"name={name!r} is reserved for the C implementation (a leading "
                         "double underscore, or underscore and capital); choose another name.")


def _literal(value):
    """``%.17g`` of a double, always a floating literal (so ``-0.0`` keeps its sign)."""
    text = "%.17g" % value
    return text if any(c in text for c in ".en") else text + ".0"


def _numbers(values, indent, per_line=4):
    items = [_literal(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return (",\n" + indent).join(lines)


def _array(values):
    """A 1-D initializer, four numbers a line."""
    return "{\n    " + _numbers(values, "    ") + "\n}"


def _matrix(rows):
    """A 2-D initializer, each row in its own braces."""
    return "{\n" + ",\n".join("    {" + _numbers(row, "     ") + "}" for row in rows) + "\n}"


def lambert_tanh_coefficients(levels=8):
    """``(P, Q)``: ``tanh z ~ z P(z^2) / Q(z^2)``, Lambert's continued fraction cut at ``levels``.

    ``tanh z = z / (1 + w / (3 + w / (5 + ...)))`` with ``w = z^2``; cut after
    the term ``2 levels + 1`` it is a ratio of two polynomials in ``w``,
    computed here in exact rational arithmetic (lowest degree first,
    ``Q[0] = 1``). Eight levels leave a truncation error below 1e-20 for
    ``|z| < 0.625``: the C function's error is its rounding alone.
    """
    numer, denom = [Fraction(2 * levels + 1)], [Fraction(1)]  # the innermost tail
    for k in range(levels - 1, -1, -1):  # tail_k = (2k + 1) + w / tail_{k+1}
        grown = [(2 * k + 1) * c for c in numer] + [Fraction(0)] * (len(denom) + 1 - len(numer))
        for i, c in enumerate(denom):
            grown[i + 1] += c  # + w * denom
        numer, denom = grown, numer
    # tanh z = z / tail_0 = z * denom / numer
    return ([float(c / numer[0]) for c in denom], [float(c / numer[0]) for c in numer])


def _horner(coefficients, var):
    text = _literal(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        text = f"({_literal(c)} + {var} * {text})"
    return text


def _tanh_function(name):
    p, q = lambert_tanh_coefficients()
    return f"""\
/* tanh, accurate to 4.3e-16 relative (measured against long double tanhl) and
   nearly twice as fast as glibc's: for |z| < 0.625 a ratio of polynomials from
   Lambert's continued fraction of tanh (cut after eight levels, truncation
   error < 1e-20), beyond that 1 - 2 / (exp(2 |z|) + 1). */
static double {name}_tanh(double z)
{{
    double a = fabs(z), t;
    if (a < 0.625) {{
        double w = z * z;
        return z * {_horner(p, "w")}
                 / {_horner(q, "w")};
    }}
    t = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    return z < 0.0 ? -t : t;
}}"""


def _activation(name, activation, z):
    """The hidden activation of the C expression ``z``, as sklm computes it."""
    return {"identity": z,
            "tanh": f"{name}_tanh({z})",
            "logistic": f"0.5 * {name}_tanh(0.5 * ({z})) + 0.5",  # sklm's form
            "relu": f"({z} < 0.0 ? 0.0 : {z})",  # NaN passes through, as np.maximum
            }[activation]


def _weights(name, scalers, network):
    """The constant arrays, with a comment on each."""
    n_in = network.n_features
    blocks = []
    for k, s in enumerate(scalers):
        block = [f"/* StandardScaler {k}: (x - mean) / scale */"]
        if s.mean is not None:
            block.append(f"static const double {name}_mean{k}[{n_in}] = {_array(s.mean)};")
        if s.scale is not None:
            block.append(f"static const double {name}_scale{k}[{n_in}] = {_array(s.scale)};")
        if len(block) > 1:
            blocks.append("\n".join(block))
    n_layers = len(network.coefs)
    for layer, (W, b) in enumerate(zip(network.coefs, network.intercepts), start=1):
        fan_in, fan_out = W.shape
        kind = "linear output" if layer == n_layers else network.activation
        blocks.append("\n".join([
            f"/* layer {layer}: {fan_in} -> {fan_out}, {kind}; w{layer}[j][i] multiplies "
            f"input i of unit j */",
            f"static const double {name}_w{layer}[{fan_out}][{fan_in}] = {_matrix(W.T)};",
            f"static const double {name}_b{layer}[{fan_out}] = {_array(b)};"]))
    return blocks


def _forward(name, scalers, network, rows):
    """The statements of a forward pass over ``rows`` rows of ``x`` into ``y``.

    One row keeps each layer in a vector ``h[width]``; a block of rows keeps
    it as ``h[width][rows]``, rows innermost, so that the compiler can
    vectorise the sums over the rows. Each row's arithmetic is the same
    either way (the same products, summed in the same order), so the two
    give the same bits.
    """
    n_in, n_out = network.n_features, network.n_outputs
    one = rows == 1
    r_loop = "" if one else f"for (r = 0; r < {rows}; ++r) "
    at = "" if one else "[r]"
    decls = ["    size_t i, j;" if one else "    size_t i, j, r;"]
    body = []
    current = "x"
    if not one:  # the block's inputs, transposed: rows innermost
        decls.append(f"    double x0[{n_in}][{rows}];")
        body.append(f"    for (i = 0; i < {n_in}; ++i) {r_loop}x0[i][r] = x[r * {n_in} + i];")
        current = "x0"
    for k, s in enumerate(scalers):
        if s.mean is None and s.scale is None:
            continue
        expr = f"{current}[i]{at}"
        if s.mean is not None:
            expr = f"({expr} - {name}_mean{k}[i])"
        if s.scale is not None:
            expr = f"{expr} / {name}_scale{k}[i]"
        decls.append(f"    double s{k}[{n_in}]{'' if one else f'[{rows}]'};")
        body.append(f"    for (i = 0; i < {n_in}; ++i) {r_loop}s{k}[i]{at} = {expr};")
        current = f"s{k}"
    if not one:
        decls.append(f"    double z[{rows}];")
    n_layers = len(network.coefs)
    for layer, (W, b) in enumerate(zip(network.coefs, network.intercepts), start=1):
        fan_in, fan_out = W.shape
        last = layer == n_layers
        w, bias = f"{name}_w{layer}[j][i]", f"{name}_b{layer}[j]"
        if not last:
            decls.append(f"    double h{layer}[{fan_out}]{'' if one else f'[{rows}]'};")
        if one:
            target = "y[j]" if last else f"h{layer}[j]"
            value = "z" if last else _activation(name, network.activation, "z")
            body += [f"    for (j = 0; j < {fan_out}; ++j) {{",
                     "        double z = 0.0;",
                     f"        for (i = 0; i < {fan_in}; ++i) z += {w} * {current}[i];",
                     f"        z += {bias};",
                     f"        {target} = {value};",
                     "    }"]
        else:
            target = f"y[r * {n_out} + j]" if last else f"h{layer}[j][r]"
            value = "z[r]" if last else _activation(name, network.activation, "z[r]")
            body += [f"    for (j = 0; j < {fan_out}; ++j) {{",
                     f"        {r_loop}z[r] = 0.0;",
                     f"        for (i = 0; i < {fan_in}; ++i)",
                     f"            {r_loop}z[r] += {w} * {current}[i][r];",
                     f"        {r_loop}z[r] += {bias};",
                     f"        {r_loop}{target} = {value};",
                     "    }"]
        current = f"h{layer}"
    return decls + body


def stack_bytes(scalers, network, rows):
    """Bytes of the layer arrays a forward pass over ``rows`` rows keeps on the stack."""
    n_scalers = sum(s.mean is not None or s.scale is not None for s in scalers)
    widths = n_scalers * network.n_features + sum(W.shape[1] for W in network.coefs[:-1])
    if rows > 1:  # the transposed inputs and one unit's sums
        widths += network.n_features + 1
    return 8 * rows * widths


def _header(name, scalers, network):
    """The header: what the network is, its sizes and the two functions' prototypes."""
    n_in, n_out = network.n_features, network.n_outputs
    upper = name.upper()
    sizes = "-".join(str(s) for s in network.layer_sizes)
    one_bytes = stack_bytes(scalers, network, 1)
    block_bytes = stack_bytes(scalers, network, BLOCK_ROWS)
    return f"""\
/* {name}: a fitted sklm.LMRegressor ({sizes}, {network.activation} hidden layers, linear
   output; {network.n_params} parameters{", with its StandardScaler" if scalers else ""}), \
exported by sklm {__version__}.
   Predictions equal LMRegressor.predict's to rounding. C99; no allocation; only <math.h>.
   Stack: {one_bytes:,} bytes of layer arrays for one row, {block_bytes:,} for a batch. */
#ifndef {upper}_H
#define {upper}_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define {upper}_N_INPUTS {n_in}
#define {upper}_N_OUTPUTS {n_out}

/* One row: x[{n_in}] in, y[{n_out}] out. */
void {name}_predict(const double *x, double *y);

/* n rows, row-major: x[n * {n_in}] in, y[n * {n_out}] out; the same values as
   {name}_predict on each row. */
void {name}_predict_batch(size_t n, const double *x, double *y);

#ifdef __cplusplus
}}
#endif

#endif /* {upper}_H */
"""


def _functions(name, scalers, network):
    """The C functions: tanh where a hidden layer calls it, one row, a block, a batch."""
    n_in, n_out = network.n_features, network.n_outputs
    functions = []
    if network.activation in ("tanh", "logistic") and len(network.coefs) > 1:
        functions.append(_tanh_function(name))  # only where a hidden layer calls it
    functions.append("\n".join([
        f"void {name}_predict(const double *x, double *y)",
        "{", *_forward(name, scalers, network, 1), "}"]))
    functions.append("\n".join([
        f"/* {BLOCK_ROWS} rows at a time, each layer's values rows innermost */",
        f"static void {name}_block(const double *x, double *y)",
        "{", *_forward(name, scalers, network, BLOCK_ROWS), "}"]))
    functions.append("\n".join([
        f"void {name}_predict_batch(size_t n, const double *x, double *y)",
        "{",
        "    size_t r = 0;",
        f"    for (; r + {BLOCK_ROWS} <= n; r += {BLOCK_ROWS}) "
        f"{name}_block(x + r * {n_in}, y + r * {n_out});",
        f"    for (; r < n; ++r) {name}_predict(x + r * {n_in}, y + r * {n_out});",
        "}"]))
    return functions


def render(name, scalers, network, source_name, header_name):
    """The header's and the source file's text."""
    header = _header(name, scalers, network)
    functions = _functions(name, scalers, network)
    source = "\n".join([
        f"/* {name}: generated by sklm.export.to_c (sklm {__version__}); see {header_name}.",
        f"   Build: cc -std=c99 -O2 -c {source_name}   (link with -lm) */",
        "#include <math.h>",
        "#include <stddef.h>",
        "",
        f'#include "{header_name}"',
        "",
        "\n\n".join(_weights(name, scalers, network)),
        "",
        "\n\n".join(functions),
        "",
    ])
    return header, source


def output_paths(path, name):
    """``(source, header)``: ``path`` is a directory or the ``.c`` file's name."""
    path = Path(os.fspath(path))
    if path.is_dir():
        return path / f"{name}.c", path / f"{name}.h"
    if path.suffix != ".c":
        raise ValueError(f"path={str(path)!r} is neither an existing directory nor a file "
                         "name ending in '.c'.")
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"Cannot write {str(path)!r}: the directory {str(parent)!r} "
                                "does not exist (or is not a directory).")
    return path, path.with_suffix(".h")


def _write_atomically(files):
    """Write ``{path: text}``: each to a temporary file beside it, then renamed over it.

    A failure before the renames leaves no new file and the old ones (if
    any) untouched; the renames themselves do not fail half-way through a
    file (``os.replace`` is atomic on POSIX and Windows).
    """
    temps = []
    try:
        for path, text in files.items():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            temps.append(tmp)
            with os.fdopen(fd, "w", encoding="ascii", newline="\n") as f:
                f.write(text)
        for (path, _), tmp in zip(files.items(), temps):
            os.replace(tmp, path)
    except OSError as exc:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        paths = ", ".join(repr(str(p)) for p in files)
        raise type(exc)(exc.errno, f"Cannot write {paths}: {exc.strerror or exc}") from exc
    except BaseException:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


def to_c(model, path, name="surrogate"):
    """Write a fitted model as a dependency-free C99 source file and header.

    The source holds the weights as ``static const double`` arrays (printed
    with ``%.17g``, so they read back exactly) and defines::

        void NAME_predict(const double *x, double *y);               /* one row */
        void NAME_predict_batch(size_t n, const double *x, double *y);  /* row-major */

    with ``NAME_N_INPUTS`` and ``NAME_N_OUTPUTS`` in the header. They
    allocate nothing and need only ``<math.h>`` (link with ``-lm``); they
    reproduce ``predict`` to rounding (the order of the sums differs from
    NumPy's matrix products). Compile with e.g. ``cc -std=c99 -O2 -c NAME.c``.

    Parameters
    ----------
    model : LMRegressor or Pipeline
        A fitted ``LMRegressor``, or a fitted ``Pipeline`` of
        ``StandardScaler`` steps (``'passthrough'`` allowed) ending in one;
        the scalers' ``(x - mean) / scale`` runs in the C function.
    path : str or path-like
        An existing directory, where ``NAME.c`` and ``NAME.h`` are written,
        or the source file's path, ending in ``.c``; the header goes beside
        it with the suffix ``.h`` (``out/model.c`` gives ``out/model.h``).
        Existing files are replaced.
    name : str, default='surrogate'
        Prefix of the C functions, arrays and macros, and the files' name: a
        C identifier, not a keyword, not reserved (``__x``, ``_X``).

    Returns
    -------
    source, header : pathlib.Path
        The files written.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        The model (or a step) is not fitted.
    TypeError
        ``model`` is not an ``LMRegressor`` or such a ``Pipeline``; the
        message names the step that has no C translation (use
        :func:`to_onnx` for other steps).
    ValueError
        ``name`` is no valid C identifier, ``path`` is no directory and does
        not end in ``.c``, or the weights are not finite.
    OSError
        The files cannot be written (missing directory, no permission); no
        file is then left half-written, and files that existed are unchanged.

    See Also
    --------
    to_onnx : the same model as an ONNX graph, for ONNX Runtime.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from sklm import LMRegressor
    >>> from sklm.export import to_c
    >>> X = np.linspace(-1, 1, 40)[:, None]
    >>> model = LMRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    >>> model = model.fit(X, np.sin(3 * X[:, 0]))
    >>> source, header = to_c(model, tempfile.mkdtemp(), name="sine")
    >>> source.name, header.name
    ('sine.c', 'sine.h')
    """
    check_name(name)
    scalers, network = standardisations(model)
    source, header = output_paths(path, name)
    header_text, source_text = render(name, scalers, network, source.name, header.name)
    _write_atomically({header: header_text, source: source_text})
    return source, header
