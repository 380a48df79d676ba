"""Infinite-width kernels of the network family: the NNGP and the NTK.

This module is the recursion of the user guide, line by line. For inputs ``x, x'`` of
dimension ``d``, with ``E1 = E[phi(u) phi(v)]`` and ``E0 = E[phi'(u) phi'(v)]``
for ``(u, v) ~ N(0, [[K^l(x,x), K^l(x,x')], [K^l(x,x'), K^l(x',x')]])``
(the dual maps of the activation table, :mod:`sklearn_gdnet._activations`)::

    K^1     = sigma_w^2 x.x'/d + sigma_b^2
    T^1     = [W1 trained] sigma_w^2 x.x'/d + [b1 trained] sigma_b^2
    K^{l+1} = sigma_w^2 E1 + sigma_b^2
    T^{l+1} = [W{l+1} trained] sigma_w^2 E1 + [b{l+1} trained] sigma_b^2
              + sigma_w^2 E0 T^l                                   l = 1..L
    NNGP = K^{L+1},  NTK = T^{L+1}

``[g trained]`` is 1 when parameter group ``g`` is trained (see
``trainable``), so with only the output layer trained the NTK is the NNGP.

The matrices are computed in square tiles (memory: the outputs plus a few
tiles per thread), only on and above the diagonal when ``Y is X``, and the
tiles are spread over threads (the ufuncs release the GIL), so large inputs
use every core. The diagonal is computed by the same recursion on the
diagonal alone and written into the matrix, so ``diag(X)`` and ``K(X)``
agree exactly. Inputs of any float dtype are computed in float64.

Dual maps without a closed form (tanh, sigmoid, softplus, gelu) are Hermite
series (:class:`~sklearn_gdnet._activations.HermiteSeriesDual`): every matrix
they build is symmetric and positive semi-definite by construction, accurate to
1e-6 relative to ``sqrt(k(x, x) k(x', x'))``, and variances beyond the series'
range are refused. Hyperparameters (depth, scales, bounds, activation) and
inputs (NaN, inf, no features) are validated with errors that name the problem;
a recursion that overflows float64 raises instead of returning inf or NaN.

Parametrization: the NNGP is the same under the NTK and the standard
parametrization (same function at initialization), so :class:`NNGP` accepts
both. Under the standard parametrization the tangent kernel grows linearly
with the width and has no width-independent limit for a fixed learning rate,
so :class:`NTK` rejects ``parametrization="standard"``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel
from sklearn.utils import check_array

from ._activations import ACTIVATIONS, HermiteSeriesDual, get_activation
from ._funk_hecke import sphere_eigenvalues
from ._network import resolve_trainable
from ._threads import thread_policy

__all__ = ["NNGP", "NTK", "nngp_ntk", "sphere_eigenvalues"]

#: Tile edge: 128 x 128 doubles = 128 KiB, so a tile's temporaries stay in L2.
TILE = 128
#: Below this many kernel entries, threads cost more than they save. Only the
#: Hermite-series activations use threads by default: the closed forms (relu,
#: erf, identity) are a few memory-bound passes per tile, and on two cores their
#: tiles ran slower on two threads than on one (1.2-1.3 cores busy at n = 1000
#: and 3000); a series tile does a polynomial of dozens of terms per entry and
#: ran about 1.3x faster on two threads.
PARALLEL_MIN_ENTRIES = 250_000


@dataclass(frozen=True)
class _Recursion:
    """The constants of the recursion: scales, dual map and [g trained] flags."""

    depth: int
    dual: object
    sw2: float  # sigma_w^2
    sb2: float  # sigma_b^2
    w_trained: tuple  # [W_l trained], l = 1..L+1
    b_trained: tuple  # [b_l trained], l = 1..L+1

    @classmethod
    def build(cls, depth, activation, weight_std, bias_std, trainable="all"):
        _check_family(depth, activation, weight_std, bias_std)
        groups = resolve_trainable(trainable, depth)
        layers = range(1, depth + 2)
        return cls(
            depth=int(depth),
            dual=get_activation(activation).dual,
            sw2=float(weight_std) ** 2,
            sb2=float(bias_std) ** 2,
            w_trained=tuple(f"W{l}" in groups for l in layers),
            b_trained=tuple(f"b{l}" in groups for l in layers),
        )


def _check_family(depth, activation, weight_std, bias_std):
    """Clear errors for hyperparameters the recursion cannot use."""
    if isinstance(depth, bool) or not isinstance(depth, Integral) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1 (hidden layers), got {depth!r}.")
    if not isinstance(activation, str):
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}."
        )
    get_activation(activation)  # the table's error for unknown names
    for name, value, low in (("weight_std", weight_std, "> 0"), ("bias_std", bias_std, ">= 0")):
        ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (value <= 0 if low == "> 0" else value < 0):
            raise ValueError(f"{name} must be a finite number {low}, got {value!r}.")


def _check_bounds(name, bounds):
    if isinstance(bounds, str) and bounds == "fixed":
        return
    try:
        low, high = (float(b) for b in np.asarray(bounds, dtype=float).reshape(2))
    except (TypeError, ValueError):
        low = high = math.nan
    if not (0 < low < high < math.inf):
        raise ValueError(
            f"{name}_bounds must be 'fixed' or a pair (lower, upper) of finite numbers "
            f"with 0 < lower < upper, got {bounds!r}."
        )


def _check_inputs(X, Y=None):
    """``X`` (and ``Y``) as finite 2-d float arrays with the same features."""
    arrays = []
    for name, A in (("X", X), ("Y", Y)):
        if A is None and name == "Y":
            arrays.append(None)
            continue
        if A is None:
            raise ValueError("X is None; pass an array of shape (n_samples, n_features).")
        A = check_array(
            np.atleast_2d(A),  # a 1-d array is one sample, as for scikit-learn's kernels
            dtype=(np.float64, np.float32),
            ensure_min_samples=0,
            input_name=name,
        )
        arrays.append(A)
    X, Y = arrays
    if Y is not None and Y.shape[1] != X.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features but Y has {Y.shape[1]}; they must have the same."
        )
    return X, Y


def _overflow_checked():
    # Huge inputs overflow inside the recursion; the outputs are checked for
    # finiteness afterwards, with one clear error instead of a trail of warnings.
    return np.errstate(over="ignore", invalid="ignore")


def _check_finite_output(M, X):
    if not np.all(np.isfinite(M)):
        largest = float(np.max(np.einsum("ij,ij->i", X, X), initial=0.0)) if X.size else 0.0
        raise ValueError(
            "The kernel of these inputs is not finite: the recursion overflows float64 "
            f"(largest squared input norm: {largest:.3g}). Rescale X, for example with "
            "sklearn.preprocessing.StandardScaler, or reduce weight_std and bias_std."
        )


def _diagonal(rec, sq_norms):
    """K^l(x, x) for l = 1..L+1 and T^{L+1}(x, x): the recursion on the diagonal.

    Each dual map gets ``q11 = q22 = q12 = K^l(x, x)``, so the closed forms
    give their exact diagonal values (for ReLU, ``E1 = q / 2``, ``E0 = 1/2``).
    """
    K = rec.sw2 * sq_norms + rec.sb2
    T = rec.w_trained[0] * rec.sw2 * sq_norms + rec.b_trained[0] * rec.sb2
    qs = [K]
    for l in range(1, rec.depth + 1):
        E1, E0 = rec.dual(K, K, K)
        T = rec.w_trained[l] * rec.sw2 * E1 + rec.b_trained[l] * rec.sb2 + rec.sw2 * E0 * T
        K = rec.sw2 * E1 + rec.sb2
        qs.append(K)
    return qs, T


def _tile(rec, G, qx, qy, want_T, on_diagonal):
    """K^{L+1} and T^{L+1} on one tile, from ``G = x.x'/d``; in place on ``G``.

    ``qx``, ``qy``: the per-layer diagonals of the tile's rows and columns.
    """
    K = G
    T = None
    if want_T:  # T^1 from x.x'/d before K^1 overwrites it
        w1, b1 = rec.w_trained[0], rec.b_trained[0]
        T = G * (rec.sw2 if w1 else 0.0)
        if b1:
            T += rec.sb2
    K *= rec.sw2
    K += rec.sb2
    for l in range(1, rec.depth + 1):
        if on_diagonal:
            np.fill_diagonal(K, qx[l - 1])
        E1, E0 = rec.dual(qx[l - 1][:, None], qy[l - 1][None, :], K)
        E1 *= rec.sw2  # sigma_w^2 E1, shared by K^{l+1} and T^{l+1}
        if want_T:
            T *= E0
            T *= rec.sw2
            if rec.w_trained[l]:
                T += E1
            if rec.b_trained[l]:
                T += rec.sb2
        E1 += rec.sb2
        K = E1
    return K, T


def _tile_with_gradient(rec, G, qx, qy, dqx, dqy, on_diagonal=False):
    """K, T and their derivatives with respect to (log sigma_w, log sigma_b).

    Forward mode: every quantity carries a tangent with a leading axis of 2.
    d/dlog(sigma) = sigma d/dsigma, so d(sigma_w^2)/dlog(sigma_w) = 2 sigma_w^2.
    """
    sw2, sb2 = rec.sw2, rec.sb2
    d_sw2 = np.array([2.0 * sw2, 0.0])[:, None, None]
    d_sb2 = np.array([0.0, 2.0 * sb2])[:, None, None]
    K = sw2 * G + sb2
    dK = d_sw2 * G + d_sb2
    T = rec.w_trained[0] * sw2 * G + rec.b_trained[0] * sb2
    dT = rec.w_trained[0] * d_sw2 * G + rec.b_trained[0] * d_sb2
    for l in range(1, rec.depth + 1):
        if on_diagonal:  # exact diagonal inputs, as in _tile
            np.fill_diagonal(K, qx[l - 1])
            for c in range(2):
                np.fill_diagonal(dK[c], dqx[l - 1][c])
        q11, q22 = qx[l - 1][:, None], qy[l - 1][None, :]
        tangents = (dqx[l - 1][:, :, None], dqy[l - 1][:, None, :], dK)
        E1, E0, dE1, dE0 = rec.dual(q11, q22, K, tangents=tangents)
        wl, bl = rec.w_trained[l], rec.b_trained[l]
        dT = wl * (d_sw2 * E1 + sw2 * dE1) + bl * d_sb2 + d_sw2 * E0 * T + sw2 * (dE0 * T + E0 * dT)
        T = wl * sw2 * E1 + bl * sb2 + sw2 * E0 * T
        dK = d_sw2 * E1 + sw2 * dE1 + d_sb2
        K = sw2 * E1 + sb2
    return K, T, dK, dT


def _diagonal_with_gradient(rec, sq_norms):
    """Per-layer diagonals and their tangents, shape (2, n), for the gradient."""
    d_sw2 = np.array([2.0 * rec.sw2, 0.0])[:, None]
    d_sb2 = np.array([0.0, 2.0 * rec.sb2])[:, None]
    K = rec.sw2 * sq_norms + rec.sb2
    dK = d_sw2 * sq_norms + d_sb2
    qs, dqs = [K], [dK]
    for _ in range(1, rec.depth + 1):
        E1, _E0, dE1, _dE0 = rec.dual(K, K, K, tangents=(dK, dK, dK))
        dK = d_sw2 * E1 + rec.sw2 * dE1 + d_sb2
        K = rec.sw2 * E1 + rec.sb2
        qs.append(K)
        dqs.append(dK)
    return qs, dqs


def _n_threads(n_jobs, n_entries, dual):
    if n_jobs is not None:
        return max(1, os.cpu_count() + 1 + n_jobs if n_jobs < 0 else n_jobs)
    heavy = isinstance(dual, HermiteSeriesDual)
    return (os.cpu_count() or 1) if heavy and n_entries >= PARALLEL_MIN_ENTRIES else 1


def _as_float64(X):
    return np.ascontiguousarray(X, dtype=np.float64)


def _kernel_matrices(rec, X, Y=None, *, want_K=True, want_T=True, n_jobs=None):
    """NNGP and/or NTK matrices of ``X`` against ``Y`` (``Y=None``: against ``X``).

    Returns ``(K, T)`` with ``None`` for what was not asked for. The tiles run
    on this module's threads with single-threaded BLAS (`thread_policy`): with
    BLAS's own threads, products inside a tile came out with different
    rounding from call to call (an unpickled model predicted 1e-14 apart).
    """
    with thread_policy():
        return _kernel_matrices_in_tiles(rec, X, Y, want_K, want_T, n_jobs)


def _kernel_matrices_in_tiles(rec, X, Y, want_K, want_T, n_jobs):
    X = _as_float64(X)
    symmetric = Y is None
    Y = X if symmetric else _as_float64(Y)
    d = X.shape[1]
    qx, tx = _diagonal(rec, np.einsum("ij,ij->i", X, X) / d)
    qy, ty = (qx, tx) if symmetric else _diagonal(rec, np.einsum("ij,ij->i", Y, Y) / d)
    n_x, n_y = X.shape[0], Y.shape[0]
    K_out = np.empty((n_x, n_y)) if want_K else None
    T_out = np.empty((n_x, n_y)) if want_T else None
    # The recursion needs K even when only T is returned; T needs nothing more.
    edge = TILE
    tiles = [(i, j) for i in range(0, n_x, edge) for j in range(i if symmetric else 0, n_y, edge)]

    def work(i, j):
        si, sj = slice(i, min(i + edge, n_x)), slice(j, min(j + edge, n_y))
        G = X[si] @ Y[sj].T
        G *= 1.0 / d
        on_diag = symmetric and i == j
        K, T = _tile(rec, G, [q[si] for q in qx], [q[sj] for q in qy], want_T, on_diag)
        for out, tile, diag in ((K_out, K, qx[-1]), (T_out, T, tx)):
            if out is None:
                continue
            if on_diag:
                # Symmetric to the last bit (x.x' from BLAS need not be): the
                # mean of two equal numbers is that number.
                tile = 0.5 * (tile + tile.T)
                np.fill_diagonal(tile, diag[si])
            out[si, sj] = tile
            if symmetric and i != j:
                out[sj, si] = tile.T

    n_threads = _n_threads(n_jobs, n_x * n_y, rec.dual)
    if n_threads == 1 or len(tiles) == 1:
        for i, j in tiles:
            work(i, j)
    else:
        Parallel(n_jobs=n_threads, backend="threading")(delayed(work)(i, j) for i, j in tiles)
    if not symmetric:
        # A point of X that is also a point of Y gets the exact diagonal value, as in
        # K(X, X): through the angle, 1 - cos(theta) loses half the digits (the ReLU
        # NTK's E0 is then off by about 1e-8 relatively), and K(X, C) would not
        # contain K(C, C) exactly, which the Nystroem features with every point a
        # center rely on.
        i, j = _coincident_rows(X, Y)
        for out, diag in ((K_out, qx[-1]), (T_out, tx)):
            if out is not None and i.size:
                out[i, j] = diag[i]
    return K_out, T_out


def _coincident_rows(X, Y):
    """Index pairs ``(i, j)`` with ``X[i] == Y[j]`` bit for bit, in ``O((n + m) log m)``."""
    empty = np.empty(0, dtype=np.intp)
    if X.shape[0] == 0 or Y.shape[0] == 0 or X.shape[1] == 0:
        return empty, empty
    row = np.dtype((np.void, X.dtype.itemsize * X.shape[1]))
    xv = np.ascontiguousarray(X).view(row).ravel()
    yv = np.ascontiguousarray(Y).view(row).ravel()
    order = np.argsort(yv, kind="stable")
    ys = yv[order]
    lo = np.searchsorted(ys, xv, side="left")
    counts = np.searchsorted(ys, xv, side="right") - lo
    total = int(counts.sum())
    if total == 0:
        return empty, empty
    i = np.repeat(np.arange(xv.size), counts)
    # the k-th match of row i is ys[lo[i] + k]
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return i, order[np.repeat(lo, counts) + offsets]


def _kernel_diagonals(rec, X):
    X = _as_float64(X)
    qs, T = _diagonal(rec, np.einsum("ij,ij->i", X, X) / X.shape[1])
    return qs[-1], T


def _kernel_gradients(rec, X):
    """K, T and dK, dT (last axis: log sigma_w, log sigma_b) on ``X`` x ``X``.

    Tiled like the values (quadrature temporaries carry an axis of nodes), upper
    tiles only, mirrored.
    """
    X = _as_float64(X)
    n, d = X.shape
    sq_norms = np.einsum("ij,ij->i", X, X) / d
    qs, dqs = _diagonal_with_gradient(rec, sq_norms)
    T_diag = _diagonal(rec, sq_norms)[1]
    edge = TILE
    K, T = np.empty((n, n)), np.empty((n, n))
    dK, dT = np.empty((n, n, 2)), np.empty((n, n, 2))
    for i in range(0, n, edge):
        for j in range(i, n, edge):
            si, sj = slice(i, min(i + edge, n)), slice(j, min(j + edge, n))
            tiles = _tile_with_gradient(
                rec,
                X[si] @ X[sj].T / d,
                [q[si] for q in qs],
                [q[sj] for q in qs],
                [dq[:, si] for dq in dqs],
                [dq[:, sj] for dq in dqs],
                on_diagonal=i == j,
            )
            for out, tile in zip((K, T, dK, dT), tiles):
                tile = np.moveaxis(tile, 0, -1) if tile.ndim == 3 else tile
                if i == j:  # symmetric to the last bit, as in _kernel_matrices
                    tile = 0.5 * (tile + np.swapaxes(tile, 0, 1))
                out[si, sj] = tile
                out[sj, si] = np.swapaxes(tile, 0, 1)
    np.fill_diagonal(K, qs[-1])
    np.fill_diagonal(T, T_diag)
    return K, T, dK, dT


def nngp_ntk(
    X,
    Y=None,
    *,
    depth: int = 2,
    activation: str = "relu",
    weight_std: float = 1.0,
    bias_std: float = 0.1,
    trainable="all",
    n_jobs: int | None = None,
):
    """NNGP and NTK matrices of the network family, in one pass of the recursion.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        Inputs.
    Y : array-like of shape (n_samples_Y, n_features), default=None
        Second inputs; ``None`` means ``X`` (then only the upper triangle is
        computed and mirrored).
    depth : int, default=2
        Number of hidden layers ``L``.
    activation : str, default="relu"
        A key of the activation table.
    weight_std, bias_std : float, default=1.0, 0.1
        ``sigma_w`` and ``sigma_b``.
    trainable : str or tuple of str, default="all"
        The trained parameter groups, as for ``GDNetworkRegressor``.
    n_jobs : int, default=None
        Threads over tiles; ``None`` uses every core for the Hermite-series
        activations on inputs of at least ``PARALLEL_MIN_ENTRIES`` kernel
        entries, and one thread otherwise (the closed forms are memory-bound:
        threads do not pay for them).

    Returns
    -------
    nngp : ndarray of shape (n_samples_X, n_samples_Y)
        ``K^{L+1}``.
    ntk : ndarray of shape (n_samples_X, n_samples_Y)
        ``T^{L+1}``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.kernels import nngp_ntk
    >>> X = np.array([[1.0, 1.0], [1.0, -1.0]])  # |x|^2 = d
    >>> K, T = nngp_ntk(X, depth=3, weight_std=np.sqrt(2), bias_std=0.0)
    >>> round(float(K[0, 0]), 12), round(float(T[0, 0]), 12)  # 2 and 2 (L + 1)
    (2.0, 8.0)
    """
    rec = _Recursion.build(depth, activation, weight_std, bias_std, trainable)
    X, Y = _check_inputs(X, Y)
    with _overflow_checked():
        K, T = _kernel_matrices(rec, X, Y, n_jobs=n_jobs)
    _check_finite_output(T, X)
    _check_finite_output(K, X)
    return K, T


def _is_zero(value):
    try:
        return float(value) == 0.0
    except (TypeError, ValueError):
        return False


class _NetworkKernel(Kernel):
    """Shared machinery of :class:`NNGP` and :class:`NTK`."""

    _returns = None  # "K" or "T"

    # --- spectrum on the sphere (Funk-Hecke; see sphere_eigenvalues) ---------------

    def sphere_eigenvalues(self, n_features, max_degree, *, return_multiplicities=False):
        """Eigenvalue of this kernel per spherical-harmonic degree on :math:`S^{d-1}`.

        :func:`sphere_eigenvalues` of this kernel: ``lambda_0 .. lambda_max_degree``
        of its integral operator under the normalized measure on the sphere of
        dimension ``n_features - 1`` (Funk-Hecke).

        Parameters
        ----------
        n_features : int
            Ambient dimension ``d >= 2``.
        max_degree : int
            Largest degree.
        return_multiplicities : bool, default=False
            Also return the multiplicities ``N(d, k)``.

        Returns
        -------
        eigenvalues : ndarray of shape (max_degree + 1,)
            The eigenvalue per degree.
        multiplicities : ndarray of shape (max_degree + 1,)
            Only with ``return_multiplicities=True``.
        """
        return sphere_eigenvalues(
            self, n_features, max_degree, return_multiplicities=return_multiplicities
        )

    @property
    def hyperparameter_weight_std(self):
        """The hyperparameter ``weight_std`` with its bounds (for GPR's optimizer)."""
        _check_bounds("weight_std", self.weight_std_bounds)
        return Hyperparameter("weight_std", "numeric", self.weight_std_bounds)

    @property
    def hyperparameter_bias_std(self):
        """The hyperparameter ``bias_std`` with its bounds (for GPR's optimizer).

        Fixed when ``bias_std`` is 0: ``theta`` is a logarithm, and a network
        without biases stays without them.
        """
        _check_bounds("bias_std", self.bias_std_bounds)
        bounds = "fixed" if _is_zero(self.bias_std) else self.bias_std_bounds
        return Hyperparameter("bias_std", "numeric", bounds)

    def _recursion(self):
        if self.activation not in ACTIVATIONS:
            get_activation(self.activation)  # raises the table's error
        if self.parametrization not in ("ntk", "standard"):
            raise ValueError(
                f"parametrization must be 'ntk' or 'standard', got {self.parametrization!r}."
            )
        trainable = getattr(self, "trainable", "all")
        _check_bounds("weight_std", self.weight_std_bounds)
        _check_bounds("bias_std", self.bias_std_bounds)
        return _Recursion.build(
            self.depth, self.activation, self.weight_std, self.bias_std, trainable
        )

    def __call__(self, X, Y=None, eval_gradient=False):
        """Return the kernel k(X, Y) and optionally its gradient.

        Parameters
        ----------
        X : ndarray of shape (n_samples_X, n_features)
            Left argument of the returned kernel k(X, Y).
        Y : ndarray of shape (n_samples_Y, n_features), default=None
            Right argument of the returned kernel k(X, Y). If None, k(X, X)
            is evaluated instead.
        eval_gradient : bool, default=False
            Whether to return the gradient with respect to the log of the
            non-fixed hyperparameters (``weight_std``, ``bias_std``). Only
            supported when Y is None.

        Returns
        -------
        K : ndarray of shape (n_samples_X, n_samples_Y)
            Kernel k(X, Y).
        K_gradient : ndarray of shape (n_samples_X, n_samples_X, n_dims), optional
            The gradient of k(X, X) with respect to the log of the non-fixed
            hyperparameters; only returned when ``eval_gradient`` is True.
        """
        rec = self._recursion()
        X, Y = _check_inputs(X, Y)
        if eval_gradient:
            if Y is not None:
                raise ValueError("Gradient can only be evaluated when Y is None.")
            with _overflow_checked():
                K, T, dK, dT = _kernel_gradients(rec, X)
            _check_finite_output(K if self._returns == "K" else T, X)
            _check_finite_output(dK if self._returns == "K" else dT, X)
            # theta lists hyperparameters by name: bias_std, then weight_std
            order = [
                i
                for i, h in ((1, self.hyperparameter_bias_std), (0, self.hyperparameter_weight_std))
                if not h.fixed
            ]
            grad = dK if self._returns == "K" else dT
            return (K if self._returns == "K" else T), grad[:, :, order]
        want_T = self._returns == "T"
        with _overflow_checked():
            K, T = _kernel_matrices(
                rec, X, Y, want_K=not want_T, want_T=want_T, n_jobs=self.n_jobs
            )
        out = T if want_T else K
        _check_finite_output(out, X)
        return out

    def diag(self, X):
        """Returns the diagonal of the kernel k(X, X), computed exactly.

        Parameters
        ----------
        X : ndarray of shape (n_samples_X, n_features)
            Left argument of the returned kernel k(X, X).

        Returns
        -------
        K_diag : ndarray of shape (n_samples_X,)
            Diagonal of kernel k(X, X).
        """
        rec = self._recursion()
        X = _check_inputs(X)[0]
        with _overflow_checked():
            K, T = _kernel_diagonals(rec, X)
        out = T if self._returns == "T" else K
        _check_finite_output(out, X)
        return out

    def is_stationary(self):
        """Returns whether the kernel is stationary: it is not."""
        return False

    def __repr__(self):
        # Everything that changes the kernel's values is shown, so that two
        # unequal kernels never print alike (a grid search's best_params_);
        # trainable and parametrization only when not the default.
        shown = [
            f"depth={self.depth!r}",
            f"activation={self.activation!r}",
            f"weight_std={_exact_float(self.weight_std)}",
            f"bias_std={_exact_float(self.bias_std)}",
        ]
        for name in ("trainable", "parametrization"):
            if not hasattr(self, name):  # NNGP: every layer's parameters are random
                continue
            value = getattr(self, name)
            if not (isinstance(value, str) and value == ("all" if name == "trainable" else "ntk")):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _exact_float(value):
    """``value`` with 6 significant digits where that is exact, else every digit."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return repr(value)
    short = f"{value:.6g}"
    return short if float(short) == value else repr(value)


class NNGP(_NetworkKernel):
    """Neural network Gaussian process kernel of the network family.

    The covariance ``K^{L+1}(x, x')`` of the outputs of a randomly initialized
    network of infinite width (see the user guide): a fully connected network
    with ``depth`` hidden layers, activation ``activation`` and initialization
    scales ``weight_std`` (``sigma_w``) and ``bias_std`` (``sigma_b``). The
    hyperparameters ``weight_std`` and ``bias_std`` can be fitted (log scale
    in ``theta``, as for every scikit-learn kernel) by
    :class:`~sklearn.gaussian_process.GaussianProcessRegressor`.

    Parameters
    ----------
    depth : int, default=2
        Number of hidden layers ``L``.
    activation : str, default="relu"
        "relu", "erf" and "identity" use closed forms; "tanh", "sigmoid",
        "softplus" and "gelu" use Mehler's Hermite series (accurate to 1e-6
        relative to ``sqrt(k(x, x) k(x', x'))``, positive semi-definite by
        construction; pre-activation variances beyond the series' range,
        about 27 for tanh and 110 to 175 for the others, raise ValueError).
    weight_std : float, default=1.0
        ``sigma_w``.
    bias_std : float, default=0.1
        ``sigma_b``. At 0 the hyperparameter is fixed (``theta`` is its
        logarithm, and a network without biases stays without them).
    parametrization : {"ntk", "standard"}, default="ntk"
        Both give the same NNGP (the same function at initialization).
    weight_std_bounds : pair of floats > 0 or "fixed", default=(1e-2, 1e2)
        Bounds of ``weight_std``.
    bias_std_bounds : pair of floats > 0 or "fixed", default=(1e-5, 1e2)
        Bounds of ``bias_std``.
    n_jobs : int, default=None
        Threads over tiles; ``None`` uses every core for the Hermite-series
        activations on large inputs and one thread for the closed forms.

    See Also
    --------
    NTK : The neural tangent kernel of the same networks.
    sklearn_gdnet.NTKRegressor : Training predictions of the infinitely wide network.

    Notes
    -----
    With ``E1 = E[phi(u) phi(v)]`` over
    ``(u, v) ~ N(0, [[K^l(x, x), K^l(x, x')], [K^l(x, x'), K^l(x', x')]])``:

    .. math::

        K^1 = \\sigma_w^2 x \\cdot x' / d + \\sigma_b^2, \\qquad
        K^{l+1} = \\sigma_w^2 E_1 + \\sigma_b^2 .

    References
    ----------
    .. [1] J. Lee et al., "Deep neural networks as Gaussian processes", ICLR 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sklearn_gdnet.kernels import NNGP
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 3))
    >>> y = np.sin(X[:, 0])
    >>> gp = GaussianProcessRegressor(NNGP(depth=2), alpha=1e-4).fit(X, y)
    >>> start = NNGP(depth=2).theta  # log(bias_std), log(weight_std)
    >>> bool(gp.log_marginal_likelihood_value_ > gp.log_marginal_likelihood(start))
    True
    """

    _returns = "K"

    def __init__(
        self,
        depth=2,
        activation="relu",
        weight_std=1.0,
        bias_std=0.1,
        parametrization="ntk",
        weight_std_bounds=(1e-2, 1e2),
        bias_std_bounds=(1e-5, 1e2),
        n_jobs=None,
    ):
        self.depth = depth
        self.activation = activation
        self.weight_std = weight_std
        self.bias_std = bias_std
        self.parametrization = parametrization
        self.weight_std_bounds = weight_std_bounds
        self.bias_std_bounds = bias_std_bounds
        self.n_jobs = n_jobs


class NTK(_NetworkKernel):
    """Neural tangent kernel of the network family.

    ``T^{L+1}(x, x')`` of the user guide: the limit, as the width grows,
    of ``sum_g <df(x)/dg, df(x')/dg>`` over the trained parameter groups ``g``
    of a network in the NTK parametrization, the kernel that governs its
    gradient-descent training. The hyperparameters ``weight_std`` and
    ``bias_std`` can be fitted (log scale in ``theta``) by
    :class:`~sklearn.gaussian_process.GaussianProcessRegressor`.

    Parameters
    ----------
    depth : int, default=2
        Number of hidden layers ``L``.
    activation : str, default="relu"
        "relu", "erf" and "identity" use closed forms; "tanh", "sigmoid",
        "softplus" and "gelu" use Mehler's Hermite series (accurate to 1e-6,
        positive semi-definite by construction; see :class:`NNGP`).
    weight_std : float, default=1.0
        ``sigma_w``.
    bias_std : float, default=0.1
        ``sigma_b``; at 0 the hyperparameter is fixed.
    trainable : str or tuple of str, default="all"
        The trained parameter groups, spelled as for ``GDNetworkRegressor``:
        "all", "output", "hidden", "penultimate", "hidden_biases", a group
        name ("W2") or a tuple of group names.
    parametrization : {"ntk"}, default="ntk"
        "standard" is rejected: its tangent kernel grows with the width.
    weight_std_bounds : pair of floats > 0 or "fixed", default=(1e-2, 1e2)
        Bounds of ``weight_std``.
    bias_std_bounds : pair of floats > 0 or "fixed", default=(1e-5, 1e2)
        Bounds of ``bias_std``.
    n_jobs : int, default=None
        Threads over tiles; ``None`` uses every core for the Hermite-series
        activations on large inputs and one thread for the closed forms.

    See Also
    --------
    NNGP : The output covariance of the same networks at initialization.
    sklearn_gdnet.NTKRegressor : Training predictions with this kernel.

    Notes
    -----
    With ``E1``, ``E0`` the dual maps of the activation at layer ``l``:

    .. math::

        T^1 = [W_1]\\, \\sigma_w^2 x \\cdot x' / d + [b_1]\\, \\sigma_b^2, \\qquad
        T^{l+1} = [W_{l+1}]\\, \\sigma_w^2 E_1 + [b_{l+1}]\\, \\sigma_b^2
                  + \\sigma_w^2 E_0 T^l .

    References
    ----------
    .. [1] A. Jacot, F. Gabriel, C. Hongler, "Neural tangent kernel: convergence
       and generalization in neural networks", NeurIPS 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.kernel_ridge import KernelRidge
    >>> from sklearn_gdnet.kernels import NTK
    >>> X = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]])
    >>> kernel = NTK(depth=1, weight_std=np.sqrt(2), bias_std=0.0, bias_std_bounds="fixed")
    >>> np.diag(kernel(X))  # 2 (L + 1)
    array([4., 4., 4.])
    >>> KernelRidge(kernel=kernel, alpha=1e-3).fit(X, [1.0, 0.0, 0.0]).predict(X).round(2)
    array([1., 0., 0.])
    """

    _returns = "T"

    def __init__(
        self,
        depth=2,
        activation="relu",
        weight_std=1.0,
        bias_std=0.1,
        trainable="all",
        parametrization="ntk",
        weight_std_bounds=(1e-2, 1e2),
        bias_std_bounds=(1e-5, 1e2),
        n_jobs=None,
    ):
        self.depth = depth
        self.activation = activation
        self.weight_std = weight_std
        self.bias_std = bias_std
        self.trainable = trainable
        self.parametrization = parametrization
        self.weight_std_bounds = weight_std_bounds
        self.bias_std_bounds = bias_std_bounds
        self.n_jobs = n_jobs

    def _recursion(self):
        if self.parametrization == "standard":
            raise ValueError(
                "NTK(parametrization='standard') has no infinite-width limit: under the "
                "standard parametrization the tangent kernel grows linearly with the width. "
                "Use parametrization='ntk' (the NNGP is the same for both)."
            )
        return super()._recursion()
