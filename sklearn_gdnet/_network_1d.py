"""The exact core of a shallow network on one input feature.

A network with one input feature, one hidden layer and a piecewise-linear
activation (ReLU or the identity) is a piecewise-linear function of ``x``:
unit ``r`` contributes ``alpha_r * phi(u_r x + v_r)`` with ``u_r = a_1 W1_r``,
``v_r = c_1 b1_r`` and ``alpha_r = a_2 W2_r`` (the multipliers of `_network`),
which for ReLU is linear on each side of its knot ``-v_r / u_r``: active above
it when ``u_r > 0``, below it when ``u_r < 0``, everywhere or nowhere when
``u_r = 0`` (as ``v_r > 0`` or not). With the samples sorted once, a unit's
active samples are a prefix or a suffix of them, found by a binary search, so
that

* the output at every sample is ``x S1(x) + S0(x)`` with ``S1, S0`` the sums
  of ``alpha_r u_r`` and ``alpha_r v_r`` over the units active there: prefix
  sums over the boundaries (one histogram, one cumulative sum);
* the gradients need, per unit, the sums of the backpropagated residual ``e_i``
  and of ``e_i x_i`` over its active samples: prefix or suffix sums over the
  sorted samples, read at the unit's boundary.

A pass costs ``O(n + m log n)`` (``n`` samples, ``m`` units) instead of the
dense ``O(n m)``, and computes the same quantities as the dense passes up to
rounding: nothing is approximated. Whether a unit is active at ``x_i`` is
decided by the same floating-point test as in the dense pass, ``x_i u_r + v_r >
0`` (a sample exactly at a knot is inactive: ``phi'(0) = 0``), not by comparing
``x_i`` with a rounded knot. Sums are accumulated in float64.

Where the optional C extension `sklearn_gdnet._spline` is built, each pass
is one call to it (the boundaries in `_columns`, the outputs in `_outputs`,
the sums of the residual in `_sums_over_active`), over every seed of a batch
(`_batched`) at once, and gives the same numbers to the last bit: it follows
these NumPy operations one by one (the private switch `USE_C` turns it off,
for tests and benchmarks).

The module has the interface of `_network` that the training loops use
(`Workspace`, `forward`, `backward`, `gradients`, `jvp`, `workspace_nbytes`);
`NetworkSpec.core` chooses it where it `applies`.
"""

from __future__ import annotations

import os

import numpy as np
from scipy import sparse

try:  # optional C kernels (setup.py); without them NumPy does the same passes
    from . import _spline
except ImportError:  # pragma: no cover - depends on the build
    _spline = None

__all__ = [
    "FORCE",
    "MIN_WIDTH",
    "USE_C",
    "computes",
    "Workspace",
    "applies",
    "backward",
    "forward",
    "gradients",
    "jvp",
    "workspace_nbytes",
]

#: Activations that are linear on each side of one knot.
PIECEWISE_LINEAR = ("relu", "identity")

#: From this width on the exact core is chosen. Below it a step of the dense
#: passes (with their C kernels) over ``n = 2 m`` samples costs less than this
#: core's fixed cost of some fifty NumPy calls: ``benchmarks/bench_1d.py``
#: measured the two equal near width 128 and this core 3 times faster at 256,
#: 50 times at 1000. Both compute the same network up to rounding.
MIN_WIDTH = 128

#: Private switch for tests and benchmarks: ``"dense"`` makes `NetworkSpec.core`
#: choose the dense passes for every network, ``"1d"`` this core for every
#: network it can compute, whatever its width; None applies `MIN_WIDTH`. Read
#: when a specification first asks; the environment variable
#: ``SKLEARN_GDNET_CORE`` sets it at import.
FORCE = os.environ.get("SKLEARN_GDNET_CORE") or None

