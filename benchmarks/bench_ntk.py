"""Speed and memory of the NTK / NNGP kernels and of NTKRegressor.

Run from the repository root::

    python benchmarks/bench_ntk.py            # everything (a few minutes)
    python benchmarks/bench_ntk.py --quick    # n = 1000 only, memory at n = 4000

Three measurements, each against a reference measured in the same run:

1. NNGP + NTK kernel matrices (depth 2, ReLU, d = 10, float64) against a
   straightforward NumPy implementation of the same recursion (full matrices,
   arccos of the correlation), written below. Target: >= 2x faster at n = 3000.
2. NTKRegressor fit + predict against KernelRidge on the same kernel (the kernel
   object passed to KernelRidge, and precomputed matrices plus the time to
   compute them). Target: <= 1.1x.
3. Peak memory of NTKRegressor.fit at n = 10000 (the default, converged:
   Cholesky; and with alpha > 0) and of the eigendecomposition path (n_steps;
   at ``--eigh-n``), measured in a subprocess as the growth of the peak resident
   set size (``VmHWM``) over the resident size just before fit. Target: <= 2.5 n^2 8 bytes.

Times are medians of repeats.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from sklearn.kernel_ridge import KernelRidge

from sklearn_gdnet import NTK, NTKRegressor
from sklearn_gdnet.kernels import nngp_ntk

DEPTH, WEIGHT_STD, BIAS_STD, D = 2, 1.0, 0.1, 10


def straightforward_nngp_ntk(X, depth=DEPTH, weight_std=WEIGHT_STD, bias_std=BIAS_STD):
    """The recursion of DESIGN.md section 3 for ReLU, written the obvious way."""
    sw2, sb2 = weight_std**2, bias_std**2
    K = sw2 * (X @ X.T) / X.shape[1] + sb2
    T = K.copy()
    for _ in range(depth):
        diag = np.sqrt(np.diag(K))
        norms = np.outer(diag, diag)
        theta = np.arccos(np.clip(K / norms, -1.0, 1.0))
        E1 = norms * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
        E0 = (np.pi - theta) / (2 * np.pi)
        T = sw2 * E1 + sb2 + sw2 * E0 * T
        K = sw2 * E1 + sb2
    return K, T


def median_time(fn, repeats):
    return median_times([fn], repeats)[0]


def median_times(fns, repeats):
    """Medians of ``repeats`` timings of each function, run round-robin.

    Interleaving gives every contender the same share of whatever else runs on
    the machine (2 shared cores make single timings noisy).
    """
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [float(np.median(ts)) for ts in times]


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=n)
    return X, y


def bench_kernels(sizes, rows):
    for n in sizes:
        X, _ = data(n)
        K_ref, T_ref = straightforward_nngp_ntk(X)
        K, T = nngp_ntk(X, depth=DEPTH, weight_std=WEIGHT_STD, bias_std=BIAS_STD)
        err = max(np.abs(K - K_ref).max(), np.abs(T - T_ref).max())
        repeats = 9 if n <= 1000 else 7
        t_ref, t_1, t_all = median_times(
            [
                lambda X=X: straightforward_nngp_ntk(X),
                lambda X=X: nngp_ntk(X, n_jobs=1),
                lambda X=X: nngp_ntk(X),
            ],
            repeats,
        )
        wall, cpu = time.perf_counter(), time.process_time()
        nngp_ntk(X)
        busy = (time.process_time() - cpu) / (time.perf_counter() - wall)
        rows.append((f"NNGP+NTK n={n}, 1 thread", t_1, "straightforward NumPy", t_ref, ""))
        rows.append(
            (
                f"NNGP+NTK n={n}, {os.cpu_count()} threads",
                t_all,
                "straightforward NumPy",
                t_ref,
                f"max |diff| {err:.1e}, cpu/wall {busy:.1f}"
                + (", target ratio <= 0.5" if n == 3000 else ""),
            )
        )


def bench_fit_predict(n_train, n_test, rows):
    X, y = data(n_train)
    X_test, _ = data(n_test, seed=1)
    alpha = 1e-3
    kernel = NTK(depth=DEPTH, weight_std=WEIGHT_STD, bias_std=BIAS_STD)

    def ours():
        NTKRegressor(depth=DEPTH, alpha=alpha).fit(X, y).predict(X_test)

    def kr_object():
        KernelRidge(kernel=kernel, alpha=alpha).fit(X, y).predict(X_test)

    def kr_precomputed_with_kernel():
        KernelRidge(kernel="precomputed", alpha=alpha).fit(kernel(X), y).predict(kernel(X_test, X))

    T, T_test = kernel(X), kernel(X_test, X)

    def kr_precomputed_only():
        KernelRidge(kernel="precomputed", alpha=alpha).fit(T, y).predict(T_test)

    def ours_steps():
        NTKRegressor(depth=DEPTH, n_steps=100).fit(X, y).predict(X_test)

    def kernel_only():  # the training and test kernels, as NTKRegressor computes them
        kernel(X)
        kernel(X_test, X)

    label = f"fit+predict n={n_train}/{n_test}"
    t_ours, t_obj, t_pre, t_solver, t_kernel = median_times(
        [ours, kr_object, kr_precomputed_with_kernel, kr_precomputed_only, kernel_only], 7
    )
    rows.append((label, t_ours, "KernelRidge(kernel=NTK())", t_obj, "target <= 1.1"))
    rows.append((label, t_ours, "kernel + KernelRidge(precomputed)", t_pre, "target <= 1.1"))
    rows.append(
        (
            label,
            t_ours,
            "KernelRidge(precomputed), kernel given",
            t_solver,
            "KR without kernel time",
        )
    )
    rows.append(
        (
            f"{label} minus kernel time",
            t_ours - t_kernel,
            "KernelRidge(precomputed), kernel given",
            t_solver,
            f"solver alone; kernel time {t_kernel:.3f} s",
        )
    )
    t_steps, t_pre = median_times([ours_steps, kr_precomputed_with_kernel], 3)
    rows.append(
        (
            "fit+predict n_steps=100 (eigh)",
            t_steps,
            "kernel + KernelRidge(precomputed)",
            t_pre,
            "eigendecomposition vs Cholesky",
        )
    )


MEMORY_CHILD = r"""
import json, sys, numpy as np
from sklearn_gdnet import NTKRegressor

