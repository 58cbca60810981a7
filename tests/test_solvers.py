"""Solvers on problems with known answers: the tutorial's table, statuses, messages."""

import math

import numpy as np
import pytest
from scipy.optimize import least_squares as scipy_least_squares

from sklm._backend import NumpyBackend
from sklm._mlp import MLP
from sklm._problem import FunctionProblem, MLPProblem
from sklm.optimize import least_squares
from sklm.solvers import SOLVERS, Status

# The tutorial's Rosenbrock parameter fit (seed-summary.md, figure 1).
GRID = np.array([-2.0, 0.0, 2.0])
GX, GY = (a.ravel() for a in np.meshgrid(GRID, GRID))


def rosen(p):
    a, b = p
    return (a - GX) ** 2 + b * (GY - GX**2) ** 2


Y_ROSEN = rosen([2.5, 2.5])


def rosen_residuals(p):
    return rosen(p) - Y_ROSEN


def rosen_jac(p):
    return np.stack([2 * (p[0] - GX), (GY - GX**2) ** 2], axis=1)


# solver, options, steps, final loss (two significant digits), from the tutorial
TUTORIAL_TABLE = [
    ("sgd", dict(learning_rate_init=5e-4, momentum=0.0), 582, 9.7e-11),
    ("adam", dict(learning_rate_init=15.0), 317, 2.4e-12),
    ("newton", dict(mu_init=0.0), 6, 5.9e-20),
    ("gauss-newton", dict(safeguard=False), 4, 3.4e-17),
]


def test_initial_loss_is_the_tutorials():
    assert np.mean(rosen_residuals([5.0, 5.0]) ** 2) == pytest.approx(3868.229, abs=1e-3)


@pytest.mark.parametrize("solver, options, steps, final", TUTORIAL_TABLE)
def test_tutorial_table(solver, options, steps, final):
    res = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, solver=solver,
                        goal=1e-10, max_iter=5000, **options)
    assert res.status == Status.GOAL and res.success
    assert res.n_iter == steps
    assert float(f"{res.loss:.1e}") == final
    assert len(res.loss_curve) == steps
    np.testing.assert_allclose(res.x, [2.5, 2.5], rtol=1e-5)


def test_newton_with_analytic_hessian_takes_the_same_steps():
    def hess(p):
        # Hessian of mean(r^2): 2/m (J^T J + sum r_i Hess(r_i)); only d2r/da2 = 2
        r, J = rosen_residuals(p), rosen_jac(p)
        H = J.T @ J
        H[0, 0] += 2 * r.sum()
        return 2 * H / r.size

    res = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, hess, solver="newton",
                        goal=1e-10, mu_init=0.0)
    assert res.n_iter == 6 and float(f"{res.loss:.1e}") == 5.9e-20


@pytest.mark.parametrize("mu_update", ["trainlm", "nielsen"])
def test_lm_reaches_the_goal_and_agrees_with_scipy(mu_update):
    res = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, goal=1e-10,
                        mu_update=mu_update)
    assert res.status == Status.GOAL and res.n_iter <= 10
    ref = scipy_least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, method="lm")
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-6)


def test_lm_loss_curve_decreases_monotonically():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 3, 40)
    y = 2.0 * np.exp(-1.3 * t) + 0.5 * np.sin(2 * t) + 0.01 * rng.normal(size=t.size)

    def fun(p):
        return p[0] * np.exp(-p[1] * t) + p[2] * np.sin(p[3] * t) - y

    x0 = [1.5, 1.0, 0.3, 1.8]
    res = least_squares(fun, x0, max_iter=200)
    # Every step the loss can resolve lowers it; the last ones, below its
    # rounding, are judged by the gradient and may leave it a few units in
    # its last place above the lowest value seen.
    curve = [res.initial_loss, *res.loss_curve]
    lowest = min(curve)
    assert all(b < a or b - lowest <= 1e-13 * lowest for a, b in zip(curve, curve[1:]))
    # it ends at MINPACK's minimum, and says it converged
    ref = scipy_least_squares(fun, x0, method="lm")
    assert res.loss == pytest.approx(np.mean(ref.fun**2), rel=1e-10)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-7)
    assert res.status == Status.CONVERGED and res.success


