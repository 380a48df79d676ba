"""The thread policy under a quiet and a contended machine.

For each configuration, the time of a default ``GDNetworkRegressor.fit``
(``learning_rate="auto"``, no thread setting) against the same fit under
``threadpoolctl.threadpool_limits(k)`` for every ``k`` from 1 to the number of
CPUs. Two figures:

* quiet: default / fastest configuration (target: at most 1.10);
* contended, with one CPU-bound process that this script starts itself
  (a Python busy loop): default / one thread (target: at most 1.3).

Each repeat runs every contender once, in turn, so that slow spells of a shared
machine hit all of them; the table gives the median time of each and the median
and quartiles over repeats of the per-repeat ratio.

Run: ``python benchmarks/bench_threads.py [--repeats 7] [--quick]``
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from sklearn_gdnet import GDNetworkRegressor

#: (width, depth, n_samples, n_features, max_iter): the configuration of issue 11
#: (small products: one thread is about as fast as any) and one whose products
#: are large enough for threads to pay off on a quiet machine.
CONFIGS = [(1024, 1, 400, 10, 300), (256, 2, 3000, 10, 30)]
QUICK_CONFIGS = [(64, 1, 100, 3, 5)]


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def time_fit(X, y, width, depth, max_iter, limit):
    net = GDNetworkRegressor(width=width, depth=depth, max_iter=max_iter, random_state=0)
    start = time.perf_counter()
    if limit is None:
        net.fit(X, y)
    else:
        with threadpool_limits(limit):
            net.fit(X, y)
    return time.perf_counter() - start


def measure(config, repeats, limits):
    """Seconds per fit, ``{contender: [per repeat]}``; contender None is the default."""
    width, depth, n, d, max_iter = config
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    contenders = [None] + list(limits)
    time_fit(X, y, width, depth, min(max_iter, 2), None)  # warm up
    times = {c: [] for c in contenders}
    for _ in range(repeats):
        for c in contenders:
            times[c].append(time_fit(X, y, width, depth, max_iter, c))
    return times


def ratio_stats(numerator, denominator):
    r = np.asarray(numerator) / np.asarray(denominator)
    return np.median(r), np.percentile(r, 25), np.percentile(r, 75)


def report(name, config, times, reference_label):
    width, depth, n, d, max_iter = config
    medians = {c: np.median(t) for c, t in times.items()}
    if reference_label == "fastest":
        ref = min((c for c in times if c is not None), key=medians.get)
    else:
        ref = 1
    med, q25, q75 = ratio_stats(times[None], times[ref])
    label = "default" if ref is None else f"limit {ref}"
    row = "  ".join(
        f"{'default' if c is None else f'limit {c}'} {1e3 * m:8.1f} ms" for c, m in medians.items()
    )
    print(f"{name:9s} width {width:5d} depth {depth} n {n:5d} x {max_iter:3d} steps: {row}")
    print(
        f"{'':9s} default / {label} ({reference_label}): median {med:.2f}  "
        f"quartiles [{q25:.2f}, {q75:.2f}]"
    )
    return med


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="a tiny configuration (tests)")
    args = parser.parse_args(argv)
    configs = QUICK_CONFIGS if args.quick else CONFIGS
    n_cpus = cpu_count()
    print(f"{n_cpus} CPUs; times are medians over {args.repeats} repeats")

    results = {}
    for config in configs:
        times = measure(config, args.repeats, range(1, n_cpus + 1))
        results[config, "quiet"] = report("quiet", config, times, "fastest")

    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it take its core
        for config in configs:
            times = measure(config, args.repeats, [1])
            results[config, "contended"] = report("contended", config, times, "one thread")
    finally:
        competitor.kill()
        competitor.wait()
    return results


if __name__ == "__main__":
    main()
