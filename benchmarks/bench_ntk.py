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

5. Kernels of smooth activations (section "activations"): ``NTK(depth=2)``
   value + gradient at n = 300 points of N(0, I_3) for tanh, sigmoid,
   softplus and gelu (Hermite series) against the former per-pair 2-d
   Gauss-Hermite quadrature (a copy kept below, run through the same
   recursion), ReLU as a peer; target >= 20x faster. Also the dual maps'
   error against adaptive 2-d integration (target 1e-6 relative) and the
   smallest eigenvalue and asymmetry of each matrix::

       python benchmarks/bench_ntk.py --activations-only          # ~5-10 minutes
       python benchmarks/bench_ntk.py --activations-only --quick  # n = 100
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
    """The NNGP/NTK recursion of the user guide for ReLU, written the obvious way."""
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
                f"NNGP+NTK n={n}, default threads (relu: one)",
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


# --- 5. kernels of smooth activations: Hermite series vs the former 2-d quadrature ----


class _FormerGaussHermiteDual:
    """The dual maps of smooth activations before issue 12: 2-d Gauss-Hermite per pair.

    Kept here only as the "before" of section 5 (a copy of the former
    ``sklearn_gdnet._activations.GaussHermiteDual``, node count fixed per matrix
    from its largest variance as the former kernels did).
    """

    def __init__(self, act, n_nodes):
        from sklearn_gdnet import _activations as A

        derivatives = {
            "tanh": (A._tanh_d2, A._tanh_d3),
            "sigmoid": (A._sigmoid_d2, A._sigmoid_d3),
            "softplus": (A._sigmoid_d, A._sigmoid_d2),
            "gelu": (A._gelu_d2, A._gelu_d3),
        }[act.name]
        self.phi, self.dphi = act.phi, act.dphi
        self.d2phi, self.d3phi = derivatives
        z, w = np.polynomial.hermite_e.hermegauss(n_nodes)
        w = w / np.sqrt(2.0 * np.pi)
        keep = w > 1e-17 * w.max()
        self.z, self.w = z[keep], w[keep]

    @staticmethod
    def nodes_for(max_variance):
        return 64 if max_variance <= 1.0 else 128 if max_variance <= 3.0 else 256

    def __call__(self, q11, q22, q12, tangents=None):
        q11, q22, q12 = np.broadcast_arrays(
            np.asarray(q11, dtype=float), np.asarray(q22, dtype=float), np.asarray(q12, dtype=float)
        )
        r11 = np.sqrt(np.maximum(q11, 0.0))
        r22 = np.sqrt(np.maximum(q22, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(r11 > 0, q12 / np.where(r11 > 0, r11, 1.0), 0.0)
        a = np.clip(a, -r22, r22)
        b = np.sqrt(np.maximum(q22 - a * a, 0.0))
        z, w = self.z, self.w
        grad = tangents is not None
        acc = np.zeros((7 if grad else 2,) + q12.shape)
        bz = b[..., None] * z
        for zi, wi in zip(z, w):
            u = r11 * zi
            v = a[..., None] * zi + bz
            pv, dv = self.phi(v) @ w, self.dphi(v) @ w
            acc[0] += wi * self.phi(u) * pv
            acc[1] += wi * self.dphi(u) * dv
            if grad:
                d2v = self.d2phi(v) @ w
                acc[2] += wi * self.d2phi(u) * pv
                acc[3] += wi * self.phi(u) * d2v
                acc[4] += wi * self.d2phi(u) * d2v
                acc[5] += wi * self.d3phi(u) * dv
                acc[6] += wi * self.dphi(u) * (self.d3phi(v) @ w)
        if not grad:
            return acc[0], acc[1]
        dq11, dq22, dq12 = tangents
        de1 = acc[1] * dq12 + 0.5 * (acc[2] * dq11 + acc[3] * dq22)
        de0 = acc[4] * dq12 + 0.5 * (acc[5] * dq11 + acc[6] * dq22)
        return acc[0], acc[1], de1, de0


def _former_kernel(activation, X, depth=2, weight_std=1.0, bias_std=0.1, gradient=True):
    """NTK (and gradient) with the former dual, through the package's recursion."""
    from sklearn_gdnet import kernels as kmod
    from sklearn_gdnet._activations import ACTIVATIONS

    rec = kmod._Recursion.build(depth, activation, weight_std, bias_std)
    qs, _ = kmod._diagonal_with_gradient(rec, np.einsum("ij,ij->i", X, X) / X.shape[1])
    n_nodes = _FormerGaussHermiteDual.nodes_for(max(float(q.max()) for q in qs[:-1]))
    old = _FormerGaussHermiteDual(ACTIVATIONS[activation], n_nodes)
    rec = kmod._Recursion(depth, old, rec.sw2, rec.sb2, rec.w_trained, rec.b_trained)
    if not gradient:
        return kmod._kernel_matrices(rec, X, want_K=False)[1], None, old
    K, T, dK, dT = kmod._kernel_gradients(rec, X)
    return T, dT, old


def _dual_errors(act, duals, q11, q22, rho):
    """Error of each dual map in ``duals`` against dblquad at one pair, relative to
    ``sqrt(E(u, u) E(v, v))`` of each map (the largest of E1's and E0's errors)."""
    ref = _dblquad_dual(act, q11, q22, rho)
    scale = [np.sqrt(a * b) for a, b in zip(act.dual(q11, q11, q11), act.dual(q22, q22, q22))]
    errors = {}
    for key, dual in duals.items():
        got = dual(q11, q22, rho * np.sqrt(q11 * q22))
        errors[key] = max(abs(float(g) - r) / s for g, r, s in zip(got, ref, scale))
    return errors


def _dblquad_dual(act, q11, q22, rho):
    from scipy import integrate

    a, b, c = np.sqrt(q11), np.sqrt(q22), np.sqrt(max(1.0 - rho * rho, 0.0))

    def density(z):
        return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)

    def expect(f):
        return integrate.dblquad(
            lambda z2, z1: f(a * z1) * f(b * (rho * z1 + c * z2)) * density(z1) * density(z2),
            -12,
            12,
            -12,
            12,
            epsabs=1e-13,
            epsrel=1e-12,
        )[0]

    return expect(act.phi), expect(act.dphi)


def bench_activations(n, rows, n_pairs=6, activations=("tanh", "sigmoid", "softplus", "gelu")):
    """NTK(depth=2) value + gradient at n points of N(0, I_3), and dual-map accuracy.

    Speed: ours against the former 2-d Gauss-Hermite dual (same recursion, one
    run each: the former takes about a minute for tanh at n = 300), with ReLU as
    a peer. Accuracy and structure on the harder inputs of issue 12, n points
    uniform in [-3, 3]^3 (variances up to 9): E1 and E0 at ``n_pairs``
    first-layer covariances against adaptive 2-d integration, relative to
    sqrt(E(x,x) E(x',x')); smallest eigenvalue / largest, and asymmetry, of
    each NTK matrix.
    """
    from sklearn_gdnet._activations import ACTIVATIONS

    X = np.random.default_rng(0).normal(size=(n, 3))
    relu = NTK(depth=2)
    t_relu = median_time(lambda: relu(X, eval_gradient=True), 3)
    rows.append((f"NTK relu value+gradient n={n}", t_relu, "(peer for the rows below)", t_relu, ""))
    rng = np.random.default_rng(1)
    box = rng.uniform(-3.0, 3.0, size=(n, 3))
    pairs = rng.choice(n, size=(n_pairs, 2), replace=n < 2 * n_pairs)
    sq = np.einsum("ij,ij->i", box, box) / 3
    for name in activations:
        act = ACTIVATIONS[name]
        kernel = NTK(depth=2, activation=name)
        start = time.perf_counter()
        kernel(X, eval_gradient=True)
        t_new = time.perf_counter() - start
        start = time.perf_counter()
        _, _, old = _former_kernel(name, X)
        t_old = time.perf_counter() - start
        rows.append(
            (
                f"NTK {name} value+gradient n={n}",
                t_new,
                "former 2-d Gauss-Hermite",
                t_old,
                f"speedup {t_old / t_new:.0f}x (target >= 20x); {t_new / t_relu:.0f}x relu",
            )
        )
        errors = {"series": 0.0, "former": 0.0}
        for i, j in pairs:
            q11, q22 = sq[i] + 0.01, sq[j] + 0.01  # K^1 with weight_std 1, bias_std 0.1
            rho = (box[i] @ box[j] / 3 + 0.01) / np.sqrt(q11 * q22)
            duals = {"series": act.dual, "former": old}
            for key, err in _dual_errors(act, duals, q11, q22, rho).items():
                errors[key] = max(errors[key], err)
        rows.append(
            (
                f"  {name} dual maps, max rel. error vs dblquad, |x_j| <= 3",
                errors["series"],
                "former 2-d Gauss-Hermite",
                errors["former"],
                f"{n_pairs} pairs; target <= 1e-6",
            )
        )
        # Large variances, where the former rule failed (issue 12): near the top
        # of the range the series serves, at correlations near +-1 and 1.
        top = {"tanh": 25.0}.get(name, 100.0)
        hard = {"series": 0.0, "former": 0.0}
        former = _FormerGaussHermiteDual(act, _FormerGaussHermiteDual.nodes_for(top))
        for q11, q22, rho in [(top, 0.8 * top, 0.999), (top, 0.3 * top, -0.95), (top, top, 1.0)]:
            duals = {"series": act.dual, "former": former}
            for key, err in _dual_errors(act, duals, q11, q22, rho).items():
                hard[key] = max(hard[key], err)
        rows.append(
            (
                f"  {name} dual maps, max rel. error vs dblquad, q <= {top:g}",
                hard["series"],
                "former 2-d Gauss-Hermite",
                hard["former"],
                "3 pairs; target <= 1e-6",
            )
        )
        structure = []
        for M in (kernel(box), _former_kernel(name, box, gradient=False)[0]):
            top = np.abs(M).max()
            structure.append(
                (np.linalg.eigvalsh(0.5 * (M + M.T)).min() / top, np.abs(M - M.T).max() / top)
            )
        rows.append(
            (
                f"  {name} NTK min eigenvalue / max, |x_j| <= 3",
                structure[0][0],
                "former 2-d Gauss-Hermite",
                structure[1][0],
                f"asymmetry {structure[0][1]:.0e} vs {structure[1][1]:.0e}",
            )
        )
        for name_, ours, ref_name, ref, note in rows[-4:]:
            print(f"  ... {name_}: {ours:.3g} ({ref_name}: {ref:.3g}) {note}", flush=True)


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
        "--activations-only",
        action="store_true",
        help="only section 5, the kernels of smooth activations",
    )
    parser.add_argument("--skip-activations", action="store_true", help="skip section 5")
    parser.add_argument(
        "--activation-n", type=int, default=None, help="n for section 5 (default 300; quick 100)"
    )
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
    if args.activation_n is None:
        args.activation_n = 100 if args.quick else 300
    rows = []
    if args.activations_only:
        args.solvers_only, args.skip_solvers = True, True
    if not args.solvers_only:
        bench_kernels([1000] if args.quick else [1000, 3000], rows)
        bench_fit_predict(1000 if args.quick else 3000, 1000, rows)
        bench_memory(4000 if args.quick else 10000, "default", rows)
        bench_memory(4000 if args.quick else 10000, "ridge", rows)
        bench_memory(min(args.eigh_n, 2000) if args.quick else args.eigh_n, "steps", rows)
    if not args.skip_solvers:
        bench_solvers(args, rows)
    if not args.skip_activations:
        bench_activations(args.activation_n, rows)

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
