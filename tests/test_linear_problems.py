"""Linear least squares: every damping rule ends where a direct solver does.

A linear problem has a known answer (``numpy.linalg.lstsq``), and near it the
loss is quadratic in the distance to it: a step that changes the loss by less
than its rounding may still move the parameters in the last half of their
digits. These tests hold the solvers to the accuracy of ``lstsq`` and check
that a run which says "converged" is there (issue 24: the runs stopped
1e-10 away, reporting convergence to machine precision).
"""

import numpy as np
import pytest

from sklm.optimize import least_squares
from sklm.solvers import Status

M, N = 60, 5

#: Every damping rule of 'lm' (with each damping diagonal and with and
#: without geodesic acceleration), Moré's trust region, the matrix-free step,
#: Gauss-Newton, and Newton on the exact Hessian.
RULES = (
    [("lm", dict(mu_update=rule, damping=damping, geodesic=geodesic))
     for rule in ("nielsen", "trainlm") for damping in ("levenberg", "marquardt")
     for geodesic in (True, False)]
    + [("lm", dict(mu_update="more", geodesic=geodesic)) for geodesic in (True, False)]
    + [("lm", dict(mu_update=rule, linear_solver="cg", geodesic=False))
       for rule in ("nielsen", "trainlm")]
    + [("gauss-newton", {}), ("newton", "exact hessian")]
)
IDS = [f"{solver}-{'-'.join(map(str, options.values())) if isinstance(options, dict) else options}"
       for solver, options in RULES]


def linear_problem(cond, residual, seed):
    """``(A, b, x_exact)``: ``A`` of condition number ``cond``, ``b`` off its range.

    ``b = A x_exact + r`` with ``r`` orthogonal to the range of ``A``, of norm
    ``residual`` times ``||A x_exact||``: ``x_exact`` is the least-squares
    solution (up to the rounding of forming ``A`` and ``b``).
    """
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((M, M)))
    V, _ = np.linalg.qr(rng.standard_normal((N, N)))
    A = (U[:, :N] * np.logspace(0, -np.log10(cond), N)) @ V.T
    x = rng.standard_normal(N)
    b = A @ x
    if residual:
        r = U[:, N:] @ rng.standard_normal(M - N)
        b = b + residual * np.linalg.norm(b) / np.linalg.norm(r) * r
    return A, b, x


def solve(solver, options, A, b, **kwargs):
    if options == "exact hessian":
        options = dict(hess=lambda x: 2.0 * A.T @ A / A.shape[0])
    return least_squares(lambda x: A @ x - b, np.zeros(A.shape[1]), jac=lambda x: A,
                         solver=solver, **options, **kwargs)


def relative_error(x, ref):
    return np.linalg.norm(x - ref) / np.linalg.norm(ref)


@pytest.mark.parametrize("solver, options", RULES, ids=IDS)
def test_the_issue_example_ends_at_the_least_squares_solution(solver, options):
    # issue 24's reproduction: A 60 x 5, a non-zero residual, tol=0, min_grad=1e-12
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((M, N)), rng.standard_normal(M)
    res = solve(solver, options, A, b, tol=0.0, min_grad=1e-12)
    assert res.success
    # each status holds: the gradient is below min_grad, or x is lstsq's
    if res.status == Status.MIN_GRAD:
        assert 2.0 * np.linalg.norm(A.T @ (A @ res.x - b)) / M < 1e-12
    else:
        assert res.status == Status.CONVERGED
        assert relative_error(res.x, np.linalg.lstsq(A, b, rcond=None)[0]) <= 1e-13
    # and the run does not stop at the loss's resolution, 1e-10 away (issue 24)
    assert relative_error(res.x, np.linalg.lstsq(A, b, rcond=None)[0]) <= 1e-11


@pytest.mark.parametrize("solver, options", RULES, ids=IDS)
@pytest.mark.parametrize("cond, residual", [
    (1.0, 0.0),     # well conditioned, zero residual
    (1.0, 1.0),     # well conditioned, residual as large as the fit
    (1e3, 0.0),     # ill conditioned (J^T J: 1e6), zero residual
    (1e3, 1e-4),    # ill conditioned, a small non-zero residual
], ids=["well-zero", "well-residual", "ill-zero", "ill-residual"])
def test_converged_means_at_the_least_squares_solution(solver, options, cond, residual):
    # With the defaults (no tol, no min_grad) a run ends only on its own
    # judgement: "converged" must mean lstsq's answer, to 1e-13.
    for seed in range(3):
        A, b, _ = linear_problem(cond, residual, seed)
        res = solve(solver, options, A, b)
        assert res.success, res.message
        assert res.status == Status.CONVERGED or (residual == 0 and res.status == Status.GOAL)
        assert relative_error(res.x, np.linalg.lstsq(A, b, rcond=None)[0]) <= 1e-13


@pytest.mark.parametrize("solver, options", [rule for rule in RULES
                                             if rule[1] == "exact hessian"
                                             or rule[1].get("linear_solver") != "cg"],
                         ids=[i for i, rule in zip(IDS, RULES)
                              if rule[1] == "exact hessian"
                              or rule[1].get("linear_solver") != "cg"])
@pytest.mark.parametrize("cond, residual", [(1e3, 1.0), (1e6, 0.0), (1e6, 1e-4), (1e6, 1.0)],
                         ids=["1e3-residual", "1e6-zero", "1e6-small-residual", "1e6-residual"])
def test_as_close_to_the_exact_solution_as_lstsq_where_1e_13_is_out_of_reach(
        solver, options, cond, residual):
    # Here the data determine the solution to less than 1e-13 (the rounding of
    # b alone moves it by ~eps cond^2 ||r|| / (||A|| ||x||)): the solvers must
    # get as close to it as lstsq does, within a small factor.
    for seed in range(3):
        A, b, x_exact = linear_problem(cond, residual, seed)
        res = solve(solver, options, A, b)
        assert res.success and res.status in (Status.CONVERGED, Status.GOAL), res.message
        reachable = relative_error(np.linalg.lstsq(A, b, rcond=None)[0], x_exact)
        assert relative_error(res.x, x_exact) <= 10.0 * reachable + 1e-14


def test_the_loss_curve_stays_level_only_below_the_losss_rounding():
    # Above its rounding every accepted step lowers the loss; the last steps,
    # judged by the gradient, may leave it level or a few units in its last
    # place higher, never by more.
    A, b, _ = linear_problem(1e3, 1e-4, 0)
    res = solve("lm", {}, A, b)
    curve = np.array([res.initial_loss, *res.loss_curve])
    rises = np.diff(curve)
    assert np.all(rises <= 1e-10 * curve[:-1])
    lowest = curve.min()
    level = rises >= 0
    assert np.all(curve[1:][level] <= lowest * (1 + 1e-10))
