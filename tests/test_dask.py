"""Fits, searches and restarts on a Dask cluster (a real distributed.LocalCluster).

Dask arrays and DataFrames are fitted where their blocks live and must give
the in-memory fit's iterates to round-off; ``n_init`` starts and
scikit-learn's model selection run under joblib's 'dask' backend; a worker
killed in the middle of a fit and a Ctrl-C leave the result as it would be
without them.
"""

import logging
import os
import signal
import subprocess
import sys
import time
import warnings

import joblib  # (scikit-learn's dependency)
import numpy as np
import pandas as pd  # (in the test extra)
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklm import LMRegressor
from sklm.solvers import Status

da = pytest.importorskip("dask.array", reason="the dask extra is not installed")
distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
dd = pytest.importorskip("dask.dataframe", reason="the dask extra is not installed")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ROWS, BLOCK = 2000, 500


def _cluster(n_workers):
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                    processes=True, dashboard_address=":0",
                                    silence_logs=logging.ERROR)


@pytest.fixture(scope="module")
def client():
    with _cluster(2) as cluster, distributed.Client(cluster) as c:
        yield c


def data(rows=ROWS, outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(rows, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, 0.0]
    Y = np.column_stack([np.sin(X[:, 0]) * X[:, 1] + X[:, 2] ** 2 + j for j in range(outputs)])
    w = rng.uniform(0.5, 2.0, size=rows)
    return X, (Y[:, 0] if outputs == 1 else Y), w


def dask(*arrays, block=BLOCK):
    return [None if a is None else da.from_array(a, chunks=(block,) + a.shape[1:])
            for a in arrays]


def model(**kw):
    # chunk_size=BLOCK: each block is one chunk of the in-memory problem, so
    # the sums are the same sums. alpha=0, no early stopping: what 'auto'
    # means on Dask input (Bayesian regularisation is in memory only)
    options = dict(hidden_layer_sizes=(6,), max_iter=15, tol=0.0, random_state=0,
                   chunk_size=BLOCK, alpha=0.0, early_stopping=False)
    return LMRegressor(**{**options, **kw})


def assert_same_fit(a, b, rtol=1e-10):
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=rtol)
    np.testing.assert_allclose(b.mu_curve_, a.mu_curve_, rtol=1e3 * rtol)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(q, p, rtol=1e3 * rtol, atol=1e3 * rtol * np.abs(p).max())


