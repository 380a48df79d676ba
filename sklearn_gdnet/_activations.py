"""The activation table: one entry per activation, used by every part of the package.

Each entry holds

* ``phi(z)``: the activation, elementwise;
* ``dphi(z)``: its derivative, elementwise;
* ``mul_dphi(delta, z, h)``: ``delta *= phi'(z)`` in place, given the
  pre-activation ``z`` and the activation ``h = phi(z)`` (the training loop's
  hot path; each entry uses whichever of ``z`` or ``h`` is cheaper);
* ``dual``: the dual maps ``(q11, q22, q12) -> (E1, E0)`` with
  ``E1 = E[phi(u) phi(v)]`` and ``E0 = E[phi'(u) phi'(v)]`` for
  ``(u, v) ~ N(0, [[q11, q12], [q12, q22]])`` (see the user guide): closed
  forms for relu, erf and identity, Mehler's Hermite series
  (:class:`HermiteSeriesDual`) for every other activation, accurate to 3e-7
  relative to ``sqrt(E(x, x) E(x', x'))``, positive semi-definite by
  construction, refused (ValueError) for variances that would need more than
  4096 terms. Called as
  ``dual(q11, q22, q12, tangents=(dq11, dq22, dq12))`` it also returns the
  directional derivatives ``(dE1, dE0)`` (forward mode), which the kernels'
  ``eval_gradient`` chains through the layer recursion.

The network code, the kernels and the tests all read this one table.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "HermiteSeriesDual",
    "get_activation",
]


@dataclass(frozen=True)
class Activation:
    """One activation function with its derivative and (optionally) dual maps."""

    name: str
    phi: Callable[..., np.ndarray]
    dphi: Callable[..., np.ndarray]
    mul_dphi: Callable[[np.ndarray, np.ndarray, np.ndarray], None]
    dual: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None
    #: ``mul_dphi`` reads only ``h``: the forward pass may overwrite ``z`` with
    #: ``phi(z)`` and keep one buffer per layer instead of two.
    derivative_from_output: bool = False


# --- phi and phi' --------------------------------------------------------------------
# ``phi`` accepts ``out=`` so that the forward pass can work in place.


def _relu(z, out=None):
    return np.maximum(z, 0, out=out)


def _relu_d(z):
    return (z > 0).astype(np.result_type(z, np.float32))


def _relu_mul(delta, z, h):
    np.multiply(delta, h > 0, out=delta)  # relu(z) > 0 exactly where z > 0


def _tanh(z, out=None):
    return np.tanh(z, out=out)


def _tanh_d(z):
    t = np.tanh(z)
    return 1.0 - t * t


def _tanh_mul(delta, z, h):
    delta *= 1.0 - h * h


def _sigmoid(z, out=None):
    return special.expit(z, out=out)


def _sigmoid_d(z):
    s = special.expit(z)
    return s * (1.0 - s)


def _sigmoid_mul(delta, z, h):
    delta *= h * (1.0 - h)


def _softplus(z, out=None):
    return np.logaddexp(0.0, z, out=out)


def _softplus_d(z):
    return special.expit(z)


def _softplus_mul(delta, z, h):
    delta *= special.expit(z)


_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)


def _erf(z, out=None):
    return special.erf(z, out=out)


def _erf_d(z):
    return _TWO_OVER_SQRT_PI * np.exp(-z * z)


def _erf_mul(delta, z, h):
    delta *= _erf_d(z)


def _gelu(z, out=None):
    # gelu(z) = z * Phi(z), Phi the standard normal CDF.
    return np.multiply(z, special.ndtr(z), out=out)


def _gelu_d(z):
    return special.ndtr(z) + z * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


def _gelu_mul(delta, z, h):
    delta *= _gelu_d(z)


def _identity(z, out=None):
    if out is None:
        return z.copy()
    if out is not z:
        np.copyto(out, z)
    return out


def _identity_d(z):
    return np.ones_like(z)


def _identity_mul(delta, z, h):
    pass


# --- dual maps -----------------------------------------------------------------------
# Every dual map takes the two variances and the covariance, arrays that broadcast
# against each other, and returns (E1, E0) of the broadcast shape. With ``tangents``
# = (dq11, dq22, dq12) (each may carry a leading axis, one entry per direction) it
# also returns the directional derivatives (dE1, dE0). The covariance is clipped to
# the Cauchy-Schwarz range, so rounding never produces NaN; duplicate points (q12 ==
# q11 == q22) give exactly the diagonal values, zero points (q = 0) give finite ones.

_INV_2PI = 1.0 / (2.0 * np.pi)


def _relu_dual(q11, q22, q12, tangents=None):
    # s = sqrt(q11 q22 - q12^2), theta = atan2(s, q12):
    # E1 = (s + (pi - theta) q12) / (2 pi), E0 = (pi - theta) / (2 pi).
    # Written with three buffers and in-place ufuncs: this is the kernels' hot path.
    shape = np.broadcast_shapes(np.shape(q11), np.shape(q22), np.shape(q12))
    s = np.multiply(q11, q22, out=np.empty(shape))
    e0 = np.square(q12, out=np.empty(shape))
    np.subtract(s, e0, out=s)
    np.maximum(s, 0.0, out=s)  # clip: |q12| <= sqrt(q11 q22)
    np.sqrt(s, out=s)
    np.arctan2(s, q12, out=e0)  # theta in [0, pi]; atan2(0, 0) = 0
    # E0 = 1/2 - theta / (2 pi): exactly 1/2 on the diagonal, where s = theta = 0.
    np.multiply(e0, -_INV_2PI, out=e0)
    np.add(e0, 0.5, out=e0)
    e1 = np.multiply(e0, q12, out=np.empty(shape))
    np.multiply(s, _INV_2PI, out=s)
    np.add(e1, s, out=e1)  # = q12 / 2 exactly on the diagonal
    if tangents is None:
        return e1, e0
    dq11, dq22, dq12 = tangents
    s *= 2.0 * np.pi
    # dE1 = E0 dq12 + s / (4 pi) (dq11 / q11 + dq22 / q22)   (Price's theorem)
    # dE0 = (dq12 - q12 / 2 (dq11 / q11 + dq22 / q22)) / (2 pi s)
    # Both are finite where s = 0 (duplicate or zero points): there E0 stays 1/2
    # and the bracket of dE0 is 0, so 0/0 is replaced by its limit 0.
    # dq / q, not dq * (1 / q): 1 / q overflows for the tiny q of tiny inputs.
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(q11 > 0, dq11 / np.where(q11 > 0, q11, 1.0), 0.0)
        rel = rel + np.where(q22 > 0, dq22 / np.where(q22 > 0, q22, 1.0), 0.0)
        de1 = e0 * dq12 + (s * (0.5 * _INV_2PI)) * rel
        de0 = (dq12 - 0.5 * q12 * rel) * _INV_2PI
        de0 = np.where(s > 0, de0 / np.where(s > 0, s, 1.0), 0.0)
    return e1, e0, de1, de0


_TWO_OVER_PI = 2.0 / np.pi


def _erf_dual(q11, q22, q12, tangents=None):
    # P = (1 + 2 q11)(1 + 2 q22): E1 = (2/pi) arcsin(2 q12 / sqrt(P)),
    # E0 = (4/pi) / sqrt(P - 4 q12^2). P - 4 q12^2 >= 1 + 2 q11 + 2 q22 >= 1.
    # D = P - 4 q12^2 = 1 + 2 q11 + 2 q22 + 4 (q11 q22 - q12^2), written as this
    # sum: P - 4 q12^2 cancels catastrophically for large variances.
    q11, q22 = np.asarray(q11), np.asarray(q22)
    p = np.multiply(1.0 + 2.0 * q11, 1.0 + 2.0 * q22)
    det = np.maximum(q11 * q22 - np.square(q12), 0.0)
    d = 1.0 + 2.0 * q11 + 2.0 * q22 + 4.0 * det
    e1 = _TWO_OVER_PI * np.arcsin(np.clip(2.0 * q12 / np.sqrt(p), -1.0, 1.0))
    e0 = (2.0 * _TWO_OVER_PI) / np.sqrt(d)
    if tangents is None:
        return e1, e0
    dq11, dq22, dq12 = tangents
    dp = 2.0 * (1.0 + 2.0 * q22) * dq11 + 2.0 * (1.0 + 2.0 * q11) * dq22
    # d(det) is exactly 0 on the diagonal (dq11 = dq22 = dq12, q11 = q22 = q12)
    ddet = q22 * dq11 + q11 * dq22 - 2.0 * (q12 * dq12)
    dd = 2.0 * (dq11 + dq22) + 4.0 * ddet
    # dE1 = (2/pi) / sqrt(D) (2 dq12 - q12 dP / P);  dE0 = -(2/pi) D^(-3/2) dD
    de1 = (_TWO_OVER_PI / np.sqrt(d)) * (2.0 * dq12 - q12 * dp / p)
    de0 = -_TWO_OVER_PI * d**-1.5 * dd
    return e1, e0, de1, de0


def _identity_dual(q11, q22, q12, tangents=None):
    shape = np.broadcast_shapes(np.shape(q11), np.shape(q22), np.shape(q12))
    e1 = np.array(np.broadcast_to(q12, shape), dtype=float)
    e0 = np.ones(shape)
    if tangents is None:
        return e1, e0
    dq12 = np.asarray(tangents[2], dtype=float)
    return e1, e0, dq12.copy(), np.zeros(dq12.shape)


# Second and third derivatives, used only by the quadrature: Price's theorem turns
# derivatives with respect to the covariance into expectations of these.


def _tanh_d2(z):
    t = np.tanh(z)
    return -2.0 * t * (1.0 - t * t)


def _tanh_d3(z):
    t2 = np.square(np.tanh(z))
    return (6.0 * t2 - 2.0) * (1.0 - t2)


def _sigmoid_d2(z):
    s = special.expit(z)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _sigmoid_d3(z):
    s = special.expit(z)
    return s * (1.0 - s) * (1.0 - 6.0 * s + 6.0 * s * s)


_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _gelu_d2(z):
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z) * (2.0 - z * z)


def _gelu_d3(z):
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z) * z * (z * z - 4.0)


#: Relative tolerance of every truncated Hermite series (see HermiteSeriesDual).
SERIES_TOL = 1e-14
#: The most Hermite terms a series may use; variances that need more are refused.
MAX_SERIES_TERMS = 4096
# The 1-d rule for the Hermite coefficients: the trapezoid rule on [-Z_MAX, Z_MAX]
# (the integrands carry exp(-z^2 / 2); beyond 15 they are below 1e-24 of their size).
_Z_MAX = 15.0
# Measured: every activation of the table needs more than MAX_SERIES_TERMS terms
# well below this variance (gelu, the easiest, at about 150).
_Q_BEYOND_REACH = 2000.0
# Points per call whose coefficients are held at once (a kernel tile has 128).
_CHUNK = 256


_TABLES: dict = {}  # step -> (z, root, U) with the most rows asked for so far
_TABLES_LOCK = threading.Lock()


def _hermite_functions(n_terms, step):
    """Grid ``z``, ``root = sqrt(N(z) step)`` and ``U[k] = h_k(z) root``, k < n_terms.

    ``h_k = He_k / sqrt(k!)`` are the orthonormal probabilists' Hermite
    polynomials and ``N`` the standard normal density, so that
    ``E[g(z) h_k(z)] ~ sum_m U[k, m] g(z_m) root_m`` is the trapezoid rule.
    The functions ``h_k sqrt(N)`` are bounded by 1 for every k and their
    three-term recurrence is stable (one on ``h_k`` alone would overflow).
    One table per step, grown when more rows are asked for; a smaller request
    gets the first rows, which the recurrence makes identical.
    """
    with _TABLES_LOCK:
        table = _TABLES.get(step)
        if table is not None and table[2].shape[0] >= n_terms:
            z, root, U = table
            return z, root, U[:n_terms]
        z = np.arange(-_Z_MAX, _Z_MAX + step / 2, step)
        root = np.sqrt(np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi) * step)
        U = np.empty((n_terms, z.size))
        U[0] = root
        if n_terms > 1:
            U[1] = z * root
        for k in range(1, n_terms - 1):
            U[k + 1] = (z * U[k] - np.sqrt(k) * U[k - 1]) / np.sqrt(k + 1.0)
        for a in (z, root, U):
            a.flags.writeable = False  # shared by every call
        _TABLES[step] = (z, root, U)
        return z, root, U


def _grid_step(q_max, n_terms):
    # The rule must resolve f(sqrt(q) z), analytic in a strip |Im z| < c / sqrt(q)
    # (c = pi / 2 for tanh, the narrowest): step <= 0.25 / sqrt(q); and the Hermite
    # functions of degree k < K, whose Fourier transforms ~ w^k exp(-w^2 / 2) /
    # sqrt(k!) are below exp(-3 K) at 2 pi / step for step <= 2 / sqrt(K). Then the
    # trapezoid rule is exact to rounding (measured: halving the step changes no
    # coefficient by more than 1e-13). Powers of two let calls share the table.
    step = min(0.25 / np.sqrt(max(q_max, 1e-300)), 2.0 / np.sqrt(n_terms), 0.25)
    return float(2.0 ** np.floor(np.log2(step)))


class HermiteSeriesDual:
    """Dual maps of a smooth activation by Mehler's Hermite series.

    For ``(u, v) ~ N(0, [[q11, q12], [q12, q22]])`` with correlation
    ``rho = q12 / sqrt(q11 q22)`` and any two functions ``f, g`` (Mehler's
    formula)::

        E[f(u) g(v)] = sum_k F_k(q11) G_k(q22) rho^k,
        F_k(q) = E[f(sqrt(q) z) h_k(z)],  h_k = He_k / sqrt(k!),  z ~ N(0, 1).

    ``E1`` takes ``f = g = phi``, ``E0`` takes ``f = g = phi'``. The
    coefficients are 1-d integrals per *point* (trapezoid rule, exact to
    rounding, see ``_grid_step``); per *pair* only a polynomial in ``rho`` is
    evaluated (Horner's rule). Derivatives follow from Price's theorem,
    ``dE[f(u) g(v)]/dq12 = E[f'(u) g'(v)]`` and
    ``dE[f(u) g(v)]/dq11 = E[f''(u) g(v)] / 2``: series of the same kind in the
    coefficients of the second and third derivatives of ``phi``.

    Truncation, accuracy and positive definiteness: each point keeps the
    terms ``k <= K`` of each of its coefficient sequences, with ``K`` the
    smallest order whose tail ``sum_{k>K} F_k^2`` is at most ``tol E[f^2]``
    (computed, not estimated: the kept terms must also capture ``E[f^2]``, a
    1-d integral of the same rule, to ``tol``; the next term enters with a
    weight in [0, 1] that makes the truncation continuous in ``q``). Points
    truncate independently, so by Cauchy-Schwarz the dropped part of a pair is
    at most ``2 sqrt(2 tol) sqrt(E[f(u)^2] E[g(v)^2])`` for every ``rho`` in
    [-1, 1]: relative to the diagonal, each dual map is accurate to 3e-7 at the
    default ``tol = 1e-14`` (measured against the closed-form erf dual: 2e-8,
    and 1e-9 or better against adaptive integration for the table's
    activations). A truncated series is ``sum_k D_k R^{o k} D_k``,
    Schur powers of the correlation matrix ``R`` between diagonal scalings,
    so every kernel matrix built from it is symmetric and positive
    semi-definite *by construction*, and a pair of duplicate points gets
    exactly the diagonal's value.

    Range: the number of terms grows about linearly with the variance (tanh:
    about 100 terms per unit of ``q`` for ``E1``, more for the derivatives).
    Variances that need more than ``max_terms`` terms are refused with a
    ValueError that names the variance. Measured limits at 4096 terms, values
    (with ``eval_gradient``): tanh 27 (17), sigmoid 110 (65), softplus 175
    (80), gelu 135 (100).

    Parameters
    ----------
    name : str
        The activation's name, for error messages.
    phi, dphi, d2phi, d3phi : callable
        The activation and its first three derivatives, elementwise.
    tol : float, default=SERIES_TOL
        Relative tail tolerance of every series.
    max_terms : int, default=MAX_SERIES_TERMS
        The most terms a series may use.
    """

    def __init__(self, name, phi, dphi, d2phi, d3phi, tol=SERIES_TOL, max_terms=MAX_SERIES_TERMS):
        self.name = name
        self.functions = (phi, dphi, d2phi, d3phi)
        self.tol = tol
        self.max_terms = max_terms
        # The tiles of one matrix ask for the same rows' coefficients again and
        # again: keep the last few (a pure function of the variances).
        self._recent = functools.lru_cache(maxsize=16)(self._coefficients)

    def __getstate__(self):  # the cache does not pickle (and need not)
        state = self.__dict__.copy()
        del state["_recent"]
        return state

    def __setstate__(self, state):
        self.__init__(
            state["name"], *state["functions"], tol=state["tol"], max_terms=state["max_terms"]
        )

    def coefficients(self, q, n_functions=2):
        """Truncated Hermite coefficients of ``phi^(j)(sqrt(q) z)``, j < n_functions.

        Returns a list (one entry per function) of arrays of shape
        ``(K + 1, q.size)``: column ``i`` holds ``F_k(q_i)`` for the terms
        that point keeps and zeros after them. Each function's series is
        computed on its own, so the values do not depend on whether the
        derivatives' series are asked for too.
        """
        q = np.asarray(q, dtype=float).ravel()
        if q.size and not np.all(np.isfinite(q)):
            raise ValueError(
                f"The {self.name!r} dual map got a non-finite pre-activation variance: "
                "the kernel recursion overflowed. Rescale X or reduce weight_std and bias_std."
            )
        q = np.maximum(q, 0.0)
        values, inverse = np.unique(q, return_inverse=True)  # points on a sphere share q
        key = values.tobytes()
        return [self._recent(key, j)[:, inverse.ravel()] for j in range(n_functions)]

    def _coefficients(self, key, j):
        values = np.frombuffer(key)
        q_max = float(values.max(initial=0.0))
        if q_max > _Q_BEYOND_REACH:  # every activation needs far more terms there
            raise ValueError(self._range_message(q_max))
        n_terms = 64
        while True:
            coef = self._truncated(self.functions[j], values, q_max, n_terms)
            if coef is not None:
                coef.flags.writeable = False
                return coef
            if n_terms >= self.max_terms:
                raise ValueError(self._range_message(q_max))
            n_terms = min(2 * n_terms, self.max_terms)

    def _range_message(self, q_max):
        return (
            f"The {self.name!r} kernel cannot be computed to its stated accuracy at a "
            f"pre-activation variance of {q_max:.4g}: its Hermite series would need "
            f"more than {self.max_terms} terms. The variance grows "
            "with weight_std^2 |x|^2 / n_features + bias_std^2; the largest served are "
            "about 27 for tanh (17 with eval_gradient), 110 for sigmoid (65), 175 for "
            "softplus (80) and 135 for gelu (100). Rescale X (for example with "
            "sklearn.preprocessing.StandardScaler), reduce weight_std or bias_std, or "
            "use activation='erf' (a closed form for every variance)."
        )

    def _truncated(self, f, q, q_max, n_terms):
        z, root, U = _hermite_functions(n_terms, _grid_step(q_max, n_terms))
        s = np.sqrt(q)
        F = f(np.multiply.outer(s, z))  # (points, grid)
        F *= root
        energy = np.einsum("ij,ij->i", F, F)  # E[f^2]
        coef = U @ F.T  # (terms, points)
        # tail[k] = sum_{k < j < n_terms} F_j^2, summed from the end (no
        # cancellation); the terms must capture E[f^2] up to tol (what they miss
        # is rounding once captured), so the true tail is at most 2 tol E[f^2].
        square = np.square(coef)
        tail = np.cumsum(square[::-1], axis=0)[::-1] - square
        # + 1e-300: variances that underflow give E[f^2] = 0 or denormal
        target = self.tol * energy[None, :] + 1e-300
        if not np.all(energy - tail[0] - square[0] <= target[0]):
            return None
        ok = tail <= target
        last = np.argmax(ok, axis=0)  # K per point
        # Continuous truncation: term K + 1 enters with the weight that goes from
        # 0 to 1 as log(tail[K]) goes from log(tail[K - 1]) to log(tol E[f^2]),
        # so a point's series does not jump where its K changes.
        cols = np.arange(q.size)
        before = tail[np.maximum(last - 1, 0), cols]
        at = np.maximum(tail[last, cols], 1e-310)
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = np.log(before / target[0]) / np.log(before / at)
        weight = np.where((last > 0) & np.isfinite(weight), np.clip(weight, 0.0, 1.0), 0.0)
        k = np.arange(coef.shape[0])[:, None]
        coef = np.where(k <= last, coef, np.where(k == last + 1, coef * weight, 0.0))
        return coef[: int(last.max(initial=0)) + 2]

    def __call__(self, q11, q22, q12, tangents=None):
        q11, q22, q12 = (np.asarray(a, dtype=float) for a in (q11, q22, q12))
        shape = np.broadcast_shapes(q11.shape, q22.shape, q12.shape)
        if len(shape) == 1 and shape[0] > _CHUNK:
            # Long vectors (the diagonal of many points): in chunks, so that the
            # coefficients held at once stay small.
            parts = []
            for start in range(0, shape[0], _CHUNK):
                cut = slice(start, start + _CHUNK)
                args = [np.broadcast_to(a, shape)[cut] for a in (q11, q22, q12)]
                tans = None
                if tangents is not None:
                    tans = tuple(
                        np.broadcast_to(t, np.shape(t)[:-1] + shape)[..., cut] for t in tangents
                    )
                parts.append(self(*args, tangents=tans))
            return tuple(np.concatenate(p, axis=-1) for p in zip(*parts))
        grad = tangents is not None
        n = 4 if grad else 2
        # Coefficients per point (per argument array), not per pair.
        A = [c.reshape((-1,) + q11.shape) for c in self.coefficients(q11, n)]
        B = A if q22 is q11 else [c.reshape((-1,) + q22.shape) for c in self.coefficients(q22, n)]
        s11 = np.sqrt(np.maximum(q11, 0.0))
        s22 = np.sqrt(np.maximum(q22, 0.0))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rho = (q12 / s11) / s22  # in this order: no underflow for tiny q
        rho = np.where((s11 > 0) & (s22 > 0), rho, 0.0)
        rho = np.clip(np.broadcast_to(rho, shape), -1.0, 1.0)
        # Duplicate points: exactly the diagonal's correlation.
        rho = np.where((q12 == q11) & (q12 == q22), 1.0, rho)

        def series(a, b):
            return _horner(a, b, rho, shape)

        e1, e0 = series(A[0], B[0]), series(A[1], B[1])
        if not grad:
            return e1, e0
        dq11, dq22, dq12 = tangents
        # Price's theorem, term by term.
        de1 = e0 * dq12 + 0.5 * (series(A[2], B[0]) * dq11 + series(A[0], B[2]) * dq22)
        de0 = series(A[2], B[2]) * dq12 + 0.5 * (
            series(A[3], B[1]) * dq11 + series(A[1], B[3]) * dq22
        )
        return e1, e0, de1, de0


def _horner(a, b, rho, shape):
    """``sum_k a[k] b[k] rho^k`` (``a[k]``, ``b[k]`` broadcast against ``rho``)."""
    n = min(a.shape[0], b.shape[0])
    acc = np.zeros(shape)
    term = np.empty(shape)
    for k in range(n - 1, -1, -1):
        acc *= rho
        np.multiply(a[k], b[k], out=term)
        acc += term
    return acc


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", _relu, _relu_d, _relu_mul, _relu_dual, True),
    "tanh": Activation(
        "tanh",
        _tanh,
        _tanh_d,
        _tanh_mul,
        HermiteSeriesDual("tanh", _tanh, _tanh_d, _tanh_d2, _tanh_d3),
        derivative_from_output=True,
    ),
    "erf": Activation("erf", _erf, _erf_d, _erf_mul, _erf_dual),
    "sigmoid": Activation(
        "sigmoid",
        _sigmoid,
        _sigmoid_d,
        _sigmoid_mul,
        HermiteSeriesDual("sigmoid", _sigmoid, _sigmoid_d, _sigmoid_d2, _sigmoid_d3),
        derivative_from_output=True,
    ),
    "softplus": Activation(
        "softplus",
        _softplus,
        _softplus_d,
        _softplus_mul,
        # softplus' is the sigmoid, so its higher derivatives are the sigmoid's.
        HermiteSeriesDual("softplus", _softplus, _softplus_d, _sigmoid_d, _sigmoid_d2),
    ),
    "gelu": Activation(
        "gelu",
        _gelu,
        _gelu_d,
        _gelu_mul,
        HermiteSeriesDual("gelu", _gelu, _gelu_d, _gelu_d2, _gelu_d3),
    ),
    "identity": Activation("identity", _identity, _identity_d, _identity_mul, _identity_dual, True),
}


def get_activation(name: str) -> Activation:
    """Return the table entry for ``name``, with a clear error for unknown names."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"Unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}."
        ) from None
