"""Helpers shared by the sphere tests (not collected: the name does not start with test_)."""

import functools

import numpy as np
from scipy import special

from sklearn_gdnet.kernels import nngp_ntk
from sklearn_gdnet.metrics import quadrature_rule


@functools.lru_cache(maxsize=8)
def eigenvalues_from_kernel_matrix(params, n_degrees, rule_degree):
    """NTK eigenvalues per degree on S^2 from the kernel matrix on an exact rule.

    ``lambda_k = sum_ij v_i v_j kappa(x_i.x_j) P_k(x_i.x_j)``: the addition theorem
    ``sum_m Y_km(x) Y_km(y) = N_k P_k(x.y)`` turns the trace of the kernel operator on
    degree k, ``N_k lambda_k``, into this double sum. ``params`` is a tuple of
    ``(name, value)`` pairs of ``nngp_ntk``.
    """
    Z, v = quadrature_rule("sphere", 3, degree=rule_degree, random_state=7)
    T = nngp_ntk(Z, **dict(params))[1]
    G = np.clip(Z @ Z.T, -1.0, 1.0)
    return np.array([v @ (T * special.eval_legendre(k, G)) @ v for k in range(n_degrees)])