def test_import_sklm_does_not_import_dask():
    code = ("import sys, numpy as np\n"
            "from sklm import LMRegressor\n"
            "X = np.linspace(-1, 1, 40)[:, None]\n"
            "m = LMRegressor(max_iter=3, n_init=2, random_state=0).fit(X, X[:, 0] ** 2)\n"
            "m.predict(X)\n"
            "assert 'dask' not in sys.modules and 'distributed' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_the_extra_the_error_says_what_to_install():
    # dask.array present, distributed missing: fit names the extra
    code = ("import sys; sys.modules['distributed'] = None\n"
            "import numpy as np, dask.array as da\n"
            "from sklm import LMRegressor\n"
            "X = da.from_array(np.ones((10, 2)), chunks=5)\n"
            "try:\n"
            "    LMRegressor().fit(X, X[:, 0])\n"
            "except ImportError as e:\n"
            "    assert \"pip install 'sklm[dask]'\" in str(e), e\n"
            "else:\n"
            "    raise SystemExit('no ImportError')\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_client_says_how_to_start_one():
    X, y, _ = data(rows=100)
    with pytest.raises(ValueError, match="Client"):
        model().fit(*dask(X, y))


# ------------------------------------------------------------ equality
RAW = {"normalize_X": False, "normalize_y": False}


@pytest.mark.parametrize("options, weighted, outputs", [
    ({}, True, 1),                        # LM, Nielsen, geodesic (r, J v, J^T u on workers)
    ({"alpha": 1e-3}, True, 2),           # penalty residuals, two outputs
    ({"dtype": "float32"}, True, 1),
])
def test_dask_fit_equals_the_in_memory_fit(client, options, weighted, outputs):
    # The normalisation statistics and the weights' sum are sums over blocks
    # here and one NumPy reduction in memory: the fits differ by their
    # round-off, a few units in the last place, grown along the path.
    X, y, w = data(outputs=outputs)
    w = w if weighted else None
    memory = model(**options).fit(X, y, w)
    distributed_fit = model(**options).fit(*dask(X, y, w))
    assert_same_fit(memory, distributed_fit, rtol=1e-6 if "dtype" in options else 1e-10)
    assert distributed_fit.dask_stats_["blocks"] == ROWS // BLOCK


@pytest.mark.parametrize("options", [
    RAW,
    {**RAW, "alpha": 1e-3, "geodesic": False, "mu_update": "trainlm", "damping": "marquardt"},
])
def test_dask_fit_is_the_in_memory_fit_bit_for_bit_without_statistics(client, options):
    # Without normalisation and weights nothing is summed in another order:
    # each block is one in-memory chunk and the client adds the blocks' sums
    # in the order the in-memory problem adds its chunks'.
    X, y, _ = data()
    memory = model(**options).fit(X, y)
    distributed_fit = model(**options).fit(*dask(X, y))
    assert distributed_fit.loss_curve_ == memory.loss_curve_
    for p, q in zip(memory.coefs_ + memory.intercepts_,
                    distributed_fit.coefs_ + distributed_fit.intercepts_):
        np.testing.assert_array_equal(q, p)


@pytest.mark.parametrize("solver, options", [
    ("gauss-newton", {"max_iter": 5}),
    ("newton", {"max_iter": 8}),
    # (full batches: the only kind on Dask input)
    ("adam", {"learning_rate_init": 0.01, "batch_size": None}),
    ("sgd", {"learning_rate_init": 0.01, "batch_size": None}),
])
def test_every_solver_runs_on_dask_input(client, solver, options):
    X, y, w = data()
    memory = model(solver=solver, **options).fit(X, y, w)
    distributed_fit = model(solver=solver, **options).fit(*dask(X, y, w))
    assert_same_fit(memory, distributed_fit, rtol=1e-9)


def test_blocks_need_not_match_the_in_memory_chunks(client):
    # blocks of 700 rows (the last shorter) against in-memory chunks of the
    # default size: other partial sums, the same fit to round-off
    X, y, w = data()
    memory = model(chunk_size=None, max_iter=8).fit(X, y, w)
    distributed_fit = model(chunk_size=None, max_iter=8).fit(*dask(X, y, w, block=700))
    assert_same_fit(memory, distributed_fit, rtol=1e-8)


def test_extreme_weights_use_the_whole_datas_unit(client):
    # MLPProblem divides weights far from 1 by a power of two chosen from
    # their mean over all rows: each block must use that one, not its own.
    X, y, w = data()
    w = w * 1e-9
    w[:BLOCK] *= 1e-5   # one block's own mean would pick another unit
    assert_same_fit(model().fit(X, y, w), model().fit(*dask(X, y, w)))


def test_predict_returns_a_dask_array(client):
    X, y, _ = data(outputs=2)
    fitted = model(max_iter=5).fit(*dask(X, y))
    prediction = fitted.predict(dask(X)[0])
    assert isinstance(prediction, da.Array)
    np.testing.assert_allclose(prediction.compute(), fitted.predict(X), rtol=1e-12)
    single = model(max_iter=5).fit(X, y[:, 0])   # fitted in memory, predicts Dask
    assert single.predict(dask(X)[0]).compute().shape == (ROWS,)


def test_predict_with_return_std_on_dask_input(client):
    X, y, _ = data()
    fitted = model(max_iter=5).fit(X, y)  # in memory: it has a posterior
    mean, std = fitted.predict(dask(X)[0], return_std=True)
    expected_mean, expected_std = fitted.predict(X, return_std=True)
    np.testing.assert_allclose(mean.compute(), expected_mean, rtol=1e-12)
    np.testing.assert_allclose(std.compute(), expected_std, rtol=1e-12)
    # a Dask fit has the same posterior, from the summed J^T J
    on_dask = model(max_iter=5).fit(*dask(X, y))
    np.testing.assert_allclose(on_dask.predict(X, return_std=True)[1], expected_std,
                               rtol=1e-6)
    assert on_dask.beta_ == pytest.approx(fitted.beta_, rel=1e-6)


def test_inconsistent_or_unknown_row_counts_are_named(client):
    X, y, _ = data()
    with pytest.raises(ValueError, match="y has 1999 rows but X has 2000"):
        model().fit(dask(X)[0], y[:-1])   # y in memory
    Xd, yd = dask(X, y)
    keep = Xd[:, 0] > 0
    with pytest.raises(ValueError, match=r"X has blocks of unknown length.*compute_chunk_sizes"):
        model().fit(Xd[keep], yd[keep])


def test_dask_dataframes(client):
    X, y, w = data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    Xf = dd.from_pandas(frame, npartitions=4)
    yf = dd.from_pandas(pd.Series(y), npartitions=4)
    fitted = model(chunk_size=None, max_iter=8).fit(Xf, yf)
    assert list(fitted.feature_names_in_) == ["a", "b", "c"]
    assert_same_fit(model(chunk_size=None, max_iter=8).fit(frame, y), fitted, rtol=1e-8)
    np.testing.assert_allclose(fitted.predict(Xf).compute(), fitted.predict(frame),
                               rtol=1e-12)


def test_only_parameter_sized_results_travel(client):
    # The same number of blocks with four times the rows moves the same bytes.
    small_stats, large_stats = [
        model(max_iter=5).fit(*dask(*data(rows=rows)[:2], block=rows // 4)).dask_stats_
        for rows in (ROWS, 4 * ROWS)
    ]
    assert small_stats == large_stats
    assert small_stats["tasks_moved"] == 0
    n = 3 * 6 + 6 + 6 + 1
    # per block and task: at most x and v out, a matrix and a vector back
    assert small_stats["bytes_received"] <= small_stats["tasks"] * 8 * (n * n + 2 * n + 1)


# ------------------------------------------------------- early stopping
def test_early_stopping_on_dask_input(client):
    X, y, w = data()
    kw = dict(early_stopping=True, tol=1e-3, n_iter_no_change=3, max_iter=100)
    fitted = model(**kw).fit(*dask(X, y, w))
    assert fitted._status == Status.CALLBACK
    assert fitted.n_iter_ < 100
    best = int(np.argmin(fitted.validation_loss_curve_))
    assert fitted.best_validation_loss_ == fitted.validation_loss_curve_[best]
    assert fitted.loss_ == fitted.loss_curve_[best]
    assert fitted.best_validation_score_ > 0.9
    # the per-block split is deterministic: the same fit again (its start)
    again = model(**{**kw, "max_iter": 3}).fit(*dask(X, y, w))
    assert again.validation_loss_curve_ == fitted.validation_loss_curve_[:3]


def test_bad_dask_input_raises(client):
    X, y, w = data(rows=100)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model().fit(*dask(X, y, block=50))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model().fit(dask(data(rows=100)[0], block=50)[0], dask(y[:90], block=50)[0])
    with pytest.raises(ValueError, match="positive sum"):
        model().fit(*dask(data(rows=100)[0], y, np.zeros(100), block=50))


# -------------------------------------------------------------- n_init
def test_n_init_under_the_dask_backend_runs_the_same_starts(client):
    X, y, _ = data(rows=300)
    kw = dict(hidden_layer_sizes=(6,), max_iter=20, random_state=3, n_init=4)
    local = LMRegressor(**kw).fit(X, y)
    with joblib.parallel_backend("dask"):
        on_cluster = LMRegressor(**kw).fit(X, y)
    assert on_cluster.init_losses_ == local.init_losses_
    assert on_cluster.best_init_ == local.best_init_
    np.testing.assert_array_equal(on_cluster.coefs_[0], local.coefs_[0])


def test_n_init_on_dask_input(client):
    X, y, _ = data()
    memory = model(n_init=2).fit(X, y)
    distributed_fit = model(n_init=2).fit(*dask(X, y))
    np.testing.assert_allclose(distributed_fit.init_losses_, memory.init_losses_, rtol=1e-10)
    assert distributed_fit.best_init_ == memory.best_init_


def test_grid_search_and_cross_validate_under_the_dask_backend(client):
    from sklearn.model_selection import GridSearchCV, cross_validate

    X, y, _ = data(rows=300)
    estimator = LMRegressor(max_iter=20, random_state=0)
    grid = {"hidden_layer_sizes": [(3,), (6,)], "alpha": [0.0, 1e-3]}
    local = GridSearchCV(estimator, grid, cv=3).fit(X, y)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X, y)
        scores = cross_validate(estimator, X, y, cv=3, n_jobs=-1)
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(scores["test_score"],
                                  cross_validate(estimator, X, y, cv=3)["test_score"])


# ------------------------------------------------------------------ faults
def test_interrupt_keeps_the_best_parameters(client, monkeypatch):
    from sklm import _dask

    X, y, w = data()
    original = _dask.DaskProblem.normal_equations
    calls = [0]

    def interrupted(self, x):
        calls[0] += 1
        if calls[0] == 4:   # Ctrl-C while the cluster computes the 3rd iteration
            raise KeyboardInterrupt
        return original(self, x)

    monkeypatch.setattr(_dask.DaskProblem, "normal_equations", interrupted)
    with pytest.warns(ConvergenceWarning, match="interrupted.*after 2 iterations"):
        fitted = model().fit(*dask(X, y, w))
    monkeypatch.undo()
    assert fitted._status == Status.INTERRUPTED and fitted.n_iter_ == 2
    assert_same_fit(model(max_iter=2).fit(X, y, w), fitted)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("defaults", [False, True])
def test_workers_lost_mid_fit_do_not_change_the_result(monkeypatch, defaults):
    # defaults: the Bayesian penalty and early stopping, whose validation rows
    # are on the workers too
    from sklm import _dask

    X, y, w = data(rows=3000)

    def model(**kw):
        if defaults:
            return LMRegressor((6,), random_state=0, tol=0.0, **kw)
        return globals()["model"](**kw)

    with _cluster(3) as cluster, distributed.Client(cluster) as c:
        undisturbed = model(max_iter=10).fit(*dask(X, y, w))
        original = _dask._BlockRunner.gather
        kills = {4: "running", 8: "computed"}   # at these normal equations
        killed = []
        calls = [0]

        def gather_after_killing(self, futures, fn, *args):
            # With the tasks of the 4th normal equations just submitted, and
            # with those of the 8th computed but not yet fetched, kill the
            # worker process that holds the first block: the scheduler
            # rebuilds its blocks from their lineage on the others, and the
            # runner moves the tasks pinned to it there. (The nanny starts a
            # fresh, empty worker in its place.)
            if fn is _dask._task_normal_equations:
                calls[0] += 1
                if calls[0] in kills:
                    if kills[calls[0]] == "computed":
                        distributed.wait(futures)
                    victim = self.client.who_has([self.blocks[0]])[self.blocks[0].key][0]
                    pid = self.client.run(os.getpid, workers=[victim])[victim]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(victim)
            return original(self, futures, fn, *args)

        monkeypatch.setattr(_dask._BlockRunner, "gather", gather_after_killing)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            disturbed = model(max_iter=10).fit(*dask(X, y, w))
        monkeypatch.undo()
        assert len(killed) == 2
        assert not set(killed) & set(c.scheduler_info()["workers"])
        assert disturbed.dask_stats_["tasks_moved"] >= 2
        assert undisturbed.dask_stats_["tasks_moved"] == 0
    np.testing.assert_array_equal(disturbed.loss_curve_, undisturbed.loss_curve_)
    for p, q in zip(disturbed.coefs_ + disturbed.intercepts_,
                    undisturbed.coefs_ + undisturbed.intercepts_):
        np.testing.assert_array_equal(p, q)


# ------------------------------------------------- the defaults, every regime
def _same_model(in_memory, on_dask, X, rtol=1e-8):
    """Predictions of the two fits within ``rtol`` (relative to their spread)."""
    assert on_dask.n_iter_ == in_memory.n_iter_
    assert on_dask.linear_solver_ == in_memory.linear_solver_
    a, b = in_memory.predict(X), on_dask.predict(X)
    assert np.max(np.abs(a - b)) <= rtol * np.max(np.abs(a))


def test_defaults_on_small_data_give_the_in_memory_model(client):
    # issue 22's case: 20,000 rows, hidden (8,), max_iter=15: the Bayesian
    # penalty, early stopping on the same held-out rows (predictions differed
    # by 0.15 when the Dask fit had its own defaults)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (20_000, 4))
    y = np.sin(2 * X[:, 0]) * X[:, 1] + X[:, 2] ** 2 - X[:, 3]
    kw = dict(hidden_layer_sizes=(8,), max_iter=15, random_state=0)
    in_memory = LMRegressor(**kw).fit(X, y)
    on_dask = LMRegressor(**kw).fit(*dask(X, y, block=5000))
    assert in_memory.alpha_curve_ is not None and in_memory.validation_scores_ is not None
    np.testing.assert_allclose(on_dask.alpha_curve_, in_memory.alpha_curve_, rtol=1e-6)
    np.testing.assert_allclose(on_dask.validation_loss_curve_,
                               in_memory.validation_loss_curve_, rtol=1e-8)
    _same_model(in_memory, on_dask, X)
    # noisy rows: the same score (0.963 against 0.983 before)
    Xn, yn = X[:400], y[:400] + 0.05 * rng.standard_normal(400)
    kw = dict(hidden_layer_sizes=(10,), random_state=0)
    noisy = LMRegressor(**kw).fit(Xn, yn)
    _same_model(noisy, LMRegressor(**kw).fit(*dask(Xn, yn, block=100)), Xn, rtol=1e-6)


def test_defaults_on_many_rows_grow_the_sample_on_the_client(client, monkeypatch):
    # the growing sample's plan, shrunk: stages of 300 and 1,200 rows
    from sklm import _plan
    from sklm import _sampling as sampling

    monkeypatch.setattr(sampling, "FIRST_ROWS", 300)
    monkeypatch.setattr(sampling, "HOLDOUT_ROWS", 1000)
    monkeypatch.setattr(sampling, "STAGE_ITERATIONS", 5)
    monkeypatch.setattr(_plan, "MIN_ROWS", 3000)
    X, y, w = data(rows=4000)
    kw = dict(hidden_layer_sizes=(6,), max_iter=25, tol=0.0, random_state=0)
    in_memory = LMRegressor(**kw).fit(X, y, sample_weight=w)
    on_dask = LMRegressor(**kw).fit(*dask(X, y, w))
    assert in_memory.sample_rows_curve_[0] == 300
    assert on_dask.sample_rows_curve_ == in_memory.sample_rows_curve_
    _same_model(in_memory, on_dask, X)
    # the stages ran on rows gathered once, not on the workers: a fit of the
    # stages' 10 iterations alone (no validation rows on the workers to
    # score) sends only the first evaluation of all rows' normal equations
    stages_only = dict(kw, max_iter=10, alpha=0.0, early_stopping=False)
    only = LMRegressor(**stages_only).fit(*dask(X, y, w))
    assert only.sample_rows_curve_ == [300] * 5 + [1200] * 5
    assert only.dask_stats_["tasks"] <= 4 * 3


def test_defaults_above_the_crossover_take_the_matrix_free_step(client):
    # The matrix-free step amplifies round-off as no other path does (CG on a
    # sampled, barely damped J^T J whose products are float32): in memory, two
    # chunk sizes alone put the predictions 2e-6 apart after 2 iterations and
    # 0.3 after 4 on these data, and the normalisation statistics' last
    # digits (block sums against one reduction) flip float32 roundings of the
    # first products. So the inputs are made the same numbers here (no
    # normalisation statistics, each block one chunk): the fits then share
    # the curvature samples, gathered from the workers, and agree to
    # round-off over the iterations where round-off stays round-off.
    X, y, w = data(rows=6000)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (y - y.mean()) / y.std()
    kw = dict(hidden_layer_sizes=(50, 50), max_iter=2, tol=0.0, random_state=0,
              chunk_size=BLOCK, **RAW)
    in_memory = LMRegressor(**kw).fit(X, y, sample_weight=w)
    on_dask = LMRegressor(**kw).fit(*dask(X, y, w))
    assert in_memory.linear_solver_ == "cg" and in_memory.n_iter_ == 2
    _same_model(in_memory, on_dask, X)


def test_max_time_bounds_the_whole_dask_fit(client):
    # preparation on the workers included: the budget is the call's
    X, y, w = data(rows=4000)
    start = time.perf_counter()
    fitted = LMRegressor((20, 20), max_time=1.0, tol=0.0, max_iter=10**6,
                         random_state=0).fit(*dask(X, y, w))
    assert time.perf_counter() - start < 1.0 + 2.0
    assert fitted._status == Status.MAX_TIME and "max_time=1 s" in fitted.stop_reason_


def test_complex_or_nan_dask_input_is_refused_as_in_memory(client):
    X, y, _ = data(rows=100)
    with pytest.raises(ValueError, match="Complex data not supported"):
        model().fit(*dask(X + 1j, y))
    fitted = model(max_iter=2).fit(X, y)
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        fitted.predict(dask(X_nan)[0]).compute()
