"""Quadrature rules exact to a requested polynomial degree, and training sets built on them.

A rule ``(x_j, v_j)`` with positive weights summing to one approximates the
normalized measure ``mu`` (``dx / 2`` on ``[-1, 1]``, the uniform probability
measure on the sphere :math:`S^{d-1}`). Training with ``sample_weight = n * v``
(mean one) makes the package's loss ``1/(2N) sum_i w_i e_i^2`` the quadrature
approximation of ``1/2 ||f - g||^2_{L2(mu)}``.

The sphere rules are products, built one dimension at a time: write
``x = (sqrt(1 - t^2) xi, t)`` with ``xi`` on :math:`S^{d-2}`; the normalized
measure is ``c_d (1 - t^2)^{(d-3)/2} dt dsigma(xi)``. A polynomial of degree
``p`` in ``x`` becomes a sum of ``t^i (1 - t^2)^{|a|/2} xi^a`` with
``i + |a| <= p``; a rule on :math:`S^{d-2}` exact to degree ``p`` integrates
``xi^a`` exactly, and the result vanishes unless ``|a|`` is even, which leaves
a polynomial of degree ``<= p`` in ``t``. Gauss-Jacobi with
``p // 2 + 1`` nodes for the weight ``(1 - t^2)^{(d-3)/2}`` integrates it
exactly. On :math:`S^1`, ``p + 1`` equispaced angles integrate trigonometric
polynomials of degree ``<= p`` exactly.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special
from sklearn.utils import check_random_state

from ._compat import Integral, Interval, Real, StrOptions, validate_params
from ._memory import check_fits_in_memory

__all__ = [
    "interval_rule",
    "make_interval_quadrature",
    "make_sphere_quadrature",
    "quadrature_rule",
    "quadrature_size",
    "quadrature_training_set",
    "sphere_rule",
]


@lru_cache(maxsize=64)
def _gauss_jacobi(n_nodes, alpha):
    """Gauss-Jacobi nodes and weights for ``(1 - t^2)^alpha`` on [-1, 1], weights summing to 1."""
    nodes, weights = special.roots_jacobi(n_nodes, alpha, alpha)
    weights = weights / weights.sum()
    nodes.flags.writeable = False
    weights.flags.writeable = False
    return nodes, weights


def quadrature_size(domain, n_features, degree, n_panels=1):
    """Number of nodes of :func:`quadrature_rule`, without building it."""
    if domain == "interval":
        return n_panels * (degree // 2 + 1)
    return (degree + 1) * (degree // 2 + 1) ** (n_features - 2)


def interval_rule(degree, n_panels=1):
    """Composite Gauss-Legendre on ``n_panels`` equal panels of [-1, 1], weights of ``dx / 2``.

    Exact for piecewise polynomials of degree ``<= degree`` with breaks at the
    panel boundaries only.
    """
    t, w = _gauss_jacobi(degree // 2 + 1, 0.0)
    edges = np.linspace(-1.0, 1.0, n_panels + 1)
    half = np.diff(edges) / 2.0
    mid = (edges[:-1] + edges[1:]) / 2.0
    nodes = (mid[:, None] + half[:, None] * t[None, :]).ravel()
    # each panel carries its share of the normalized length
    weights = ((half / half.sum())[:, None] * w[None, :]).ravel()
    return nodes[:, None], weights


def sphere_rule(n_features, degree):
    """The product rule on :math:`S^{d-1}` of the module docstring, exact to ``degree``."""
    if n_features == 2:
        n = degree + 1
        angles = 2.0 * np.pi * np.arange(n) / n
        return np.column_stack([np.cos(angles), np.sin(angles)]), np.full(n, 1.0 / n)
    inner_nodes, inner_weights = sphere_rule(n_features - 1, degree)
    t, wt = _gauss_jacobi(degree // 2 + 1, (n_features - 3) / 2.0)
    radius = np.sqrt(1.0 - t**2)
    nodes = np.empty((t.shape[0], inner_nodes.shape[0], n_features))
    nodes[:, :, :-1] = radius[:, None, None] * inner_nodes[None, :, :]
    nodes[:, :, -1] = t[:, None]
    weights = wt[:, None] * inner_weights[None, :]
    return nodes.reshape(-1, n_features), weights.ravel()


def _random_rotation(rng, n_features):
    # QR of a Gaussian matrix with the signs of R's diagonal moved into Q is
    # Haar distributed on O(d) (Mezzadri, Notices AMS 54, 2007).
    Q, R = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    return Q * np.sign(np.diag(R))


def _check_rule_size(domain, n_features, degree, n_panels):
    n_nodes = quadrature_size(domain, n_features, degree, n_panels)
    # nodes, weights and the temporaries of the product construction
    check_fits_in_memory(
        8.0 * n_nodes * (2 * n_features + 2),
        f"A quadrature rule of degree {degree} on the {domain} with "
        f"n_features={n_features} ({n_nodes} nodes)",
        "Ask for a smaller degree: the product rule on S^(d-1) has "
        "(degree + 1) * (degree // 2 + 1) ** (d - 2) nodes.",
    )
    return n_nodes


_RULE_PARAMS = {
    "domain": [StrOptions({"interval", "sphere"})],
    "n_features": [Interval(Integral, 1, None, closed="left"), None],
    "degree": [Interval(Integral, 0, None, closed="left")],
    "n_panels": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
}


def _resolve_n_features(domain, n_features):
    if domain == "interval":
        if n_features not in (None, 1):
            raise ValueError(f"The interval has n_features=1; got n_features={n_features}.")
        return 1
    if n_features is None or n_features < 2:
        raise ValueError(
            f"The sphere needs the ambient dimension n_features >= 2; got n_features={n_features}."
        )
    return n_features


@validate_params(_RULE_PARAMS, prefer_skip_nested_validation=True)
def quadrature_rule(domain="sphere", n_features=3, *, degree, n_panels=1, random_state=None):
    """Nodes and weights of a rule exact for polynomials up to a given degree.

    The weights are positive and sum to one: the rule integrates against the
    normalized measure (``dx / 2`` on ``[-1, 1]``, the uniform probability
    measure on :math:`S^{d-1}`). Exactness, with ``p = degree``:

    * ``"interval"``: composite Gauss-Legendre, ``p // 2 + 1`` nodes on each of
      ``n_panels`` equal panels; exact for piecewise polynomials of degree
      ``<= p`` with breaks at the panel boundaries (``n_panels=2`` puts one at
      0, where the cusp and the step of
      :class:`~sklearn_gdnet.datasets.IntervalTarget` are singular).
    * ``"sphere"``, ``n_features=2``: ``p + 1`` equispaced angles; exact for
      trigonometric polynomials of degree ``<= p``.
    * ``"sphere"``, ``n_features=d >= 3``: the product of Gauss-Jacobi rules in
      the last coordinate of each sphere :math:`S^{d-1}, S^{d-2}, \\dots, S^2`
      (``p // 2 + 1`` nodes each, weight ``(1 - t^2)^{(k-3)/2}`` on
      :math:`S^{k-1}`) and ``p + 1`` equispaced angles on :math:`S^1`; exact for
      polynomials of degree ``<= p`` restricted to the sphere, for every
      ``d``. It has ``(p + 1) (p // 2 + 1)^{d-2}`` nodes: on :math:`S^2` the
      familiar Gauss-Legendre in :math:`\\cos\\theta` times equispaced
      azimuths; in high dimension the count grows quickly, and a memory check
      refuses rules that do not fit.

    A function that is not a polynomial is integrated with the error of its
    best approximation of degree ``p``; for smooth (analytic) integrands this
    falls geometrically with ``p``.

    Parameters
    ----------
    domain : {"sphere", "interval"}, default="sphere"
        The domain of integration.

    n_features : int, default=3
        Ambient dimension ``d`` of the sphere; must be 1 or None for the
        interval.

    degree : int
        The polynomial degree ``p >= 0`` to integrate exactly. To integrate
        the square of a polynomial of degree ``q`` exactly, ask for ``2 q``.

    n_panels : int, default=1
        Number of equal panels of the interval rule (interval only).

    random_state : int, RandomState instance or None, default=None
        ``None`` returns the rule in its canonical position; otherwise the
        nodes are rotated by a Haar-random orthogonal matrix drawn from this
        seed (sphere only; a rotated exact rule is exact).

    Returns
    -------
    nodes : ndarray of shape (n_nodes, n_features)
        The nodes (unit vectors on the sphere).

    weights : ndarray of shape (n_nodes,)
        Positive weights summing to one.

    See Also
    --------
    sklearn_gdnet.datasets.quadrature_training_set : A training set on a rule.
    integration_rule : The fixed, fine rules of :func:`l2_error`.

    References
    ----------
    .. [1] A. H. Stroud, "Approximate Calculation of Multiple Integrals",
       Prentice-Hall, 1971, chapter 2.
    .. [2] K. Atkinson, W. Han, "Spherical Harmonics and Approximations on the
       Unit Sphere: An Introduction", Springer, 2012, section 5.2.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.metrics import quadrature_rule
    >>> nodes, weights = quadrature_rule("sphere", n_features=3, degree=4)
    >>> nodes.shape  # (4 + 1) * (4 // 2 + 1)
    (15, 3)
    >>> round(float(weights @ nodes[:, 0] ** 4), 12)  # E[x_1^4] = 1/5 on S^2
    0.2
    >>> nodes, weights = quadrature_rule("interval", n_features=None, degree=5)
    >>> round(float(weights @ nodes[:, 0] ** 4), 12)  # (1/2) int x^4 dx = 1/5
    0.2
    """
    n_features = _resolve_n_features(domain, n_features)
    if domain == "interval":
        if random_state is not None:
            raise ValueError("random_state rotates sphere rules; the interval has none.")
        _check_rule_size(domain, n_features, degree, n_panels)
        return interval_rule(degree, n_panels)
    if n_panels != 1:
        raise ValueError(f"n_panels is for the interval; got n_panels={n_panels} on the sphere.")
    _check_rule_size(domain, n_features, degree, n_panels)
    nodes, weights = sphere_rule(n_features, degree)
    if random_state is not None:
        nodes = nodes @ _random_rotation(check_random_state(random_state), n_features).T
    return nodes, weights


# --- training sets ----------------------------------------------------------------------


def _training_set(target, nodes, weights):
    y = np.asarray(target(nodes), dtype=float)
    # mean-one weights: the loss 1/(2n) sum_i w_i e_i^2 becomes 1/2 sum_j v_j e_j^2
    return nodes, y, weights * weights.shape[0]


@validate_params(
    {
        "target": [callable],
        "degree": [Interval(Integral, 0, None, closed="left")],
        "n_panels": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def quadrature_training_set(target, degree, *, n_panels=None, random_state=None):
    """A training set on an exact rule, weighted so that training sees the continuous loss.

    With the nodes ``x_j`` and weights ``v_j`` of :func:`quadrature_rule`
    (summing to one) the training set is ``X = x``, ``y = target(x)`` and
    ``sample_weight = n v`` (mean one). The loss of
    :class:`~sklearn_gdnet.GDNetworkRegressor` and
    :class:`~sklearn_gdnet.NTKRegressor`, ``1/(2N) sum_i w_i (f(x_i) - y_i)^2``
    with ``N = n``, is then

    .. math::

        \\frac12 \\sum_j v_j (f(x_j) - g(x_j))^2
        \\approx \\frac12 \\|f - g\\|^2_{L^2(\\mu)},

    exactly equal when ``(f - g)^2`` is a polynomial of degree ``<= degree``.
    For networks the integrand is not a polynomial; measured relative gaps
    between the final training loss and half the squared continuous error
    (by a rule of degree 255), width-64 networks on :math:`S^2`: tanh
    ``3e-4``, ``3e-8``, ``2e-14`` at degrees 10, 20, 40 (geometric
    convergence); ReLU ``3e-2``, ``2e-3``, ``7e-4`` at degrees 20, 40, 80
    (kinks). On the interval with two panels at degree 255, below ``3e-5``
    for ReLU networks on the three 1-d targets.

    Parameters
    ----------
    target : callable
        The target function, with attributes ``domain`` (``"sphere"`` or
        ``"interval"``) and ``n_features``, like the targets of this module.

    degree : int
        Degree of exactness of the rule.

    n_panels : int, default=None
        Panels of the interval rule; None means 2 (a break at 0, where the 1-d
        targets are singular). Must be None on the sphere.

    random_state : int, RandomState instance or None, default=None
        Rotation of the sphere rule (see
        :func:`~sklearn_gdnet.metrics.quadrature_rule`); must be None on the
        interval.

    Returns
    -------
    X : ndarray of shape (n_nodes, n_features)
        The nodes.

    y : ndarray of shape (n_nodes,)
        ``target(X)``.

    sample_weight : ndarray of shape (n_nodes,)
        ``n_nodes`` times the rule's weights: positive, mean one.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.datasets import SphereHarmonicTarget, quadrature_training_set
    >>> target = SphereHarmonicTarget([0.0, 1.0], poles=[[0, 0, 1], [0, 0, 1]])
    >>> X, y, w = quadrature_training_set(target, degree=2)
    >>> X.shape, float(w.mean())
    ((6, 3), 1.0)
    >>> round(float(np.mean(w * y**2)), 12)  # ||target||^2 = a_1^2
    1.0
    """
    domain = getattr(target, "domain", None)
    n_features = getattr(target, "n_features", None)
    if domain not in ("sphere", "interval"):
        raise ValueError(
            "The target must say its domain ('sphere' or 'interval') in a `domain` "
            f"attribute, as the targets of sklearn_gdnet.datasets do; got {domain!r}."
        )
    if domain == "sphere" and n_panels is not None:
        raise ValueError(f"n_panels is for the interval; got n_panels={n_panels}.")
    n_panels = 1 if domain == "sphere" else (2 if n_panels is None else n_panels)
    nodes, weights = quadrature_rule(
        domain, n_features, degree=degree, n_panels=n_panels, random_state=random_state
    )
    return _training_set(target, nodes, weights)


@validate_params(
    {
        "degree": [Interval(Integral, 0, None, closed="left"), None],
        "n_features": [Interval(Integral, 2, None, closed="left")],
        "smoothness": [Interval(Real, 0, None, closed="neither")],
        "max_degree": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_sphere_quadrature(
    degree=None, n_features=3, *, smoothness=1.0, max_degree=30, random_state=None
):
    """Regression on the sphere on an exact rule: training on the continuous loss.

    The target is the one of
    :func:`~sklearn_gdnet.datasets.make_sphere_regression` with the same
    ``n_features``, ``smoothness``, ``max_degree`` and ``random_state`` (zonal
    harmonics of degrees ``1..max_degree`` with ``|a_k| = k^{-(s + 1/2)}``);
    the points and weights are the rule of
    :func:`~sklearn_gdnet.metrics.quadrature_rule` of the given degree, with
    ``sample_weight`` of mean one, so that ``fit(X, y,
    sample_weight=sample_weight)`` minimizes the quadrature approximation of
    ``1/2 ||f - g||^2`` (see :func:`quadrature_training_set`).

    Parameters
    ----------
    degree : int, default=None
        Degree of exactness of the rule; None means ``2 * max_degree``, which
        integrates the square of the target exactly. The rule has
        ``(degree + 1) * (degree // 2 + 1) ** (n_features - 2)`` nodes.

    n_features : int, default=3
        Ambient dimension ``d``.

    smoothness : float, default=1.0
        Sobolev smoothness ``s > 0`` of the target.

    max_degree : int, default=30
        Highest degree of the target's expansion.

    random_state : int, RandomState instance or None, default=None
        Seed of the target's poles and signs (the rule is deterministic).

    Returns
    -------
    X : ndarray of shape (n_nodes, n_features)
        The nodes of the rule.

    y : ndarray of shape (n_nodes,)
        ``target(X)``.

    sample_weight : ndarray of shape (n_nodes,)
        ``n_nodes`` times the rule's weights (mean one).

    target : SphereHarmonicTarget
        The target, with known coefficients and exact ``l2_norm``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.datasets import make_sphere_quadrature
    >>> X, y, w, target = make_sphere_quadrature(max_degree=10, random_state=0)
    >>> X.shape  # (20 + 1) * (20 // 2 + 1) nodes, exact to degree 20
    (231, 3)
    >>> bool(np.isclose(np.mean(w * y**2), target.l2_norm**2))
    True
    """
    from .datasets import make_sphere_regression

    _, _, target = make_sphere_regression(
        1,
        n_features,
        smoothness=smoothness,
        max_degree=max_degree,
        random_state=random_state,
    )
    degree = 2 * max_degree if degree is None else degree
    X, y, w = quadrature_training_set(target, degree)
    return X, y, w, target


@validate_params(
    {
        "degree": [Interval(Integral, 0, None, closed="left")],
        "target": [str],
        "n_panels": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def make_interval_quadrature(degree=63, *, target="cusp", n_panels=2):
    """Regression on ``[-1, 1]`` on a composite Gauss-Legendre rule (continuous loss).

    Parameters
    ----------
    degree : int, default=63
        Degree of exactness on each panel (``degree // 2 + 1`` nodes per
        panel).

    target : {"bump", "cusp", "step"}, default="cusp"
        The 1-d target, see :class:`~sklearn_gdnet.datasets.IntervalTarget`.

    n_panels : int, default=2
        Number of equal panels; an even number puts a break at 0, where the
        cusp and the step are singular, so that the rule integrates their
        polynomial pieces exactly.

    Returns
    -------
    X : ndarray of shape (n_nodes, 1)
        The nodes.

    y : ndarray of shape (n_nodes,)
        ``target(X)``.

    sample_weight : ndarray of shape (n_nodes,)
        ``n_nodes`` times the rule's weights (mean one).

    target : IntervalTarget
        The target.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gdnet.datasets import make_interval_quadrature
    >>> X, y, w, target = make_interval_quadrature(9, target="step")
    >>> X.shape  # 2 panels of 9 // 2 + 1 nodes
    (10, 1)
    >>> round(float(np.mean(w * y**2)), 12)  # ||1{x > 0}||^2 = 1/2
    0.5
    """
    from .datasets import IntervalTarget

    function = IntervalTarget(target)
    X, y, w = quadrature_training_set(function, degree, n_panels=n_panels)
    return X, y, w, function