def test_finite_difference_jacobian_and_hessian_of_function_problem():
    problem = FunctionProblem(rosen_residuals, np.array([5.0, 5.0]), backend=NumpyBackend())
    x = np.array([3.0, 4.0])
    _, JtJ, Jtr = problem.normal_equations(x)
    J = rosen_jac(x)
    np.testing.assert_allclose(JtJ, J.T @ J, rtol=1e-7)
    np.testing.assert_allclose(Jtr, J.T @ rosen_residuals(x), rtol=1e-7)
    _, g, H = problem.hessian(x)
    r = rosen_residuals(x)
    H_exact = J.T @ J
    H_exact[0, 0] += 2 * r.sum()
    np.testing.assert_allclose(H, 2 * H_exact / r.size, rtol=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "logistic", "relu", "identity"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_mlp_hessian_matches_finite_differences_of_the_gradient(activation, n_outputs):
    rng = np.random.default_rng(3)
    mlp = MLP((3, 4, 3, n_outputs), activation)
    X, Y = rng.normal(size=(17, 3)), rng.normal(size=(17, n_outputs))
    w = rng.uniform(0.5, 2.0, size=17)
    problem = MLPProblem(mlp, X, Y, w, 0.3, NumpyBackend(), chunk_size=5)
    problem.hessian_memory = 8 * 4 * mlp.n_params * 10 * 3  # force several chunks
    x = 0.7 * rng.normal(size=mlp.n_params)
    loss, g, H = problem.hessian(x)
    assert loss == pytest.approx(problem.loss(x), rel=1e-12)
    np.testing.assert_allclose(g, problem.gradient(x)[1], rtol=1e-10, atol=1e-14)
    h = 1e-6
    H_fd = np.stack([(problem.gradient(x + h * e)[1] - problem.gradient(x - h * e)[1]) / (2 * h)
                     for e in np.eye(mlp.n_params)], axis=1)
    assert np.linalg.norm(H - H_fd) / np.linalg.norm(H_fd) < 1e-6
    np.testing.assert_array_equal(H, H.T)


# ---------------------------------------------------------------- statuses
def test_status_max_iter_message_names_the_limit():
    res = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, solver="sgd",
                        learning_rate_init=5e-4, momentum=0.0, max_iter=10)
    assert res.status == Status.MAX_ITER and not res.success and res.n_iter == 10
    assert "max_iter=10" in res.message


def test_status_tol():
    # loss = p^2 + 1: tiny gradient steps improve it by ~4e-6 relative each
    res = least_squares(lambda p: np.array([p[0] - 1.0, p[0] + 1.0]), [3.0],
                        solver="sgd", learning_rate_init=1e-6, momentum=0.0,
                        tol=1e-5, n_iter_no_change=5, max_iter=50)
    assert res.status == Status.TOL and res.success and res.n_iter == 5
    assert "tol=1e-05" in res.message


def test_status_min_grad():
    res = least_squares(lambda p: np.array([p[0] - 1.0, p[0] + 1.0]), [3.0],
                        solver="lm", min_grad=1e-6, max_iter=50)
    assert res.status == Status.MIN_GRAD and "min_grad" in res.message
    assert res.x[0] == pytest.approx(0.0, abs=1e-6)


def test_status_mu_max_when_no_step_lowers_the_loss():
    # A wrong Jacobian points uphill: every damped trial fails until mu is capped.
    res = least_squares(lambda p: np.array([p[0] - 1.0]), [3.0],
                        lambda p: np.array([[-1.0]]), solver="lm", mu_max=1e4)
    assert res.status == Status.MU_MAX and not res.success and res.n_iter == 0
    assert "mu_max=10000" in res.message
    assert res.x[0] == 3.0


@pytest.mark.parametrize("solver", ["lm", "newton", "gauss-newton"])
def test_converged_to_machine_precision_is_a_success(solver):
    # At the minimum of a nonzero-residual problem no representable step helps.
    res = least_squares(lambda p: np.array([p[0] - 1.0, p[0] + 1.0]), [0.5],
                        lambda p: np.ones((2, 1)), solver=solver, max_iter=100)
    assert res.status == Status.CONVERGED and res.success
    # loss = 1 + p^2 cannot tell p from 0 below sqrt(machine epsilon); the
    # gradient 2p can, and "converged" means p is 0 to machine precision
    assert res.x[0] == pytest.approx(0.0, abs=1e-15)


def test_status_callback_and_max_time():
    res = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, solver="sgd",
                        learning_rate_init=5e-4, momentum=0.0,
                        callback=lambda info: info.iteration >= 3)
    assert res.status == Status.CALLBACK and res.n_iter == 3
    res = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, solver="sgd",
                        learning_rate_init=1e-6, momentum=0.0, max_iter=10**9,
                        max_time=0.05)
    assert res.status == Status.MAX_TIME and res.time_curve[-1] >= 0.05


def test_pure_gauss_newton_on_a_singular_problem_says_so():
    # r = (p0 + p1 - 1, p0 + p1 + 1): J^T J has rank 1
    def fun(p):
        return np.array([p[0] + p[1] - 1.0, p[0] + p[1] + 1.0])

    res = least_squares(fun, [1.0, 2.0], solver="gauss-newton", safeguard=False)
    assert res.status == Status.SINGULAR and "singular" in res.message
    safe = least_squares(fun, [1.0, 2.0], solver="gauss-newton", max_iter=5, tol=1e-12,
                         n_iter_no_change=1)
    assert safe.loss == pytest.approx(1.0)  # the least-squares minimum


def test_gauss_newton_safeguard_stops_with_step_failed():
    # A Jacobian of the wrong sign: no halving of the step lowers the loss.
    res = least_squares(lambda p: np.array([p[0] - 1.0]), [3.0], lambda p: np.array([[-1.0]]),
                        solver="gauss-newton")
    assert res.status == Status.STEP_FAILED and not res.success
    assert res.x[0] == 3.0


