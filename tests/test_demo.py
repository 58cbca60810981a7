"""``python -m sklm demo``: the README's main command, at a small size."""

import subprocess
import sys

import pytest

from sklm.__main__ import main

SMALL = ["demo", "--n-samples", "60", "--max-iter", "lm=8", "--max-iter", "adam=50"]


def test_demo_subprocess_prints_table_and_writes_figure(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (sklm[plot])")
    png = tmp_path / "curves.png"
    proc = subprocess.run([sys.executable, "-m", "sklm", *SMALL, "-o", str(png)],
                          capture_output=True, text=True, timeout=120, check=True)
    out = proc.stdout
    assert "60 training + 60 validation points" in out
    assert "iterations" in out and "train MSE" in out and "valid. MSE" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["lm"][1] == "8"
    assert lines["adam"][1] == "50"
    assert f"Figure written to {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_without_matplotlib_prints_a_note(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    png = tmp_path / "none.png"
    assert main(["demo", "-n", "30", "--max-iter", "3", "--solvers", "lm",
                 "-o", str(png)]) == 0
    out = capsys.readouterr().out
    assert "matplotlib is not installed" in out and "pip install sklm[plot]" in out
    assert not png.exists()


def test_demo_lm_beats_adam_and_readme_table_is_current(capsys):
    # The demo at its default settings (seconds): the claim the README makes,
    # and the README's copy of the table (docs/index.rst has the same).
    import re
    from pathlib import Path

    from sklm._demo import run

    rows, _ = run(n_samples=500, stream=sys.stdout)
    by = {r["solver"]: r for r in rows}
    assert by["lm"]["iterations"] == 100
    assert by["lm"]["val_mse"] < 0.05
    assert by["lm"]["val_mse"] < by["adam"]["val_mse"] / 10
    root = Path(__file__).resolve().parents[1]
    for doc in ("README.md", "docs/index.rst"):
        text = (root / doc).read_text()
        for solver in ("lm", "adam"):
            m = re.search(rf"^\s*{solver}\s+(\d+)\s+\S+\s+(\S+)\s+(\S+)$", text, re.M)
            assert m, f"{doc} has no {solver} row of the demo's table"
            shown = [float(m.group(2)), float(m.group(3))]
            now = [by[solver]["train_mse"], by[solver]["val_mse"]]
            assert int(m.group(1)) == by[solver]["iterations"]
            # 10%: loose enough for another CPU's rounding, tight enough to see
            # a change of algorithm or defaults.
            assert shown == pytest.approx(now, rel=0.1), (
                f"{doc}'s demo table is stale for {solver}: it shows {shown}, the demo "
                f"now gives {now}. Rerun `python -m sklm demo -o docs/_static/sklm-demo.png` "
                "and copy its table into README.md and docs/index.rst."
            )


def test_demo_help_and_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--n-samples", "--solvers", "--backend", "--output", "--max-iter"):
        assert option in help_text
    assert main(["demo", "--max-iter", "lm=x", "--no-plot"]) == 2
    assert "SOLVER=N" in capsys.readouterr().err
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out


@pytest.mark.parametrize("argv,says", [
    (["--seed", "-1"], "argument --seed: must be at least 0"),
    (["--blas-threads", "-1"], "argument --blas-threads: must be at least 0"),
    (["--hidden", "abc"], "argument --hidden: expected positive integers"),
    (["--hidden", "10,0"], "argument --hidden: expected positive integers"),
    (["-n", "1"], "argument -n/--n-samples: must be at least 2"),
    (["--solvers", "lm,bogus"], "argument --solvers: unknown solver(s) bogus"),
    # nothing to run: it ran nothing and exited 0
    (["--solvers", ",,"], "argument --solvers: expected one or more solvers"),
    (["--solvers", ""], "argument --solvers: expected one or more solvers"),
])
def test_demo_options_out_of_range_are_argparse_errors(capsys, argv, says):
    with pytest.raises(SystemExit) as exc:
        main(["demo", *argv])
    assert exc.value.code == 2 and says in capsys.readouterr().err


def test_demo_refuses_a_figure_it_could_not_write_before_fitting(capsys, tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "demo.png"
    assert main(["demo", "-o", str(missing)]) == 2
    captured = capsys.readouterr()
    assert "cannot write the figure" in captured.err and captured.out == ""


def test_demo_refuses_a_figure_format_matplotlib_cannot_write_before_fitting(capsys,
                                                                           tmp_path):
    # every fit ran, then savefig failed (exit 1)
    assert main(["demo", "-o", str(tmp_path / "out.txt")]) == 2
    captured = capsys.readouterr()
    assert "matplotlib cannot write .txt files" in captured.err and ".png" in captured.err
    assert captured.out == "" and not (tmp_path / "out.txt").exists()


def test_demo_takes_any_format_matplotlib_writes(capsys, tmp_path):
    assert main(["demo", "-n", "20", "--solvers", "lm", "--max-iter", "2",
                 "-o", str(tmp_path / "demo.SVG")]) == 0
    assert (tmp_path / "demo.SVG").read_text().lstrip().startswith("<?xml")
    # --no-plot writes nothing, so any name will do
    assert main(["demo", "-n", "20", "--solvers", "lm", "--max-iter", "2", "--no-plot",
                 "-o", str(tmp_path / "out.txt")]) == 0


def test_demo_cupy_backend_without_gpu_is_a_clear_error(capsys):
    from sklm._backend import cupy_available

    if cupy_available():
        pytest.skip("a GPU with CuPy is present: backend='cupy' works here")
    assert main(["demo", "-n", "20", "--max-iter", "2", "--backend", "cupy",
                 "--no-plot"]) == 2
    assert "pip install sklm[gpu]" in capsys.readouterr().err


def test_readme_commands_and_example(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "pip install -e . && python -m sklm demo" in readme
    assert 'pip install -e ".[test]" && python -m pytest -q' in readme
    (code,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(code.strip().splitlines()) <= 16
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    m = re.fullmatch(r"(\d+) iterations, 1 - R\^2 = (\S+)\n", out)
    assert m, out
    assert float(m.group(2)) <= 1e-6  # goal=1e-6 on standardised targets
