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

The 1-d core runs its passes with the C kernels (`sklearn_gdnet._spline`)
where they are built, and with NumPy alone when its private switch
``_network_1d.USE_C`` is off: both are timed, each against the dense core.

Then a small width study of the same setting (``--seeds`` seeds per width,
``--seed-steps`` steps) timed with the seeds of a width trained together
(`sklearn_gdnet._batched`) and one by one (its private switch ``ENABLED``).

Last, the cost of one step of one seed at each width of the published grid,
with the seeds of a width trained together (as `width_study` does), with the
C kernels and with NumPy, and from it the time of the grid's training:
``sum over widths m of cost(m) * seeds * steps(m)``, with ``steps(m)`` the
Adam steps of all the study's targets at width ``m`` (see `grid_steps`). The
evaluation every 100 steps and the set-up are not included.

Run: ``python benchmarks/bench_1d.py [--widths 10 100 1000] [--repeats 5]``;
``--quick`` runs a tiny configuration in seconds (for the test suite).

``--study [--n-jobs 2]`` instead runs the published study's full grid (3
targets x 9 widths x 100 seeds, the published step counts) through
:func:`sklearn_gdnet.presets.shallow_1d_study` and prints its total time
against the goal of 15 minutes (``benchmarks/bench_1d_study.py``, which also
estimates that time from one short fit per width).
"""

import argparse
import contextlib
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


#: How the network's passes are computed in `time_fit`: the dense core, the 1-d
#: core with NumPy alone, the 1-d core with its C kernels.
CORES = ("dense", "numpy", "c")


@contextlib.contextmanager
def core(name):
    """Within the block, networks use the core ``name`` (one of `CORES`)."""
    _network_1d.FORCE = "dense" if name == "dense" else "1d"
    _network_1d.USE_C = name == "c"
    try:
        yield
    finally:
        _network_1d.FORCE, _network_1d.USE_C = None, True


def time_fit(m, steps, name, trainable):
    X, y = study_data(m)
    with core(name):
        est = study_network(m, steps, trainable)
        start = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - start


def step_ms(m, name, trainable, short, long):
    """Milliseconds per step: ``(t(long) - t(short)) / (long - short)``."""
    return (
        1e3
        * (time_fit(m, long, name, trainable) - time_fit(m, short, name, trainable))
        / (long - short)
    )


def step_table(widths, repeats, trainable, quick=False):
    """Print ms per step of the dense core and of the 1-d core (NumPy, C), and ratios."""
    cores = CORES if _network_1d._spline is not None else CORES[:2]
    print(f"n = 2m, Adam, trainable={trainable!r}, median of {repeats} repeats")
    if len(cores) < 3:
        print("(sklearn_gdnet._spline is not built: no C column)")
    header = (
        f"{'width':>6} {'n':>6} {'dense ms':>10} {'1-d NumPy':>10} {'1-d C':>10} "
        f"{'dense/NumPy':>12} {'dense/C':>8} {'q25':>7} {'q75':>7} {'NumPy/C':>8}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for m in widths:
        # enough steps that each timed difference lasts a fraction of a second
        dense_steps = (2, 4) if quick else (5, 5 + max(10, min(1000, int(4e6 / (2 * m * m)))))
        fast_steps = (2, 10) if quick else (50, 1050)
        times = {name: [] for name in cores}
        for _ in range(repeats):  # in turn, so that slow spells of the machine hit all
            for name in cores:
                steps = dense_steps if name == "dense" else fast_steps
                times[name].append(step_ms(m, name, trainable, *steps))
        med = {name: float(np.median(t)) for name, t in times.items()}
        best = cores[-1]
        q25, q75 = np.percentile(np.array(times["dense"]) / np.array(times[best]), [25, 75])
        row = {"width": m, "n": 2 * m, **med}
        rows.append(row)
        c_ms = med.get("c", float("nan"))
        print(
            f"{m:>6d} {2 * m:>6d} {med['dense']:>10.4f} {med['numpy']:>10.4f} {c_ms:>10.4f} "
            f"{med['dense'] / med['numpy']:>12.1f} {med['dense'] / c_ms:>8.1f} "
            f"{q25:>7.1f} {q75:>7.1f} {med['numpy'] / c_ms:>8.1f}"
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


#: The published grid (Gentile and Welper, arXiv 2209.08399): its widths, seeds
#: per width, and Adam steps (100 per interval) of each target.
GRID_WIDTHS = (10, 18, 32, 56, 100, 178, 316, 562, 1000)
GRID_SEEDS = 100


def grid_steps(m):
    """Adam steps at width ``m`` over the study's targets, all seeds alike.

    The cusp and the step (100 intervals), the Gaussians a = 0.1 and a = 0.25
    (400 intervals) and a = 0.5 (50 intervals below width 316, 100 at 316, 200
    at 562, 400 at 1000).
    """
    half = 50 if m < 316 else {316: 100, 562: 200}.get(m, 400)
    return 100 * (100 + 100 + 400 + 400 + half)


def seed_step_us(m, n_seeds, steps, name):
    """Microseconds per step of one seed, the seeds of a width study trained together."""
    X, y = study_data(m)

    def run(n_steps):
        with core(name):
            start = time.perf_counter()
            width_study(
                study_network(m, n_steps),
                X,
                y,
                widths=[m],
                seeds=range(n_seeds),
                scoring="neg_mean_squared_error",
            )
            return time.perf_counter() - start

    short, long = steps
    return 1e6 * (run(long) - run(short)) / (long - short) / n_seeds


def grid_table(widths, n_seeds, repeats, quick=False):
    """Print the cost of a seed's step at each width, and the grid's training time from it."""
    cores = ("numpy", "c") if _network_1d._spline is not None else ("numpy",)
    print(
        f"\nper-seed step of the published grid: {n_seeds} seeds of a width trained together, "
        f"median of {repeats} repeats"
    )
    header = (
        f"{'width':>6} {'n':>6} {'NumPy us':>10} {'C us':>10} {'NumPy/C':>8} "
        f"{'seed-steps':>11} {'NumPy s':>9} {'C s':>9}"
    )
    print(header)
    print("-" * len(header))
    total = dict.fromkeys(cores, 0.0)
    rows = []
    for m in widths:
        # a timed difference of a fraction of a second per core
        long = 12 if quick else 40 + max(200, min(2000, int(2e7 / (m * n_seeds))))
        steps = (4, long) if quick else (40, long)
        times = {name: [] for name in cores}
        for _ in range(repeats):
            for name in cores:
                times[name].append(seed_step_us(m, n_seeds, steps, name))
        cost = {name: float(np.median(t)) for name, t in times.items()}
        work = GRID_SEEDS * grid_steps(m)
        seconds = {name: cost[name] * 1e-6 * work for name in cores}
        for name in cores:
            total[name] += seconds[name]
        c_us, c_s = cost.get("c", float("nan")), seconds.get("c", float("nan"))
        rows.append({"width": m, "seed_steps": work, **cost})
        print(
            f"{m:>6d} {2 * m:>6d} {cost['numpy']:>10.2f} {c_us:>10.2f} "
            f"{cost['numpy'] / c_us:>8.1f} {work:>11.3g} {seconds['numpy']:>9.0f} {c_s:>9.0f}"
        )
    print(
        f"grid training time = sum over widths of cost(m) * {GRID_SEEDS} seeds * steps(m) "
        "(steps(m): all targets, see grid_steps; evaluation not included):"
    )
    for name in cores:
        print(f"  {name:>5}: {total[name]:.0f} s = {total[name] / 60:.1f} min on one core")
    return rows, total


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
    parser.add_argument(
        "--grid-widths",
        type=int,
        nargs="*",
        default=list(GRID_WIDTHS),
        help="widths of the per-seed step table (none: skip it)",
    )
    parser.add_argument(
        "--grid-seeds",
        type=int,
        default=GRID_SEEDS,
        help="seeds of a width in that table (the study's 100: batched as it is)",
    )
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
        args.grid_widths, args.grid_seeds = [8, 16], 3
    warnings.simplefilter("ignore")  # short runs do not converge; that is not timed
    step_table(args.widths, args.repeats, args.trainable, quick=args.quick)
    seeds_table(args.seed_widths, args.seeds, args.seed_steps, args.repeats)
    if args.grid_widths:
        grid_table(args.grid_widths, args.grid_seeds, args.repeats, quick=args.quick)


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