#: Private switch for tests and benchmarks: False makes the passes use NumPy
#: even where `_spline` is built (the same numbers, more slowly). The
#: environment variable ``SKLEARN_GDNET_SPLINE=0`` sets it at import.
USE_C = os.environ.get("SKLEARN_GDNET_SPLINE", "1") != "0"


def _kernels():
    """The C module `_spline` if it is built and `USE_C` is set, else None."""
    return _spline if USE_C else None


def computes(spec) -> bool:
    """Whether this core can compute the passes of the network ``spec``."""
    return spec.n_features == 1 and spec.depth == 1 and spec.activation in PIECEWISE_LINEAR


def applies(spec) -> bool:
    """Whether this core is chosen for the network ``spec``."""
    if FORCE == "dense":
        return False
    return computes(spec) and (FORCE == "1d" or spec.width >= MIN_WIDTH)


class Workspace:
    """The sorted samples of one fixed input ``X`` and what a pass leaves.

    ``order`` sorts the samples, ``xs = x[order]``; ``xp`` is ``xs`` between
    the sentinels ``-inf`` and ``+inf``. A forward pass stores the units'
    effective parameters ``u, v, alpha`` and boundaries ``s`` (a unit with
    ``u >= 0`` is active at the sorted samples ``i >= s``, one with ``u < 0``
    at ``i < s``), the starting point of the next pass's search; a backward
    pass stores each unit's sums ``G = [sum e_i; sum e_i x_i]`` over its active
    samples (shape ``(2 k, m)``) and the total ``T0 = sum e_i``.
    """

    #: The dense core's one-pass forward and loss (`_network.forward_top`) does not apply.
    top_fused = False

    def __init__(self, spec, X, dtype):
        x = X.toarray() if sparse.issparse(X) else np.asarray(X)
        x = np.ascontiguousarray(x, dtype=dtype).reshape(-1)
        self.X = X
        self.n, self.k = x.shape[0], spec.n_outputs
        self.order = np.argsort(x, kind="stable")
        # already sorted (a grid): slices instead of gathers and scatters
        self.in_order = bool(np.all(self.order == np.arange(self.n)))
        self.xs = x[self.order]
        self.xp = np.concatenate([[-np.inf], self.xs, [np.inf]]).astype(dtype)
        self.xs64 = self.xs.astype(np.float64)
        self.relu = spec.act.name == "relu"
        self.out = np.empty((self.n, self.k), dtype=dtype)
        self.s = None
        self.finite = True
        # histogram bins of output j's coefficients start at j * 2 (n + 1); see `_active_sums`
        self.offsets = (np.arange(2 * self.k) * (2 * (self.n + 1)))[:, None]
        self.any_neg = False

    def sorted_rows(self, a):
        """``a`` (samples along its first axis) in sorted order."""
        return a if self.in_order else a[self.order]

    def unsort_into(self, out, rows):
        """``out[order] = rows``."""
        if self.in_order:
            out[...] = rows
        else:
            out[self.order] = rows
        return out


def workspace_nbytes(spec, n_samples: int, itemsize: int, n_input_copy=0) -> int:
    """Bytes a `Workspace` and one pass's temporaries take (at most), ``O(n + m)``."""
    n, m, k = n_samples, spec.width, spec.n_outputs
    # order, xs, xp, xs64, out; sums from both sides, histogram, outputs, residuals
    per_row = 16 + 2 * itemsize + k * itemsize + 8 * 2 * k * 2 * 4
    # u, v, alpha, boundaries, columns; coefficients, bins, gathered sums, gradients
    per_unit = 2 * itemsize + 8 * k + 16 + 8 * 2 * k * 4
    return n * per_row + m * per_unit + itemsize * n_input_copy


