"""The array backend: the only module that knows NumPy from CuPy.

Everything else asks a :class:`Backend` for its array module ``xp`` and calls
``backend.xp.<op>``, or one of the few kernels defined here where the two
libraries differ (moving data, the damped Cholesky solve, a least-squares
fallback).
"""

import abc
import contextlib
import functools

import numpy as np
import scipy.linalg
import scipy.linalg.lapack

__all__ = ["Backend", "NumpyBackend", "CupyBackend", "get_backend", "cupy_available"]


class Backend(abc.ABC):
    """Arrays and the little linear algebra a solver needs, on one device."""

    name = "abstract"
    xp = None

    @abc.abstractmethod
    def asarray(self, x, dtype=np.float64):
        """``x`` as a contiguous array of ``dtype`` on this backend's device."""

    @abc.abstractmethod
    def to_numpy(self, x):
        """``x`` as a NumPy array on the host."""

    @abc.abstractmethod
    def cholesky_factor(self, A):
        """A Cholesky factor of ``A`` for :meth:`cholesky_factor_solve`, or None.

        None when ``A`` is not numerically positive definite (the caller
        treats that as a rejected step and damps more). ``A`` is not
        modified, and later changes to ``A`` do not affect the factor.
        """

    @abc.abstractmethod
    def cholesky_factor_solve(self, factor, b):
        """Solve with a factor from :meth:`cholesky_factor`; None if not finite."""

    def cholesky_solve(self, A, b):
        """Solve ``A x = b`` for symmetric positive definite ``A`` by Cholesky.

        None when the factorisation fails or the solution is not finite.
        """
        factor = self.cholesky_factor(A)
        return None if factor is None else self.cholesky_factor_solve(factor, b)

    @abc.abstractmethod
    def inverse_cholesky(self, A):
        """``L^-1`` for the lower Cholesky factor ``L`` of ``A``, or None.

        ``A = L L^T``, so ``A^-1 = L^-T L^-1`` and ``g^T A^-1 g = ||L^-1 g||^2``:
        the inverse factor turns quadratic forms in ``A^-1`` into column norms
        (prediction variances, ``diag(A^-1)``). None when ``A`` is not
        numerically positive definite or the inverse is not finite. ``O(n^3)``.
        """

    @abc.abstractmethod
    def lstsq(self, A, b):
        """Minimum-norm least-squares solution of ``A x = b`` (SVD based).

        The slow, robust fallback for a singular normal matrix.
        """

    @abc.abstractmethod
    def chunk_rows(self, row_bytes, n_rows):
        """Rows per chunk so that a chunk's Jacobian takes a sensible share of memory."""

    @abc.abstractmethod
    def add_gram(self, out, At):
        """``out += At @ At.T``, the whole symmetric matrix; returns ``out``.

        ``At`` is C-contiguous ``(n, r)`` (a chunk of ``J^T``); ``out`` is
        ``(n, n)`` float64 whatever ``At``'s dtype, so the sum over chunks is
        accumulated in float64.
        """

    def __repr__(self):
        return f"{type(self).__name__}()"


