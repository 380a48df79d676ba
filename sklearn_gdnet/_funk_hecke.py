"""Eigenvalues of zonal kernels on the sphere, by the Funk-Hecke formula.

A kernel on :math:`S^{d-1}` that depends on its arguments through their inner
product only, ``K(x, y) = kappa(<x, y>)`` (the NTK and NNGP of inputs on the
sphere are such kernels), has the spherical harmonics of degree ``k`` as
eigenfunctions of its integral operator under the normalized surface measure,
with multiplicity ``N(d, k)`` and eigenvalue

    lambda_k = |S^{d-2}| / |S^{d-1}| * int_{-1}^{1} kappa(t) P_k(t) (1 - t^2)^{(d-3)/2} dt,

``P_k`` the Legendre polynomial of dimension ``d`` (the Gegenbauer polynomial
``C_k^{((d-2)/2)}`` normalized to ``P_k(1) = 1``). The factor in front makes
the weight a probability measure on [-1, 1], so with Gauss-Jacobi nodes
``t_j`` and weights ``w_j`` of weight ``(1 - t^2)^{(d-3)/2}`` normalized to sum
one, ``lambda_k ~ sum_j w_j kappa(t_j) P_k(t_j)``. The zonal function is read
off the kernel itself, ``kappa(t) = K(e_1, (t, sqrt(1 - t^2), 0, ...))``.
"""

from __future__ import annotations

from numbers import Integral as _IntegralABC

import numpy as np

from ._quadrature import _gauss_jacobi
from .datasets import harmonic_dimension, zonal_harmonic

__all__ = ["sphere_eigenvalues", "zonal_function"]

#: Gauss-Jacobi nodes used by default: at least this many, and at least
#: ``NODES_PER_DEGREE`` per degree asked for. The ReLU kernels are not smooth
#: at ``t = +-1`` (that is why their eigenvalues decay only like ``k^-d``), so
#: the rule converges algebraically there: 4096 nodes reach the rounding floor
#: of about ``1e-11 * lambda_0`` on S^2 and S^3.
MIN_NODES = 4096
NODES_PER_DEGREE = 16

#: A kernel whose values at a rotated pair of points differ from the zonal
#: function by more than this fraction of its largest value is not zonal.
ZONAL_RTOL = 1e-8


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, _IntegralABC) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


def _pairs(t, n_features):
    """``e_1`` and the points ``(t, sqrt(1 - t^2), 0, ...)`` on the sphere."""
    x = np.zeros((1, n_features))
    x[0, 0] = 1.0
    Y = np.zeros((t.shape[0], n_features))
    Y[:, 0] = t
    Y[:, 1] = np.sqrt(np.maximum(1.0 - t * t, 0.0))
    return x, Y


