"""The benchmark runner end to end on a tiny configuration (no timing assertions)."""

import json
import math

import pytest

from benchmarks import run


def test_benchmark_runner_tiny(tmp_path):
    contenders = ["sklm lm trainlm", "sklm lm nielsen geodesic", "sklearn lbfgs",
                  "sklearn adam", "scipy lm"]
    results = run.main(["--quick", "--tiny", "--problems", "seed-2d", "--seeds", "0",
                        "--budget", "0.2", "--contenders", *contenders, "--no-plot",
                        "--out", str(tmp_path)])
    res = results["problems"]["seed-2d"]
    assert list(res["summary"]) == contenders
    for name in contenders:
        s = res["summary"][name]
        assert math.isfinite(s["final"]) and s["final"] >= 0
        trace = res["runs"][name][0]["trace"]
        assert trace and all(len(p) == 3 for p in trace)
    assert res["floor"]["total"] > 0
    saved = json.loads((tmp_path / "quick-tiny.json").read_text())
    assert "seed-2d" in saved["problems"]
    assert "| sklm lm trainlm |" in (tmp_path / "quick-tiny.md").read_text()


def test_benchmark_scaling_tiny():
    rows = run.run_scaling(verbose=False, iterations=1, tiny=True)
    assert [r["rows"] for r in rows] == [500, 1000, 2000, 2000, 2000]
    assert all(r["s_per_iteration"] > 0 for r in rows)


def test_benchmark_problems_are_standardised():
    from benchmarks.problems import PROBLEMS, make_problem

    for name in PROBLEMS:
        bp = make_problem(name, 300, 50)
        assert abs(bp.X.mean()) < 1e-12 and abs(bp.y.mean()) < 1e-12
        assert bp.y.std() == pytest.approx(1.0)
    assert make_problem("seed-6d", 300, 50).n_params == 311
    assert make_problem("seed-2d", 300, 50).n_params == 41


def test_gpu_benchmark_pieces_run_on_the_cpu():
    from benchmarks import gpu
    from sklm._backend import get_backend

    backend = get_backend("numpy")
    assert gpu.gram_rate(backend, 300, 40, 128) > 0
    assert gpu.gram_rate(backend, 300, 40, 128, general=True) > 0
    X, y, hidden = gpu.case_data("seed-6d", quick=True)
    sec, n_params, chunk = gpu.lm_seconds_per_iteration(backend, X[:200], y[:200], hidden,
                                                        iterations=3)
    assert sec > 0 and n_params == 311 and chunk == 200


def test_convergence_benchmark_applies_the_solvers_tol_rule():
    # the rule the benchmark replays on a curve is the run loop's own: a fit
    # with tol stops exactly where tol_stop says on its tol=0 curve
    import numpy as np

    from benchmarks.convergence import tol_stop
    from sklm.optimize import least_squares

    t, y = np.linspace(0, 2, 5), np.array([0.0, 1.0, 0.0, 1.0, 0.0])

    def fun(p):  # a line through points it cannot fit: a positive minimum
        return p[0] + p[1] * t - y

    free = least_squares(fun, [3.0, -2.0], solver="sgd", momentum=0.0,
                         learning_rate_init=0.05, max_iter=500)
    for tol in (1e-4, 1e-3):
        k = tol_stop(free.loss_curve, tol)
        stopped = least_squares(fun, [3.0, -2.0], solver="sgd", momentum=0.0,
                                learning_rate_init=0.05, max_iter=500, tol=tol)
        assert k is not None and stopped.n_iter == k


def test_noisy_benchmark_tiny(capsys):
    # benchmarks/noisy.py end to end on tiny settings (the tables of the
    # design notes on the Bayesian defaults, docs/benchmarks/design/)
    from benchmarks import noisy

    noisy.run_surrogate(sizes=(40,), seeds=range(1), hidden=(4,), max_iter=5)
    noisy.run_calibration(sizes=(40,), seeds=range(1), hidden=(4,), max_iter=5)
    out = capsys.readouterr().out
    assert "| 40 |" in out and "effective_params_" in out and "within ±2 sd" in out
    X, y = noisy.diabetes()
    assert X.shape == (442, 10)


def test_ratios_reads_the_runners_traces(tmp_path):
    import json

    from benchmarks import ratios

    runs = {"ours": [{"seed": 0, "trace": [[0.0, 1.0, 0], [1.0, 5e-3, 1], [2.0, 5e-5, 2]]}],
            "ref": [{"seed": 0, "trace": [[0.0, 1.0, 0], [2.0, 5e-4, 9], [8.0, 9e-5, 40]]}]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"problems": {"p": {"runs": runs}}}))
    out = ratios.table([str(path)], "p", "ours", "ref")
    # 1e-2: 1 s against 2 s; 1e-3: 2 s against 2 s; 1e-4: 2 s against 8 s
    assert "| 0 | 1.00 / 2.00 (0.50) | 2.00 / 2.00 (1.00) | 2.00 / 8.00 (0.25) |" in out
    assert "| median ratio | 0.50 | 1.00 | 0.25 |" in out


def test_realdata_benchmark_tiny(tmp_path):
    # benchmarks/realdata.py end to end on Linnerud's 20 rows (bundled with
    # scikit-learn), three models, table, JSON and figure
    from benchmarks import realdata

    run = realdata.main(["--datasets", "linnerud-weight", "--models",
                         "LMRegressor,RidgeCV,MLPRegressor", "--out", str(tmp_path),
                         "--figure", str(tmp_path / "realdata.png")])
    result = run["datasets"]["linnerud-weight"]["result"]
    assert len(result["LMRegressor"]["r2"]) == 5
    assert 0.0 <= result["LMRegressor"]["coverage"] <= 1.0
    assert result["RidgeCV"]["coverage"] is None
    report = (tmp_path / "realdata.md").read_text()
    assert "| linnerud-weight | 20 x 3 |" in report
    assert json.loads((tmp_path / "realdata.json").read_text())["models"][0] == "LMRegressor"
    assert (tmp_path / "realdata.png").stat().st_size > 0