class NumpyBackend(Backend):
    """NumPy arrays with SciPy/LAPACK linear algebra, on the CPU."""

    name = "numpy"
    xp = np

    def asarray(self, x, dtype=np.float64):
        return np.ascontiguousarray(x, dtype=dtype)

    def to_numpy(self, x):
        return np.asarray(x)

    def cholesky_factor(self, A):
        # SciPy's LAPACK (potrf, then potrs), with SciPy's own OpenBLAS pool held
        # to one thread for the call. NumPy and SciPy each bundle an OpenBLAS
        # with its own spinning worker threads; letting SciPy's pool wake up
        # between NumPy's J^T J products puts 3-4 busy threads on two cores
        # (PERF-FACTS.md); holding it to one thread rules that out by
        # construction. It costs nothing: the factor is O(n^3/3) against the
        # O(m n^2) of forming J^T J, and on a quiet machine it took the same
        # time as NumPy's (0.53 vs 0.58 ms at n=311, docs/benchmarks.md).
        with _scipy_blas_single_thread():
            try:
                c = scipy.linalg.cho_factor(A, lower=False, check_finite=False)
            except np.linalg.LinAlgError:
                return None
        if not np.isfinite(c[0][-1, -1]):
            return None
        return c

    def cholesky_factor_solve(self, factor, b):
        with _scipy_blas_single_thread():
            x = scipy.linalg.cho_solve(factor, b, check_finite=False)
        if not np.all(np.isfinite(x)):
            return None
        return x

    def inverse_cholesky(self, A):
        with _scipy_blas_single_thread():
            try:
                L = scipy.linalg.cholesky(A, lower=True, check_finite=False)
            except np.linalg.LinAlgError:
                return None
            # LAPACK's triangular inverse (trtri, n^3/3 flops): a third of a
            # triangular solve against the identity's (trsm, n^3)
            trtri, = scipy.linalg.lapack.get_lapack_funcs(("trtri",), (L,))
            Linv, info = trtri(L, lower=1, overwrite_c=1)
        if info != 0 or not np.all(np.isfinite(Linv)):
            return None
        return Linv

    def lstsq(self, A, b):
        x, *_ = np.linalg.lstsq(A, b, rcond=None)
        return x

    def chunk_rows(self, row_bytes, n_rows):
        # scikit-learn's working_memory setting (default 1 GiB)
        from ._sklearn_compat import get_chunk_n_rows  # noqa: PLC0415

        return get_chunk_n_rows(row_bytes=row_bytes, max_n_rows=n_rows)

    def add_gram(self, out, At):
        # NumPy sees that both operands share one buffer and calls BLAS syrk
        # (half the flops of a general product), then mirrors the triangle.
        out += At @ At.T
        return out


@functools.cache
def _scipy_blas_pool():
    """SciPy's own bundled BLAS pool as a threadpoolctl controller, or None.

    Built once (building it walks the loaded libraries and costs
    milliseconds). None without threadpoolctl, or where NumPy and SciPy link
    one shared BLAS and there is no second pool to hold.
    """
    try:
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415

        blas = ThreadpoolController().select(user_api="blas")
        # Wheels bundle one OpenBLAS per package (numpy.libs/, scipy.libs/).
        numpy_paths = {lib.filepath for lib in blas.lib_controllers
                       if "numpy" in lib.filepath}
        others = [lib.filepath for lib in blas.lib_controllers
                  if lib.filepath not in numpy_paths]
        return blas.select(filepath=others) if numpy_paths and others else None
    except Exception:  # threadpoolctl missing or unable to inspect
        return None


def _scipy_blas_single_thread():
    """A context that holds SciPy's bundled BLAS pool to one thread (a few µs)."""
    ctl = _scipy_blas_pool()
    return contextlib.nullcontext() if ctl is None else ctl.limit(limits=1)


