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

4. The solvers of NTKRegressor (``solver=``; section "solvers", apart from the
   kernel sections above):

   * accuracy: ``"nystroem"`` with every point a center (M = n) against
     ``"cholesky"`` (converged, ridge) and ``"eigh"`` (finite-step GD, flow and
     the ensemble's standard deviation), and ``"jacobian"`` against ``"eigh"``
     on the same finite network; target: 1e-6 relative at n = 5,000 (``--large``);
   * scale, each case in a fresh subprocess (time and peak resident memory
     ``VmHWM``): ``"nystroem"`` on n points of S^2 (d = 3, depth 2, ReLU) with
     M centers, converged and after 1000 GD steps, predicting 10,000 points;
     targets at n = 200,000, M = 5,000 (``--large``): 5 minutes and 2 GiB each;
     ``"jacobian"`` for a width-64 depth-1 network at ``n_steps=1000``; target
     at n = 100,000 (``--large``): 1 minute.

   The default sizes are small (n = 1,000 for accuracy, n = 20,000 with
   M = 1,000, n = 20,000 for the Jacobian)::

       python benchmarks/bench_ntk.py --solvers-only            # a few minutes
       python benchmarks/bench_ntk.py --solvers-only --large    # the targets
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


# --- 4. the solvers of NTKRegressor --------------------------------------------------


def sphere_data(n, seed=0, d=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.sin(3 * X[:, 0]) * X[:, 1] + 0.1 * rng.normal(size=n)
    return X, y


def _relative(ours, ref):
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def _report(row):
    """Print a row as soon as it is measured (the large cases take minutes)."""
    name, ours, _, ref, note = row
    print(
        f"  ... {name}: {_format(ours).strip()} (target {_format(ref).strip()}) {note}", flush=True
    )


def bench_solver_accuracy(n, rows, n_test=1000):
    """Low-rank solvers with exact features against the exact solvers."""
    X, y = sphere_data(n)
    X_test, _ = sphere_data(n_test, seed=1)
    cases = [
        ("converged, ridge 1e-3", dict(alpha=1e-3), "cholesky"),
        ("GD n_steps=100", dict(n_steps=100), "eigh"),
        ("flow n_steps=100", dict(n_steps=100, dynamics="flow"), "eigh"),
    ]
    for label, params, exact_solver in cases:
        start = time.perf_counter()
        exact = NTKRegressor(solver=exact_solver, **params).fit(X, y)
        t_exact = time.perf_counter() - start
        start = time.perf_counter()
        low = NTKRegressor(solver="nystroem", n_components=n, **params).fit(X, y)
        t_low = time.perf_counter() - start
        mean_e, std_e = exact.predict(X_test, return_std=True)
        mean_l, std_l = low.predict(X_test, return_std=True)
        timing = f"fit {t_low:.1f} s vs {exact_solver} {t_exact:.1f} s"
        rows.append(
            (
                f"nystroem M=n={n} vs {exact_solver}: {label}, mean",
                _relative(mean_l, mean_e),
                "target max relative error",
                1e-6,
                timing,
            )
        )
        rows.append(
            (
                f"nystroem M=n={n} vs {exact_solver}: {label}, std",
                _relative(std_l, std_e),
                "target max relative error",
                1e-6,
                "",
            )
        )
        _report(rows[-2])
        _report(rows[-1])
    params = dict(finite_width=64, depth=1, n_steps=1000, random_state=0)
    m = min(n, 2000)  # the exact solver on the empirical kernel is O(n^3)
    exact = NTKRegressor(solver="eigh", **params).fit(X[:m], y[:m])
    jac = NTKRegressor(solver="jacobian", **params).fit(X[:m], y[:m])
    rows.append(
        (
            f"jacobian vs eigh, width 64 depth 1, n={m}, mean",
            _relative(jac.predict(X_test), exact.predict(X_test)),
            "target max relative error",
            1e-6,
            f"r = {jac.n_components_} features",
        )
    )


SOLVER_CHILD = r"""
import json, sys, time, numpy as np
sys.path.insert(0, sys.argv[2])
from bench_ntk import sphere_data
from sklearn_gdnet import NTKRegressor

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

case = json.loads(sys.argv[1])
X, y = sphere_data(case["n"])
X_test, _ = sphere_data(case["n_test"], seed=1)
before = status("VmRSS")
cpu, start = time.process_time(), time.perf_counter()
model = NTKRegressor(**case["params"]).fit(X, y)
fit = time.perf_counter() - start
start = time.perf_counter()
pred = model.predict(X_test)
predict = time.perf_counter() - start
cpu = time.process_time() - cpu  # all threads of this process
assert np.all(np.isfinite(pred))
print(json.dumps({"fit": fit, "predict": predict, "cpu": cpu, "before": before,
                  "peak": status("VmHWM"), "solver": model.solver_}))
"""


def bench_solver_scale(label, n, params, target_s, rows, n_test=10_000, target_mib=2048):
    case = {"n": n, "n_test": n_test, "params": params}
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, "-c", SOLVER_CHILD, json.dumps(case), here],
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    total = res["fit"] + res["predict"]
    rows.append(
        (
            f"{label}: fit + predict {n_test}",
            total,
            f"target {target_s} s",
            target_s,
            f"fit {res['fit']:.1f} s, predict {res['predict']:.1f} s ({res['solver']}); "
            f"cpu {res['cpu']:.0f} s, cpu/wall {res['cpu'] / total:.2f} (of {os.cpu_count()} "
            "cores: below that, other processes held them)",
        )
    )
    _report(rows[-1])
    if target_mib is not None:
        rows.append(
            (
                f"{label}: peak resident memory, MiB",
                res["peak"] / 2**20,
                f"target {target_mib} MiB",
                target_mib,
                f"{(res['peak'] - res['before']) / 2**20:.0f} MiB above the process before fit",
            )
        )
        _report(rows[-1])


def bench_solvers(args, rows):
    bench_solver_accuracy(args.solver_n, rows, n_test=min(args.test_n, 1000))
    n, M, n_test = args.scale_n, args.components, args.test_n
    common = dict(solver="nystroem", n_components=M, random_state=0)
    label = f"nystroem n={n}, M={M}"
    bench_solver_scale(f"{label}, converged", n, common, 300, rows, n_test=n_test)
    bench_solver_scale(
        f"{label}, GD 1000 steps", n, dict(common, n_steps=1000), 300, rows, n_test=n_test
    )
    jac = dict(solver="jacobian", finite_width=64, depth=1, n_steps=1000, random_state=0)
    bench_solver_scale(
        f"jacobian width 64, n={args.jacobian_n}, 1000 steps",
        args.jacobian_n,
        jac,
        60,
        rows,
        n_test=n_test,
        target_mib=None,
    )


def _format(value):
    return f"{value:>9.2e}" if 0 < abs(value) < 1e-3 else f"{value:>9.3f}"


def main(argv=None):
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
    parser.add_argument("--solvers-only", action="store_true", help="only section 4, the solvers")
    parser.add_argument("--skip-solvers", action="store_true", help="skip section 4")
    parser.add_argument(
        "--large",
        action="store_true",
        help="section 4 at the sizes of its targets: accuracy at n = 5000, the "
        "Nystroem solver at n = 200000 with M = 5000, the Jacobian at n = 100000",
    )
    parser.add_argument("--solver-n", type=int, default=None, help="n for accuracy")
    parser.add_argument("--scale-n", type=int, default=None, help="n for the Nystroem scale")
    parser.add_argument("--components", type=int, default=None, help="M for the scale")
    parser.add_argument("--jacobian-n", type=int, default=None, help="n for the Jacobian")
    parser.add_argument(
        "--test-n", type=int, default=10_000, help="points predicted in the scale cases"
    )
    args = parser.parse_args(argv)
    sizes = (5000, 200_000, 5000, 100_000) if args.large else (1000, 20_000, 1000, 20_000)
    for name, value in zip(("solver_n", "scale_n", "components", "jacobian_n"), sizes):
        if getattr(args, name) is None:
            setattr(args, name, value)
    rows = []
    if not args.solvers_only:
        bench_kernels([1000] if args.quick else [1000, 3000], rows)
        bench_fit_predict(1000 if args.quick else 3000, 1000, rows)
        bench_memory(4000 if args.quick else 10000, "default", rows)
        bench_memory(4000 if args.quick else 10000, "ridge", rows)
        bench_memory(min(args.eigh_n, 2000) if args.quick else args.eigh_n, "steps", rows)
    if not args.skip_solvers:
        bench_solvers(args, rows)

    print(f"numpy {np.__version__}, {os.cpu_count()} cores")
    header = f"{'measurement':<58} {'ours':>9} {'reference':<40} {'ref':>9} {'ratio':>6}  note"
    print(header)
    print("-" * len(header))
    for name, ours, ref_name, ref, note in rows:
        print(
            f"{name:<58} {_format(ours)} {ref_name:<40} {_format(ref)} {ours / ref:>6.2f}  {note}"
        )
    print("times in seconds unless marked MiB; ratio = ours / reference")


if __name__ == "__main__":
    main()
