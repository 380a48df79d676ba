"""Time per full-batch gradient-descent step: GDNetworkRegressor against MLPRegressor.

Both train the same network (depth 2, same width, ReLU) on the same data by
full-batch gradient descent: MLPRegressor with ``solver="sgd"``,
``batch_size=n``, ``momentum=0``, ``alpha=0``, no early stopping, no
shuffling. The time per step is the slope between a short and a long run
(so set-up and initialization cancel), median over repeats; the contenders
run in turn within each repeat so that the machine's slow spells hit all.
The columns ``q25`` and ``q75`` give the spread of the ratio from repeat to
repeat (quartiles of MLPRegressor time / ours within each repeat): on a
shared machine a single repeat can be well off the median.

Also printed: our achieved GFLOP/s (the step's matrix-product flops over its
time) against the GFLOP/s of a plain ``(n, m) @ (m, m)`` product measured in
the same run, i.e. the fraction of the machine's matrix-product throughput
that a step attains.

``--numpy-only`` times our step without the compiled ReLU kernels of
``sklearn_gdnet._fused`` (the NumPy code that replaces them where they were
not built), to show what they contribute.

Run: ``python benchmarks/bench_gd.py [--repeats 5] [--numpy-only]``
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from sklearn_gdnet import GDNetworkRegressor, _network

N_SAMPLES, N_FEATURES, DEPTH = 2000, 10, 2
#: Seconds of rest before each timed run. NumPy (MLPRegressor, the reference
#: product) and SciPy (our training loop) each bring their own OpenBLAS, whose
#: worker threads keep spinning for a while after a product; without the pause
#: the contender that runs next shares the CPUs with the previous one's threads.
PAUSE = 0.2


def step_flops(n, d, m, k=1):
    """Matrix-product flops of one step: forward, backpropagated deltas, gradients."""
    forward = 2 * n * (d * m + m * m + m * k)
    deltas = 2 * n * (k * m + m * m)
    grads = 2 * n * (d * m + m * m + m * k)
    return forward + deltas + grads


def time_fit(make, X, y, steps):
    est = make(steps)
    time.sleep(PAUSE)  # let the other contender's idle BLAS threads stop spinning
    start = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - start


def step_time(make, X, y, short, long):
    """(t(long) - t(short)) / (long - short): set-up and initialization cancel."""
    return (time_fit(make, X, y, long) - time_fit(make, X, y, short)) / (long - short)


def matmul_time(A, B, out):
    reps = max(3, int(2e9 / (2 * A.shape[0] * B.shape[0] * B.shape[1])))
    time.sleep(PAUSE)
    start = time.perf_counter()
    for _ in range(reps):
        np.matmul(A, B, out=out)
    return (time.perf_counter() - start) / reps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument(
        "--numpy-only", action="store_true", help="do not use the compiled ReLU kernels"
    )
    args = parser.parse_args(argv)
    if args.numpy_only:
        _network._fused = None
    warnings.simplefilter("ignore", ConvergenceWarning)

    rng = np.random.default_rng(0)
    X64 = rng.standard_normal((N_SAMPLES, N_FEATURES))
    y64 = np.sin(X64[:, 0]) + 0.1 * rng.standard_normal(N_SAMPLES)
    kernels = "C kernels" if _network._fused is not None else "NumPy only (no C kernels)"
    print(f"n={N_SAMPLES}, d={N_FEATURES}, depth={DEPTH}, median of {args.repeats}")
    print(f"ours: {kernels}")
    header = (
        f"{'dtype':>8} {'width':>6} {'MLP ms/step':>12} {'ours ms/step':>13} "
        f"{'ratio':>6} {'q25':>5} {'q75':>5} {'ours GFLOP/s':>13} {'matmul GFLOP/s':>15} "
        f"{'fraction':>9}"
    )
    print(header)
    print("-" * len(header))
    for dtype in (np.float64, np.float32):
        X, y = X64.astype(dtype), y64.astype(dtype)
        for m in args.widths:
            short, long = (2, 12) if m >= 1024 else (5, 55)

            def ours(steps, m=m):
                return GDNetworkRegressor(
                    width=m, depth=DEPTH, learning_rate=1e-3, max_iter=steps, random_state=0
                )

            def mlp(steps, m=m):
                return MLPRegressor(
                    hidden_layer_sizes=(m,) * DEPTH,
                    solver="sgd",
                    batch_size=N_SAMPLES,
                    momentum=0.0,
                    alpha=0.0,
                    learning_rate_init=1e-3,
                    max_iter=steps,
                    shuffle=False,
                    early_stopping=False,
                    tol=0.0,
                    n_iter_no_change=10**9,
                    random_state=0,
                )

            rng = np.random.default_rng(0)
            A = rng.standard_normal((N_SAMPLES, m)).astype(dtype)
            B = rng.standard_normal((m, m)).astype(dtype)
            out = np.empty((N_SAMPLES, m), dtype=dtype)
            # Round robin, so that a slow spell of the machine hits every contender.
            samples = {"ours": [], "mlp": [], "matmul": []}
            for _ in range(args.repeats):
                samples["ours"].append(step_time(ours, X, y, short, long))
                samples["mlp"].append(step_time(mlp, X, y, short, long))
                samples["matmul"].append(matmul_time(A, B, out))
            t_ours, t_mlp, t_mm = (float(np.median(samples[k])) for k in samples)
            q25, q75 = np.percentile(np.divide(samples["mlp"], samples["ours"]), [25, 75])
            ours_gf = step_flops(N_SAMPLES, N_FEATURES, m) / t_ours / 1e9
            peak = 2 * N_SAMPLES * m * m / t_mm / 1e9
            print(
                f"{np.dtype(dtype).name:>8} {m:>6} {1e3 * t_mlp:>12.3f} {1e3 * t_ours:>13.3f} "
                f"{t_mlp / t_ours:>6.2f} {q25:>5.2f} {q75:>5.2f} {ours_gf:>13.1f} {peak:>15.1f} "
                f"{ours_gf / peak:>9.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