def _effective(params, spec):
    """``u, v`` (in the parameters' dtype, as the dense pass forms them), ``alpha``.

    Copies: `gradients` may update the parameters in place group by group.
    ``alpha`` is float64, of shape ``(k, m)``.
    """
    (a1, c1), (a2, c2) = spec.multipliers
    W1, b1 = params["W1"][0], params["b1"]
    u = W1.copy() if a1 == 1.0 else W1 * a1
    v = b1.copy() if c1 == 1.0 else c1 * b1
    alpha = params["W2"].T.astype(np.float64, order="C")
    if a2 != 1.0:
        alpha *= a2
    return u, v, alpha


#: Between two steps a knot usually crosses no sample or one: its boundary is
#: first moved by one sample at a time, this many times, before a binary search.
LOCAL_MOVES = 2


def _boundaries(ws, u, v):
    """Each unit's boundary ``s`` (see `Workspace`) and whether ``u < 0``.

    The boundary agrees with the dense pass's test ``x_i u + v > 0`` on both
    sides: ``s`` starts from the last pass's boundaries, units where the test
    disagrees are moved by a sample at a time (`LOCAL_MOVES` times), those
    still off are searched again by bisection for the rounded knot ``-v / u``,
    and any still off by rounding are moved over equal samples until it agrees
    (the test is monotone in ``x``, so the boundary is unique).
    """
    xp, n, m = ws.xp, ws.n, u.shape[0]
    if not ws.relu:  # the identity: every unit is active everywhere
        return np.zeros(m, dtype=np.intp), np.zeros(m, dtype=bool)
    neg = u < 0
    zero = u == 0
    s = ws.s
    with np.errstate(divide="ignore", invalid="ignore"):  # inf * 0, x / 0 of constant units
        if s is None:
            s = np.searchsorted(xp, -v / u, side="right")
            s -= 1
            np.minimum(s, n, out=s)
            bad = np.flatnonzero(~zero)
        else:
            s = s.copy()
            bad = _misplaced(xp, s, u, v, neg, zero)
            for _ in range(LOCAL_MOVES):  # most knots move past a sample or none
                if not bad.size:
                    break
                sb = s[bad]
                below = (xp[sb] * u[bad] + v[bad] > 0) != neg[bad]
                s[bad] = np.where(below, sb - 1, sb + 1)
                bad = bad[_misplaced(xp, s[bad], u[bad], v[bad], neg[bad], zero[bad])]
            if bad.size:
                s[bad] = np.minimum(np.searchsorted(xp, -v[bad] / u[bad], side="right") - 1, n)
        while bad.size:
            bad = bad[_misplaced(xp, s[bad], u[bad], v[bad], neg[bad], zero[bad])]
            if not bad.size:
                break
            sb, ub, vb, nb = s[bad], u[bad], v[bad], neg[bad]
            below = (xp[sb] * ub + vb > 0) != nb
            # jump over equal samples: they are active or not together
            s[bad] = np.where(
                below,
                np.searchsorted(xp, xp[sb], side="left") - 1,
                np.searchsorted(xp, xp[sb + 1], side="right") - 1,
            )
    if zero.any():  # a constant unit: active at every sample or at none
        s[zero] = np.where(v[zero] > 0, 0, n)
    return s, neg


def _columns(ws, u, v):
    """Each unit's boundary ``s``, column ``col`` and whether some unit has ``u < 0``.

    ``u, v`` are 1-d (the units of every seed, one after the other). A unit's
    column is its bin in the sums of `_active_sums` and `backward`: ``s`` for
    units active above their knot, ``s + n + 1`` for those active below it.
    Leaves ``s`` in ``ws.s`` for the next pass.
    """
    n = ws.n
    spline = _kernels()
    if spline is not None and ws.relu and u.dtype == ws.xp.dtype == v.dtype:
        fresh = ws.s is None or ws.s.shape != u.shape
        s = np.empty(u.shape, dtype=np.int64) if fresh else ws.s
        col = np.empty(u.shape, dtype=np.int64)
        any_neg = _spline.boundaries(
            ws.xp, np.ascontiguousarray(u), np.ascontiguousarray(v), s, col, fresh
        )
        ws.s = s
        return s, col, any_neg
    s, neg = _boundaries(ws, u, v)
    ws.s = s
    col = s + neg * (n + 1) if ws.relu else s
    return s, col, ws.relu and bool(neg.any())


