"""Time per training step of a shallow network on one input feature: exact 1-d core against dense.

A network with one input feature, one hidden layer and ReLU units is trained
through the exact one-dimensional core (`sklearn_gdnet._network_1d`, chosen
automatically) and, in the same run, with the dense core forced (the private
switch ``_network_1d.FORCE``), on the setting of the shallow 1-d study
(Gentile and Welper, arXiv 2209.08399): ``n = 2 m`` equispaced points on
[-1, 1], the Gaussian target, ``init="breakpoint"``, only the breakpoints
trained, full-batch Adam with step 1e-3. The time per step is the slope
between a short and a long fit (so set-up and initialization cancel), median
over repeats; the two cores run in turn within each repeat so that the
machine's slow spells hit both. ``q25``/``q75`` give the spread of the ratio
over repeats. On a shared machine single timings are noisy: read the ratio.

Then a small width study of the same setting (``--seeds`` seeds per width,
``--seed-steps`` steps) timed with the seeds of a width trained together
(`sklearn_gdnet._batched`) and one by one (its private switch ``ENABLED``).

Run: ``python benchmarks/bench_1d.py [--widths 10 100 1000] [--repeats 5]``;
``--quick`` runs a tiny configuration in seconds (for the test suite).

``--study [--n-jobs 2]`` instead runs the published study's full grid (3
targets x 9 widths x 100 seeds, the published step counts) through
:func:`sklearn_gdnet.presets.shallow_1d_study` and prints its total time
against the goal of 15 minutes (``benchmarks/bench_1d_study.py``, which also
estimates that time from one short fit per width).
"""

import argparse
import time
import warnings

import numpy as np

from sklearn_gdnet import GDNetworkRegressor, _batched, _network_1d
from sklearn_gdnet.model_selection import width_study


def study_data(m):
    """The study's training set at width ``m``: ``2 m`` points, the Gaussian a = 0.25."""
    X = np.linspace(-1.0, 1.0, 2 * m)[:, None]
    y = 0.25 / (0.2 * np.sqrt(2 * np.pi)) * np.exp(-(X[:, 0] ** 2) / 0.08)
    return X, y


def study_network(m, steps, trainable="hidden_biases", random_state=0):
    return GDNetworkRegressor(
        width=m,
        depth=1,
        init="breakpoint",
        bias_std=1.0,
        trainable=trainable,
        solver="adam",
        learning_rate=1e-3,
        max_iter=steps,
        normalize_y=False,
        random_state=random_state,
    )


def time_fit(m, steps, dense, trainable):
    X, y = study_data(m)
    _network_1d.FORCE = "dense" if dense else "1d"
    try:
        est = study_network(m, steps, trainable)
        start = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - start
    finally:
        _network_1d.FORCE = None


def step_ms(m, dense, trainable, short, long):
    """Milliseconds per step: ``(t(long) - t(short)) / (long - short)``."""
    return (
        1e3
        * (time_fit(m, long, dense, trainable) - time_fit(m, short, dense, trainable))
        / (long - short)
    )


def step_table(widths, repeats, trainable, quick=False):
    """Print ms per step of both cores and their ratio, one row per width."""
    print(f"n = 2m, Adam, trainable={trainable!r}, median of {repeats} repeats")
    header = (
        f"{'width':>6} {'n':>6} {'dense ms/step':>14} {'1-d ms/step':>12} "
        f"{'ratio':>7} {'q25':>7} {'q75':>7}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for m in widths:
        # enough steps that each timed difference lasts a fraction of a second
        dense_steps = (2, 4) if quick else (5, 5 + max(10, min(1000, int(4e6 / (2 * m * m)))))
        fast_steps = (2, 10) if quick else (50, 1050)
        dense, fast = [], []
        for _ in range(repeats):
            dense.append(step_ms(m, True, trainable, *dense_steps))
            fast.append(step_ms(m, False, trainable, *fast_steps))
        dense, fast = np.array(dense), np.array(fast)
        ratio = dense / fast
        q25, q75 = np.percentile(ratio, [25, 75])
        row = (m, 2 * m, np.median(dense), np.median(fast), np.median(dense) / np.median(fast))
        rows.append(row)
        print(
            f"{m:>6d} {2 * m:>6d} {row[2]:>14.4f} {row[3]:>12.4f} {row[4]:>7.1f} "
            f"{q25:>7.1f} {q75:>7.1f}"
        )
    return rows


def seeds_table(widths, n_seeds, steps, repeats):
    """Print the time of a width study with the seeds trained together and one by one."""
    print(
        f"\nwidth study: {n_seeds} seeds per width, {steps} Adam steps, widths {widths}, "
        f"median of {repeats} repeats"
    )
    header = f"{'width':>6} {'together s':>11} {'one by one s':>13} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    rows = []
    for m in widths:
        X, y = study_data(m)
        est = study_network(m, steps)
        together, alone = [], []
        for _ in range(repeats):
            for enabled, times in ((True, together), (False, alone)):
                _batched.ENABLED = enabled
                try:
                    start = time.perf_counter()
                    width_study(
                        est,
                        X,
                        y,
                        widths=[m],
                        seeds=range(n_seeds),
                        scoring="neg_mean_squared_error",
                    )
                    times.append(time.perf_counter() - start)
                finally:
                    _batched.ENABLED = True
        row = (m, np.median(together), np.median(alone), np.median(alone) / np.median(together))
        rows.append(row)
        print(f"{m:>6d} {row[1]:>11.3f} {row[2]:>13.3f} {row[3]:>7.1f}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--trainable", default="hidden_biases", help="trained groups (default: the breakpoints)"
    )
    parser.add_argument(
        "--seed-widths", type=int, nargs="+", default=[10, 100, 1000], help="widths of the study"
    )
    parser.add_argument("--seeds", type=int, default=20, help="seeds per width in the study")
    parser.add_argument("--seed-steps", type=int, default=2000, help="Adam steps per fit")
    parser.add_argument("--quick", action="store_true", help="a tiny configuration, in seconds")
    parser.add_argument(
        "--study", action="store_true", help="time the published study's full grid instead"
    )
    parser.add_argument("--n-jobs", type=int, default=1, help="parallel fits (--study)")
    args = parser.parse_args(argv)
    if args.study:
        return _full_grid(args)
    if args.quick:
        args.widths, args.repeats = [8, 16], 1
        args.seed_widths, args.seeds, args.seed_steps = [8], 3, 20
    warnings.simplefilter("ignore")  # short runs do not converge; that is not timed
    step_table(args.widths, args.repeats, args.trainable, quick=args.quick)
    seeds_table(args.seed_widths, args.seeds, args.seed_steps, args.repeats)


def _full_grid(args):
    """The full grid of the published study, timed by ``bench_1d_study.py --study``."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "bench_1d_study.py"
    spec = importlib.util.spec_from_file_location("bench_1d_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--study", "--n-jobs", str(args.n_jobs)]
    if args.quick:
        argv += ["--widths", "10,18", "--targets", "cusp", "--seeds", "2", "--steps", "10"]
    return module.main(argv)


if __name__ == "__main__":
    main()
