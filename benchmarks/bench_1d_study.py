"""Time the published shallow 1-d study (3 targets x 9 widths x 100 seeds).

Default: one fit per (target, width) for at most ``--max-steps`` steps, its
time per step scaled to the published step count and to 100 seeds, which
estimates the full grid's time on this machine with ``--n-jobs`` parallel
fits; printed beside the goal of 15 minutes as a ratio.

``--study``: runs the full grid (:func:`sklearn_gdnet.presets.shallow_1d_study`
with the published step counts, ``--seeds`` seeds, default 100) and prints its
total time, the time per fit and the ratio to the goal.

Timings on a loaded machine are noisy; the estimate assumes that a step's
cost does not change during a fit.

    python benchmarks/bench_1d_study.py [--n-jobs 2]
    python benchmarks/bench_1d_study.py --study [--seeds 100] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sklearn_gdnet.datasets import make_interval_regression
from sklearn_gdnet.presets import (
    SHALLOW_1D_WIDTHS,
    _shallow_network,
    _study_target,
    shallow_1d_study,
    study_intervals,
)

#: The issue's goal for the full grid on a 2-core machine.
GOAL_S = 15 * 60
TARGETS = ("gaussian", "cusp", "step")
PUBLISHED_SEEDS = 100


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="store_true", help="run the full grid")
    parser.add_argument("--seeds", type=int, default=PUBLISHED_SEEDS, help="seeds (--study)")
    parser.add_argument(
        "--widths",
        default=",".join(map(str, SHALLOW_1D_WIDTHS)),
        help="comma-separated widths (default: the published ones)",
    )
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated targets")
    parser.add_argument(
        "--max-steps", type=int, default=2000, help="steps timed per fit (estimate mode)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="override the published step counts (--study)"
    )
    parser.add_argument("--n-jobs", type=int, default=1, help="parallel fits")
    args = parser.parse_args(argv)
    args.widths = [int(w) for w in args.widths.split(",")]
    args.targets = [t.strip() for t in args.targets.split(",")]
    return args


def estimate(args):
    rows, total = [], 0.0
    for name in args.targets:
        target = _study_target(name)
        for m in args.widths:
            steps = 100 * study_intervals(target, m)
            timed = min(steps, args.max_steps)
            X, y, _ = make_interval_regression(target=target, width=m)
            net = _shallow_network(m, 0, timed, "adam", 1e-3)
            start = time.perf_counter()
            net.fit(X, y)
            per_step = (time.perf_counter() - start) / timed
            full = per_step * steps * PUBLISHED_SEEDS
            total += full
            rows.append((name, m, steps, 1e3 * per_step, full))
    print(f"{'target':<14}{'width':>6}{'steps':>7}{'ms/step':>9}{'100 seeds [s]':>15}")
    for name, m, steps, ms, full in rows:
        print(f"{name:<14}{m:>6}{steps:>7}{ms:>9.3f}{full:>15.1f}")
    wall = total / max(1, args.n_jobs)
    print(
        f"\nestimated full grid ({len(args.targets)} targets x {len(args.widths)} widths x "
        f"{PUBLISHED_SEEDS} seeds): {total:.0f} s of fits, {wall:.0f} s wall with "
        f"{args.n_jobs} parallel fit(s); goal {GOAL_S} s: ratio {wall / GOAL_S:.2f}"
    )
    return wall


def study(args):
    start = time.perf_counter()
    result = shallow_1d_study(
        args.targets,
        widths=args.widths,
        seeds=range(args.seeds),
        n_steps=args.steps,
        n_jobs=args.n_jobs,
    )
    wall = time.perf_counter() - start
    n_fits = result.errors.size
    steps = int(result.n_steps.sum()) * len(result.seeds)
    print(result)
    print(
        f"\ngrid: {len(result.targets)} targets x {len(result.widths)} widths x "
        f"{len(result.seeds)} seeds = {n_fits} fits, {steps} steps, in {wall:.1f} s "
        f"({wall / n_fits:.3f} s per fit, {1e6 * result.fit_times.sum() / steps:.1f} us per "
        f"step of fitting) with {args.n_jobs} parallel fit(s)"
    )
    full = wall * PUBLISHED_SEEDS / len(result.seeds)
    what = "measured" if len(result.seeds) == PUBLISHED_SEEDS else "extrapolated"
    print(
        f"{what} for {PUBLISHED_SEEDS} seeds: {full:.0f} s; goal {GOAL_S} s: ratio "
        f"{full / GOAL_S:.2f}"
    )
    return wall, result


def main(argv=None):
    args = _parse(argv)
    np.seterr(all="ignore")
    return study(args) if args.study else estimate(args)


if __name__ == "__main__":
    main()
