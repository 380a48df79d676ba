"""Where the time of a gradient-descent step goes, operation by operation.

Trains ``GDNetworkRegressor`` (depth 2, ReLU, n=2000, d=10, as in
``bench_gd.py``) with its matrix products and element-wise kernels wrapped in
timers, and prints milliseconds per step for each kind of operation, the
largest first, with the share of the step. Wrapping adds a few microseconds
per call; the ``fit`` line gives the unwrapped total for comparison.

Run: ``python benchmarks/profile_step.py [--width 256] [--dtype float64] [--steps 200]``
"""

import argparse
import time
from collections import defaultdict

import numpy as np

from sklearn_gdnet import GDNetworkRegressor, _network, _optim

N_SAMPLES, N_FEATURES, DEPTH = 2000, 10, 2


def _shape(A):
    return f"{A.shape}{'' if A.flags.c_contiguous else 'T'}"


def instrument(totals):
    """Wrap the step's operations in timers; return a function that undoes it."""
    saved = []

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            result = original(*args, **kwargs)
            totals[label(*args)] += time.perf_counter() - start
            return result

        saved.append((owner, name, original))
        setattr(owner, name, timed)

    # Matrix-vector products made through `_gemm` count as products; the bias
    # gradients that call `_gemv` directly (without the kernels) fall under
    # "everything else".
    wrap(_network, "_gemm", lambda alpha, A, B, *rest: f"product {_shape(A)} @ {_shape(B)}")
    wrap(_optim, "_loss", lambda *args: "loss")
    if _network._fused is not None:
        names = [name for name in dir(_network._fused) if not name.startswith("_")]
        kernels = type("Kernels", (), {})()
        for name in names:
            setattr(kernels, name, getattr(_network._fused, name))
        saved.append((_network, "_fused", _network._fused))
        _network._fused = kernels
        for name in names:
            wrap(kernels, name, lambda *args, name=name: f"C kernel {name}")

    def undo():
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)

    return undo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES)).astype(args.dtype)
    y = np.sin(X[:, 0]).astype(args.dtype)

    def fit():
        est = GDNetworkRegressor(
            width=args.width, depth=DEPTH, learning_rate=1e-3, max_iter=args.steps, random_state=0
        )
        time.sleep(0.2)
        start = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - start

    plain = fit()
    totals = defaultdict(float)
    undo = instrument(totals)
    try:
        wrapped = fit()
    finally:
        undo()
    steps = args.steps
    print(
        f"width={args.width}, {args.dtype}, n={N_SAMPLES}, d={N_FEATURES}, depth={DEPTH}, "
        f"{steps} steps; ms per step"
    )
    for label, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<48} {1e3 * seconds / steps:8.3f}  {seconds / wrapped:6.1%}")
    print(
        f"  {'everything else (Python, copies, set-up)':<48} "
        f"{1e3 * (wrapped - sum(totals.values())) / steps:8.3f}"
    )
    print(
        f"fit: {1e3 * plain / steps:.3f} ms per step unwrapped, {1e3 * wrapped / steps:.3f} wrapped"
    )


if __name__ == "__main__":
    main()
