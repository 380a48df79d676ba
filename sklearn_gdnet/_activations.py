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
  forms for relu, erf and identity, 2-d Gauss-Hermite quadrature
  (:class:`GaussHermiteDual`) for every other activation. Called as
  ``dual(q11, q22, q12, tangents=(dq11, dq22, dq12))`` it also returns the
  directional derivatives ``(dE1, dE0)`` (forward mode), which the kernels'
  ``eval_gradient`` chains through the layer recursion.

The network code, the kernels and the tests all read this one table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "GaussHermiteDual",
    "gauss_hermite_nodes_for",
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
    with np.errstate(divide="ignore", invalid="ignore"):
        inv11 = np.where(q11 > 0, 1.0 / np.where(q11 > 0, q11, 1.0), 0.0)
        inv22 = np.where(q22 > 0, 1.0 / np.where(q22 > 0, q22, 1.0), 0.0)
        rel = dq11 * inv11 + dq22 * inv22
        de1 = e0 * dq12 + (s * (0.5 * _INV_2PI)) * rel
        de0 = (dq12 - 0.5 * q12 * rel) * _INV_2PI
        de0 = np.where(s > 0, de0 / np.where(s > 0, s, 1.0), 0.0)
    return e1, e0, de1, de0


_TWO_OVER_PI = 2.0 / np.pi


def _erf_dual(q11, q22, q12, tangents=None):
    # P = (1 + 2 q11)(1 + 2 q22): E1 = (2/pi) arcsin(2 q12 / sqrt(P)),
    # E0 = (4/pi) / sqrt(P - 4 q12^2). P - 4 q12^2 >= 1 + 2 q11 + 2 q22 >= 1.
    q11, q22 = np.asarray(q11), np.asarray(q22)
    p = np.multiply(1.0 + 2.0 * q11, 1.0 + 2.0 * q22)
    d = p - 4.0 * np.square(q12)
    d = np.maximum(d, 1.0)
    e1 = _TWO_OVER_PI * np.arcsin(np.clip(2.0 * q12 / np.sqrt(p), -1.0, 1.0))
    e0 = (2.0 * _TWO_OVER_PI) / np.sqrt(d)
    if tangents is None:
        return e1, e0
    dq11, dq22, dq12 = tangents
    dp = 2.0 * (1.0 + 2.0 * q22) * dq11 + 2.0 * (1.0 + 2.0 * q11) * dq22
    # dE1 = (2/pi) / sqrt(D) (2 dq12 - q12 dP / P);  dE0 = -(2/pi) D^(-3/2) dD
    de1 = (_TWO_OVER_PI / np.sqrt(d)) * (2.0 * dq12 - q12 * dp / p)
    de0 = -_TWO_OVER_PI * d**-1.5 * (dp - 8.0 * q12 * dq12)
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


def gauss_hermite_nodes_for(max_variance: float) -> int:
    """Nodes per dimension that keep the 2-d rule accurate up to ``max_variance``.

    ``phi(sqrt(q) z)`` gets steeper as the variance ``q`` grows, and
    Gauss-Hermite nodes near 0 are spaced about ``pi / sqrt(2 n)`` apart, so
    the node count grows with ``q``. Measured against adaptive 1-d
    integration at correlation 1 (the hardest case), the largest error over
    tanh (the hardest activation), sigmoid, softplus and gelu is 2e-7 for
    ``q <= 1`` (64 nodes), 2e-6 for ``q <= 3`` (128 nodes), 3e-7 for ``q <= 5``
    and 4e-5 for ``q <= 10`` (256 nodes), 1e-3 at ``q = 20``.
    """
    if max_variance <= 1.0:
        return 64
    if max_variance <= 3.0:
        return 128
    return 256


@functools.lru_cache(maxsize=8)
def _hermite_rule(n_nodes):
    # Probabilists' Gauss-Hermite rule for E over N(0, 1), without the nodes whose
    # weight cannot change a double-precision sum.
    z, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    w = w / np.sqrt(2.0 * np.pi)
    keep = w > 1e-17 * w.max()
    z, w = z[keep], w[keep]
    z.flags.writeable = w.flags.writeable = False  # shared by every call
    return z, w