def status(key):  # bytes; VmHWM is the peak RSS of this process image (reset by exec,
    # unlike ru_maxrss, which keeps the parent's RSS at fork)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

n, mode = int(sys.argv[1]), sys.argv[2]
params = {"default": {}, "ridge": {"alpha": 1e-3}, "steps": {"n_steps": 100}}[mode]
rng = np.random.default_rng(0)
X = rng.normal(size=(n, 10)); y = np.sin(X[:, 0])
NTKRegressor(**params).fit(X[:200], y[:200])  # warm up BLAS/LAPACK buffers
before, hwm_before = status("VmRSS"), status("VmHWM")
NTKRegressor(**params).fit(X, y)
print(json.dumps({"before": before, "peak": status("VmHWM"), "hwm_before": hwm_before}))
"""


MEMORY_MODES = {
    "default": "NTKRegressor(): converged, Cholesky",
    "ridge": "alpha=1e-3: Cholesky",
    "steps": "n_steps=100: eigh",
}


def bench_memory(n, mode, rows):
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(n), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    res = json.loads(out.stdout.strip().splitlines()[-1])
    grown = res["peak"] - res["before"]
    budget = 2.5 * n * n * 8
    rows.append(
        (
            f"peak memory n={n}, {MEMORY_MODES[mode]}, MiB",
            grown / 2**20,
            "2.5 n^2 8 bytes, MiB",
            budget / 2**20,
            f"{grown / (n * n * 8):.2f} n^2 8 bytes; fit took {elapsed:.0f} s",
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument(
        "--eigh-n",
        type=int,
        default=4000,
        help="n for the memory of the eigendecomposition path (n_steps); its "
        "peak is size-independent in units of n^2 8 bytes, and eigh at n = 10000 takes "
        "many minutes on 2 cores (default: 4000)",
    )
    args = parser.parse_args()
    rows = []
    bench_kernels([1000] if args.quick else [1000, 3000], rows)
    bench_fit_predict(1000 if args.quick else 3000, 1000, rows)
    bench_memory(4000 if args.quick else 10000, "default", rows)
    bench_memory(4000 if args.quick else 10000, "ridge", rows)
    bench_memory(min(args.eigh_n, 2000) if args.quick else args.eigh_n, "steps", rows)

    print(f"numpy {np.__version__}, {os.cpu_count()} cores")
    header = f"{'measurement':<58} {'ours':>9} {'reference':<40} {'ref':>9} {'ratio':>6}  note"
    print(header)
    print("-" * len(header))
    for name, ours, ref_name, ref, note in rows:
        print(f"{name:<58} {ours:>9.3f} {ref_name:<40} {ref:>9.3f} {ours / ref:>6.2f}  {note}")
    print("times in seconds unless marked MiB; ratio = ours / reference")


if __name__ == "__main__":
    main()
