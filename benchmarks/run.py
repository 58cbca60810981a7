"""Run the benchmark suite.

    python -m benchmarks.run --quick     # seed-2d + seed-6d, one seed, short budgets (< 3 min)
    python -m benchmarks.run --full      # all problems, 3 seeds, long budgets, scaling checks

Options narrow a run (``--problems``, ``--contenders``, ``--seeds``,
``--budget``); ``--tiny`` shrinks the data (the smoke test). Results go to
``--out`` (JSON and a Markdown report, default ``benchmarks/results``); plots
of validation error against time to ``--plot-dir`` (default ``docs/_static`` for
the full run, ``OUT/plots`` otherwise). The JSON keeps at most ~400 log-spaced
points of each trace; the summaries use every point.
"""

import argparse
import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from benchmarks.contenders import CONTENDERS
from benchmarks.floor import measure_floor, measure_pass_floor
from benchmarks.problems import make_problem
from sklm.solvers._damped import CG_CROSSOVER

TARGETS = (1e-2, 1e-3, 1e-4)
# Ratios at 1e-4 are against LMRegressor's default LM (Nielsen + geodesic
# since commit 5b08996, started at the relative mu_init='auto' since commit
# 1e3099b; the recorded full run of 2026-11-23 15:14 UTC used trainlm's rule).
REFERENCE = "sklm lm default"

QUICK = {
    "problems": {"seed-2d": 2.0, "seed-6d": 8.0},
    "seeds": [0],
    "contenders": ["sklm lm trainlm", "sklm lm nielsen", "sklm lm nielsen geodesic",
                   "sklm lm default", "sklm gauss-newton", "sklm newton", "sklm adam",
                   "sklearn lbfgs", "sklearn adam", "scipy trf", "scipy lm"],
    "scaling": False,
}
FULL = {
    "problems": {"seed-2d": 5.0, "seed-6d": 25.0, "wide": 200.0},
    "seeds": [0, 1, 2],
    "contenders": list(CONTENDERS),
    # wide: one seed; scipy holds the whole 100,000 x 1,377 Jacobian (and its QR)
    "wide_seeds": [0],
    "wide_contenders": ["sklm lm trainlm", "sklm lm nielsen", "sklm lm nielsen geodesic",
                        "sklm lm default", "sklm adam", "sklearn lbfgs", "sklearn adam"],
    "scaling": True,
}