class GaussHermiteDual:
    """Dual maps of a smooth activation by 2-d Gauss-Hermite quadrature.

    ``(u, v) = (sqrt(q11) z1, a z1 + b z2)`` with ``a = q12 / sqrt(q11)``,
    ``b = sqrt(q22 - a^2)`` and ``z1, z2`` independent standard normals, so
    ``E[g(u, v)] = sum_ij w_i w_j g(u_i, v_ij)`` with the probabilists'
    Hermite nodes ``z_i`` and weights ``w_i``. The Cholesky form stays accurate
    as the correlation tends to +-1 (then ``b`` tends to 0).

    Accuracy: the node count follows :func:`gauss_hermite_nodes_for` of the
    largest variance in the call unless ``n_nodes`` is given; its docstring
    states the measured error (at most 2e-6 for variances up to 5, 4e-5 up to
    10). ``tests/test_kernels.py`` checks the rule against adaptive
    integration and against Monte Carlo.

    Derivatives use Price's theorem, ``dE[g]/dq12 = E[d_u d_v g]`` and
    ``dE[g]/dq11 = E[d_u^2 g] / 2``, evaluated with the same rule.

    Parameters
    ----------
    phi, dphi, d2phi, d3phi : callable
        The activation and its first three derivatives, elementwise.
    n_nodes : int or None, default=None
        Nodes per dimension; cost grows as ``n_nodes ** 2`` per kernel entry.
    """

    def __init__(self, phi, dphi, d2phi, d3phi, n_nodes=None):
        self.phi, self.dphi, self.d2phi, self.d3phi = phi, dphi, d2phi, d3phi
        self.n_nodes = n_nodes

    def with_nodes(self, n_nodes):
        """The same dual map with a fixed node count (one rule for a whole matrix)."""
        return GaussHermiteDual(self.phi, self.dphi, self.d2phi, self.d3phi, n_nodes)

    def __call__(self, q11, q22, q12, tangents=None):
        q11, q22, q12 = np.broadcast_arrays(
            np.asarray(q11, dtype=float),
            np.asarray(q22, dtype=float),
            np.asarray(q12, dtype=float),
        )
        r11 = np.sqrt(np.maximum(q11, 0.0))
        r22 = np.sqrt(np.maximum(q22, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(r11 > 0, q12 / np.where(r11 > 0, r11, 1.0), 0.0)
        a = np.clip(a, -r22, r22)
        b = np.sqrt(np.maximum(q22 - a * a, 0.0))
        n_nodes = self.n_nodes
        if n_nodes is None:
            n_nodes = gauss_hermite_nodes_for(max(q11.max(initial=0), q22.max(initial=0)))
        z, w = _hermite_rule(n_nodes)
        grad = tangents is not None
        # Accumulators: E1, E0 and, for derivatives, E[phi'' phi], E[phi phi''],
        # E[phi'' phi''], E[d3phi phi'], E[phi' d3phi].
        acc = np.zeros((7 if grad else 2,) + q12.shape)
        bz = b[..., None] * z  # inner nodes, shape (..., n)
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


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", _relu, _relu_d, _relu_mul, _relu_dual, True),
    "tanh": Activation(
        "tanh",
        _tanh,
        _tanh_d,
        _tanh_mul,
        GaussHermiteDual(_tanh, _tanh_d, _tanh_d2, _tanh_d3),
        derivative_from_output=True,
    ),
    "erf": Activation("erf", _erf, _erf_d, _erf_mul, _erf_dual),
    "sigmoid": Activation(
        "sigmoid",
        _sigmoid,
        _sigmoid_d,
        _sigmoid_mul,
        GaussHermiteDual(_sigmoid, _sigmoid_d, _sigmoid_d2, _sigmoid_d3),
        derivative_from_output=True,
    ),
    "softplus": Activation(
        "softplus",
        _softplus,
        _softplus_d,
        _softplus_mul,
        # softplus' is the sigmoid, so its higher derivatives are the sigmoid's.
        GaussHermiteDual(_softplus, _softplus_d, _sigmoid_d, _sigmoid_d2),
    ),
    "gelu": Activation(
        "gelu",
        _gelu,
        _gelu_d,
        _gelu_mul,
        GaussHermiteDual(_gelu, _gelu_d, _gelu_d2, _gelu_d3),
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
