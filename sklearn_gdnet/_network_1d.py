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

The module has the interface of `_network` that the training loops use
(`Workspace`, `forward`, `backward`, `gradients`, `jvp`); `NetworkSpec.core`
chooses it where it `applies`.
"""

from __future__ import annotations

import os

import numpy as np
from scipy import sparse

__all__ = ["FORCE_DENSE", "Workspace", "applies", "backward", "forward", "gradients", "jvp"]

#: Activations that are linear on each side of one knot.
PIECEWISE_LINEAR = ("relu", "identity")

#: Private switch for tests and benchmarks: True makes `NetworkSpec.core` choose
#: the dense passes for every network (read when a specification first asks).
FORCE_DENSE = bool(os.environ.get("SKLEARN_GDNET_FORCE_DENSE"))


def applies(spec) -> bool:
    """Whether this core computes the passes of the network ``spec``."""
    return (
        not FORCE_DENSE
        and spec.n_features == 1
        and spec.depth == 1
        and spec.activation in PIECEWISE_LINEAR
    )


class Workspace:
    """The sorted samples of one fixed input ``X`` and what a pass leaves.

    ``order`` sorts the samples, ``xs = x[order]``. A forward pass stores the
    units' effective parameters ``u, v, alpha`` and boundaries (``bins``: the
    first active sorted sample of a unit active above its knot, or the number
    of active samples of one active below it plus ``n + 1``); a backward pass
    stores each unit's sums ``G0 = sum e_i``, ``G1 = sum e_i x_i`` over its
    active samples and the total ``T0 = sum e_i``.
    """

    #: The dense core's one-pass forward and loss (`_network.forward_top`) does not apply.
    top_fused = False

    def __init__(self, spec, X, dtype):
        x = X.toarray() if sparse.issparse(X) else np.asarray(X)
        x = np.ascontiguousarray(x, dtype=dtype).reshape(-1)
        self.X = X
        self.order = np.argsort(x, kind="stable")
        self.xs = x[self.order]
        self.xs64 = self.xs.astype(np.float64)
        self.n = x.shape[0]
        self.k = spec.n_outputs
        self.relu = spec.act.name == "relu"
        self.out = np.empty((self.n, self.k), dtype=dtype)
        self.finite = True


def _effective(params, spec):
    """``u, v`` (in the parameters' dtype, as the dense pass forms them), ``alpha``.

    Copies: `gradients` may update the parameters in place group by group.
    """
    (a1, c1), (a2, c2) = spec.multipliers
    W1, b1 = params["W1"][0], params["b1"]
    u = W1.copy() if a1 == 1.0 else W1 * a1
    v = b1.copy() if c1 == 1.0 else c1 * b1
    W2 = params["W2"].astype(np.float64)
    alpha = W2 if a2 == 1.0 else W2 * a2
    return u, v, alpha


def _active(xs, i, u, v):
    """``xs[i] u + v > 0``, the dense pass's test of whether a unit is active."""
    return xs[i] * u + v > 0


def _boundaries(ws, u, v):
    """Histogram bins of the units: ``s`` for ``u > 0``, ``s + n + 1`` for ``u < 0``.

    A unit with ``u >= 0`` is active at the sorted samples ``i >= s``, one with
    ``u < 0`` at ``i < s``. ``s`` starts from a binary search for the rounded
    knot and is moved until the exact test of `_active` agrees on both sides of
    it (the test is monotone in ``x``, so the boundary is unique).
    """
    xs, n, m = ws.xs, ws.n, u.shape[0]
    if not ws.relu:  # the identity: every unit is active everywhere
        return np.zeros(m, dtype=np.intp)
    neg = u < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        knot = -v / u
    s = np.searchsorted(xs, knot, side="right")
    zero = u == 0
    if zero.any():  # a constant unit, active at every sample or at none
        s[zero] = np.where(v[zero] > 0, 0, n)
    if n:
        while True:
            left = np.flatnonzero(s > 0)
            left = left[_active(xs, s[left] - 1, u[left], v[left]) != neg[left]]
            right = np.flatnonzero(s < n)
            right = right[_active(xs, s[right], u[right], v[right]) == neg[right]]
            if not left.size and not right.size:
                break
            # jump over equal samples: they are active or not together
            s[left] = np.searchsorted(xs, xs[s[left] - 1], side="left")
            s[right] = np.searchsorted(xs, xs[s[right]], side="right")
    return s + (n + 1) * neg


def _active_sums(ws, bins, coef):
    """``S[i] = sum of coef[r]`` over the units active at sorted sample ``i``.

    ``coef`` has shape ``(m, c)``; the result ``(n, c)``, in float64. Units
    active above their knot enter a cumulative sum from the left at their
    boundary, those active below it one from the right.
    """
    n, c = ws.n, coef.shape[1]
    idx = (bins[:, None] * c + np.arange(c)).ravel()
    hist = np.bincount(idx, weights=coef.ravel(), minlength=2 * (n + 1) * c)
    hist = hist.reshape(2, n + 1, c)
    S = np.cumsum(hist[0, :n], axis=0)
    S += np.cumsum(hist[1, :0:-1], axis=0)[::-1]
    return S


def _finite(*arrays):
    """Whether every entry is finite (one sum in the usual case)."""
    if np.isfinite(sum(float(np.sum(a)) for a in arrays)):
        return True
    return all(np.isfinite(a).all() for a in arrays)


def forward(params, spec, X, workspace: Workspace | None = None):
    """Network output ``f(X)`` of shape ``(n, n_outputs)``; see `_network.forward`."""
    ws = Workspace(spec, X, params["W1"].dtype) if workspace is None else workspace
    u, v, alpha = _effective(params, spec)
    c2 = spec.multipliers[1][1]
    ws.u, ws.v, ws.alpha = u, v, alpha
    ws.finite = _finite(u, v, alpha, params["b2"])
    if not ws.finite:  # a diverged run: no output is meaningful
        ws.out.fill(np.nan)
        return ws.out
    ws.bins = _boundaries(ws, u, v)
    k = ws.k
    coef = np.empty((u.shape[0], 2 * k))
    np.multiply(alpha, u[:, None], out=coef[:, :k])
    np.multiply(alpha, v[:, None], out=coef[:, k:])
    S = _active_sums(ws, ws.bins, coef)
    f = S[:, :k]
    f *= ws.xs64[:, None]
    f += S[:, k:]
    f += c2 * params["b2"].astype(np.float64)
    ws.out[ws.order] = f
    return ws.out


def backward(params, spec, ws: Workspace, delta_out, lowest=1, **_):
    """Sum the residual ``delta_out = dLoss/df`` over each unit's active samples.

    Uses the forward pass cached in ``ws``; fills ``ws.G0, ws.G1, ws.T0`` for
    `gradients`. ``lowest`` and the dense core's keywords are accepted and
    ignored: the sums serve every group.
    """
    n, k = ws.n, ws.k
    E = np.empty((n, 2 * k))
    E[:, :k] = delta_out[ws.order]
    np.multiply(E[:, :k], ws.xs64[:, None], out=E[:, k:])
    # rows 0..n: suffix sums from the right (units active above their knot),
    # rows n+1..2n+1: prefix sums from the left (units active below it)
    T = np.zeros((2 * (n + 1), 2 * k))
    np.cumsum(E[::-1], axis=0, out=T[n - 1 :: -1][:n] if n else T[:0])
    np.cumsum(E, axis=0, out=T[n + 2 :])
    if not ws.finite:
        G = np.full((ws.u.shape[0], 2 * k), np.nan)
    else:
        G = T[ws.bins]
    ws.G0, ws.G1 = G[:, :k], G[:, k:]
    ws.T0 = T[2 * n + 1, :k] if n else np.zeros(k)
    return ws


def gradients(spec, ws: Workspace, groups, out, alpha=1.0, beta=0.0):
    """``out[g] = alpha * dLoss/dg + beta * out[g]`` for each group ``g``.

    Uses the sums of the last `backward`; see `_network.gradients`.
    """
    (a1, c1), (a2, c2) = spec.multipliers
    for g in groups:
        if g == "W1":
            grad = (a1 * np.einsum("rj,rj->r", ws.alpha, ws.G1))[None, :]
        elif g == "b1":
            grad = c1 * np.einsum("rj,rj->r", ws.alpha, ws.G0)
        elif g == "W2":
            grad = ws.u[:, None] * ws.G1
            grad += ws.v[:, None] * ws.G0
            grad *= a2
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
    m, k = alpha.shape
    slope, intercept = np.zeros((m, k)), np.zeros((m, k))
    if "W1" in tangent:
        slope += alpha * (a1 * tangent["W1"][0].astype(np.float64))[:, None]
    if "b1" in tangent:
        intercept += alpha * (c1 * tangent["b1"].astype(np.float64))[:, None]
    if "W2" in tangent:
        tW2 = a2 * tangent["W2"].astype(np.float64)
        slope += tW2 * u[:, None]
        intercept += tW2 * v[:, None]
    if ws.finite:
        S = _active_sums(ws, ws.bins, np.hstack([slope, intercept]))
        d = S[:, :k] * ws.xs64[:, None] + S[:, k:]
    else:
        d = np.full((ws.n, k), np.nan)
    if "b2" in tangent:
        d += c2 * tangent["b2"].astype(np.float64)
    out = np.empty_like(ws.out)
    out[ws.order] = d
    return out
