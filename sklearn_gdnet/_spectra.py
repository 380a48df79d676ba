"""Spectra on the sphere: residual energy per harmonic degree, and its kernel-flow prediction.

Residual spectra project a function onto an explicit orthogonal basis of the
spherical harmonics of each degree, evaluated on an exact quadrature rule.
The basis is the classical recursive one (Atkinson and Han 2012, section 2.11;
Vilenkin's "Gelfand-Tsetlin" basis): writing ``x = (x', x_d)`` with
``r = |x|``, every homogeneous harmonic polynomial of degree ``k`` in ``d``
variables is a sum of

.. math::

    h(x) = r^{k-j} \\tilde C^{(\\lambda_j)}_{k-j}(x_d / r) \\, h_j(x'),
    \\qquad \\lambda_j = j + (d - 2) / 2,

over ``j = 0..k`` and a basis ``h_j`` of the harmonics of degree ``j`` in the
``d - 1`` variables ``x'`` (down to ``Re, Im (x_1 + i x_2)^j`` in two
variables), with the Gegenbauer polynomial normalized to
:math:`\\tilde C(1) = 1`. Different ``(j, h_j)`` are orthogonal on the sphere,
so a rule exact to degree ``2 K`` gives their norms exactly and the energy of
degree ``k`` is a sum of squared coefficients. The normalized recurrence
``r^n C_n(x_d / r) = [(2n + 2 lambda - 2) x_d P_{n-1} - (n - 1) r^2 P_{n-2}] /
(n + 2 lambda - 1)`` keeps every value in [-1, 1] on the unit ball.
"""

from __future__ import annotations

import numpy as np

from ._compat import Integral, Interval, Real, StrOptions, validate_params
from ._memory import check_fits_in_memory
from ._quadrature import quadrature_rule, quadrature_size

__all__ = ["HarmonicProjector", "kernel_flow_spectrum", "residual_spectrum"]

#: Bytes of basis values evaluated at once (a chunk of nodes times the basis).
CHUNK_BYTES = 32 * 2**20

#: Default degree of exactness of the evaluation rule when none is given:
#: at least ``2 * max_degree``, and at least this (``None``: ``2 * max_degree + 16``).
#: On S^1 and S^2 these are the sizes of the fixed rules of ``l2_error``.
_DEFAULT_RULE_DEGREE = {1: 255, 2: 4095, 3: 127}


def default_rule_degree(n_features, max_degree):
    """The evaluation rule's degree of exactness used when none is given."""
    floor = _DEFAULT_RULE_DEGREE.get(n_features, 2 * max_degree + 16)
    return max(2 * max_degree, floor)


def _gegenbauer_homogeneous(t, r2, lam, n_max):
    """``r^n P_n(t / r)`` for ``n = 0..n_max``, ``P_n`` Gegenbauer normalized to ``P_n(1) = 1``.

    ``t`` and ``r2`` have shape ``(n_points,)`` and ``lam`` shape ``(n_lam,)``: one
    recurrence serves every ``lambda`` at once. Returns ``(n_max + 1, n_lam, n_points)``.
    """
    lam = lam[:, None]
    out = np.empty((n_max + 1, lam.shape[0], t.shape[0]))
    out[0] = 1.0
    if n_max >= 1:
        out[1] = t
    for n in range(2, n_max + 1):
        out[n] = ((2 * n + 2 * lam - 2) * t * out[n - 1] - (n - 1) * r2 * out[n - 2]) / (
            n + 2 * lam - 1
        )
    return out


def harmonic_polynomials(X, max_degree):
    """Orthogonal harmonic polynomials of degrees ``0..max_degree`` at the rows of ``X``.

    Returns a list whose entry ``k`` has shape ``(N(d, k), n_points)``, one
    row per polynomial (rows are contiguous: the recursion writes whole
    functions); on the unit sphere the rows are orthogonal spherical
    harmonics of degree ``k`` (not normalized). ``d = 1`` gives the Legendre
    polynomials.
    """
    n, d = X.shape
    K = max_degree
    if d == 1:
        x = X[:, 0]
        return list(_gegenbauer_homogeneous(x, np.ones_like(x), np.array([0.5]), K))
    if d == 2:
        z = X[:, 0] + 1j * X[:, 1]
        power = np.ones(n, dtype=complex)
        out = [np.ones((1, n))]
        for _ in range(K):
            power = power * z
            out.append(np.vstack([power.real, power.imag]))
        return out
    inner = harmonic_polynomials(X[:, :-1], K)
    t = X[:, -1]
    r2 = np.einsum("ij,ij->i", X, X)
    # radial[m, j]: the factor of degree m that lifts the inner degree j
    radial = _gegenbauer_homogeneous(t, r2, np.arange(K + 1) + (d - 2) / 2.0, K)
    out = []
    for k in range(K + 1):
        block = np.empty((sum(inner[j].shape[0] for j in range(k + 1)), n))
        start = 0
        for j in range(k + 1):
            stop = start + inner[j].shape[0]
            np.multiply(radial[k - j, j], inner[j], out=block[start:stop])
            start = stop
        out.append(block)
    return out


