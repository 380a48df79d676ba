"""Each C kernel of the ReLU step against the BLAS and NumPy passes it replaces.

For every kernel of ``sklearn_gdnet._fused`` and a range of widths, the time of
one call against the time of the passes that the training step would make
without it, median over repeats, alternating the two, and their ratio (above 1:
the kernel is faster). n = 2000 samples and p = 10 input features, as in
``bench_gd.py``. These figures set where the step uses each kernel (for
instance ``_network.THIN_INPUT_MIN_WIDTH``).

Run: ``python benchmarks/bench_kernels.py [--repeats 50] [--widths 16 64 256 1024]``
"""

import argparse
import time

import numpy as np

from sklearn_gdnet import _network

N_SAMPLES, N_FEATURES = 2000, 10


def median_ms(f, g, repeats):
    """Median milliseconds of ``f`` and of ``g``, called in turn."""
    f(), g()
    tf, tg = [], []
    for _ in range(repeats):
        for fn, ts in ((f, tf), (g, tg)):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return 1e3 * float(np.median(tf)), 1e3 * float(np.median(tg))


def cases(m, dtype, rng):
    """(name, kernel call, the passes it replaces) for width ``m``."""
    fused, gemm = _network._fused, _network._gemm
    n, p = N_SAMPLES, N_FEATURES
    x = rng.standard_normal((n, p)).astype(dtype)
    W1 = rng.standard_normal((p, m)).astype(dtype)
    z = rng.standard_normal((n, m)).astype(dtype)
    z2 = z.copy()
    h = np.maximum(rng.standard_normal((n, m)), 0).astype(dtype)
    d = rng.standard_normal((n, m)).astype(dtype)
    b, v = rng.standard_normal(m).astype(dtype), rng.standard_normal(m).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    sw = np.ones(n)
    scale = np.full(n, 1.0 / n, dtype=dtype)
    out, r, out2 = np.empty(n, dtype), np.empty(n, dtype), np.empty((n, 1), dtype)
    cs, gh, g = np.empty(m, dtype), np.empty(m, dtype), np.empty((p, m), dtype)
    dd = d.copy()

    # The passes work in place, as in the step; repeating them on their own output
    # changes the values, not the work.
    def relu_output_by_passes():
        fused.relu_bias(z2, b)
        gemm(1.0, z2, v[:, None], out2)
        np.subtract(out2[:, 0], y, out=r)
        loss = float(sw @ (r.astype(np.float64) ** 2))
        np.multiply(r, scale, out=r)
        fused.outer_mask(dd, r, v, z2, cs)
        gemm(1.0, z2.T, r[:, None], gh[:, None])
        return loss

    return [
        (
            "linear_relu",
            lambda: fused.linear_relu(z2, x, W1, b, 0.5),
            lambda: (gemm(0.5, x, W1, z2), fused.relu_bias(z2, b)),
        ),
        (
            "relu_output",
            lambda: fused.relu_output(z, b, v, 0.1, y, sw, scale, out, r, dd, cs, gh),
            relu_output_by_passes,
        ),
        (
            "mask_mul + x.T @ d",
            lambda: fused.mask_mul(d, h, cs, x, g, False),
            lambda: (fused.mask_mul(dd, h, cs), gemm(1.0, x.T, dd, g)),
        ),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 100, 256, 1024])
    args = parser.parse_args(argv)
    if _network._fused is None:
        raise SystemExit("sklearn_gdnet._fused was not built: nothing to compare")
    rng = np.random.default_rng(0)
    print(f"n={N_SAMPLES}, p={N_FEATURES}, median of {args.repeats}; ms per call")
    header = f"{'kernel':<20} {'dtype':>8} {'width':>6} {'kernel':>9} {'passes':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for dtype in (np.float64, np.float32):
        for m in args.widths:
            for name, kernel, passes in cases(m, dtype, rng):
                t_kernel, t_passes = median_ms(kernel, passes, args.repeats)
                print(
                    f"{name:<20} {np.dtype(dtype).name:>8} {m:>6} {t_kernel:>9.3f} "
                    f"{t_passes:>9.3f} {t_passes / t_kernel:>6.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
