"""The activation table: one entry per activation, used by every part of the package.

Each entry holds

* ``phi(z)``: the activation, elementwise;
* ``dphi(z)``: its derivative, elementwise;
* ``mul_dphi(delta, z, h)``: ``delta *= phi'(z)`` in place, given the
  pre-activation ``z`` and the activation ``h = phi(z)`` (the training loop's
  hot path; each entry uses whichever of ``z`` or ``h`` is cheaper);
* ``dual``: the closed-form dual maps ``(q11, q22, q12) -> (E1, E0)`` with
  ``E1 = E[phi(u) phi(v)]`` and ``E0 = E[phi'(u) phi'(v)]`` for
  ``(u, v) ~ N(0, [[q11, q12], [q12, q22]])``, or ``None`` where the kernel
  module falls back to Gauss-Hermite quadrature.

The network code, the kernels and the tests all read this one table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]


@dataclass(frozen=True)
class Activation:
    """One activation function with its derivative and (optionally) dual maps."""

    name: str
    phi: Callable[..., np.ndarray]
    dphi: Callable[..., np.ndarray]
    mul_dphi: Callable[[np.ndarray, np.ndarray, np.ndarray], None]
    dual: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None


# --- phi and phi' --------------------------------------------------------------------
# ``phi`` accepts ``out=`` so that the forward pass can work in place.


def _relu(z, out=None):
    return np.maximum(z, 0, out=out)


def _relu_d(z):
    return (z > 0).astype(np.result_type(z, np.float32))


def _relu_mul(delta, z, h):
    np.multiply(delta, z > 0, out=delta)


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


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", _relu, _relu_d, _relu_mul),
    "tanh": Activation("tanh", _tanh, _tanh_d, _tanh_mul),
    "erf": Activation("erf", _erf, _erf_d, _erf_mul),
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_d, _sigmoid_mul),
    "softplus": Activation("softplus", _softplus, _softplus_d, _softplus_mul),
    "gelu": Activation("gelu", _gelu, _gelu_d, _gelu_mul),
    "identity": Activation("identity", _identity, _identity_d, _identity_mul),
}


def get_activation(name: str) -> Activation:
    """Return the table entry for ``name``, with a clear error for unknown names."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"Unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}."
        ) from None