def _basis_size(n_features, max_degree):
    if n_features == 1:
        return max_degree + 1
    from .datasets import harmonic_dimension

    return int(round(float(np.sum(harmonic_dimension(np.arange(max_degree + 1), n_features)))))


class HarmonicProjector:
    """Energy per degree of functions sampled on an exact rule.

    Parameters
    ----------
    domain : {"sphere", "interval"}
        The domain; on the interval the "harmonics" are the Legendre polynomials.
    n_features : int
        Ambient dimension (1 for the interval).
    max_degree : int
        Highest degree ``K`` of the spectrum.
    rule_degree : int or None
        Degree of exactness of the rule, at least ``2 K``;
        None: :func:`default_rule_degree`.
    random_state : int, RandomState instance or None
        Rotation of the sphere rule.
    """

    def __init__(self, domain, n_features, max_degree, rule_degree=None, random_state=None):
        if rule_degree is None:
            rule_degree = default_rule_degree(n_features, max_degree)
        if rule_degree < 2 * max_degree:
            raise ValueError(
                f"The energy up to degree max_degree={max_degree} needs a rule exact to "
                f"degree 2 * max_degree = {2 * max_degree}; got rule_degree={rule_degree}."
            )
        self.domain = domain
        self.n_features = n_features
        self.max_degree = max_degree
        self.rule_degree = rule_degree
        n_panels = 2 if domain == "interval" else 1
        size = _basis_size(n_features, max_degree)
        n_nodes = quadrature_size(domain, n_features, rule_degree, n_panels)
        # the rule plus one chunk of basis values (three live copies in the recursion)
        check_fits_in_memory(
            8.0 * n_nodes * (n_features + 2) + 3 * CHUNK_BYTES,
            f"The spectrum up to degree {max_degree} on the {domain} with "
            f"n_features={n_features} ({size} basis functions on {n_nodes} nodes)",
            "Lower max_degree or rule_degree.",
        )
        self.nodes, self.weights = quadrature_rule(
            domain,
            n_features,
            degree=rule_degree,
            n_panels=n_panels,
            random_state=random_state if domain == "sphere" else None,
        )
        self._chunk = max(1, CHUNK_BYTES // (8 * 3 * size))

    def energies(self, values):
        """Energy per degree of each column of ``values`` (sampled at ``nodes``).

        Parameters
        ----------
        values : ndarray of shape (n_nodes,) or (n_nodes, n_functions)

        Returns
        -------
        energies : ndarray of shape (max_degree + 1,) or (n_functions, max_degree + 1)
        """
        values = np.asarray(values, dtype=float)
        one = values.ndim == 1
        V = values[:, None] if one else values
        if V.shape[0] != self.nodes.shape[0]:
            raise ValueError(
                f"values must have one row per node ({self.nodes.shape[0]}); got {V.shape[0]}."
            )
        K = self.max_degree
        coef = [0.0] * (K + 1)
        norm2 = [0.0] * (K + 1)
        for start in range(0, self.nodes.shape[0], self._chunk):
            rows = slice(start, start + self._chunk)
            w = self.weights[rows]
            weighted = w[:, None] * V[rows]
            for k, B in enumerate(harmonic_polynomials(self.nodes[rows], K)):
                coef[k] = coef[k] + B @ weighted
                norm2[k] = norm2[k] + (B * B) @ w
        out = np.column_stack([np.sum(c**2 / n2[:, None], axis=0) for c, n2 in zip(coef, norm2)])
        return out[0] if one else out


@validate_params(
    {
        "estimator": "no_validation",
        "target": [callable, None],
        "max_degree": [Interval(Integral, 0, None, closed="left")],
        "domain": [StrOptions({"interval", "sphere"}), None],
        "n_features": [Interval(Integral, 1, None, closed="left"), None],
        "rule_degree": [Interval(Integral, 0, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def residual_spectrum(
    estimator,
    target,
    *,
    max_degree,
    domain=None,
    n_features=None,
    rule_degree=None,
    random_state=None,
):
    """Energy per spherical-harmonic degree of the residual of an estimator against a target.

    The residual ``r = f - g`` of the estimate ``f`` against the target ``g``
    is split into its components of degree ``k`` (its orthogonal projections
    :math:`\\Pi_k r` onto the spherical harmonics of degree ``k``), and the
    energies

    .. math::

        E_k = \\|\\Pi_k (f - g)\\|^2_{L^2(\\mu)}, \\qquad k = 0, \\dots, K,

    are returned, under the normalized measure ``mu``. They add up to
    ``||f - g||^2`` when the residual has degree ``<= K``. On the interval the
    degrees are those of the Legendre polynomials. The projections use an
    explicit orthogonal basis of the harmonics of each degree, evaluated on
    the exact rule of :func:`quadrature_rule` of degree ``rule_degree``.

    Accuracy: a coefficient ``<r, Y>`` is computed exactly when ``r Y`` is a
    polynomial of degree ``<= rule_degree``, i.e. for residuals of degree
    ``<= rule_degree - K``. For a residual with components of higher degree
    (a ReLU network has components of every degree) the error of each
    coefficient is at most the quadrature norm of those components
    (Cauchy-Schwarz on the rule). Measured with the defaults (degree 127 on
    :math:`S^2`) on trained ReLU networks of widths 16 and 256, ``K = 30``:
    the energies agree with those from a rule of degree 255 to ``7e-5`` of
    the largest energy.

    Parameters
    ----------
    estimator : fitted estimator or callable
        Evaluated through ``predict`` if it has one, else called.

    target : callable or None
        The target ``g``; None gives the spectrum of the estimator itself.

    max_degree : int
        Highest degree ``K``.

    domain : {"sphere", "interval"}, default=None
        None reads ``target.domain``.

    n_features : int, default=None
        Ambient dimension ``d``; None reads ``target.n_features``.

    rule_degree : int, default=None
        Degree of exactness of the rule, at least ``2 * max_degree``; None
        means ``max(2 K, 127)`` on :math:`S^2`, ``max(2 K, 4095)`` on
        :math:`S^1`, ``max(2 K, 255)`` on the interval (two panels) and
        ``2 K + 16`` for ``d >= 4``.

    random_state : int, RandomState instance or None, default=None
        Rotation of the sphere rule (None: canonical position).

    Returns
    -------
    energies : ndarray of shape (max_degree + 1,)
        ``E_k`` for ``k = 0..max_degree``.

    See Also
    --------
    sklearn_gdnet.studies.kernel_flow_spectrum : The energies predicted by
        the kernel dynamics.
    l2_error : The whole continuous error.

    References
    ----------
    .. [1] K. Atkinson, W. Han, "Spherical Harmonics and Approximations on the
       Unit Sphere: An Introduction", Springer, 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.datasets import SphereHarmonicTarget
    >>> from sklearn_gdnet.metrics import residual_spectrum
    >>> target = SphereHarmonicTarget([0.5, 0.0, 2.0], poles=np.eye(3))
    >>> zero = lambda X: np.zeros(len(X))
    >>> residual_spectrum(zero, target, max_degree=3).round(12)  # a_k^2
    array([0.25, 0.  , 4.  , 0.  ])
    """
    from .metrics import _predict, _resolve_domain

    domain, n_features = _resolve_domain(target, domain, n_features)
    if domain == "sphere" and (n_features is None or n_features < 2):
        raise ValueError(
            f"The sphere needs the ambient dimension n_features >= 2; got n_features={n_features}."
        )
    if domain == "interval" and random_state is not None:
        raise ValueError("random_state rotates sphere rules; the interval has none.")
    projector = HarmonicProjector(domain, n_features, max_degree, rule_degree, random_state)
    residual = _predict(estimator, projector.nodes)
    if target is not None:
        residual = residual - _predict(target, projector.nodes)
    return projector.energies(residual)


def _check_eigenvalues(eigenvalues, n_degrees):
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or lam.shape[0] < n_degrees:
        raise ValueError(
            f"eigenvalues must be a 1-d array with one value per degree, at least "
            f"{n_degrees} (one per coefficient); got shape {lam.shape}."
        )
    if not np.all(np.isfinite(lam)):
        raise ValueError("eigenvalues must be finite.")
    # quadrature leaves vanishing eigenvalues at -1e-17 and the like
    scale = np.max(np.abs(lam), initial=0.0)
    lam = lam[:n_degrees]
    if np.any(lam < -1e-10 * scale):
        raise ValueError(
            "eigenvalues of a positive semi-definite kernel must be >= 0; got "
            f"{lam[lam < -1e-10 * scale][:5]}."
        )
    return np.maximum(lam, 0.0)


def kernel_flow_decay(eigenvalues, *, n_steps, learning_rate, dynamics="gd"):
    """Factor by which each eigencomponent of the residual shrinks: ``(n_times, n_degrees)``."""
    lam = np.asarray(eigenvalues, dtype=float)
    steps = np.atleast_1d(np.asarray(n_steps, dtype=float))[:, None]
    if dynamics == "flow":
        return np.exp(-learning_rate * steps * lam[None, :])
    base = np.abs(1.0 - learning_rate * lam)[None, :]
    with np.errstate(divide="ignore", over="ignore"):
        # |1 - eta lambda|^k without 0 * inf at base 0, k 0
        return np.where(steps == 0, 1.0, np.exp(steps * np.log(base)))


@validate_params(
    {
        "coefficients": ["array-like"],
        "eigenvalues": ["array-like"],
        "n_steps": [Interval(Integral, 0, None, closed="left"), "array-like"],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "dynamics": [StrOptions({"gd", "flow"})],
    },
    prefer_skip_nested_validation=True,
)
def kernel_flow_spectrum(coefficients, eigenvalues, *, n_steps, learning_rate, dynamics="gd"):
    """Residual energy per degree predicted by the kernel dynamics.

    The infinitely wide network, trained on the continuous loss
    ``1/2 ||f - g||^2_{L^2(mu)}`` (normalized measure; in the package:
    ``sample_weight = n v`` on an exact rule, see
    :func:`~sklearn_gdnet.datasets.quadrature_training_set`) from the mean
    initial function ``f_0 = 0``, evolves in function space by the integral
    operator of its tangent kernel, whose eigenfunctions are the spherical
    harmonics with eigenvalue ``lambda_k`` on degree ``k`` (Funk-Hecke). The
    degree-``k`` part of the residual, of norm ``|a_k|`` at the start,
    shrinks to

    .. math::

        |a_k| \\, |1 - \\eta \\lambda_k|^{n} \\quad \\text{after } n
        \\text{ gradient-descent steps of size } \\eta, \\qquad
        |a_k| \\, e^{-\\lambda_k t} \\quad \\text{after gradient flow for time }
        t = \\eta n,

    the package's time convention (``NTKRegressor(n_steps=n,
    learning_rate=eta, dynamics=...)``). This function returns the predicted
    energies ``(|a_k| decay_k)^2``, the quantity that
    :func:`~sklearn_gdnet.metrics.residual_spectrum` measures; their sum is the
    predicted squared continuous error.

    Parameters
    ----------
    coefficients : array-like of shape (n_degrees,)
        ``a_k``, the norm of the target's component of degree ``k`` (the sign
        is ignored), e.g. ``target.coefficients`` of a
        :class:`~sklearn_gdnet.datasets.SphereHarmonicTarget` or the square
        roots of its :func:`~sklearn_gdnet.metrics.residual_spectrum`.

    eigenvalues : array-like of shape (n_eigenvalues,)
        ``lambda_k`` of the tangent kernel on degree ``k`` under the
        normalized measure, ``n_eigenvalues >= n_degrees``; values beyond
        ``n_degrees`` are ignored.

    n_steps : int or array-like of int
        Number of steps ``n`` (several give one row each).

    learning_rate : float
        Step size ``eta``; the flow time is ``eta * n_steps``.

    dynamics : {"gd", "flow"}, default="gd"
        Gradient descent or gradient flow.

    Returns
    -------
    energies : ndarray of shape (n_degrees,) or (n_times, n_degrees)
        Predicted residual energy per degree; two-dimensional when
        ``n_steps`` is an array.

    See Also
    --------
    sklearn_gdnet.metrics.residual_spectrum : The measured energies.

    References
    ----------
    .. [1] A. Jacot, F. Gabriel, C. Hongler, "Neural tangent kernel", NeurIPS 2018.
    .. [2] A. Bietti, J. Mairal, "On the inductive bias of neural tangent
       kernels", NeurIPS 2019.
    .. [3] G. Welper, "Approximation and gradient descent training with neural
       networks", arXiv:2405.11696.

    Examples
    --------
    >>> from sklearn_gdnet.studies import kernel_flow_spectrum
    >>> kernel_flow_spectrum([1.0, 1.0], [0.5, 0.1], n_steps=2, learning_rate=1.0)
    array([0.0625, 0.6561])
    >>> kernel_flow_spectrum([1.0], [0.5], n_steps=[0, 2], learning_rate=1.0, dynamics="flow")
    array([[1.        ],
           [0.13533528]])
    """
    a = np.abs(np.asarray(coefficients, dtype=float))
    if a.ndim != 1 or not np.all(np.isfinite(a)):
        raise ValueError(f"coefficients must be a finite 1-d array; got shape {a.shape}.")
    lam = _check_eigenvalues(eigenvalues, a.shape[0])
    steps = np.asarray(n_steps)
    if steps.ndim > 1 or np.any(steps < 0) or not np.all(np.equal(np.mod(steps, 1), 0)):
        raise ValueError(f"n_steps must be non-negative integers; got {n_steps!r}.")
    decay = kernel_flow_decay(
        lam, n_steps=steps, learning_rate=float(learning_rate), dynamics=dynamics
    )
    energies = (a[None, :] * decay) ** 2
    return energies[0] if steps.ndim == 0 else energies