class CupyBackend(Backend):
    """CuPy arrays with cuBLAS/cuSOLVER, on an NVIDIA GPU."""

    name = "cupy"

    def __init__(self):
        cupy, cupyx = _import_cupy()
        self.xp = cupy
        self._errstate = cupyx.errstate
        self._solve_triangular = cupyx.scipy.linalg.solve_triangular
        self._syrk = cupy.cublas.syrk

    def asarray(self, x, dtype=np.float64):
        return self.xp.ascontiguousarray(self.xp.asarray(x, dtype=dtype))

    def to_numpy(self, x):
        return self.xp.asnumpy(x)

    def cholesky_factor(self, A):
        # By default cuSOLVER reports a failed factorisation only through a
        # status word CuPy ignores, leaving a partly written factor that can
        # be finite garbage. linalg='raise' makes CuPy check it (one scalar to
        # the host, the one sync of the factorisation); a factor of NaNs that
        # slipped through would give a non-finite solution, which
        # cholesky_factor_solve rejects.
        try:
            with self._errstate(linalg="raise"):
                return self.xp.linalg.cholesky(A)  # C-ordered lower factor L
        except np.linalg.LinAlgError:
            return None

    def cholesky_factor_solve(self, factor, b):
        # Both solves on U = L.T, which is F-ordered as cuSOLVER wants it, so
        # no n x n copy is made: L y = b is U^T y = b.
        U = factor.T
        y = self._solve_triangular(U, b, trans="T", lower=False)
        x = self._solve_triangular(U, y, lower=False)
        if not bool(self.xp.isfinite(x).all()):
            return None
        return x

    def inverse_cholesky(self, A):
        L = self.cholesky_factor(A)
        if L is None:
            return None
        Linv = self._solve_triangular(L, self.xp.eye(A.shape[0]), lower=True)
        if not bool(self.xp.isfinite(Linv).all()):
            return None
        return Linv

    def lstsq(self, A, b):
        x, *_ = self.xp.linalg.lstsq(A, b, rcond=None)
        return x

    def chunk_rows(self, row_bytes, n_rows):
        # An eighth of the memory free to CuPy (the device's free memory plus
        # what its pool holds unused, as after an earlier fit): a fit's peak is
        # about four chunks' worth, the Jacobian chunk and up to three cached
        # forward passes that MLPProblem allows each to reach its size, plus
        # temporaries and J^T J.
        free, _total = self.xp.cuda.Device().mem_info
        free += self.xp.get_default_memory_pool().free_bytes()
        return int(max(1, min(n_rows, (free // 8) // max(1, row_bytes))))

    def add_gram(self, out, At):
        # CuPy's matmul does not spot A @ A.T and would run a general product
        # at twice the flops; cuBLAS syrk fills one triangle of a C-ordered
        # output (given C-ordered, CuPy passes At to cuBLAS without a copy).
        # Mirroring by G + G.T with the diagonal halved does not depend on
        # which triangle that is; it costs O(n^2) against syrk's O(r n^2).
        xp = self.xp
        n = At.shape[0]
        G = xp.zeros((n, n), dtype=At.dtype)
        self._syrk("N", At, out=G, alpha=1.0, beta=0.0)
        G += G.T.copy()
        diag = G.reshape(-1)[:: n + 1]
        diag *= 0.5
        out += G
        return out


def _import_cupy():
    """``(cupy, cupyx)`` with every submodule the backend uses loaded.

    ``cupy.cublas`` and ``cupyx.scipy.linalg`` are not loaded by ``import
    cupy``; importing them here also loads cuBLAS and cuSOLVER, so a CuPy
    installed without those CUDA libraries fails here, not mid-fit.
    """
    import cupy  # noqa: PLC0415 - optional dependency, imported on demand
    import cupy.cublas  # noqa: PLC0415
    import cupyx  # noqa: PLC0415
    import cupyx.scipy.linalg  # noqa: PLC0415

    return cupy, cupyx


def cupy_available():
    """Whether CuPy and its CUDA libraries import, and see a CUDA device."""
    try:
        cupy, _ = _import_cupy()
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or CUDA driver/runtime errors
        return False


def _auto_backend_name():
    """What ``backend='auto'`` means here: 'cupy' with CuPy and a GPU, else 'numpy'."""
    return "cupy" if cupy_available() else "numpy"


def get_backend(name="auto"):
    """The backend called ``name``: 'numpy', 'cupy' or 'auto'.

    'auto' picks CuPy when it imports and a GPU is present, NumPy otherwise.
    """
    if isinstance(name, Backend):
        return name
    if name == "numpy":
        return NumpyBackend()
    if name == "cupy":
        if not cupy_available():
            raise ImportError(
                "backend='cupy' needs CuPy and an NVIDIA GPU; CuPy did not import "
                "or found no CUDA device. Install it with `pip install sklm[gpu]` "
                "or use backend='numpy'."
            )
        return CupyBackend()
    if name == "auto":
        return get_backend(_auto_backend_name())
    raise ValueError(f"Unknown backend {name!r}; expected 'auto', 'numpy' or 'cupy'.")


def is_cupy_array(x):
    """Whether ``x`` is a CuPy array (checked without importing CuPy)."""
    return type(x).__module__.split(".")[0] == "cupy"


def to_host(x):
    """``x`` itself, or a NumPy copy of it if it is a CuPy array."""
    return x.get() if is_cupy_array(x) else x