# ------------------------------------------------------------------ memory
def _read_status(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Reset the kernel's peak-RSS mark (VmHWM); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Peak resident memory during a block, above the resident memory at its start.

    Linux: VmHWM after resetting it through /proc/self/clear_refs. Counts
    everything the process touches (NumPy, BLAS buffers, scikit-learn), not
    only Python allocations; None where /proc is unavailable.
    """

    def __enter__(self):
        gc.collect()
        self.ok = reset_peak_rss()
        self.base = _read_status("VmRSS")
        return self

    def __exit__(self, *exc):
        peak = _read_status("VmHWM")
        self.value = (peak - self.base) if (self.ok and peak and self.base) else None
        self.total = peak if self.ok else None  # the process's whole resident peak
        return False


# -------------------------------------------------------- other processes
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_snapshot():
    """(wall, busy jiffies of the machine, jiffies of this process and its children)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        own = sum(int(x) for x in fields[11:15])
        return time.perf_counter(), busy, own
    except (OSError, ValueError, IndexError):
        return None


def others_cores(before, after):
    """Cores' worth of CPU other processes used between two snapshots."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / _HZ
               / (after[0] - before[0]))


def wait_quiet(max_wait, threshold=0.25, verbose=True):
    """Wait (at most ``max_wait`` s) until other processes use < ``threshold`` cores."""
    t0 = time.perf_counter()
    while True:
        a = _cpu_snapshot()
        time.sleep(1.0)
        busy = others_cores(a, _cpu_snapshot())
        if busy is None or busy < threshold or time.perf_counter() - t0 > max_wait:
            if verbose and time.perf_counter() - t0 > 1.5:
                print(f"    (waited {time.perf_counter() - t0:.0f} s for a quiet machine;"
                      f" others now {busy:.2f} cores)", flush=True)
            return busy


# ----------------------------------------------------------------- summary
def time_to(trace, target):
    for t, err, _ in trace:
        if err <= target:
            return t
    return float("inf")


def iterations_to(trace, target):
    for _, err, it in trace:
        if err <= target:
            return it
    return float("inf")


def summarise(runs, budget):
    """Median figures over seeds for one contender on one problem."""
    out = {}
    for target in TARGETS:
        out[f"t_{target:g}"] = float(np.median([time_to(r["trace"], target) for r in runs]))
    out["it_0.0001"] = float(np.median([iterations_to(r["trace"], 1e-4) for r in runs]))
    out["final"] = float(np.median([r["trace"][-1][1] for r in runs]))
    out["best"] = float(np.median([min(e for _, e, _ in r["trace"]) for r in runs]))
    out["iterations"] = float(np.median([r["trace"][-1][2] for r in runs]))
    per = [r["trace"][-1][0] / r["trace"][-1][2] for r in runs if r["trace"][-1][2] > 0]
    out["s_per_iteration"] = float(np.median(per)) if per else float("nan")
    mem = [r["peak_rss"] for r in runs if r["peak_rss"] is not None]
    out["peak_rss_mb"] = max(mem) / 2**20 if mem else None
    total = [r["peak_rss_total"] for r in runs if r.get("peak_rss_total") is not None]
    out["peak_rss_total_mb"] = max(total) / 2**20 if total else None
    out["budget"] = budget
    out["n_seeds"] = len(runs)
    out["status"] = sorted({r["extra"].get("status", "") for r in runs})
    busy = [r.get("others_cores") for r in runs if r.get("others_cores") is not None]
    out["others_cores_max"] = max(busy) if busy else None
    return out


def fmt_t(t):
    return "not reached" if not np.isfinite(t) else f"{t:.2f}"


def markdown(results):
    lines = []
    for name, res in results["problems"].items():
        fl = res["floor"]
        lines.append(f"### {name}: {res['description']} ({res['m']} x {res['d']} -> "
                     f"{res['n_params']} parameters)")
        lines.append("")
        if fl.get("kind") == "gradient pass":
            floor_text = (f"Floor of a matrix-free iteration (one gradient pass over "
                          f"{res['m']} rows): **{fl['total'] * 1e3:.0f} ms**")
        else:
            floor_text = (f"Floor (J^T J by syrk + Cholesky, {res['m']} x {res['n_params']}, "
                          f"chunk {res['chunk']}): {fl['syrk'] * 1e3:.2f} + "
                          f"{fl['cholesky'] * 1e3:.2f} = **{fl['total'] * 1e3:.2f} ms** "
                          f"({fl['gflops']:.0f} GFLOP/s counting m n^2)")
        lines.append(f"{floor_text}. Load before: {res['load_before']}; after: "
                     f"{res['load_after']}.")
        lines.append("")
        ref = res["summary"].get(REFERENCE)
        lines.append("| contender | to 1e-2 (s) | to 1e-3 (s) | to 1e-4 (s) | vs "
                     f"{REFERENCE} at 1e-4 | iterations to 1e-4 | final val rel. MSE "
                     "| iterations | ms / iteration | x floor "
                     "| peak RSS (MB) | others' CPU (cores) |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for cname, s in res["summary"].items():
            ratio = ""
            if ref is not None and np.isfinite(s["t_0.0001"]) and np.isfinite(ref["t_0.0001"]):
                ratio = f"{s['t_0.0001'] / ref['t_0.0001']:.2f}"
            unit = CONTENDERS[cname][1]
            xfloor = (f"{s['s_per_iteration'] / fl['total']:.2f}"
                      if cname.startswith("sklm lm") or cname == "sklm gauss-newton" else "")
            mem = "n/a" if s["peak_rss_mb"] is None else f"{s['peak_rss_mb']:.0f}"
            others = ("" if s["others_cores_max"] is None
                      else f"{s['others_cores_max']:.2f}")
            lines.append(
                f"| {cname} | {fmt_t(s['t_0.01'])} | {fmt_t(s['t_0.001'])} | "
                f"{fmt_t(s['t_0.0001'])} | {ratio} | "
                f"{'not reached' if not np.isfinite(s['it_0.0001']) else int(s['it_0.0001'])} | "
                f"{s['final']:.2e} | "
                f"{s['iterations']:.0f} ({unit}) | {s['s_per_iteration'] * 1e3:.1f} | "
                f"{xfloor} | {mem} | {others} |")
        lines.append("")
        lines.append(f"Budget {res['budget']:g} s per run; medians over seeds "
                     f"{res['seeds']}. Stop reasons: " + "; ".join(
                         f"{c}: {', '.join(s['status'])}" for c, s in res["summary"].items()))
        lines.append("")
    if results.get("scaling"):
        sc = results["scaling"]
        lines.append("### wide: memory and time per iteration")
        lines.append("")
        lines.append("| rows | chunk | s / iteration | floor (s) | x floor | peak RSS (MB) | "
                     "Jacobian chunk + J^T J (MB) |")
        lines.append("|---|---|---|---|---|---|---|")
        for row in sc:
            lines.append(f"| {row['rows']} | {row['chunk']} | {row['s_per_iteration']:.2f} | "
                         f"{row['floor']:.2f} | {row['s_per_iteration'] / row['floor']:.2f} | "
                         f"{row['peak_rss_mb']:.0f} | {row['model_mb']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def plot(results, plot_dir):
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("matplotlib missing: no plots", file=sys.stderr)
        return []
    os.makedirs(plot_dir, exist_ok=True)
    paths = []
    for name, res in results["problems"].items():
        fig, ax = plt.subplots(figsize=(8, 5))
        for cname, runs in res["runs"].items():
            trace = runs[0]["trace"]
            t = [max(p[0], 1e-3) for p in trace]
            e = [p[1] for p in trace]
            style = "-" if cname.startswith("sklm lm") else "--"
            ax.plot(t, e, style, label=cname, lw=1.4)
        for target in TARGETS:
            ax.axhline(target, color="0.8", lw=0.8, zorder=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training wall time (s), validation measurements excluded")
        ax.set_ylabel("validation MSE / var(y_val)")
        ax.set_title(f"{name}: {res['description']}, seed {res['seeds'][0]}")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = os.path.join(plot_dir, f"bench_{name.replace('-', '')}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


# ----------------------------------------------------------------- running
def load():
    try:
        return open("/proc/loadavg").read().split()[:3]
    except OSError:
        return ["?"]


def run_problem(name, budget, seeds, contenders, tiny=False, verbose=True, quiet=0.0):
    bp = make_problem(name, *((200, 100) if tiny else ()))
    m, d = bp.X.shape
    if bp.n_params > CG_CROSSOVER:
        # the matrix-free step's problems: no n x n matrix to time (37 GB at
        # 8-256-256-1), and the estimator's own chunks
        chunk = None
        floor = measure_pass_floor(bp)
    else:
        chunk = min(m, 10_000) if name.startswith("wide") else m
        floor = measure_floor(m, bp.n_params, chunk=chunk, repeat=3 if m > 50_000 else 5)
    res = {"description": bp.description, "m": m, "d": d, "n_params": bp.n_params,
           "chunk": chunk, "floor": floor, "budget": budget, "seeds": seeds,
           "load_before": " ".join(load()), "runs": {}, "summary": {}}
    if verbose:
        print(f"== {name}: {m} x {d}, {bp.n_params} parameters; floor "
              f"{floor['total'] * 1e3:.2f} ms; load {res['load_before']}", flush=True)
    for cname in contenders:
        runner = CONTENDERS[cname][0]
        runs = []
        for seed in seeds:
            if quiet:
                wait_quiet(quiet, verbose=verbose)
            snap = _cpu_snapshot()
            with PeakRSS() as mem:
                rec = runner(bp, seed, budget, chunk=chunk)
            busy = others_cores(snap, _cpu_snapshot())
            runs.append({"seed": seed, "trace": rec.trace, "extra": rec.extra,
                         "peak_rss": mem.value, "peak_rss_total": mem.total,
                         "others_cores": busy})
            gc.collect()
            if verbose:
                t, e, it = rec.trace[-1]
                print(f"  {cname:<28} seed {seed}: {it:>6} it, {t:7.2f} s, val {e:.3e}, "
                      f"1e-4 at {fmt_t(time_to(rec.trace, 1e-4))} s, "
                      f"{(mem.value or 0) / 2**20:.0f} MB ({(mem.total or 0) / 2**20:.0f} MB "
                      f"in all), {rec.extra.get('status', '')}, "
                      f"others {busy if busy is not None else float('nan'):.2f} cores",
                      flush=True)
        res["runs"][cname] = runs
        res["summary"][cname] = summarise(runs, budget)
    res["load_after"] = " ".join(load())
    return res


def run_scaling(verbose=True, iterations=3, tiny=False):
    """wide: s/iteration against rows, and peak memory against the chunk size."""
    from sklm._backend import NumpyBackend  # noqa: PLC0415
    from sklm._mlp import MLP  # noqa: PLC0415
    from sklm._problem import MLPProblem  # noqa: PLC0415
    from sklm.solvers import SOLVERS  # noqa: PLC0415

    full = make_problem("wide", *((2_000, 100) if tiny else ()))
    hidden = (8,) if tiny else full.hidden
    M = full.X.shape[0]
    configs = [(M // 4, M // 10), (M // 2, M // 10), (M, M // 10), (M, M // 2), (M, M)]
    out = []
    for rows, chunk in configs:
        chunk = max(chunk, 1)
        mlp = MLP((8, *hidden, 1), "tanh")
        n = mlp.n_params
        floor = measure_floor(rows, n, chunk=chunk, repeat=2)["total"]
        gc.collect()
        with PeakRSS() as mem:
            problem = MLPProblem(mlp, full.X[:rows], full.y[:rows, None], np.ones(rows), 0.0,
                                 NumpyBackend(), chunk)
            solver = SOLVERS["lm"](max_iter=iterations, mu_update="nielsen", tol=0.0,
                                   min_grad=0.0, geodesic=False, mu_init=1e-3)
            t = time.perf_counter()
            result = solver.run(problem, mlp.init_params(np.random.RandomState(0)))
            dt = time.perf_counter() - t
        # one LM iteration = one Jacobian pass + trials; the start's pass counts too
        per = dt / (result.n_iter + 1)
        row = {"rows": rows, "chunk": chunk, "s_per_iteration": per, "floor": floor,
               "peak_rss_mb": (mem.value or 0) / 2**20,
               "model_mb": (chunk * n + n * n) * 8 / 2**20,
               "load": " ".join(load())}
        out.append(row)
        if verbose:
            print(f"  scaling rows {rows} chunk {chunk}: {per:.2f} s/it (floor {floor:.2f}),"
                  f" peak {row['peak_rss_mb']:.0f} MB", flush=True)
        del problem, solver, result
    return out


def _thin(trace, keep=400):
    if len(trace) <= keep:
        return trace
    idx = np.unique(np.geomspace(1, len(trace), keep).astype(int) - 1)
    return [trace[i] for i in idx] + ([trace[-1]] if idx[-1] != len(trace) - 1 else [])


def _thinned(results):
    out = dict(results, problems={})
    for name, res in results["problems"].items():
        runs = {c: [dict(r, trace=_thin(r["trace"])) for r in rs]
                for c, rs in res["runs"].items()}
        out["problems"][name] = dict(res, runs=runs)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the < 3 min version (default)")
    mode.add_argument("--full", action="store_true", help="all problems, 3 seeds, scaling")
    ap.add_argument("--problems", nargs="+", help="subset of problems")
    ap.add_argument("--contenders", nargs="+", help="subset of contenders (names as listed)")
    ap.add_argument("--seeds", nargs="+", type=int)
    ap.add_argument("--budget", type=float, help="seconds per run (all problems)")
    ap.add_argument("--tiny", action="store_true", help="shrunken data (smoke test)")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--only-scaling", action="store_true",
                    help="only the wide scaling checks (rows and chunk size)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--blas-threads", type=int, default=None, metavar="N",
                    help="hold every BLAS/OpenMP pool to N threads for the whole run "
                         "(threadpoolctl; all contenders alike); default: libraries' own")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="before each run wait up to S s for other processes to go quiet")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--plot-dir", default=None,
                    help="default: docs/_static for --full, OUT/plots otherwise")
    ap.add_argument("--list", action="store_true", help="list contenders and exit")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(CONTENDERS))
        return None
    cfg = FULL if args.full else QUICK
    label = "full" if args.full else "quick"
    problems = dict(cfg["problems"])
    if args.problems:
        problems = {p: problems.get(p, FULL["problems"].get(p, 10.0)) for p in args.problems}
    if args.budget is not None:
        problems = {p: args.budget for p in problems}
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {
        "mode": label,
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        if os.path.exists("/usr/bin/uptime") else " ".join(load()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"numpy {np.__version__}",
        "command": "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv),
        "problems": {},
    }
    results["blas_threads"] = args.blas_threads or "library default"
    print(f"{results['date']}  {results['uptime']}; BLAS threads: {results['blas_threads']}",
          flush=True)
    limiter = None
    if args.blas_threads:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415

        limiter = threadpool_limits(args.blas_threads)
    if args.only_scaling:
        problems = {}
    for name, budget in problems.items():
        seeds = args.seeds or cfg.get("wide_seeds" if name == "wide" else "seeds") or cfg["seeds"]
        contenders = args.contenders or (cfg.get("wide_contenders") if name == "wide" else None) \
            or cfg["contenders"]
        unknown = [c for c in contenders if c not in CONTENDERS]
        if unknown:
            raise SystemExit(f"unknown contenders {unknown}; --list shows them")
        results["problems"][name] = run_problem(name, budget, seeds, contenders, args.tiny,
                                                quiet=args.wait_quiet)
    if (cfg["scaling"] or args.only_scaling) and not args.no_scaling:
        print("== wide scaling", flush=True)
        results["scaling"] = run_scaling(tiny=args.tiny)
    if limiter is not None:
        limiter.restore_original_limits()
    results["elapsed_s"] = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    report = markdown(results)
    print()
    print(report)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"{label}{'-scaling' if args.only_scaling else ''}"
                                  f"{'-tiny' if args.tiny else ''}")
    with open(stem + ".json", "w") as f:
        json.dump(_thinned(results), f, default=float)
    with open(stem + ".md", "w") as f:
        f.write(f"{results['command']} - {results['date']} - {results['uptime']} - "
                f"BLAS threads: {results['blas_threads']}\n\n{report}\n")
    if not args.no_plot:
        plot_dir = args.plot_dir or ("docs/_static" if args.full and not args.problems
                                     and not args.contenders
                                     else os.path.join(args.out, "plots"))
        for path in plot(results, plot_dir):
            print("plot:", path)
    print(f"elapsed {results['elapsed_s']:.0f} s")
    return results


def _reexec_with_fixed_mmap_threshold():
    """Re-run this command with glibc's mmap threshold pinned (Linux).

    glibc raises its mmap threshold after the first large ``free``: later
    large arrays then come from the heap, whose pages stay resident, and the
    peak-RSS figure of every run after the first misses them. With
    ``MALLOC_MMAP_THRESHOLD_`` set, every array over 128 KiB is mapped and
    unmapped, so each run's peak is its own.
    """
    if sys.platform.startswith("linux") and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks.run", *sys.argv[1:]], env)


if __name__ == "__main__":
    _reexec_with_fixed_mmap_threshold()
    main()
