"""The array backend: the only module that knows NumPy from CuPy.

Everything else asks a :class:`Backend` for its array module ``xp`` and calls
``backend.xp.<op>``, or one of the few kernels defined here where the two
libraries differ (moving data, the damped Cholesky solve, a least-squares
fallback).
"""

import numpy as np
import scipy.linalg

__all__ = ["Backend", "NumpyBackend", "CupyBackend", "get_backend", "cupy_available"]


class Backend:
    """Arrays and the little linear algebra a solver needs, on one device."""

    name = "abstract"
    xp = None

    def asarray(self, x, dtype=np.float64):
        """``x`` as a contiguous array of ``dtype`` on this backend's device."""
        raise NotImplementedError

    def to_numpy(self, x):
        """``x`` as a NumPy array on the host."""
        raise NotImplementedError

    def is_native(self, x):
        """Whether ``x`` is already an array of this backend."""
        return isinstance(x, self.xp.ndarray)

    def cholesky_solve(self, A, b):
        """Solve ``A x = b`` for symmetric positive definite ``A`` by Cholesky.

        Returns ``None`` when the factorisation fails (``A`` not numerically
        positive definite) or yields non-finite numbers; the caller treats
        that as a rejected step and damps more. ``A`` is not modified.
        """
        raise NotImplementedError

    def lstsq(self, A, b):
        """Minimum-norm least-squares solution of ``A x = b`` (SVD based).

        The slow, robust fallback for a singular normal matrix.
        """
        raise NotImplementedError

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

    def cholesky_solve(self, A, b):
        # The factor comes from NumPy's LAPACK, the same OpenBLAS that forms
        # J^T J: alternating two libraries' BLAS thread pools costs 3-4x on
        # two cores (docs/benchmarks.md). The triangular solves are level-2
        # BLAS (no thread pool of consequence) and only SciPy exposes them.
        try:
            L = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            return None
        if not np.isfinite(L[-1, -1]):
            return None
        y = scipy.linalg.solve_triangular(L, b, lower=True, check_finite=False)
        x = scipy.linalg.solve_triangular(L.T, y, lower=False, check_finite=False)
        if not np.all(np.isfinite(x)):
            return None
        return x

    def lstsq(self, A, b):
        x, *_ = np.linalg.lstsq(A, b, rcond=None)
        return x


class CupyBackend(Backend):
    """CuPy arrays with cuBLAS/cuSOLVER, on an NVIDIA GPU."""

    name = "cupy"

    def __init__(self):
        import cupy  # noqa: PLC0415 - optional dependency, imported on demand
        import cupyx.scipy.linalg  # noqa: PLC0415

        self.xp = cupy
        self._solve_triangular = cupyx.scipy.linalg.solve_triangular

    def asarray(self, x, dtype=np.float64):
        return self.xp.ascontiguousarray(self.xp.asarray(x, dtype=dtype))

    def to_numpy(self, x):
        return self.xp.asnumpy(x)

    def cholesky_solve(self, A, b):
        cp = self.xp
        # cuSOLVER does not raise on a failed factorisation: it leaves NaN
        # in the factor, so finiteness is the test (one scalar to the host).
        try:
            L = cp.linalg.cholesky(A)
        except cp.linalg.LinAlgError:
            return None
        y = self._solve_triangular(L, b, lower=True)
        x = self._solve_triangular(L.T, y, lower=False)
        if not bool(cp.isfinite(x).all()):
            return None
        return x

    def lstsq(self, A, b):
        x, *_ = self.xp.linalg.lstsq(A, b, rcond=None)
        return x


def cupy_available():
    """Whether CuPy imports and sees at least one CUDA device."""
    try:
        import cupy  # noqa: PLC0415

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or CUDA driver/runtime errors
        return False


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
        return CupyBackend() if cupy_available() else NumpyBackend()
    raise ValueError(f"Unknown backend {name!r}; expected 'auto', 'numpy' or 'cupy'.")