def _evaluate(kernel, x, Y):
    values = np.asarray(kernel(x, Y), dtype=np.float64)
    if values.shape != (1, Y.shape[0]):
        raise ValueError(
            f"kernel(X, Y) must return an array of shape (n_X, n_Y) = (1, {Y.shape[0]}); "
            f"{kernel!r} returned shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"The kernel {kernel!r} has non-finite values on the sphere.")
    return values[0]


def zonal_function(kernel, t, n_features):
    """``kappa(t) = K(x, y)`` for unit vectors with ``<x, y> = t`` in dimension ``n_features``."""
    t = np.asarray(t, dtype=np.float64)
    return _evaluate(kernel, *_pairs(t.ravel(), n_features)).reshape(t.shape)


def _check_zonal(kernel, n_features, kappa_at, probe):
    """Refuse a kernel that is not a function of ``<x, y>`` on the sphere."""
    rng = np.random.default_rng(0)
    Q, R = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    Q *= np.sign(np.diag(R))
    x, Y = _pairs(probe, n_features)
    rotated = _evaluate(kernel, x @ Q.T, Y @ Q.T)
    scale = max(np.max(np.abs(kappa_at)), np.finfo(float).tiny)
    if np.max(np.abs(rotated - kappa_at)) > ZONAL_RTOL * scale:
        raise ValueError(
            f"The kernel {kernel!r} is not zonal on the sphere S^{n_features - 1}: its "
            "value at a rotated pair of points differs from the value at the same inner "
            "product. The Funk-Hecke eigenvalues describe kernels K(x, y) = kappa(<x, y>) "
            "only."
        )


def sphere_eigenvalues(
    kernel, n_features, max_degree, *, n_nodes=None, return_multiplicities=False
):
    """Eigenvalue per spherical-harmonic degree of a zonal kernel on the sphere.

    For a kernel ``K(x, y) = kappa(<x, y>)`` on the unit sphere
    :math:`S^{d-1}` of :math:`\\mathbb{R}^d` (``d = n_features``), such as the
    :class:`NTK` and :class:`NNGP` of inputs on the sphere, the spherical
    harmonics of degree ``k`` are eigenfunctions of the integral operator
    :math:`f \\mapsto \\int K(\\cdot, y) f(y) \\, d\\sigma(y)` (normalized
    surface measure :math:`\\sigma`), all with one eigenvalue
    :math:`\\lambda_k`, computed here by the Funk-Hecke formula.

    Parameters
    ----------
    kernel : callable
        ``kernel(X, Y)`` returning the matrix of shape ``(n_X, n_Y)``, e.g. an
        :class:`NTK`, an :class:`NNGP` or a scikit-learn kernel; only its
        values on unit vectors are used, ``kappa(t) = kernel(e_1, (t,
        sqrt(1 - t^2), 0, ...))``. A kernel that is not zonal (checked at a
        few randomly rotated pairs) is refused.

    n_features : int
        Ambient dimension ``d >= 2`` (the sphere :math:`S^{d-1}`). The NTK
        and NNGP depend on it through ``x . x' / d``.

    max_degree : int
        Largest degree ``k``.

    n_nodes : int, default=None
        Gauss-Jacobi nodes of the integral; ``None`` takes
        ``max(4096, 16 * (max_degree + 1))``, which reaches the rounding floor
        (about ``1e-11 * lambda_0``) for the ReLU kernels on S^2 and S^3.

    return_multiplicities : bool, default=False
        Also return the multiplicity ``N(d, k)`` of each eigenvalue, the
        dimension of the degree-``k`` harmonics.

    Returns
    -------
    eigenvalues : ndarray of shape (max_degree + 1,)
        :math:`\\lambda_0, \\dots, \\lambda_{max\\_degree}` under the normalized
        measure. An eigenvalue that vanishes (odd degrees >= 3 of the ReLU
        kernels without biases) comes out at the rounding level, possibly
        slightly negative.

    multiplicities : ndarray of int of shape (max_degree + 1,)
        ``N(d, k)``; only with ``return_multiplicities=True``.

    See Also
    --------
    sklearn_gdnet.datasets.harmonic_dimension : The multiplicities ``N(d, k)``.
    sklearn_gdnet.studies.kernel_flow_spectrum : The residual per degree that
        these eigenvalues predict for the kernel dynamics.

    Notes
    -----
    .. math::

        \\lambda_k = \\frac{|S^{d-2}|}{|S^{d-1}|} \\int_{-1}^{1} \\kappa(t)\\,
        P_k(t)\\, (1 - t^2)^{(d-3)/2} \\, dt,

    with :math:`P_k` the Legendre polynomial of dimension ``d``
    (:func:`~sklearn_gdnet.datasets.zonal_harmonic`), evaluated with
    Gauss-Jacobi nodes of weight :math:`(1 - t^2)^{(d-3)/2}`. Equivalently
    :math:`\\kappa(t) = \\sum_k \\lambda_k N(d, k) P_k(t)`, and the kernel
    matrix on an exact quadrature rule with weights :math:`v_i` (summing to
    one), :math:`V^{1/2} K V^{1/2}`, has the eigenvalue :math:`\\lambda_k`
    with multiplicity :math:`N(d, k)` for a kernel of finite degree. The
    ReLU NTK's eigenvalues decay like :math:`k^{-d}` [1]_ (odd degrees >= 3
    vanish at depth 1 without biases).

    References
    ----------
    .. [1] A. Bietti, J. Mairal, "On the inductive bias of neural tangent
       kernels", NeurIPS 2019.
    .. [2] K. Atkinson, W. Han, "Spherical Harmonics and Approximations on the
       Unit Sphere: An Introduction", Springer, 2012 (the Funk-Hecke formula).

    Examples
    --------
    The kernel ``<x, y>`` on :math:`S^2` is a degree-1 harmonic kernel: its
    eigenvalue is ``1 / d`` on the three linear functions.

    >>> from sklearn.gaussian_process.kernels import DotProduct
    >>> from sklearn_gdnet.kernels import NTK, sphere_eigenvalues
    >>> import numpy as np
    >>> np.abs(sphere_eigenvalues(DotProduct(sigma_0=0.0), 3, 2)).round(12)
    array([0.        , 0.33333333, 0.        ])
    >>> lam, mult = sphere_eigenvalues(NTK(depth=1), 3, 4, return_multiplicities=True)
    >>> mult
    array([1, 3, 5, 7, 9])
    >>> bool(lam[0] > lam[1] > lam[2] > lam[4] > lam[3] > 0)  # odd degrees >= 3 are small
    True
    """
    if not callable(kernel):
        raise ValueError(f"kernel must be callable as kernel(X, Y); got {kernel!r}.")
    d = _check_int("n_features", n_features, 2)
    K = _check_int("max_degree", max_degree, 0)
    n = max(MIN_NODES, NODES_PER_DEGREE * (K + 1)) if n_nodes is None else n_nodes
    n = _check_int("n_nodes", n, 1)
    t, w = _gauss_jacobi(n, (d - 3) / 2.0)
    kappa = _evaluate(kernel, *_pairs(t, d))
    probe = np.linspace(0, n - 1, 7).astype(int)
    _check_zonal(kernel, d, kappa[probe], t[probe])
    weighted = w * kappa
    eigenvalues = np.array([weighted @ zonal_harmonic(k, t, d) for k in range(K + 1)])
    if return_multiplicities:
        # N(d, k) in floating point is an integer to rounding
        return eigenvalues, np.rint(harmonic_dimension(np.arange(K + 1), d)).astype(np.int64)
    return eigenvalues
