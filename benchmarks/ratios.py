"""Per-seed times to each precision of two contenders, and their ratios, from run.py's JSON.

    python -m benchmarks.ratios RESULTS.json [MORE.json ...] --problem wide \\
        --contender LMRegressor --reference "sklearn adam"

Reads the traces that ``benchmarks.run`` saved (several files may hold the
contenders of one problem, e.g. runs with different budgets) and prints, per
seed, the first time each contender's validation relative MSE is at or below
1e-2, 1e-3 and 1e-4, the contender's time over the reference's, and the
contender's error at the end of its budget.
"""

import argparse
import json
import math

LEVELS = (1e-2, 1e-3, 1e-4)


def first_time(trace, level):
    """Seconds to the first record at or below ``level`` (inf: never)."""
    return next((t for t, err, _ in trace if err <= level), math.inf)


def traces(paths, problem, name):
    """``{seed: trace}`` of contender ``name`` on ``problem`` from the first file holding it."""
    for path in paths:
        with open(path) as f:
            runs = json.load(f)["problems"].get(problem, {}).get("runs", {})
        if name in runs:
            return {r["seed"]: r["trace"] for r in runs[name]}
    raise SystemExit(f"no runs of {name!r} on {problem!r} in {paths}")


def table(paths, problem, contender, reference):
    ours, theirs = traces(paths, problem, contender), traces(paths, problem, reference)
    head = " | ".join(f"to {lv:g}: ours / ref (ratio)" for lv in LEVELS)
    lines = [f"| seed | {head} | ours at the end |", "|---" * (len(LEVELS) + 2) + "|"]
    ratios = {lv: [] for lv in LEVELS}
    for seed in sorted(ours):
        cells = []
        for lv in LEVELS:
            a, b = first_time(ours[seed], lv), first_time(theirs[seed], lv)
            ratio = a / b if math.isfinite(b) else (0.0 if math.isfinite(a) else math.nan)
            ratios[lv].append(ratio)
            cells.append(f"{a:.2f} / {b:.2f} ({ratio:.2f})")
        end = ours[seed][-1]
        lines.append(f"| {seed} | " + " | ".join(cells) + f" | {end[1]:.2e} at {end[0]:.0f} s |")
    med = [sorted(ratios[lv])[len(ratios[lv]) // 2] for lv in LEVELS]
    lines.append("| median ratio | " + " | ".join(f"{m:.2f}" for m in med) + " | |")
    return "\n".join(lines)


def best_table(paths, problem, contender, reference):
    """Per seed: the reference's best error in its budget, when each contender reached it,
    and the contender's end against that best (the matrix-free step's criteria)."""
    ours, theirs = traces(paths, problem, contender), traces(paths, problem, reference)
    lines = ["| seed | ref's best | ref reached it at (s) | ours reached it at (s) | "
             "ref time / ours | ours at the end | ref's best / ours at the end |",
             "|---|---|---|---|---|---|---|"]
    speed, depth = [], []
    for seed in sorted(ours):
        best = min(err for _, err, _ in theirs[seed])
        t_ref, t_ours = first_time(theirs[seed], best), first_time(ours[seed], best)
        end_t, end = ours[seed][-1][0], ours[seed][-1][1]
        speed.append(t_ref / t_ours if t_ours > 0 else math.inf)
        depth.append(best / end if end > 0 else math.inf)
        lines.append(f"| {seed} | {best:.2e} | {t_ref:.1f} | {t_ours:.1f} | {speed[-1]:.1f} | "
                     f"{end:.2e} at {end_t:.0f} s | {depth[-1]:.1f} |")
    med = (sorted(speed)[len(speed) // 2], sorted(depth)[len(depth) // 2])
    lines.append(f"| median | | | | {med[0]:.1f} | | {med[1]:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--problem", required=True)
    ap.add_argument("--contender", default="LMRegressor")
    ap.add_argument("--reference", default="sklearn adam")
    ap.add_argument("--versus-best", action="store_true",
                    help="time to the reference's best error, and the end against it")
    args = ap.parse_args(argv)
    show = best_table if args.versus_best else table
    print(show(args.paths, args.problem, args.contender, args.reference))


if __name__ == "__main__":
    main()