def _outputs(ws, u, v, alpha, b2):
    """Outputs at the sorted samples of ``S`` networks, seeds along the first axis.

    ``u, v`` (shape ``(S, m)``, the parameters' dtype, C-ordered) and
    ``alpha`` (float64, ``(S, k, m)``) are the units' effective parameters,
    ``b2`` (float64, ``(S, k)``) the output biases times their multiplier.
    Returns the outputs ``x S1 + S0 + b2`` (float64, ``(S, k, n)``), the units'
    columns (`_columns`, ``(S, m)``), whether some unit has ``u < 0``, and
    whether each seed's coefficients ``alpha u, alpha v`` are finite. A seed
    whose coefficients are not gets NaN outputs, and its units are taken as
    inactive constants in the passes, so that the other seeds' stay finite.
    """
    S, m = u.shape
    spline = _kernels()
    if spline is not None and u.dtype == v.dtype:
        u, v = np.ascontiguousarray(u), np.ascontiguousarray(v)
        alpha = np.ascontiguousarray(alpha)
        f, col, any_neg, finite = _c_outputs(spline, ws, u, v, alpha, b2)
        if not finite.all():  # again, with the others only
            if finite.any():
                u, v, alpha = u.copy(), v.copy(), alpha.copy()
                u[~finite], v[~finite], alpha[~finite] = 1.0, 0.0, 0.0
                ws.s = None
                f, col, any_neg, _ = _c_outputs(spline, ws, u, v, alpha, b2)
            f[~finite] = np.nan
        return f, col, any_neg, finite
    coef = np.concatenate([alpha * u[:, None, :], alpha * v[:, None, :]], axis=1)
    finite = np.isfinite(coef.sum(axis=(1, 2)))
    if not finite.all():  # keep the others' passes finite
        finite = np.isfinite(coef).all(axis=(1, 2))
        u, v = u.copy(), v.copy()
        u[~finite], v[~finite], coef[~finite] = 1.0, 0.0, 0.0
        ws.s = None
    _, col, any_neg = _columns(ws, u.reshape(-1), v.reshape(-1))
    col = col.reshape(S, m)
    f = _sums_at_samples(ws, coef, col, any_neg, b2)
    f[~finite] = np.nan
    return f, col, any_neg, finite


def _c_outputs(spline, ws, u, v, alpha, b2):
    """`_outputs` by the C kernels: their boundaries, then the sums at the samples."""
    (S, m), k = u.shape, alpha.shape[1]
    _, col, any_neg = _columns(ws, u.reshape(-1), v.reshape(-1))
    col = col.reshape(S, m)
    f = np.empty((S, k, ws.n))
    finite = np.empty(S, dtype=np.int64)
    spline.forward(u, v, alpha, col, ws.xs64, b2, any_neg, f, finite)
    return f, col, any_neg, finite.astype(bool)


def _sums_at_samples(ws, coef, col, any_neg, b2):
    """Outputs ``x S1 + S0 + b2`` at the sorted samples, seeds along the first axis.

    ``coef`` (float64, shape ``(S, 2 k, m)``) holds the units' slopes and
    intercepts ``alpha u, alpha v``, ``col`` (shape ``(S, m)``) their columns
    (`_columns`), ``b2`` (float64, ``(S, k)``) the output biases; returns
    shape ``(S, k, n)``, float64. Units active above their knot enter a
    cumulative sum from the left at their boundary, those active below it one
    from the right.
    """
    S, k2, m = coef.shape
    k, n = k2 // 2, ws.n
    rows = (np.arange(S * k2) * (2 * (n + 1))).reshape(S, k2, 1)
    bins = col[:, None, :] + rows
    hist = np.bincount(bins.ravel(), weights=coef.ravel(), minlength=S * k2 * 2 * (n + 1))
    hist = hist.reshape(S, k2, 2 * (n + 1))
    sums = np.cumsum(hist[:, :, :n], axis=2)
    if any_neg:
        sums += np.cumsum(hist[:, :, : n + 1 : -1], axis=2)[:, :, ::-1]
    f = sums[:, :k]
    f *= ws.xs64
    f += sums[:, k:]
    f += b2[:, :, None]
    return f


