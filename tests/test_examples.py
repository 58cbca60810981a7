"""Every script in examples/ runs in quick mode and prints what it claims.

Each example runs in a subprocess with ``SKLM_EXAMPLES_QUICK=1`` and the Agg
backend. BLAS is held to one thread: these problems are small, and on a busy
2-core machine spinning BLAS workers made them 10x slower.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))

# What each example must print (quick mode).
EXPECTED = {
    "01_rosenbrock_parameters.py": ["initial loss at (a, b) = (5, 5): 3868.229167"],
    "02_surrogate_lm_vs_adam.py": ["LM, mu0 = 3", "sklearn Adam", "valid. MSE",
                                     "validation MSE over"],
    "03_rosenbrock_6d.py": ["311 parameters", "LM, defaults (Nielsen + geodesic)",
                            "valid. rel. MSE"],
    "04_pipeline_gridsearch.py": ["grid search:", "best: solver=", "1 - R^2"],
    "05_early_stopping.py": ["early stopping ran", "kept the weights of iteration"],
    "06_gpu_backend.py": ["backend_='numpy'", "coefs_ are {'numpy'} arrays"],
    "07_bayesian_uncertainty.py": ["effective_params_ =", "estimated noise sd",
                                   "within ±2 sd"],
    "08_export_onnx_c.py": ["ONNX Runtime vs predict", "C vs predict", "rosenbrock_predict("],
}


def run_example(script, timeout=60):
    env = dict(os.environ, SKLM_EXAMPLES_QUICK="1", MPLBACKEND="Agg",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=EXAMPLES.parent)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_every_example_is_listed():
    assert {s.name for s in SCRIPTS} == set(EXPECTED)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_in_quick_mode(script):
    if "matplotlib" in script.read_text():
        pytest.importorskip("matplotlib", reason="matplotlib is not installed (sklm[plot])")
    out = run_example(script)
    for text in EXPECTED[script.name]:
        assert text in out, f"{script.name} did not print {text!r}:\n{out}"


def test_rosenbrock_example_reproduces_the_tutorial_table():
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (sklm[plot])")
    out = run_example(EXAMPLES / "01_rosenbrock_parameters.py")
    steps = {}
    for line in out.splitlines():
        m = re.match(r"(gradient descent|Adam|Newton|Gauss-Newton)\s{2,}.*?\s(\d+)\s+(\S+e-\d+)",
                     line)
        if m:
            steps[m.group(1)] = (int(m.group(2)), float(m.group(3)))
    # The tutorial's table: steps, final loss to two digits.
    tutorial = {"gradient descent": (582, 9.7e-11), "Adam": (317, 2.4e-12),
                "Newton": (6, 5.9e-20), "Gauss-Newton": (4, 3.4e-17)}
    assert set(steps) == set(tutorial), out
    for name, (n, loss) in tutorial.items():
        assert steps[name][0] == n, (name, steps[name])
        assert steps[name][1] == pytest.approx(loss, rel=0.06), (name, steps[name])


def test_user_guide_mentions_every_estimator_parameter():
    # The user guide (docs/) must keep up with LMRegressor's parameters.
    from sklm import LMRegressor

    docs = Path(__file__).resolve().parents[1] / "docs"
    text = "".join(p.read_text() for p in [*docs.glob("*.rst"), *docs.glob("user_guide/*.rst")])
    missing = [p for p in LMRegressor().get_params() if f"``{p}" not in text]
    assert not missing, f"parameters not described in docs/: {missing}"