def test_non_finite_start_is_reported_not_raised():
    res = least_squares(lambda p: np.array([np.inf * p[0]]), [1.0])
    assert res.status == Status.NON_FINITE and res.n_iter == 0


def test_first_order_divergence_keeps_finite_parameters():
    res = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, solver="sgd",
                        learning_rate_init=10.0, momentum=0.0, max_iter=1000)
    assert res.status == Status.DIVERGED and not res.success
    assert np.isfinite(res.x).all() and math.isfinite(res.loss)
    # the lowest loss seen, not the last finite one
    assert res.loss == min([res.initial_loss] + res.loss_curve)


def test_unknown_option_is_a_clear_error():
    with pytest.raises(TypeError, match="mu_init"):
        least_squares(rosen_residuals, [5.0, 5.0], solver="adam", mu_init=1.0)
    with pytest.raises(ValueError, match="'solver' parameter of least_squares"):
        least_squares(rosen_residuals, [5.0, 5.0], solver="bfgs")


@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_verbose_table_has_one_header(solver, capsys):
    least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, solver=solver, max_iter=3,
                  verbose=1, learning_rate_init=1e-4) if solver in ("sgd", "adam") else \
        least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, solver=solver, max_iter=3,
                      verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:4] == ["Iter", "Time", "(s)", "Loss"]
    assert sum("Iter" in line for line in lines) == 1
    rows = [line for line in lines[1:] if line.split()[0].isdigit()]
    # throttled (verbose=1): the first and the last of a fast run
    assert [int(r.split()[0]) for r in rows] == [1, 3]
    assert len({len(r) for r in rows}) == 1  # fixed width
    assert lines[-1].startswith("Stopped after 3 iterations")


def test_lm_leaves_the_problems_normal_matrix_undamped():
    """A problem may hand out a cached J^T J: the solver must not change it."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 3))
    b = rng.normal(size=20)
    JtJ = A.T @ A

    class Linear(FunctionProblem):
        def normal_equations(self, x):
            r = A @ x - b
            return float(r @ r) / 20, JtJ, A.T @ r

    problem = Linear(lambda x: A @ x - b, np.zeros(3), jac=lambda x: A, backend=NumpyBackend())
    before = JtJ.copy()
    from sklm.solvers import LevenbergMarquardt

    LevenbergMarquardt(max_iter=5, mu_init=10.0).run(problem, np.zeros(3))
    np.testing.assert_array_equal(JtJ, before)


def test_function_problem_directional_derivatives():
    problem = FunctionProblem(rosen_residuals, np.array([5.0, 5.0]), backend=NumpyBackend())
    x, v, u = np.array([3.0, 4.0]), np.array([0.3, -1.2]), np.arange(9.0)
    J = rosen_jac(x)  # the FD Jacobian is checked against this above
    np.testing.assert_array_equal(problem.residual(x), rosen_residuals(x))
    np.testing.assert_allclose(problem.jvp(x, v), J @ v, rtol=1e-7)
    np.testing.assert_allclose(problem.vjp(x, u), J.T @ u, rtol=1e-7)
    assert FunctionProblem.has_directional_derivatives()


def test_least_squares_with_geodesic_acceleration():
    res = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, goal=1e-10,
                        mu_update="nielsen", geodesic=True)
    assert res.status == Status.GOAL and res.n_iter <= 10
    np.testing.assert_allclose(res.x, [2.5, 2.5], rtol=1e-5)


@pytest.mark.parametrize("mu_update", ["trainlm", "nielsen"])
def test_least_squares_takes_mu_init_auto_as_the_estimator_does(mu_update):
    auto = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, goal=1e-10, max_iter=200,
                         mu_update=mu_update, mu_init="auto")
    # 'auto' is trainlm's 1e-3 under its rule, 1e-3 * max diag(J^T J) under Nielsen's
    J = rosen_jac(np.array([5.0, 5.0]))
    mu0 = 1e-3 if mu_update == "trainlm" else 1e-3 * np.max(np.diag(J.T @ J))
    explicit = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, goal=1e-10, max_iter=200,
                             mu_update=mu_update, mu_init=mu0)
    assert auto.status == Status.GOAL
    assert auto.loss_curve == explicit.loss_curve


@pytest.mark.parametrize("options", [{}, dict(mu_update="nielsen", geodesic=True)])
def test_least_squares_evaluates_fun_once_per_point_and_never_writes_into_its_output(options):
    points, buffer = [], np.empty(Y_ROSEN.size)

    def fun(p):
        points.append(tuple(p))
        buffer[...] = rosen_residuals(p)  # a user's function that reuses its array
        return buffer

    res = least_squares(fun, [5.0, 5.0], rosen_jac, goal=1e-10, max_iter=200, **options)
    fresh = least_squares(rosen_residuals, [5.0, 5.0], rosen_jac, goal=1e-10, max_iter=200,
                          **options)
    assert res.status == Status.GOAL and res.loss_curve == fresh.loss_curve
    assert len(points) == len(set(points))