def _sums_over_active(ws, delta, col, any_neg):
    """Per seed and unit, the sums of ``delta`` and ``delta x`` over its active samples.

    ``delta`` (float64, shape ``(S, k, n)``) is the residual at the sorted
    samples, ``col`` (shape ``(S, m)``) the units' columns (`_columns`).
    Returns ``G`` (shape ``(S, 2 k, m)``: the sums of ``delta``, then of
    ``delta x``) and the totals ``T0`` (shape ``(S, k)``).

    The sums from the right (columns ``0 .. n``: units active above their knot)
    and, where some unit is active below its knot, from the left (columns
    ``n + 1 .. 2 n + 1``) are two cumulative sums, read at the columns.
    """
    S, k, n = delta.shape
    m = col.shape[1]
    spline = _kernels()
    if spline is not None:
        G = np.empty((S, 2 * k, m))
        T0 = np.empty((S, k))
        spline.backward(
            np.ascontiguousarray(delta, dtype=np.float64),
            ws.xs64,
            np.ascontiguousarray(col, dtype=np.int64),
            any_neg,
            G,
            T0,
        )
        return G, T0
    T = np.zeros((S, 2 * k, 2 * (n + 1)))
    E = T[:, :, n + 2 :]
    E[:, :k] = delta
    np.multiply(E[:, :k], ws.xs64, out=E[:, k:])
    np.cumsum(E[:, :, ::-1], axis=2, out=T[:, :, n - 1 :: -1] if n else T[:, :, :0])
    # the total from the right, whether or not another seed of the batch has u < 0
    T0 = T[:, :k, 0].copy()
    if any_neg:  # (two separate sums: no cancellation between them)
        np.cumsum(E, axis=2, out=E)
    rows = (np.arange(S * 2 * k) * (2 * (n + 1))).reshape(S, 2 * k, 1)
    G = T.ravel()[col[:, None, :] + rows]  # the rows' flat offsets
    return G, T0


def _misplaced(xp, s, u, v, neg, zero):
    """Indices of the boundaries ``s`` that disagree with the test of activity.

    ``xp[s]`` is the sample just below the boundary, ``xp[s + 1]`` the one just
    above (the sentinels ``-inf, +inf`` at the ends always agree). Constant
    units are set apart.
    """
    bad = (xp[s] * u + v > 0) != neg
    bad |= (xp[s + 1] * u + v > 0) == neg
    bad &= ~zero
    return np.flatnonzero(bad)


def _active_sums(ws, bins, coef):
    """``S[:, i] = sum of coef[:, r]`` over the units active at sorted sample ``i``.

    ``bins`` are the units' columns ``col`` (see `backward`) plus ``offsets``.

    ``coef`` has shape ``(c, m)``; the result ``(c, n)``, in float64. Units
    active above their knot enter a cumulative sum from the left at their
    boundary, those active below it one from the right.
    """
    n, c = ws.n, coef.shape[0]
    hist = np.bincount(bins.ravel(), weights=coef.ravel(), minlength=2 * c * (n + 1))
    hist = hist.reshape(c, 2 * (n + 1))
    S = np.cumsum(hist[:, :n], axis=1)
    if ws.any_neg:
        S += np.cumsum(hist[:, : n + 1 : -1], axis=1)[:, ::-1]
    return S


def forward(params, spec, X, workspace: Workspace | None = None):
    """Network output ``f(X)`` of shape ``(n, n_outputs)``; see `_network.forward`."""
    ws = Workspace(spec, X, params["W1"].dtype) if workspace is None else workspace
    u, v, alpha = _effective(params, spec)
    c2 = spec.multipliers[1][1]
    ws.u, ws.v, ws.alpha = u, v, alpha
    b2 = c2 * params["b2"].astype(np.float64)
    f, col, ws.any_neg, finite = _outputs(ws, u[None], v[None], alpha[None], b2[None])
    ws.col, ws.finite = col[0], bool(finite[0])
    if not ws.finite:  # a diverged run: no output is meaningful
        ws.s = None
        ws.out.fill(np.nan)
        return ws.out
    f = f[0]
    return ws.unsort_into(ws.out, f.T)


def backward(params, spec, ws: Workspace, delta_out, lowest=1, **_):
    """Sum the residual ``delta_out = dLoss/df`` over each unit's active samples.

    Uses the forward pass cached in ``ws``; fills ``ws.G, ws.T0`` for
    `gradients`. ``lowest`` and the dense core's keywords are accepted and
    ignored: the sums serve every group.
    """
    delta = ws.sorted_rows(delta_out).T.astype(np.float64)
    if not ws.finite:
        ws.G = np.full((2 * ws.k, ws.u.shape[0]), np.nan)
        ws.T0 = delta.sum(axis=1)
        return ws
    G, T0 = _sums_over_active(ws, delta[None], ws.col[None], ws.any_neg)
    ws.G, ws.T0 = G[0], T0[0]
    return ws


def gradients(spec, ws: Workspace, groups, out, alpha=1.0, beta=0.0):
    """``out[g] = alpha * dLoss/dg + beta * out[g]`` for each group ``g``.

    Uses the sums of the last `backward`; see `_network.gradients`.
    """
    (a1, c1), (a2, c2) = spec.multipliers
    k = ws.k
    G0, G1 = ws.G[:k], ws.G[k:]
    for g in groups:
        if g == "W1":
            grad = a1 * np.einsum("jr,jr->r", ws.alpha, G1)[None, :]
        elif g == "b1":
            grad = c1 * np.einsum("jr,jr->r", ws.alpha, G0)
        elif g == "W2":
            grad = ws.u * G1
            grad += ws.v * G0
            grad *= a2
            grad = grad.T
        else:
            grad = c2 * ws.T0
        if beta == 0.0:
            np.multiply(grad, alpha, out=out[g], casting="unsafe")
        else:
            if beta != 1.0:
                out[g] *= beta
            grad *= alpha
            np.add(out[g], grad, out=out[g], casting="unsafe")
    return out


def jvp(params, spec, ws: Workspace, tangent):
    """Directional derivative ``J @ tangent`` of the outputs; see `_network.jvp`."""
    (a1, c1), (a2, c2) = spec.multipliers
    u, v, alpha = ws.u.astype(np.float64), ws.v.astype(np.float64), ws.alpha
    k, m = alpha.shape
    coef = np.zeros((2 * k, m))
    slope, intercept = coef[:k], coef[k:]
    if "W1" in tangent:
        slope += alpha * (a1 * tangent["W1"][0].astype(np.float64))
    if "b1" in tangent:
        intercept += alpha * (c1 * tangent["b1"].astype(np.float64))
    if "W2" in tangent:
        tW2 = a2 * tangent["W2"].T.astype(np.float64)
        slope += tW2 * u
        intercept += tW2 * v
    if ws.finite:
        S = _active_sums(ws, ws.col + ws.offsets[: 2 * k], coef)
        d = S[:k] * ws.xs64 + S[k:]
    else:
        d = np.full((k, ws.n), np.nan)
    if "b2" in tangent:
        d += c2 * tangent["b2"].astype(np.float64)[:, None]
    return ws.unsort_into(np.empty_like(ws.out), d.T)
